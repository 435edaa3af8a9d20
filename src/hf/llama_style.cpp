// The Llama-style layout LLaDA and Dream share: fixed knobs, head checks, special ids, links, why_not.
#include "hf/llama_style.h"

#include "dlm/error.h"
#include "hf/config_json.h"

namespace dlm {

namespace {

int64_t kv_heads(const ModelConfig& m) { return m.n_kv_head > 0 ? m.n_kv_head : m.n_head; }

}  // namespace

void set_llama_style(ModelConfig& m, const std::string& where, const std::vector<std::string>& keys) {
  const std::string& d_key = keys.at(0);
  const std::string& h_key = keys.at(1);
  const std::string& kv_key = keys.at(2);
  if (m.d_model % m.n_head != 0 || (m.d_model / m.n_head) % 2 != 0) {
    throw Error(where + ": " + d_key + " " + std::to_string(m.d_model) + " over " + h_key + " " +
                std::to_string(m.n_head) + " is not an even head size (rotary positions need one)");
  }
  if (m.n_kv_head <= 0 || m.n_head % m.n_kv_head != 0) {
    throw Error(where + ": " + kv_key + " " + std::to_string(m.n_kv_head) + " does not divide " + h_key + " " +
                std::to_string(m.n_head));
  }
  m.type = ModelType::kTransformer;
  m.norm = NormKind::kRmsNorm;
  m.norm_order = NormOrder::kPre;
  m.norm_weight = true;
  m.pos = PosKind::kRotary;
  m.activation = Activation::kSwiglu;
  m.emb_norm = false;
  m.first_norm = true;
  m.qk_norm = false;
  m.out_bias = false;
  m.mlp_bias = false;
  m.time_cond = TimeCond::kNone;
  m.head_transform = false;
  m.head_bias = false;
  m.type_vocab = 0;
  m.pos_offset = 0;
  m.local_attention = 0;
  m.local_rope_theta = 0.0;
}

void read_special_ids(const nlohmann::json& c, const std::string& where, HfArch& arch) {
  arch.mask_id = hf_json::optional<int64_t>(c, "mask_token_id", -1, where);
  if (arch.mask_id < 0) {
    throw Error(where + ": no mask id (mask_token_id is missing; it is the id the model was trained to fill in)");
  }
  arch.pad_id = hf_json::optional<int64_t>(c, "pad_token_id", -1, where);
  arch.bos_id = hf_json::optional<int64_t>(c, "bos_token_id", -1, where);
  arch.eos_id = hf_json::optional<int64_t>(c, "eos_token_id", -1, where);
  for (const int64_t id : {arch.mask_id, arch.pad_id, arch.bos_id, arch.eos_id}) {
    if (id >= arch.model.vocab_size) {
      throw Error(where + ": special id " + std::to_string(id) + " is outside the " +
                  std::to_string(arch.model.vocab_size) + " embedding rows");
    }
  }
}

std::vector<TensorLink> llama_links(const LlamaNames& n, const ModelConfig& m) {
  const int64_t head_dim = m.d_model / m.n_head, kv = kv_heads(m) * head_dim;
  const int64_t d_ff = m.d_ff > 0 ? m.d_ff : 4 * m.d_model;
  std::vector<TensorLink> out = {{"tok_emb.weight", {n.embed + ".weight"}}};
  for (int64_t i = 0; i < m.n_layer; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    const std::string l = n.layers + std::to_string(i) + ".";
    out.push_back({b + "norm1.rms_norm.weight", {l + n.attn_norm + ".weight"}});
    for (const std::string kind : {"weight", "bias"}) {
      if (kind == "bias" && !m.bias) continue;
      out.push_back({b + "attn.qkv." + kind,
                     {l + n.q + "." + kind, l + n.k + "." + kind, l + n.v + "." + kind},
                     {m.d_model, kv, kv}});
    }
    out.push_back({b + "attn.proj.weight", {l + n.o + ".weight"}});
    out.push_back({b + "norm2.rms_norm.weight", {l + n.mlp_norm + ".weight"}});
    out.push_back({b + "fc.weight", {l + n.gate + ".weight", l + n.up + ".weight"}, {d_ff, d_ff}});
    out.push_back({b + "fc_out.weight", {l + n.down + ".weight"}});
  }
  out.push_back({"norm_f.rms_norm.weight", {n.final_norm + ".weight"}});
  if (!m.tie_head) out.push_back({"head.weight", {n.head + ".weight"}});
  return out;
}

std::string why_not_llama_style(const ModelConfig& m) {
  if (m.type != ModelType::kTransformer) return "model.type is not transformer";
  if (m.norm_order != NormOrder::kPre || m.norm != NormKind::kRmsNorm || !m.norm_weight) {
    return "the norms are not pre-norm RMSNorms with weights";
  }
  if (m.pos != PosKind::kRotary) return "model.pos is not rotary";
  if (m.local_attention > 0) return "some layers attend locally (model.local_attention)";
  if (m.emb_norm) return "the embeddings are normalised (model.emb_norm)";
  if (!m.first_norm) return "the first block does not normalise its input (model.first_norm)";
  if (m.activation != Activation::kSwiglu) return "model.activation is not swiglu";
  if (m.mlp_bias) return "the MLP has biases";
  if (m.bias && m.out_bias) return "the attention output projection has a bias";
  if (m.head_transform || m.head_bias) return "the head has a transform or a logit bias";
  if (m.qk_norm) return "model.qk_norm is on";
  if (m.time_cond != TimeCond::kNone) return "the model is conditioned on the masking rate";
  if (m.type_vocab > 0) return "it has token-type embeddings";
  if (m.n_head % kv_heads(m) != 0) return "model.n_kv_head does not divide model.n_head";
  return "";
}

}  // namespace dlm
