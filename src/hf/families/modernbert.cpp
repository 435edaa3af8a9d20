// The ModernBERT family (ModernBertForMaskedLM, and a bare ModernBertModel): a pre-norm encoder with
// rotary positions, GeGLU, bias-free LayerNorms by default, and local layers that see a window of
// keys between global ones. Reads transformers 4's config.json (global_attn_every_n_layers,
// global_rope_theta, local_rope_theta) and 5's (layer_types, rope_parameters); writes 4's.
#include <algorithm>

#include "dlm/error.h"
#include "dlm/hf/family.h"
#include "hf/config_json.h"
#include "hf/families.h"

namespace dlm {
namespace {

using hf_json::optional;
using hf_json::positive;
using nlohmann::json;

constexpr const char* kFull = "full_attention";
constexpr const char* kSliding = "sliding_attention";

// transformers 5's rope_parameters[kind].rope_theta, or `fallback`; only the default rotary type is computed.
double rope_theta_of(const json& c, const char* kind, double fallback, const std::string& where) {
  if (!c.contains("rope_parameters") || c["rope_parameters"].is_null()) return fallback;
  const json& all = c["rope_parameters"];
  if (!all.is_object()) throw Error(where + ": rope_parameters must be an object");
  if (!all.contains(kind) || all[kind].is_null()) return fallback;
  const json& p = all[kind];
  const std::string type = optional<std::string>(p, "rope_type", "default", where + ": rope_parameters." + kind);
  if (type != "default") {
    throw Error(where + ": rope_parameters." + kind + ".rope_type '" + type +
                "' is not supported (supported: default)");
  }
  return optional<double>(p, "rope_theta", fallback, where + ": rope_parameters." + kind);
}

// Every n-th layer global, from transformers 5's layer_types (which must be such a pattern) or 4's
// global_attn_every_n_layers.
int64_t global_every_of(const json& c, int64_t n_layer, const std::string& where) {
  if (!c.contains("layer_types") || c["layer_types"].is_null()) {
    return optional<int64_t>(c, "global_attn_every_n_layers", 3, where);
  }
  const auto types = optional<std::vector<std::string>>(c, "layer_types", {}, where);
  if (static_cast<int64_t>(types.size()) != n_layer) {
    throw Error(where + ": layer_types has " + std::to_string(types.size()) + " entries for " +
                std::to_string(n_layer) + " layers");
  }
  for (int64_t n = 1; n <= n_layer; ++n) {
    bool fits = true;
    for (int64_t i = 0; i < n_layer && fits; ++i) fits = types[i] == (i % n == 0 ? kFull : kSliding);
    if (fits) return n;
  }
  throw Error(where +
              ": layer_types is not every n-th layer full_attention and the others sliding_attention, "
              "which is what dlm computes");
}

class ModernBert : public HfFamily {
 public:
  std::string model_type() const override { return "modernbert"; }
  std::string masked_lm_class() const override { return "ModernBertForMaskedLM"; }

  HfArch read_config(const json& c, const std::string& where) const override {
    HfArch arch;
    ModelConfig& m = arch.model;
    m.d_model = positive(c, "hidden_size", where);
    m.n_layer = positive(c, "num_hidden_layers", where);
    m.n_head = positive(c, "num_attention_heads", where);
    m.d_ff = positive(c, "intermediate_size", where);
    m.vocab_size = positive(c, "vocab_size", where);
    if (m.d_model % m.n_head != 0 || (m.d_model / m.n_head) % 2 != 0) {
      throw Error(where + ": hidden_size " + std::to_string(m.d_model) + " over num_attention_heads " +
                  std::to_string(m.n_head) + " is not an even head size (rotary positions need one)");
    }
    const std::string act = optional<std::string>(c, "hidden_activation", "gelu", where);
    if (act != "gelu")
      throw Error(where + ": hidden_activation '" + act + "' is not supported (supported: gelu, as GeGLU)");
    m.activation = Activation::kGeglu;
    m.head_activation = hf_json::activation(optional<std::string>(c, "classifier_activation", "gelu", where),
                                            "classifier_activation", where);
    m.norm_eps = optional<double>(c, "norm_eps", 1e-5, where);
    m.norm_bias = optional<bool>(c, "norm_bias", false, where);
    m.bias = optional<bool>(c, "attention_bias", false, where);
    m.mlp_bias = optional<bool>(c, "mlp_bias", false, where);
    m.head_transform_bias = optional<bool>(c, "classifier_bias", false, where);
    m.head_bias = optional<bool>(c, "decoder_bias", true, where);
    m.tie_head = optional<bool>(c, "tie_word_embeddings", true, where);
    m.dropout = std::max({optional<double>(c, "embedding_dropout", 0.0, where),
                          optional<double>(c, "attention_dropout", 0.0, where),
                          optional<double>(c, "mlp_dropout", 0.0, where)});
    m.local_attention = optional<int64_t>(c, "local_attention", 128, where);
    if (m.local_attention < 0) throw Error(where + ": local_attention must be >= 0");
    m.global_every = global_every_of(c, m.n_layer, where);
    if (m.global_every < 1) throw Error(where + ": global_attn_every_n_layers must be >= 1");
    const double global_theta = optional<double>(c, "global_rope_theta", 160000.0, where);
    m.rope_theta = rope_theta_of(c, kFull, global_theta, where);
    // A null local base means the global one (transformers 4.57's ModernBertAttention).
    const bool local_null = c.contains("local_rope_theta") && c["local_rope_theta"].is_null();
    const double local_theta = local_null ? global_theta : optional<double>(c, "local_rope_theta", 10000.0, where);
    m.local_rope_theta = rope_theta_of(c, kSliding, local_theta, where);
    if (m.rope_theta <= 0.0 || m.local_rope_theta < 0.0) throw Error(where + ": rotary bases must be positive");
    arch.max_len = positive(c, "max_position_embeddings", where);
    m.type = ModelType::kTransformer;
    m.norm = NormKind::kLayerNorm;
    m.norm_order = NormOrder::kPre;
    m.norm_weight = true;
    m.pos = PosKind::kRotary;
    m.emb_norm = true;
    m.first_norm = false;
    m.qk_norm = false;
    m.time_cond = TimeCond::kNone;
    m.head_transform = true;
    m.type_vocab = 0;
    m.pos_offset = 0;
    return arch;
  }

  json write_config(const HfArch& arch, const Tokenizer& tok, const std::string& dtype) const override {
    const ModelConfig& m = arch.model;
    return {{"architectures", {masked_lm_class()}},
            {"model_type", model_type()},
            {"hidden_size", m.d_model},
            {"num_hidden_layers", m.n_layer},
            {"num_attention_heads", m.n_head},
            {"intermediate_size", m.d_ff > 0 ? m.d_ff : 4 * m.d_model},
            {"vocab_size", m.vocab_size},
            {"hidden_activation", "gelu"},
            {"classifier_activation", hf_json::activation_name(m.head_activation)},
            {"norm_eps", m.norm_eps > 0.0 ? m.norm_eps : 1e-5},
            {"norm_bias", m.norm_bias},
            {"attention_bias", m.bias},
            {"mlp_bias", m.mlp_bias},
            {"classifier_bias", m.head_transform_bias},
            {"decoder_bias", m.head_bias},
            {"tie_word_embeddings", m.tie_head},
            {"embedding_dropout", m.dropout},
            {"attention_dropout", m.dropout},
            {"mlp_dropout", m.dropout},
            {"local_attention", m.local_attention},
            {"global_attn_every_n_layers", m.local_attention > 0 ? m.global_every : 1},
            {"global_rope_theta", m.rope_theta},
            {"local_rope_theta", m.local_rope_theta > 0.0 ? json(m.local_rope_theta) : json(nullptr)},
            {"max_position_embeddings", arch.max_len},
            {"pad_token_id", tok.pad_id()},
            {"bos_token_id", tok.bos_id()},
            {"cls_token_id", tok.bos_id()},
            {"eos_token_id", tok.eos_id()},
            {"sep_token_id", tok.eos_id()},
            {"initializer_range", 0.02},
            {"reference_compile", false},
            {"torch_dtype", dtype}};
  }

  std::vector<TensorLink> links(const ModelConfig& m) const override {
    std::vector<TensorLink> out;
    // A parameter and, where the config gives it one, its bias.
    const auto add = [&out](const std::string& dlm, const std::string& hf, bool bias) {
      out.push_back({dlm + ".weight", {hf + ".weight"}});
      if (bias) out.push_back({dlm + ".bias", {hf + ".bias"}});
    };
    add("tok_emb", "model.embeddings.tok_embeddings", false);
    add("emb_norm.layer_norm", "model.embeddings.norm", m.norm_bias);
    for (int64_t i = 0; i < m.n_layer; ++i) {
      const std::string b = "blocks." + std::to_string(i) + ".";
      const std::string l = "model.layers." + std::to_string(i) + ".";
      if (i > 0) add(b + "norm1.layer_norm", l + "attn_norm", m.norm_bias);
      add(b + "attn.qkv", l + "attn.Wqkv", m.bias);
      add(b + "attn.proj", l + "attn.Wo", m.bias);
      add(b + "norm2.layer_norm", l + "mlp_norm", m.norm_bias);
      add(b + "fc", l + "mlp.Wi", m.mlp_bias);
      add(b + "fc_out", l + "mlp.Wo", m.mlp_bias);
    }
    add("norm_f.layer_norm", "model.final_norm", m.norm_bias);
    add("head_dense", "head.dense", m.head_transform_bias);
    add("head_norm.layer_norm", "head.norm", m.norm_bias);
    if (m.head_bias) out.push_back({"head_bias", {"decoder.bias"}});
    if (!m.tie_head) out.push_back({"head.weight", {"decoder.weight"}});
    return out;
  }

  std::string canonical(const std::string& name) const override {
    if (name.rfind("head.", 0) == 0 || name.rfind("decoder.", 0) == 0) return name;
    const std::string bare = strip_prefix(name, "model.");
    if (bare == "embeddings.position_ids") return "";
    return "model." + bare;
  }

  std::string head_probe() const override { return "head.dense.weight"; }

  std::string why_not(const ModelConfig& m) const override {
    if (m.type != ModelType::kTransformer) return "model.type is not transformer";
    if (m.norm_order != NormOrder::kPre || m.norm != NormKind::kLayerNorm || !m.norm_weight) {
      return "the norms are not pre-norm LayerNorms with weights";
    }
    if (m.pos != PosKind::kRotary) return "model.pos is not rotary";
    if (!m.emb_norm || m.first_norm) return "the embeddings are not normalised in place of layer 0's attention norm";
    if (m.activation != Activation::kGeglu) return "model.activation is not geglu";
    if (!m.head_transform) return "there is no MLM head transform";
    if (m.head_activation != Activation::kGelu && m.head_activation != Activation::kGeluTanh)
      return "the head activation is not gelu";
    if (m.qk_norm) return "model.qk_norm is on";
    if (m.time_cond != TimeCond::kNone) return "the model is conditioned on the masking rate";
    if (m.type_vocab > 0) return "it has token-type embeddings";
    return "";
  }
};

}  // namespace

const HfFamily& modernbert_family() {
  static const ModernBert family;
  return family;
}

}  // namespace dlm
