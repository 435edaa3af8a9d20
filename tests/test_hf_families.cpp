// The Hugging Face families (src/hf/family.cpp): the one list a config.json's model_type is looked up in,
// and the masked-diffusion LMs' config reading (LLaDA's and Dream's keys, refusals naming the key, the
// special ids, the sampler), links (grouped-query part sizes) and which family a dlm model exports as.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "dlm/hf/family.h"
#include "dlm/model/model.h"
#include "test_util.h"

namespace {

using dlm_test::error_of;
using nlohmann::json;

// The one list of families is where a model_type is looked up and what its refusal names, in order.
TEST(HfFamilies, EachModelTypeFindsItsFamilyAndAnUnknownOneIsRefusedWithTheList) {
  std::string names;
  for (const dlm::HfFamily* family : dlm::hf_families()) {
    EXPECT_EQ(&dlm::hf_family(family->model_type(), "config.json"), family);
    names += (names.empty() ? "" : ", ") + family->model_type();
  }
  EXPECT_EQ(names, "bert, roberta, modernbert, llada, Dream");
  EXPECT_EQ(dlm::hf_model_types(), names);
  EXPECT_EQ(error_of([] { dlm::hf_family("gpt2", "config.json"); }),
            "config.json: model_type 'gpt2' is not supported (supported: " + names + ")");
}

// LLaDA-8B's config.json in miniature: GQA, an explicit MLP size, more embedding rows than vocab_size.
json llada_config() {
  return json::parse(R"({
    "model_type": "llada", "architectures": ["LLaDAModelLM"], "activation_type": "silu", "alibi": false,
    "attention_dropout": 0.0, "attention_layer_norm": false, "block_group_size": 1, "block_type": "llama",
    "bias_for_layer_norm": false, "d_model": 32, "embedding_dropout": 0.0, "embedding_size": 128,
    "eos_token_id": 9, "flash_attention": false, "include_bias": false, "include_qkv_bias": false,
    "init_device": "meta", "init_fn": "mitchell", "init_std": 0.02, "input_emb_norm": false,
    "layer_norm_type": "rms", "layer_norm_with_affine": true, "mask_token_id": 126, "max_sequence_length": 48,
    "mlp_hidden_size": 40, "mlp_ratio": 4, "multi_query_attention": null, "n_heads": 4, "n_kv_heads": 2,
    "n_layers": 3, "pad_token_id": 9, "precision": "amp_bf16", "residual_dropout": 0.0, "rms_norm_eps": 1e-05,
    "rope": true, "rope_full_precision": true, "rope_theta": 500000.0, "scale_logits": false, "use_cache": false,
    "vocab_size": 120, "weight_tying": false})");
}

// Dream's (Qwen2's keys) in miniature: GQA, untied, an inert sliding_window.
json dream_config() {
  return json::parse(R"({
    "model_type": "Dream", "architectures": ["DreamModel"], "attention_dropout": 0.0, "bos_token_id": 5,
    "eos_token_id": 6, "hidden_act": "silu", "hidden_size": 24, "intermediate_size": 36, "mask_token_id": 99,
    "max_position_embeddings": 64, "max_window_layers": 2, "num_attention_heads": 6, "num_hidden_layers": 2,
    "num_key_value_heads": 2, "pad_token_id": 6, "rms_norm_eps": 1e-06, "rope_scaling": null,
    "rope_theta": 1000000.0, "sliding_window": 4096, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
    "use_sliding_window": false, "vocab_size": 100})");
}

dlm::HfArch read(const std::string& type, const json& c) {
  return dlm::hf_family(type, "c.json").read_config(c, "c.json");
}

TEST(HfFamilies, LladaConfigBecomesAPreNormGqaTransformerWithItsIds) {
  const dlm::HfArch a = read("llada", llada_config());
  const dlm::ModelConfig& m = a.model;
  EXPECT_EQ(m.d_model, 32);
  EXPECT_EQ(m.n_head, 4);
  EXPECT_EQ(m.n_kv_head, 2);
  EXPECT_EQ(m.n_layer, 3);
  EXPECT_EQ(m.d_ff, 40);
  EXPECT_EQ(m.vocab_size, 128);  // the embedding rows, not vocab_size
  EXPECT_DOUBLE_EQ(m.norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(m.rope_theta, 500000.0);
  EXPECT_FALSE(m.tie_head);
  EXPECT_FALSE(m.bias);
  EXPECT_FALSE(m.shift);
  EXPECT_EQ(m.norm, dlm::NormKind::kRmsNorm);
  EXPECT_EQ(m.activation, dlm::Activation::kSwiglu);
  EXPECT_EQ(m.pos, dlm::PosKind::kRotary);
  EXPECT_EQ(a.max_len, 48);
  EXPECT_EQ(a.mask_id, 126);
  EXPECT_EQ(a.eos_id, 9);
  EXPECT_EQ(a.pad_id, 9);
  EXPECT_EQ(a.bos_id, -1);  // not in the file: the tokenizer finds it by name
  EXPECT_EQ(a.sampler, "llada");
  // A null mlp_hidden_size is mlp_ratio times d_model; absent n_kv_heads is n_heads; qkv biases read.
  json c = llada_config();
  c["mlp_hidden_size"] = nullptr;
  c["mlp_ratio"] = 3;
  c.erase("n_kv_heads");
  c["include_qkv_bias"] = true;
  const dlm::HfArch b = read("llada", c);
  EXPECT_EQ(b.model.d_ff, 96);
  EXPECT_EQ(b.model.n_kv_head, 4);
  EXPECT_TRUE(b.model.bias);
  EXPECT_FALSE(b.model.out_bias);
}

TEST(HfFamilies, LladaSettingsDlmDoesNotBuildAreRefusedNamingTheKey) {
  const std::map<std::string, json> refused = {{"block_type", "sequential"},
                                               {"alibi", true},
                                               {"scale_logits", true},
                                               {"attention_layer_norm", true},
                                               {"include_bias", true},
                                               {"multi_query_attention", false},
                                               {"rope", false},
                                               {"layer_norm_type", "default"},
                                               {"activation_type", "swiglu"},
                                               {"input_emb_norm", true},
                                               {"layer_norm_with_affine", false},
                                               {"rope_full_precision", false},
                                               {"block_group_size", 2},
                                               {"bias_for_layer_norm", true}};
  for (const auto& [key, value] : refused) {
    json c = llada_config();
    c[key] = value;
    const std::string message = error_of([&] { read("llada", c); });
    EXPECT_EQ(message.rfind("c.json: " + key + " ", 0), 0u) << key << ": " << message;
    EXPECT_NE(message.find("not supported"), std::string::npos) << message;
  }
  json absent = llada_config();
  absent.erase("block_type");  // LLaDA's default block is the sequential one
  EXPECT_EQ(error_of([&] { read("llada", absent); }),
            "c.json: block_type \"sequential\" is not supported (dlm builds block_type \"llama\")");
  // Inert keys change nothing.
  json inert = llada_config();
  inert["init_std"] = 1.5;
  inert["flash_attention"] = true;
  inert["alibi_bias_max"] = 4.0;
  EXPECT_EQ(read("llada", inert).model.d_ff, 40);
}

TEST(HfFamilies, AFolderWithoutAMaskIdIsRefused) {
  for (const std::string type : {"llada", "Dream"}) {
    json c = type == "llada" ? llada_config() : dream_config();
    c.erase("mask_token_id");
    EXPECT_EQ(error_of([&] { read(type, c); }),
              "c.json: no mask id (mask_token_id is missing; it is the id the model was trained to fill in)");
    c["mask_token_id"] = nullptr;
    EXPECT_NE(error_of([&] { read(type, c); }).find("no mask id"), std::string::npos);
  }
}

TEST(HfFamilies, LladaHeadLayoutIsChecked) {
  json c = llada_config();
  c["n_kv_heads"] = 3;
  EXPECT_EQ(error_of([&] { read("llada", c); }), "c.json: n_kv_heads 3 does not divide n_heads 4");
  c = llada_config();
  c["n_heads"] = 5;
  EXPECT_NE(error_of([&] { read("llada", c); }).find("d_model 32 over n_heads 5 is not an even head size"),
            std::string::npos);
}

TEST(HfFamilies, DreamConfigIsQwen2sWithShiftedPredictions) {
  const dlm::HfArch a = read("Dream", dream_config());
  const dlm::ModelConfig& m = a.model;
  EXPECT_EQ(m.d_model, 24);
  EXPECT_EQ(m.n_head, 6);
  EXPECT_EQ(m.n_kv_head, 2);
  EXPECT_EQ(m.d_ff, 36);
  EXPECT_EQ(m.vocab_size, 100);
  EXPECT_TRUE(m.bias);
  EXPECT_FALSE(m.out_bias);
  EXPECT_FALSE(m.mlp_bias);
  EXPECT_TRUE(m.shift);
  EXPECT_FALSE(m.tie_head);
  EXPECT_DOUBLE_EQ(m.norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(m.rope_theta, 1e6);
  EXPECT_EQ(a.max_len, 64);
  EXPECT_EQ(a.mask_id, 99);
  EXPECT_EQ(a.bos_id, 5);
  EXPECT_EQ(a.eos_id, 6);
  EXPECT_EQ(a.sampler, "dream");
  json c = dream_config();
  c["use_sliding_window"] = true;
  EXPECT_EQ(error_of([&] { read("Dream", c); }),
            "c.json: use_sliding_window true is not supported (dlm's Dream layers attend to every position)");
  c = dream_config();
  c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_NE(error_of([&] { read("Dream", c); }).find("c.json: rope_scaling {"), std::string::npos);
  c = dream_config();
  c["hidden_act"] = "gelu";
  EXPECT_EQ(error_of([&] { read("Dream", c); }),
            "c.json: hidden_act 'gelu' is not supported (supported: silu, as SwiGLU)");
  c = dream_config();
  c["mask_token_id"] = 100;
  EXPECT_EQ(error_of([&] { read("Dream", c); }), "c.json: special id 100 is outside the 100 embedding rows");
}

// Every parameter of a model made from the config is linked once, joined parts summing to its rows.
void expect_links_cover_model(const std::string& type, const json& c) {
  const dlm::HfArch a = read(type, c);
  const dlm::HfFamily& family = dlm::hf_family(type, "c.json");
  const auto model = dlm::make_model(a.model, a.model.vocab_size, a.max_len);
  std::map<std::string, int64_t> rows;
  for (const auto& p : model->named_parameters()) rows[p.key()] = p.value().size(0);
  for (const dlm::TensorLink& link : family.links(a.model)) {
    ASSERT_EQ(rows.count(link.dlm), 1u) << type << ": " << link.dlm << " linked twice or not a parameter";
    if (link.hf.size() > 1) {
      ASSERT_EQ(link.rows.size(), link.hf.size()) << link.dlm;
      int64_t sum = 0;
      for (const int64_t r : link.rows) sum += r;
      EXPECT_EQ(sum, rows[link.dlm]) << link.dlm;
    }
    rows.erase(link.dlm);
  }
  EXPECT_TRUE(rows.empty()) << type << ": " << rows.begin()->first << " has no link";
}

TEST(HfFamilies, LinksCoverEveryParameterWithGroupedQueryPartSizes) {
  expect_links_cover_model("llada", llada_config());
  expect_links_cover_model("Dream", dream_config());
  json tied = dream_config();
  tied["tie_word_embeddings"] = true;
  expect_links_cover_model("Dream", tied);
  const dlm::HfArch a = read("llada", llada_config());
  std::map<std::string, dlm::TensorLink> by_name;
  for (const auto& link : dlm::hf_family("llada", "c.json").links(a.model)) by_name[link.dlm] = link;
  const dlm::TensorLink& qkv = by_name.at("blocks.2.attn.qkv.weight");
  EXPECT_EQ(qkv.hf, (std::vector<std::string>{"model.transformer.blocks.2.q_proj.weight",
                                              "model.transformer.blocks.2.k_proj.weight",
                                              "model.transformer.blocks.2.v_proj.weight"}));
  EXPECT_EQ(qkv.rows, (std::vector<int64_t>{32, 16, 16}));
  const dlm::TensorLink& fc = by_name.at("blocks.0.fc.weight");
  EXPECT_EQ(fc.hf, (std::vector<std::string>{"model.transformer.blocks.0.ff_proj.weight",
                                             "model.transformer.blocks.0.up_proj.weight"}));
  EXPECT_EQ(by_name.at("blocks.0.fc_out.weight").hf[0], "model.transformer.blocks.0.ff_out.weight");
  EXPECT_EQ(by_name.at("head.weight").hf[0], "model.transformer.ff_out.weight");
  EXPECT_EQ(by_name.at("norm_f.rms_norm.weight").hf[0], "model.transformer.ln_f.weight");
}

// Exporting picks the family whose why_not is empty: shift and the q/k/v bias tell Dream from LLaDA.
TEST(HfFamilies, ExportPicksLladaOrDreamByShiftAndBias) {
  const dlm::ModelConfig llada = read("llada", llada_config()).model;
  const dlm::ModelConfig dream = read("Dream", dream_config()).model;
  EXPECT_EQ(dlm::hf_family_for(llada)->model_type(), "llada");
  EXPECT_EQ(dlm::hf_family_for(dream)->model_type(), "Dream");
  dlm::ModelConfig unbiased = dream;
  unbiased.bias = false;
  std::string why;
  EXPECT_EQ(dlm::hf_family_for(unbiased, &why), nullptr);
  EXPECT_NE(why.find("Dream: the q, k and v projections have no biases"), std::string::npos) << why;
  EXPECT_NE(why.find("llada: its predictions are shifted"), std::string::npos) << why;
  dlm::ModelConfig out_bias = llada;
  out_bias.bias = true;
  out_bias.out_bias = true;
  EXPECT_EQ(dlm::hf_family_for(out_bias, &why), nullptr);
  EXPECT_NE(why.find("llada: the attention output projection has a bias"), std::string::npos) << why;
}

}  // namespace
