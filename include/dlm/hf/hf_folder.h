// Hugging Face model folders (config.json, model.safetensors or its sharded index, tokenizer.json): which
// folders are ones, loading a folder of a family in hf_families() (BERT, RoBERTa, ModernBERT, LLaDA,
// Dream) as a dlm model with its tokenizer, and exporting a model of those families back to a folder
// that transformers loads.
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "dlm/data/hf_tokenizer.h"
#include "dlm/hf/family.h"
#include "dlm/model/checkpoint.h"

namespace dlm {

// True when `path` is a folder holding config.json and a model's weights (model.safetensors, its
// index, or a pytorch_model.bin, which loading then refuses with what to do).
bool is_hf_folder(const std::string& path);

// Loads a folder for inference (bert, roberta or modernbert, a bare encoder getting a fresh head said in one
// line; llada or Dream). Its parameters keep the folder's dtype (fp16 widens to fp32 on the CPU): each
// single-tensor one is the memory-mapped tensor itself, a joined one (q/k/v, gate/up) one new tensor; its
// config becomes the model.* knobs and data.seq_len (the positions it takes), its family's sampler
// LoadedModel::sampler, and the special ids of its config.json the tokenizer's. Throws dlm::Error naming
// the folder and the problem: an unsupported model_type or setting, a mixture of experts, a missing
// tensor, a tensor of the wrong shape or one the config has no place for.
LoadedModel load_hf_folder(const std::string& dir, const torch::Device& device);

// The architecture a folder's config.json describes (model.* knobs and the positions it takes); throws
// dlm::Error for a path that is no such folder and as load_hf_folder does.
HfArch read_hf_config(const std::string& dir);

// The special ids a folder's config.json names (LLaDA's and Dream's mask_token_id, ...), for
// load_hf_tokenizer; -1 where it names none.
HfSpecialIds hf_special_ids(const HfArch& arch);

// A folder's tokenizer with the special ids its config.json names (what load_hf_folder and model.init_from use).
std::unique_ptr<Tokenizer> load_hf_folder_tokenizer(const std::string& dir);

// Copies a folder's weights into `model`, a model made from read_hf_config(dir) with the folder's context
// (its max_len); a folder without an MLM head gets a fresh one, said in one line.
void load_hf_weights(const std::string& dir, DenoiserImpl& model);

// What a user passed as a model: a Hugging Face folder, else a checkpoint or run directory (empty: the
// latest run), as resolve_checkpoint_path reads it; a checkpoint's model is made by `build`.
LoadedModel load_any_model(const std::string& given, const torch::Device& device, const ModelBuilder& build);

// Writes `source` (a run, a checkpoint or a Hugging Face folder) as a Hugging Face folder at `out_dir`
// (new or empty): config.json, model.safetensors in the source's dtype (fp32 for dlm runs),
// tokenizer.json and tokenizer_config.json. Throws dlm::Error with the reason for a model no family
// fits or a tokenizer that is not a tokenizer.json.
void export_hf(const std::string& source, const std::string& out_dir);

}  // namespace dlm
