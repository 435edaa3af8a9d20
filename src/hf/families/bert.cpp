// The BERT family (BertForMaskedLM, and a bare BertModel such as a sentence-embedding model): its
// config.json and tensor names, and the BERT-style parts RoBERTa shares with it (hf/bert_style.h).
#include <cmath>

#include "dlm/error.h"
#include "dlm/hf/family.h"
#include "hf/bert_style.h"
#include "hf/config_json.h"
#include "hf/families.h"

namespace dlm {
namespace {

using nlohmann::json;

using hf_json::optional;
using hf_json::positive;

class Bert : public HfFamily {
 public:
  std::string model_type() const override { return "bert"; }
  std::string masked_lm_class() const override { return "BertForMaskedLM"; }
  HfArch read_config(const json& config, const std::string& where) const override {
    HfArch arch = read_bert_style_config(config, where, 0);
    arch.model.head_activation = arch.model.activation;  // BERT's head transform uses hidden_act
    return arch;
  }
  json write_config(const HfArch& arch, const Tokenizer& tokenizer, const std::string& dtype) const override {
    json c = write_bert_style_config(arch, tokenizer.pad_id(), dtype);
    c["architectures"] = {masked_lm_class()};
    c["model_type"] = model_type();
    return c;
  }
  std::vector<TensorLink> links(const ModelConfig& m) const override {
    std::vector<TensorLink> out = bert_encoder_links("bert.", m);
    const std::string h = "cls.predictions.";
    out.push_back({"head_dense.weight", {h + "transform.dense.weight"}});
    out.push_back({"head_dense.bias", {h + "transform.dense.bias"}});
    out.push_back({"head_norm.layer_norm.weight", {h + "transform.LayerNorm.weight"}});
    out.push_back({"head_norm.layer_norm.bias", {h + "transform.LayerNorm.bias"}});
    out.push_back({"head_bias", {h + "bias"}});
    if (!m.tie_head) out.push_back({"head.weight", {h + "decoder.weight"}});
    return out;
  }
  std::string canonical(const std::string& name) const override {
    if (name.rfind("cls.", 0) == 0) {
      if (name.rfind("cls.seq_relationship.", 0) == 0) return "";  // the next-sentence head
      return name == "cls.predictions.decoder.bias" ? "cls.predictions.bias" : name;
    }
    const std::string bare = strip_prefix(name, "bert.");
    if (bare == "embeddings.position_ids" || bare.rfind("pooler.", 0) == 0) return "";
    return "bert." + bare;
  }
  std::string head_probe() const override { return "cls.predictions.transform.dense.weight"; }
  std::string why_not(const ModelConfig& m) const override {
    const std::string reason = why_not_bert_style(m);
    if (!reason.empty()) return reason;
    return m.pos_offset == 0 ? "" : "its positions start at " + std::to_string(m.pos_offset) + ", BERT's at 0";
  }
};

}  // namespace

HfArch read_bert_style_config(const json& c, const std::string& where, int64_t pos_offset) {
  HfArch arch;
  ModelConfig& m = arch.model;
  m.d_model = positive(c, "hidden_size", where);
  m.n_layer = positive(c, "num_hidden_layers", where);
  m.n_head = positive(c, "num_attention_heads", where);
  m.d_ff = positive(c, "intermediate_size", where);
  m.vocab_size = positive(c, "vocab_size", where);
  if (m.d_model % m.n_head != 0) {
    throw Error(where + ": hidden_size " + std::to_string(m.d_model) + " is not divisible by num_attention_heads " +
                std::to_string(m.n_head));
  }
  m.activation = hf_json::activation(optional<std::string>(c, "hidden_act", "gelu", where), "hidden_act", where);
  m.norm_eps = optional<double>(c, "layer_norm_eps", 1e-12, where);
  m.type_vocab = optional<int64_t>(c, "type_vocab_size", 2, where);
  m.dropout = optional<double>(c, "hidden_dropout_prob", 0.1, where);
  const std::string pos = optional<std::string>(c, "position_embedding_type", "absolute", where);
  if (pos != "absolute")
    throw Error(where + ": position_embedding_type '" + pos + "' is not supported (supported: absolute)");
  if (optional<bool>(c, "is_decoder", false, where))
    throw Error(where + ": is_decoder true is not supported (dlm reads encoders)");
  m.tie_head = optional<bool>(c, "tie_word_embeddings", true, where);
  const int64_t positions = positive(c, "max_position_embeddings", where);
  if (positions <= pos_offset) {
    throw Error(where + ": max_position_embeddings " + std::to_string(positions) +
                " leaves no position after the first " + std::to_string(pos_offset));
  }
  arch.max_len = positions - pos_offset;
  m.pos_offset = pos_offset;
  m.type = ModelType::kTransformer;
  m.norm = NormKind::kLayerNorm;
  m.norm_order = NormOrder::kPost;
  m.pos = PosKind::kLearned;
  m.emb_norm = true;
  m.norm_weight = true;
  m.bias = true;
  m.qk_norm = false;
  m.time_cond = TimeCond::kNone;
  m.head_transform = true;
  m.head_bias = true;
  return arch;
}

json write_bert_style_config(const HfArch& arch, int64_t pad_id, const std::string& dtype) {
  const ModelConfig& m = arch.model;
  return {{"hidden_size", m.d_model},
          {"num_hidden_layers", m.n_layer},
          {"num_attention_heads", m.n_head},
          {"intermediate_size", m.d_ff > 0 ? m.d_ff : 4 * m.d_model},
          {"vocab_size", m.vocab_size},
          {"hidden_act", hf_json::activation_name(m.activation)},
          {"layer_norm_eps", m.norm_eps > 0.0 ? m.norm_eps : 1e-5},
          {"type_vocab_size", m.type_vocab},
          {"hidden_dropout_prob", m.dropout},
          {"attention_probs_dropout_prob", m.dropout},
          {"max_position_embeddings", arch.max_len + m.pos_offset},
          {"position_embedding_type", "absolute"},
          {"pad_token_id", pad_id},
          {"tie_word_embeddings", m.tie_head},
          {"initializer_range", 0.02},
          {"torch_dtype", dtype}};
}

std::string why_not_bert_style(const ModelConfig& m) {
  if (m.type != ModelType::kTransformer) return "model.type is not transformer";
  if (m.norm_order != NormOrder::kPost) return "model.norm_order is not post";
  if (m.norm != NormKind::kLayerNorm || !m.norm_weight) return "the norms are not LayerNorm with weights";
  if (m.pos != PosKind::kLearned) return "model.pos is not learned";
  if (!m.emb_norm) return "there is no embedding norm (model.emb_norm)";
  if (!m.head_transform || !m.head_bias) return "there is no MLM head transform and logit bias";
  if (!m.bias) return "the projections have no biases";
  if (m.qk_norm) return "model.qk_norm is on";
  if (m.time_cond != TimeCond::kNone) return "the model is conditioned on the masking rate";
  if (m.activation != Activation::kGelu && m.activation != Activation::kGeluTanh) return "model.activation is not gelu";
  if (m.type_vocab < 1) return "there are no token-type embeddings";
  return "";
}

std::vector<TensorLink> bert_encoder_links(const std::string& prefix, const ModelConfig& m) {
  const std::string e = prefix + "embeddings.";
  std::vector<TensorLink> out = {
      {"tok_emb.weight", {e + "word_embeddings.weight"}},
      {"pos_emb.weight", {e + "position_embeddings.weight"}},
      {"type_emb.weight", {e + "token_type_embeddings.weight"}},
      {"emb_norm.layer_norm.weight", {e + "LayerNorm.weight"}},
      {"emb_norm.layer_norm.bias", {e + "LayerNorm.bias"}},
  };
  for (int64_t i = 0; i < m.n_layer; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    const std::string l = prefix + "encoder.layer." + std::to_string(i) + ".";
    const std::string self = l + "attention.self.";
    for (const std::string kind : {"weight", "bias"}) {
      out.push_back({b + "attn.qkv." + kind, {self + "query." + kind, self + "key." + kind, self + "value." + kind}});
      out.push_back({b + "attn.proj." + kind, {l + "attention.output.dense." + kind}});
      out.push_back({b + "norm1.layer_norm." + kind, {l + "attention.output.LayerNorm." + kind}});
      out.push_back({b + "fc." + kind, {l + "intermediate.dense." + kind}});
      out.push_back({b + "fc_out." + kind, {l + "output.dense." + kind}});
      out.push_back({b + "norm2.layer_norm." + kind, {l + "output.LayerNorm." + kind}});
    }
  }
  return out;
}

const HfFamily& bert_family() {
  static const Bert family;
  return family;
}

}  // namespace dlm
