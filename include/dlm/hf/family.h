// A family of Hugging Face models (the encoders BERT, RoBERTa, ModernBERT; the masked-diffusion LMs LLaDA
// and Dream): how its config.json maps to dlm's ModelConfig and back, and which of its tensors holds each
// of dlm's parameters; and the list of the families. Each family is one file under src/hf/families/
// (bert.cpp, roberta.cpp, modernbert.cpp, llada.cpp, dream.cpp) and one line in hf_families()'s list
// (src/hf/family.cpp); the folder code (hf_folder.h) is the same for all.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dlm/config.h"
#include "dlm/data/tokenizer.h"

namespace dlm {

// One dlm parameter and the folder tensors it is made of, concatenated along dimension 0 (BERT's
// separate query, key and value make dlm's one qkv projection). Exporting splits it back: into `rows`
// rows each (grouped-query attention's q, k and v differ), or in equal parts when `rows` is empty.
struct TensorLink {
  std::string dlm;
  std::vector<std::string> hf;
  std::vector<int64_t> rows = {};
};

// What a config.json describes: the model, its context (positions it can take), the special ids it names
// (-1 where it names none: the tokenizer finds those by name) and the sampler its authors generate with.
struct HfArch {
  ModelConfig model;
  int64_t max_len = 0;
  int64_t mask_id = -1, pad_id = -1, bos_id = -1, eos_id = -1;
  std::string sampler;  // "llada" or "dream" (dgen's --sampler default); "" for the encoders (dlm's own)
};

class HfFamily {
 public:
  virtual ~HfFamily() = default;
  // config.json's model_type, and the masked-LM class written into an exported config.
  virtual std::string model_type() const = 0;
  virtual std::string masked_lm_class() const = 0;
  // Reads config.json; throws dlm::Error naming `where` and the key for a setting dlm does not support.
  virtual HfArch read_config(const nlohmann::json& config, const std::string& where) const = 0;
  // config.json for a model of this family with `tokenizer` (its special ids); `dtype` is torch's name
  // (float32, float16, bfloat16).
  virtual nlohmann::json write_config(const HfArch& arch, const Tokenizer& tokenizer,
                                      const std::string& dtype) const = 0;
  // The links of every parameter of a model of this config, in the names an exported folder uses.
  virtual std::vector<TensorLink> links(const ModelConfig& model) const = 0;
  // A folder tensor's name as links() spells it (a bare BertModel's names lack the "bert." prefix; an
  // older head names its bias decoder.bias), or "" for a tensor dlm has no use for (the pooler, the
  // next-sentence head, the position-id buffer, a decoder tied to the embeddings).
  virtual std::string canonical(const std::string& name) const = 0;
  // The canonical names of the masked-LM head transform (a folder without them gets a fresh head); ""
  // for a family whose folders always hold their whole head.
  virtual std::string head_probe() const = 0;
  // Why a dlm model config is not of this family (the first difference), or "" when it is and can be
  // exported as one: RoBERTa's positions start after its padding index, BERT's at 0; Dream's predictions
  // are shifted, LLaDA's not.
  virtual std::string why_not(const ModelConfig& model) const = 0;
};

// Every family dlm reads and writes, in the order hf_family_for tries them; the list is src/hf/family.cpp's.
const std::vector<const HfFamily*>& hf_families();
// The model_type of each family in hf_families(), in its order: "bert, roberta, modernbert, llada, Dream".
std::string hf_model_types();
// The family of config.json's model_type; throws dlm::Error naming `where` and hf_model_types().
const HfFamily& hf_family(const std::string& model_type, const std::string& where);
// The first family in hf_families() that can export `model`, or null with each family's reason in `why`
// ("bert: ...; roberta: ...; modernbert: ...").
const HfFamily* hf_family_for(const ModelConfig& model, std::string* why = nullptr);

}  // namespace dlm
