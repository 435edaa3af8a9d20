// What BERT and RoBERTa share (private to src/hf/): the post-norm LayerNorm encoder with learned
// positions and an MLM head transform, its config.json keys and its encoder's tensor names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dlm/config.h"
#include "dlm/hf/family.h"

namespace dlm {

// The encoder's links: dlm's blocks from BERT-style tensor names under `prefix` ("bert.", "roberta."):
// embeddings, then layer by layer attention, its LayerNorm, the MLP and its LayerNorm.
std::vector<TensorLink> bert_encoder_links(const std::string& prefix, const ModelConfig& model);
// The ModelConfig a BERT-style config.json describes, positions starting at `pos_offset`; `where` names
// the file in messages.
HfArch read_bert_style_config(const nlohmann::json& config, const std::string& where, int64_t pos_offset);
nlohmann::json write_bert_style_config(const HfArch& arch, int64_t pad_id, const std::string& dtype);
// The first reason a dlm model config is not BERT-shaped (post-norm LayerNorm with biases, learned
// positions, embedding norm, MLM head transform and logit bias, gelu, no time conditioning), or "".
std::string why_not_bert_style(const ModelConfig& model);

}  // namespace dlm
