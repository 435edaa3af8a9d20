// The Dream family (DreamModel, model_type "Dream"; DiffuCoder shares it): Qwen2's config keys and tensor
// names (q/k/v biases, none on o_proj, lm_head unless tied) run bidirectionally, with shifted predictions:
// position i's logits are the output at i - 1, as Dream was adapted from an autoregressive model.
#include "dlm/error.h"
#include "dlm/hf/family.h"
#include "hf/config_json.h"
#include "hf/families.h"
#include "hf/llama_style.h"

namespace dlm {
namespace {

using hf_json::optional;
using hf_json::positive;
using nlohmann::json;

const LlamaNames kDreamNames = {
    "model.embed_tokens", "model.norm",       "lm_head",          "model.layers.",    "input_layernorm",
    "self_attn.q_proj",   "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "post_attention_layernorm",
    "mlp.gate_proj",      "mlp.up_proj",      "mlp.down_proj"};

class Dream : public HfFamily {
 public:
  std::string model_type() const override { return "Dream"; }
  std::string masked_lm_class() const override { return "DreamModel"; }

  HfArch read_config(const json& c, const std::string& where) const override {
    HfArch arch;
    ModelConfig& m = arch.model;
    m.d_model = positive(c, "hidden_size", where);
    m.n_layer = positive(c, "num_hidden_layers", where);
    m.n_head = positive(c, "num_attention_heads", where);
    m.n_kv_head = optional<int64_t>(c, "num_key_value_heads", m.n_head, where);
    m.d_ff = positive(c, "intermediate_size", where);
    m.vocab_size = positive(c, "vocab_size", where);
    const std::string act = optional<std::string>(c, "hidden_act", "silu", where);
    if (act != "silu") throw Error(where + ": hidden_act '" + act + "' is not supported (supported: silu, as SwiGLU)");
    if (optional<bool>(c, "use_sliding_window", false, where)) {
      throw Error(where + ": use_sliding_window true is not supported (dlm's Dream layers attend to every position)");
    }
    if (c.contains("rope_scaling") && !c["rope_scaling"].is_null()) {
      throw Error(where + ": rope_scaling " + c["rope_scaling"].dump() + " is not supported (supported: null)");
    }
    m.norm_eps = optional<double>(c, "rms_norm_eps", 1e-6, where);
    m.rope_theta = optional<double>(c, "rope_theta", 10000.0, where);
    if (m.norm_eps <= 0.0 || m.rope_theta <= 0.0) throw Error(where + ": rms_norm_eps and rope_theta must be positive");
    m.tie_head = optional<bool>(c, "tie_word_embeddings", false, where);
    m.dropout = optional<double>(c, "attention_dropout", 0.0, where);
    m.bias = true;  // Qwen2's q, k and v projections have biases, its output projection none
    m.shift = true;
    set_llama_style(m, where, {"hidden_size", "num_attention_heads", "num_key_value_heads"});
    arch.max_len = optional<int64_t>(c, "max_position_embeddings", 32768, where);
    if (arch.max_len <= 0) throw Error(where + ": max_position_embeddings must be a positive integer");
    read_special_ids(c, where, arch);
    arch.sampler = "dream";
    return arch;
  }

  json write_config(const HfArch& arch, const Tokenizer& tok, const std::string& dtype) const override {
    const ModelConfig& m = arch.model;
    return {{"architectures", {masked_lm_class()}},
            {"model_type", model_type()},
            {"hidden_size", m.d_model},
            {"num_hidden_layers", m.n_layer},
            {"num_attention_heads", m.n_head},
            {"num_key_value_heads", m.n_kv_head > 0 ? m.n_kv_head : m.n_head},
            {"intermediate_size", m.d_ff > 0 ? m.d_ff : 4 * m.d_model},
            {"vocab_size", m.vocab_size},
            {"hidden_act", "silu"},
            {"rms_norm_eps", m.norm_eps > 0.0 ? m.norm_eps : 1e-6},
            {"rope_theta", m.rope_theta},
            {"rope_scaling", nullptr},
            {"use_sliding_window", false},
            {"sliding_window", nullptr},
            {"max_window_layers", m.n_layer},
            {"tie_word_embeddings", m.tie_head},
            {"max_position_embeddings", arch.max_len},
            {"attention_dropout", m.dropout},
            {"mask_token_id", tok.mask_id()},
            {"bos_token_id", tok.bos_id()},
            {"eos_token_id", tok.eos_id()},
            {"pad_token_id", tok.pad_id()},
            {"use_cache", false},
            {"torch_dtype", dtype}};
  }

  std::vector<TensorLink> links(const ModelConfig& m) const override { return llama_links(kDreamNames, m); }

  // Older Qwen2 saves hold each layer's rotary frequencies, which dlm computes.
  std::string canonical(const std::string& name) const override {
    const std::string buffer = ".rotary_emb.inv_freq";
    const bool frequencies =
        name.size() >= buffer.size() && name.compare(name.size() - buffer.size(), buffer.size(), buffer) == 0;
    return frequencies ? "" : name;
  }
  std::string head_probe() const override { return ""; }

  std::string why_not(const ModelConfig& m) const override {
    const std::string reason = why_not_llama_style(m);
    if (!reason.empty()) return reason;
    if (!m.shift) return "its predictions are not shifted (model.shift), Dream's are";
    return m.bias ? "" : "the q, k and v projections have no biases, Dream's have";
  }
};

}  // namespace

const HfFamily& dream_family() {
  static const Dream family;
  return family;
}

}  // namespace dlm
