// Hugging Face model folders (config.json, model.safetensors or its sharded index, tokenizer.json): which
// folders are ones, loading a folder of a family in hf_families() (BERT, RoBERTa, ModernBERT) as a dlm
// model with its tokenizer, and exporting a model of those families back to a folder that transformers loads.
#pragma once

#include <string>

#include <torch/torch.h>

#include "dlm/hf/family.h"
#include "dlm/model/checkpoint.h"

namespace dlm {

// True when `path` is a folder holding config.json and a model's weights (model.safetensors, its
// index, or a pytorch_model.bin, which loading then refuses with what to do).
bool is_hf_folder(const std::string& path);

// Loads a masked-LM folder (bert, roberta or modernbert; a bare encoder gets a fresh head, said in one line). Its
// weights are converted to fp32; its config becomes the model.* knobs and data.seq_len (the positions it
// takes). Throws dlm::Error naming the folder and the problem: an unsupported model_type or setting, a
// missing tensor, a tensor of the wrong shape or one the config has no place for.
LoadedModel load_hf_folder(const std::string& dir, const torch::Device& device);

// The architecture a folder's config.json describes (model.* knobs and the positions it takes); throws
// dlm::Error for a path that is no such folder and as load_hf_folder does.
HfArch read_hf_config(const std::string& dir);

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
