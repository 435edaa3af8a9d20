// The transformer's knobs for the open diffusion LLMs (LLaDA, Dream): grouped-query attention, q/k/v
// biases without an output bias, shifted predictions, and a bf16 model run in its own dtype.
#include <gtest/gtest.h>

#include "dlm/model/model.h"
#include "test_util.h"

namespace {

// A LLaDA-shaped model: pre-norm RMSNorm, rotary, SwiGLU, no biases, an untied head.
dlm::ModelConfig llm_config() {
  dlm::ModelConfig c = dlm_test::tiny_model(2, 4, 0.0);
  c.norm = dlm::NormKind::kRmsNorm;
  c.pos = dlm::PosKind::kRotary;
  c.activation = dlm::Activation::kSwiglu;
  c.bias = false;
  c.mlp_bias = false;
  c.tie_head = false;
  c.attention = dlm::AttentionKind::kExplicit;
  return c;
}

std::shared_ptr<dlm::TransformerImpl> build(const dlm::ModelConfig& c) {
  auto model = std::dynamic_pointer_cast<dlm::TransformerImpl>(dlm::make_model(c, 40, 16));
  model->eval();
  return model;
}

// Copies every parameter of `from` into `to` (same names and shapes), except those `skip` names.
void copy_params(dlm::TransformerImpl& from, dlm::TransformerImpl& to, const std::string& skip = "") {
  torch::NoGradGuard no_grad;
  const auto source = from.named_parameters();
  for (auto& p : to.named_parameters()) {
    if (!skip.empty() && p.key().find(skip) != std::string::npos) continue;
    p.value().copy_(source[p.key()]);
  }
}

// Two query heads share each key/value head: the same as full multi-head attention whose key and
// value heads are those shared heads, each repeated for the queries that read it.
TEST(ModelLlm, GroupedQueryAttentionEqualsMultiHeadWithRepeatedKeyValueHeads) {
  torch::manual_seed(3);
  auto gqa_config = llm_config();
  gqa_config.n_kv_head = 2;
  gqa_config.bias = true;
  auto gqa = build(gqa_config);
  const int64_t H = 4, Hkv = 2, Dh = 8;
  const auto gqa_params = gqa->named_parameters();
  EXPECT_EQ(gqa_params["blocks.0.attn.qkv.weight"].size(0), (H + 2 * Hkv) * Dh);
  auto mha_config = gqa_config;
  mha_config.n_kv_head = 0;
  auto mha = build(mha_config);
  copy_params(*gqa, *mha, "attn.qkv");
  {
    torch::NoGradGuard no_grad;
    for (int64_t layer = 0; layer < 2; ++layer) {
      for (const std::string part : {"weight", "bias"}) {
        const std::string name = "blocks." + std::to_string(layer) + ".attn.qkv." + part;
        const torch::Tensor g = gqa_params[name];
        const torch::Tensor q = g.slice(0, 0, H * Dh);
        // (Hkv, Dh, ...) -> each head twice, in order: heads 0, 0, 1, 1.
        const auto repeat = [&](const torch::Tensor& kv) {
          return kv.reshape({Hkv, 1, Dh, -1})
              .expand({Hkv, H / Hkv, Dh, kv.dim() == 2 ? kv.size(1) : 1})
              .reshape(kv.dim() == 2 ? std::vector<int64_t>{H * Dh, kv.size(1)} : std::vector<int64_t>{H * Dh});
        };
        const torch::Tensor k = repeat(g.slice(0, H * Dh, (H + Hkv) * Dh));
        const torch::Tensor v = repeat(g.slice(0, (H + Hkv) * Dh));
        mha->named_parameters()[name].copy_(torch::cat({q, k, v}, 0));
      }
    }
  }
  const auto ids = torch::randint(0, 40, {2, 9});
  const auto t = torch::zeros({2});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(gqa->forward(ids, t), mha->forward(ids, t), 1e-5, 1e-5));
  // And a model whose key/value heads differ from the repeated ones does not agree.
  mha->named_parameters()["blocks.0.attn.qkv.weight"][H * Dh + 1].add_(1.0);
  EXPECT_FALSE(torch::allclose(gqa->forward(ids, t), mha->forward(ids, t), 1e-5, 1e-5));
}

// q/k/v carry biases, the output projection none; `bias` false still removes them all.
TEST(ModelLlm, OutBiasFalseDropsOnlyTheOutputProjectionsBias) {
  auto c = llm_config();
  c.bias = true;
  c.out_bias = false;
  const auto params = build(c)->named_parameters();
  EXPECT_TRUE(params.contains("blocks.0.attn.qkv.bias"));
  EXPECT_FALSE(params.contains("blocks.0.attn.proj.bias"));
  c.out_bias = true;
  EXPECT_TRUE(build(c)->named_parameters().contains("blocks.0.attn.proj.bias"));
  c.bias = false;
  const auto none = build(c)->named_parameters();
  EXPECT_FALSE(none.contains("blocks.0.attn.qkv.bias"));
  EXPECT_FALSE(none.contains("blocks.0.attn.proj.bias"));
}

// Shifted: position i's logits are the unshifted model's at i - 1, position 0 keeps its own; the
// hidden states, forward_rows and the logits at chosen positions all agree.
TEST(ModelLlm, ShiftedPredictionsReadThePositionBefore) {
  torch::manual_seed(4);
  auto c = llm_config();
  auto plain = build(c);
  c.shift = true;
  auto shifted = build(c);
  copy_params(*plain, *shifted);
  torch::NoGradGuard no_grad;
  const auto ids = torch::randint(0, 40, {2, 7});
  const auto t = torch::zeros({2});
  const auto p = plain->forward(ids, t), s = shifted->forward(ids, t);
  EXPECT_TRUE(torch::equal(s.select(1, 0), p.select(1, 0)));
  EXPECT_TRUE(torch::allclose(s.slice(1, 1), p.slice(1, 0, 6)));
  EXPECT_FALSE(torch::allclose(s, p));
  EXPECT_TRUE(torch::equal(shifted->head(shifted->hidden(ids, t)), s));
  const auto valid = torch::ones({2, 7}, torch::kBool);
  const auto out = torch::tensor({{3, 0}, {6, 2}});
  const auto at = shifted->forward_rows(ids, t, valid, out);
  EXPECT_TRUE(torch::allclose(at.select(1, 0).select(0, 0), s[0][3]));
  EXPECT_TRUE(torch::allclose(at.select(1, 1).select(0, 1), s[1][2]));
}

// A shifted model's block pass shifts along its rows: over positions b - 1 .. e - 1 of an unchanged
// canvas it gives the full pass's logits at b .. e - 1 (rows 1 ..), and the hidden states there too.
TEST(ModelLlm, AShiftedBlockPassPredictsFromThePositionBefore) {
  torch::manual_seed(6);
  auto c = llm_config();
  c.shift = true;
  c.n_kv_head = 2;
  auto model = build(c);
  torch::NoGradGuard no_grad;
  const auto ids = torch::randint(0, 40, {2, 12});
  const auto t = torch::zeros({2});
  const auto full = model->forward(ids, t);
  dlm::KVCache cache;
  model->forward_store(ids, t, {}, cache);
  const auto pos = torch::arange(3, 9).expand({2, 6});  // block 4 .. 8, from the position before
  const auto out = torch::arange(1, 6).expand({2, 5});
  const auto block = model->forward_block(ids.narrow(1, 3, 6), pos, t, {}, cache, out);
  EXPECT_LT((block - full.narrow(1, 4, 5)).abs().max().item<double>(), 1e-5);
  const auto hidden = model->hidden_block(ids.narrow(1, 3, 6), pos, t, {}, cache, out);
  EXPECT_TRUE(torch::allclose(model->head(hidden), block));
  // Unshifted rows would be the position's own prediction: a different one.
  EXPECT_GT((block - full.narrow(1, 3, 5)).abs().max().item<double>(), 1e-3);
}

// A bf16 model runs in bf16 (parameters and logits), close to the same weights in fp32: norms,
// rotary positions and softmax are computed in fp32 inside.
TEST(ModelLlm, Bf16ModelRunsInItsOwnDtype) {
  torch::manual_seed(5);
  auto c = llm_config();
  c.n_kv_head = 2;
  auto fp32 = build(c);
  auto bf16 = build(c);
  copy_params(*fp32, *bf16);
  bf16->to(torch::kBFloat16);
  torch::NoGradGuard no_grad;
  const auto ids = torch::randint(0, 40, {2, 9});
  const auto t = torch::zeros({2});
  const auto low = bf16->forward(ids, t);
  EXPECT_EQ(low.scalar_type(), torch::kBFloat16);
  const auto high = fp32->forward(ids, t);
  EXPECT_LT((low.to(torch::kFloat32) - high).abs().max().item<double>(), 0.05 * high.abs().max().item<double>());
}

}  // namespace
