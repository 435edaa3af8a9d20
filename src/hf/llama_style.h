// What LLaDA and Dream share (private to src/hf/): the pre-norm RMSNorm SwiGLU transformer with rotary
// positions (by halves) and grouped-query attention, the checks of its head layout and special ids, its
// tensor links from a family's names, and what keeps a dlm model from being one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dlm/config.h"
#include "dlm/hf/family.h"

namespace dlm {

// A family's names of its tensors (each without ".weight"/".bias"): block i's are
// `layers` + i + "." + the block's names.
struct LlamaNames {
  std::string embed, final_norm, head;
  std::string layers;
  std::string attn_norm, q, k, v, o, mlp_norm, gate, up, down;
};

// Sets what every such model has (pre-norm RMSNorms with weights, rotary, SwiGLU, no output-projection
// or MLP bias, no head transform) and checks the shape the family read: the heads divide d_model into
// an even head size and the kv heads divide the heads. `keys` names the family's keys for d_model,
// heads and kv heads in messages ("d_model, n_heads, n_kv_heads").
void set_llama_style(ModelConfig& m, const std::string& where, const std::vector<std::string>& keys);

// The special ids config.json gives: mask_token_id is required ("no mask id" otherwise: the model fills
// in that id and no other), pad, bos and eos are -1 where absent or null.
void read_special_ids(const nlohmann::json& c, const std::string& where, HfArch& arch);

// The links of a model of this layout under the family's names; q, k and v and gate and up are joined
// with their row counts.
std::vector<TensorLink> llama_links(const LlamaNames& n, const ModelConfig& m);

// The first reason a dlm model is not of this layout (apart from shift and the q/k/v bias), or "".
std::string why_not_llama_style(const ModelConfig& m);

}  // namespace dlm
