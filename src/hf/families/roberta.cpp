// The RoBERTa family (RobertaForMaskedLM): BERT's encoder under "roberta.", positions that start after
// the padding index, and its own head names (lm_head.*, whose transform always uses exact gelu).
#include "dlm/error.h"
#include "dlm/hf/family.h"
#include "hf/bert_style.h"
#include "hf/families.h"

namespace dlm {
namespace {

using nlohmann::json;

class Roberta : public HfFamily {
 public:
  std::string model_type() const override { return "roberta"; }
  std::string masked_lm_class() const override { return "RobertaForMaskedLM"; }
  HfArch read_config(const json& config, const std::string& where) const override {
    // Position ids count from padding_idx + 1 (transformers' create_position_ids_from_input_ids).
    const json pad = config.contains("pad_token_id") ? config["pad_token_id"] : json(1);
    if (!pad.is_number_integer() || pad.get<int64_t>() < 0)
      throw Error(where + ": pad_token_id must be an integer >= 0");
    HfArch arch = read_bert_style_config(config, where, pad.get<int64_t>() + 1);
    arch.model.head_activation = Activation::kGelu;
    return arch;
  }
  json write_config(const HfArch& arch, const Tokenizer& tokenizer, const std::string& dtype) const override {
    (void)tokenizer;  // RoBERTa's padding index is fixed by its positions
    json c = write_bert_style_config(arch, arch.model.pos_offset - 1, dtype);
    c["architectures"] = {masked_lm_class()};
    c["model_type"] = model_type();
    return c;
  }
  std::vector<TensorLink> links(const ModelConfig& m) const override {
    std::vector<TensorLink> out = bert_encoder_links("roberta.", m);
    out.push_back({"head_dense.weight", {"lm_head.dense.weight"}});
    out.push_back({"head_dense.bias", {"lm_head.dense.bias"}});
    out.push_back({"head_norm.layer_norm.weight", {"lm_head.layer_norm.weight"}});
    out.push_back({"head_norm.layer_norm.bias", {"lm_head.layer_norm.bias"}});
    out.push_back({"head_bias", {"lm_head.bias"}});
    if (!m.tie_head) out.push_back({"head.weight", {"lm_head.decoder.weight"}});
    return out;
  }
  std::string canonical(const std::string& name) const override {
    if (name.rfind("lm_head.", 0) == 0) return name == "lm_head.decoder.bias" ? "lm_head.bias" : name;
    const std::string bare = strip_prefix(name, "roberta.");
    if (bare == "embeddings.position_ids" || bare.rfind("pooler.", 0) == 0) return "";
    return "roberta." + bare;
  }
  std::string head_probe() const override { return "lm_head.dense.weight"; }
  std::string why_not(const ModelConfig& m) const override {
    const std::string reason = why_not_bert_style(m);
    if (!reason.empty()) return reason;
    if (m.pos_offset == 0) return "its positions start at 0, RoBERTa's after the padding index";
    return m.head_activation == Activation::kGelu ? "" : "the head transform's activation is not exact gelu";
  }
};

}  // namespace

const HfFamily& roberta_family() {
  static const Roberta family;
  return family;
}

}  // namespace dlm
