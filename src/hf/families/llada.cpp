// The LLaDA family (LLaDAModelLM, model_type "llada"): a bidirectional Llama-style masked-diffusion LM in
// OLMo's config keys (d_model, n_heads, n_kv_heads, mlp_hidden_size, weight_tying, ...) and tensor names
// (model.transformer.wte, .blocks.{i}.q_proj, ...). Settings of its code that dlm does not build are
// refused naming the key; dropouts, initialisation and precision keys are inert.
#include <algorithm>

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

// A key whose value (or, absent or null, LLaDA's default `fallback`) is not `wanted`: refused naming it.
void expect(const json& c, const std::string& key, const json& fallback, const json& wanted, const std::string& where) {
  const json value = c.contains(key) && !c[key].is_null() ? c[key] : fallback;
  if (value != wanted) {
    throw Error(where + ": " + key + " " + value.dump() + " is not supported (dlm builds " + key + " " + wanted.dump() +
                ")");
  }
}

// The settings of LLaDA's code a folder may change that dlm builds one way only.
void refuse_unbuilt(const json& c, const std::string& where) {
  expect(c, "block_type", "sequential", "llama", where);
  expect(c, "layer_norm_type", "default", "rms", where);
  expect(c, "activation_type", "swiglu", "silu", where);
  expect(c, "rope", false, true, where);
  expect(c, "alibi", false, false, where);
  expect(c, "scale_logits", false, false, where);
  expect(c, "attention_layer_norm", false, false, where);  // q/k norms
  expect(c, "include_bias", false, false, where);
  expect(c, "multi_query_attention", nullptr, nullptr, where);
  expect(c, "input_emb_norm", false, false, where);
  expect(c, "layer_norm_with_affine", true, true, where);
  expect(c, "rope_full_precision", true, true, where);
  expect(c, "block_group_size", 1, 1, where);  // groups rename the blocks' tensors
  if (optional<bool>(c, "bias_for_layer_norm", false, where)) {
    throw Error(where + ": bias_for_layer_norm true is not supported (dlm's RMSNorms have no bias)");
  }
}

const LlamaNames kLladaNames = {"model.transformer.wte",
                                "model.transformer.ln_f",
                                "model.transformer.ff_out",
                                "model.transformer.blocks.",
                                "attn_norm",
                                "q_proj",
                                "k_proj",
                                "v_proj",
                                "attn_out",
                                "ff_norm",
                                "ff_proj",
                                "up_proj",
                                "ff_out"};

class Llada : public HfFamily {
 public:
  std::string model_type() const override { return "llada"; }
  std::string masked_lm_class() const override { return "LLaDAModelLM"; }

  HfArch read_config(const json& c, const std::string& where) const override {
    refuse_unbuilt(c, where);
    HfArch arch;
    ModelConfig& m = arch.model;
    m.d_model = positive(c, "d_model", where);
    m.n_head = positive(c, "n_heads", where);
    m.n_layer = positive(c, "n_layers", where);
    m.n_kv_head = optional<int64_t>(c, "n_kv_heads", m.n_head, where);
    const bool sized = c.contains("mlp_hidden_size") && !c["mlp_hidden_size"].is_null();
    m.d_ff = sized ? positive(c, "mlp_hidden_size", where) : optional<int64_t>(c, "mlp_ratio", 4, where) * m.d_model;
    if (m.d_ff <= 0) throw Error(where + ": mlp_ratio must be a positive integer");
    const bool rows = c.contains("embedding_size") && !c["embedding_size"].is_null();
    m.vocab_size = rows ? positive(c, "embedding_size", where) : positive(c, "vocab_size", where);
    m.norm_eps = optional<double>(c, "rms_norm_eps", 1e-5, where);
    m.rope_theta = optional<double>(c, "rope_theta", 10000.0, where);
    if (m.norm_eps <= 0.0 || m.rope_theta <= 0.0) throw Error(where + ": rms_norm_eps and rope_theta must be positive");
    m.tie_head = optional<bool>(c, "weight_tying", true, where);
    m.bias = optional<bool>(c, "include_qkv_bias", false, where);
    m.dropout = std::max({optional<double>(c, "attention_dropout", 0.1, where),
                          optional<double>(c, "residual_dropout", 0.1, where),
                          optional<double>(c, "embedding_dropout", 0.1, where)});
    m.shift = false;
    set_llama_style(m, where, {"d_model", "n_heads", "n_kv_heads"});
    arch.max_len = optional<int64_t>(c, "max_sequence_length", 1024, where);
    if (arch.max_len <= 0) throw Error(where + ": max_sequence_length must be a positive integer");
    read_special_ids(c, where, arch);
    arch.sampler = "llada";
    return arch;
  }

  json write_config(const HfArch& arch, const Tokenizer& tok, const std::string& dtype) const override {
    const ModelConfig& m = arch.model;
    return {{"architectures", {masked_lm_class()}},
            {"model_type", model_type()},
            {"block_type", "llama"},
            {"layer_norm_type", "rms"},
            {"activation_type", "silu"},
            {"rope", true},
            {"rope_full_precision", true},
            {"alibi", false},
            {"scale_logits", false},
            {"attention_layer_norm", false},
            {"input_emb_norm", false},
            {"layer_norm_with_affine", true},
            {"bias_for_layer_norm", false},
            {"include_bias", false},
            {"include_qkv_bias", m.bias},
            {"block_group_size", 1},
            {"d_model", m.d_model},
            {"n_heads", m.n_head},
            {"n_kv_heads", m.n_kv_head > 0 ? m.n_kv_head : m.n_head},
            {"n_layers", m.n_layer},
            {"mlp_hidden_size", m.d_ff > 0 ? m.d_ff : 4 * m.d_model},
            {"mlp_ratio", 4},
            {"rms_norm_eps", m.norm_eps > 0.0 ? m.norm_eps : 1e-6},
            {"rope_theta", m.rope_theta},
            {"vocab_size", m.vocab_size},
            {"embedding_size", m.vocab_size},
            {"weight_tying", m.tie_head},
            {"max_sequence_length", arch.max_len},
            {"attention_dropout", m.dropout},
            {"residual_dropout", m.dropout},
            {"embedding_dropout", m.dropout},
            {"mask_token_id", tok.mask_id()},
            {"eos_token_id", tok.eos_id()},
            {"pad_token_id", tok.pad_id()},
            {"use_cache", false},
            {"torch_dtype", dtype}};
  }

  std::vector<TensorLink> links(const ModelConfig& m) const override { return llama_links(kLladaNames, m); }

  std::string canonical(const std::string& name) const override { return name; }
  std::string head_probe() const override { return ""; }

  std::string why_not(const ModelConfig& m) const override {
    const std::string reason = why_not_llama_style(m);
    if (!reason.empty()) return reason;
    return m.shift ? "its predictions are shifted (model.shift), LLaDA's are not" : "";
  }
};

}  // namespace

const HfFamily& llada_family() {
  static const Llada family;
  return family;
}

}  // namespace dlm
