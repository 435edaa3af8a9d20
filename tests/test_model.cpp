// Models: shapes for every variant, bidirectional vs causal attention, fused vs explicit attention
// kernels (KV cache included), and a tiny model overfitting.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/version.h>

#include "dlm/device.h"
#include "dlm/diffusion/collator.h"
#include "dlm/error.h"
#include "dlm/model/model.h"
#include "dlm/train/trainer.h"
#include "test_util.h"

namespace {

dlm::ModelConfig small() { return dlm_test::tiny_model(2, 4, 0.0); }

TEST(Model, EveryVariantMapsIdsToLogits) {
  torch::manual_seed(0);
  const auto ids = torch::randint(2, 20, {3, 10});
  const auto t = torch::rand({3});
  for (const std::string pos : {"learned", "rotary"}) {
    for (const std::string norm : {"layernorm", "rmsnorm"}) {
      for (const std::string cond : {"none", "add", "adaln"}) {
        for (bool tie : {true, false}) {
          auto c = small();
          c.pos = dlm_test::enum_from<dlm::PosKind>(pos);
          c.norm = dlm_test::enum_from<dlm::NormKind>(norm);
          c.time_cond = dlm_test::enum_from<dlm::TimeCond>(cond);
          c.tie_head = tie;
          auto model = dlm::make_model(c, 20, 16);
          const auto logits = model->forward(ids, t);
          EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{3, 10, 20})) << pos << norm << cond << tie;
          EXPECT_TRUE(logits.isfinite().all().item<bool>());
        }
      }
    }
  }
  auto c = small();
  c.type = dlm::ModelType::kMlp;
  auto mlp = dlm::make_model(c, 20, 16);
  EXPECT_EQ(mlp->forward(ids, t).sizes(), (std::vector<int64_t>{3, 10, 20}));
}

TEST(Model, AttentionIsBidirectionalUnlessCausal) {
  torch::manual_seed(0);
  for (const std::string pos : {"learned", "rotary"}) {
    auto c = small();
    c.pos = dlm_test::enum_from<dlm::PosKind>(pos);
    dlm::TransformerImpl bi(c, 20, 16), causal(c, 20, 16, /*causal=*/true);
    bi.eval();
    causal.eval();
    auto ids = torch::randint(2, 20, {1, 8});
    auto changed = ids.clone();
    changed[0][7] = (ids[0][7].item<int64_t>() + 1 - 2) % 18 + 2;
    const auto t = torch::zeros({1});
    // A change at the last position reaches position 0 only without the causal mask.
    EXPECT_FALSE(torch::allclose(bi.forward(ids, t)[0][0], bi.forward(changed, t)[0][0]));
    EXPECT_TRUE(torch::allclose(causal.forward(ids, t)[0][0], causal.forward(changed, t)[0][0]));
  }
}

TEST(Model, TimeConditioningChangesThePrediction) {
  torch::manual_seed(0);
  auto c = small();
  c.time_cond = dlm::TimeCond::kAdd;
  auto model = dlm::make_model(c, 20, 16);
  model->eval();
  const auto ids = torch::randint(2, 20, {1, 8});
  EXPECT_FALSE(torch::allclose(model->forward(ids, torch::tensor({0.1f})), model->forward(ids, torch::tensor({0.9f}))));
}

TEST(Model, TinyModelOverfitsATinyBatch) {
  for (const auto precision : {dlm::Precision::kFp32, dlm::Precision::kBf16}) {
    SCOPED_TRACE(precision == dlm::Precision::kBf16 ? "bf16" : "fp32");
    torch::manual_seed(0);
    at::Generator gen = at::detail::createCPUGenerator(0);
    auto c = small();
    c.time_cond = dlm::TimeCond::kAdd;
    auto model = dlm::make_model(c, 16, 8);
    std::vector<dlm::Example> data(2);
    data[0].ids = {5, 6, 7, 8, 3, 0, 0, 0};
    data[0].n_content = 5;
    data[1].ids = {9, 10, 11, 12, 13, 14, 3, 0};
    data[1].n_content = 7;
    std::vector<const dlm::Example*> batch;
    for (int i = 0; i < 16; ++i) batch.push_back(&data[i % 2]);
    dlm::DiffusionConfig dc;
    torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(3e-3));
    double first = 0;
    for (int step = 0; step < 300; ++step) {
      const auto b = dlm::collate(batch, dc, 1, gen);
      torch::Tensor loss;
      {
        // The guard itself: autocast_for would run fp32 on a CPU without bf16 dot products.
        const auto autocast = precision == dlm::Precision::kBf16
                                  ? std::make_unique<dlm::AutocastGuard>(torch::kCPU, torch::kBFloat16)
                                  : nullptr;
        const torch::Tensor hidden = model->hidden(b.input, b.t);
        if (step == 0 && precision == dlm::Precision::kBf16)
          EXPECT_EQ(model->head(hidden).scalar_type(), torch::kBFloat16);
        loss = dlm::scored_loss(*model, hidden, b);
      }
      opt.zero_grad();
      loss.backward();
      opt.step();
      if (step == 0) first = loss.item<double>();
    }
    EXPECT_GT(first, 2.0);
    // Fully masked, the two examples are indistinguishable (loss near ln 2 per differing token); at
    // 50% masking the visible half identifies the example and the model fills the rest exactly.
    const auto metrics = dlm::make_process(dlm::Config{}, dlm::SpecialIds{1, -1, -1, -1, -1, -1})
                             ->by_level(*model, data, {0.5}, 2, torch::kCPU, 1);
    EXPECT_LT(metrics[0].loss, 0.05);
    EXPECT_DOUBLE_EQ(metrics[0].accuracy, 1.0);
  }
}

}  // namespace

namespace {

// The attention kernels this LibTorch has: fused only on 2.x.
std::vector<dlm::AttentionKernel> kernels() {
  std::vector<dlm::AttentionKernel> out = {dlm::AttentionKernel::kExplicit};
  if (dlm::attention_kernel(dlm::AttentionKind::kAuto) == dlm::AttentionKernel::kFused)
    out.push_back(dlm::AttentionKernel::kFused);
  return out;
}

TEST(ModelAttention, FusedIsTheDefaultExactlyWhereLibTorchHasIt) {
#if TORCH_VERSION_MAJOR >= 2
  EXPECT_EQ(dlm::attention_kernel(dlm::AttentionKind::kAuto), dlm::AttentionKernel::kFused);
  EXPECT_EQ(dlm::attention_kernel(dlm::AttentionKind::kFused), dlm::AttentionKernel::kFused);
#else
  EXPECT_EQ(dlm::attention_kernel(dlm::AttentionKind::kAuto), dlm::AttentionKernel::kExplicit);
  EXPECT_THROW(dlm::attention_kernel(dlm::AttentionKind::kFused), dlm::Error);
#endif
  EXPECT_EQ(dlm::attention_kernel(dlm::AttentionKind::kExplicit), dlm::AttentionKernel::kExplicit);
}

// The explicit kernel against attention written out position by position.
TEST(ModelAttention, ExplicitKernelMatchesAttentionWrittenOut) {
  torch::manual_seed(1);
  const int64_t L = 3, T = 5, Dh = 4;
  const auto q = torch::randn({1, 1, L, Dh}), k = torch::randn({1, 1, T, Dh}), v = torch::randn({1, 1, T, Dh});
  const auto y = dlm::attend(q, k, v, /*causal=*/true, 0.0, dlm::AttentionKernel::kExplicit);
  for (int64_t i = 0; i < L; ++i) {
    const int64_t seen = T - L + i + 1;  // query i sits at position T - L + i
    const auto scores = (k[0][0].slice(0, 0, seen) * q[0][0][i]).sum(-1) / std::sqrt(static_cast<double>(Dh));
    const auto expected = (torch::softmax(scores, 0).unsqueeze(1) * v[0][0].slice(0, 0, seen)).sum(0);
    EXPECT_TRUE(torch::allclose(y[0][0][i], expected, 1e-5, 1e-6)) << "query " << i;
  }
}

#if TORCH_VERSION_MAJOR >= 2  // LibTorch 1.x has no fused kernel (FusedIsTheDefault... checks that it refuses one)
TEST(ModelAttention, FusedAndExplicitKernelsAgreeWithAndWithoutMasks) {
  torch::manual_seed(2);
  for (bool causal : {false, true}) {
    for (int64_t L : {1, 4, 7}) {  // 7 of 7 keys (no cache), 4 and 1 new queries after a cache
      const auto q = torch::randn({2, 3, L, 8}), k = torch::randn({2, 3, 7, 8}), v = torch::randn({2, 3, 7, 8});
      const auto a = dlm::attend(q, k, v, causal, 0.0, dlm::AttentionKernel::kExplicit);
      const auto b = dlm::attend(q, k, v, causal, 0.0, kernels().back());
      EXPECT_LT((a - b).abs().max().item<double>(), 1e-5) << "causal " << causal << " L " << L;
    }
  }
}
#endif

// Whole models: bidirectional and causal, full passes and the KV-cache path in chunks, with every
// kernel against the explicit one.
TEST(ModelAttention, ModelsGiveTheSameLogitsWithEveryKernel) {
  for (bool causal : {false, true}) {
    auto c = small();
    c.pos = dlm::PosKind::kRotary;
    c.attention = dlm::AttentionKind::kExplicit;
    torch::manual_seed(3);
    dlm::TransformerImpl reference(c, 20, 16, causal);
    reference.eval();
    const auto ids = torch::randint(2, 20, {2, 11});
    const auto expected = reference.forward(ids, torch::zeros({2}));
    for (const auto kernel : kernels()) {
      c.attention = kernel == dlm::AttentionKernel::kFused ? dlm::AttentionKind::kFused : dlm::AttentionKind::kExplicit;
      torch::manual_seed(3);
      dlm::TransformerImpl model(c, 20, 16, causal);
      model.eval();
      EXPECT_LT((model.forward(ids, torch::zeros({2})) - expected).abs().max().item<double>(), 1e-5)
          << dlm::enum_name(c.attention);
      if (!causal) continue;
      dlm::KVCache cache;  // prefill 5, a chunk of 4 (offset diagonal mask), then one at a time
      std::vector<torch::Tensor> parts = {model.forward_cached(ids.slice(1, 0, 5), cache),
                                          model.forward_cached(ids.slice(1, 5, 9), cache)};
      for (int64_t i = 9; i < 11; ++i) parts.push_back(model.forward_cached(ids.slice(1, i, i + 1), cache));
      EXPECT_LT((torch::cat(parts, 1) - expected).abs().max().item<double>(), 1e-5)
          << dlm::enum_name(c.attention) << " cached";
    }
  }
}

}  // namespace

namespace {

// Architecture knobs: each changes the model as documented.
TEST(ModelKnobs, WeightlessNormsHaveNoParameters) {
  for (const std::string norm : {"layernorm", "rmsnorm"}) {
    auto c = small();
    c.norm = dlm_test::enum_from<dlm::NormKind>(norm);
    c.norm_weight = false;
    dlm::TransformerImpl model(c, 20, 16);
    for (const auto& p : model.named_parameters()) EXPECT_EQ(p.key().find("norm"), std::string::npos) << p.key();
    c.norm_weight = true;
    dlm::TransformerImpl with_weights(c, 20, 16);
    EXPECT_EQ(dlm::count_parameters(with_weights) - dlm::count_parameters(model),
              (2 * 2 + 1) * 32 * (norm == "layernorm" ? 2 : 1));
  }
}

TEST(ModelKnobs, NoBiasMeansNoBiasParameters) {
  auto c = small();
  c.bias = false;
  c.mlp_bias = false;
  dlm::TransformerImpl model(c, 20, 16);
  for (const auto& p : model.named_parameters()) {
    const bool in_block_linear = p.key().find("attn.") != std::string::npos || p.key().find(".fc") != std::string::npos;
    EXPECT_FALSE(in_block_linear && p.key().find("bias") != std::string::npos) << p.key();
  }
  // The MLP's biases have their own switch (ModernBERT's attention_bias and mlp_bias differ).
  c.mlp_bias = true;
  dlm::TransformerImpl mlp_only(c, 20, 16);
  int64_t mlp_biases = 0;
  for (const auto& p : mlp_only.named_parameters()) {
    const bool bias = p.key().find("bias") != std::string::npos;
    EXPECT_FALSE(bias && p.key().find("attn.") != std::string::npos) << p.key();
    mlp_biases += bias && p.key().find(".fc") != std::string::npos;
  }
  EXPECT_EQ(mlp_biases, 2 * c.n_layer);
}

TEST(ModelKnobs, AConfigThatSetsBiasAloneSetsTheMlpsToo) {
  dlm::Config c;
  dlm::apply_json(c, nlohmann::json::parse(R"({"model": {"bias": false}})"));
  EXPECT_FALSE(c.model.mlp_bias);
  dlm::apply_json(c, nlohmann::json::parse(R"({"model": {"bias": true, "mlp_bias": false}})"));
  EXPECT_TRUE(c.model.bias);
  EXPECT_FALSE(c.model.mlp_bias);
}

TEST(ModelKnobs, ActivationsComputeWhatTheyAreNamed) {
  const auto h = torch::tensor({-2.0f, -0.5f, 0.0f, 1.5f, 3.0f, 0.25f});
  EXPECT_TRUE(torch::allclose(dlm::activate(h, dlm::Activation::kRelu2),
                              torch::tensor({0.0f, 0.0f, 0.0f, 2.25f, 9.0f, 0.0625f})));
  EXPECT_TRUE(torch::allclose(dlm::activate(h, dlm::Activation::kGelu), torch::gelu(h)));
  // swiglu: silu(first half) * second half
  const auto expected = torch::silu(h.slice(0, 0, 3)) * h.slice(0, 3, 6);
  EXPECT_TRUE(torch::allclose(dlm::activate(h, dlm::Activation::kSwiglu), expected));
  // geglu (ModernBERT): exact gelu of the first half times the second
  EXPECT_TRUE(
      torch::allclose(dlm::activate(h, dlm::Activation::kGeglu), torch::gelu(h.slice(0, 0, 3)) * h.slice(0, 3, 6)));
  auto c = small();
  c.activation = dlm::Activation::kSwiglu;
  dlm::TransformerImpl model(c, 20, 16);
  EXPECT_EQ(model.forward(torch::randint(2, 20, {2, 5}), torch::zeros({2})).sizes(), (std::vector<int64_t>{2, 5, 20}));
}

// Local layers (ModernBERT): attention through the window mask equals attention written out over the
// keys within local_attention / 2 positions; a window wider than the canvas changes nothing, a narrow
// one does; and the block cache's passes, which place queries by position, give the full pass's logits.
TEST(ModelKnobs, LocalLayersSeeOnlyTheirWindow) {
  torch::manual_seed(4);
  const int64_t L = 7, Dh = 4, half = 2;
  const auto q = torch::randn({1, 1, L, Dh}), k = torch::randn({1, 1, L, Dh}), v = torch::randn({1, 1, L, Dh});
  const auto at = torch::arange(L);
  const auto window = ((at.unsqueeze(1) - at.unsqueeze(0)).abs() <= half).view({1, 1, L, L});
  const auto y = dlm::attend(q, k, v, false, 0.0, dlm::AttentionKernel::kExplicit, {}, window);
  for (int64_t i = 0; i < L; ++i) {
    const int64_t lo = std::max<int64_t>(0, i - half), hi = std::min<int64_t>(L, i + half + 1);
    const auto scores = (k[0][0].slice(0, lo, hi) * q[0][0][i]).sum(-1) / std::sqrt(static_cast<double>(Dh));
    const auto expected = (torch::softmax(scores, 0).unsqueeze(1) * v[0][0].slice(0, lo, hi)).sum(0);
    EXPECT_TRUE(torch::allclose(y[0][0][i], expected, 1e-5, 1e-6)) << "query " << i;
  }
  auto c = small();
  c.n_layer = 3;
  c.pos = dlm::PosKind::kRotary;
  c.global_every = 2;  // layers 0 and 2 global, 1 local
  const auto ids = torch::randint(2, 20, {1, 12});
  const auto logits = [&](int64_t local_attention) {
    c.local_attention = local_attention;
    torch::manual_seed(5);
    dlm::TransformerImpl model(c, 20, 16);
    model.eval();
    return model.forward(ids, torch::zeros({1}));
  };
  const auto global = logits(0);
  EXPECT_TRUE(torch::allclose(logits(32), global, 1e-5, 1e-6));
  const auto windowed = logits(4);
  EXPECT_FALSE(torch::allclose(windowed, global, 1e-3, 1e-3));
  c.local_attention = 4;
  c.local_rope_theta = 50.0;
  torch::manual_seed(5);
  dlm::TransformerImpl model(c, 20, 16);
  model.eval();
  const auto full = model.forward(ids, torch::zeros({1}));
  EXPECT_GT((full - windowed).abs().max().item<double>(), 1e-6);  // the local layer's own rotary base
  dlm::KVCache cache;
  const auto valid = torch::ones({1, 12}, torch::kBool);
  EXPECT_LT((model.forward_store(ids, torch::zeros({1}), valid, cache) - full).abs().max().item<double>(), 1e-5);
  const auto pos = torch::arange(3, 9).unsqueeze(0);
  const auto block = model.forward_block(ids.gather(1, pos), pos, torch::zeros({1}), valid, cache);
  EXPECT_LT((block - full.index_select(1, pos[0])).abs().max().item<double>(), 1e-5);
}

// A LayerNorm without bias (ModernBERT's norm_bias false) has a weight and nothing else.
TEST(ModelKnobs, NormBiasFalseLeavesLayerNormsWithAWeightOnly) {
  auto c = small();
  c.norm_bias = false;
  c.emb_norm = true;
  dlm::TransformerImpl model(c, 20, 16);
  int64_t norms = 0;
  for (const auto& p : model.named_parameters()) {
    if (p.key().find("norm") == std::string::npos) continue;
    EXPECT_EQ(p.key().find("bias"), std::string::npos) << p.key();
    norms += 1;
  }
  EXPECT_EQ(norms, 2 * c.n_layer + 2);  // two per block, the embedding norm, the final norm
  dlm::NormImpl norm(dlm::NormKind::kLayerNorm, 6, true, 1e-5, false);
  const auto x = torch::randn({2, 6});
  EXPECT_TRUE(torch::allclose(norm.forward(x), torch::layer_norm(x, {6}), 1e-5, 1e-6));
}

// QK-norm makes attention blind to the scale of the query and key projections.
TEST(ModelKnobs, QkNormNormalisesQueriesAndKeys) {
  for (bool qk_norm : {false, true}) {
    auto c = small();
    c.pos = dlm::PosKind::kRotary;
    c.qk_norm = qk_norm;
    torch::manual_seed(4);
    dlm::TransformerImpl model(c, 20, 16);
    model.eval();
    const auto ids = torch::randint(2, 20, {1, 8});
    const auto before = model.forward(ids, torch::zeros({1}));
    {
      torch::NoGradGuard g;
      for (auto& p : model.named_parameters()) {
        if (p.key().find("qkv.weight") != std::string::npos) p.value().slice(0, 0, 2 * c.d_model).mul_(10.0);
      }
    }
    const double change = (model.forward(ids, torch::zeros({1})) - before).abs().max().item<double>();
    if (qk_norm)
      EXPECT_LT(change, 1e-4);
    else
      EXPECT_GT(change, 1e-2);
  }
}

TEST(ModelKnobs, EmbeddingNormGivesUnitRmsInputs) {
  const auto x = torch::randn({2, 3, 16}) * 5.0;
  const auto y = dlm::rms_norm(x);
  EXPECT_TRUE(torch::allclose(y.pow(2).mean(-1), torch::ones({2, 3}), 1e-4, 1e-4));
  auto c = small();
  c.emb_norm = true;
  torch::manual_seed(5);
  dlm::TransformerImpl normed(c, 20, 16);
  c.emb_norm = false;
  torch::manual_seed(5);
  dlm::TransformerImpl plain(c, 20, 16);
  normed.eval();
  plain.eval();
  const auto ids = torch::randint(2, 20, {1, 6});
  EXPECT_FALSE(torch::allclose(normed.forward(ids, torch::zeros({1})), plain.forward(ids, torch::zeros({1}))));
}

// The inference path multiplies by a kept copy of W^T; it must give the layer's own output and follow
// every change of the weight, else a model evaluated during training would score stale weights.
TEST(ModelLayers, ProjectInferenceCopyFollowsTheWeightAndTrainingKeepsAutograd) {
  torch::manual_seed(3);
  torch::nn::Linear lin(torch::nn::LinearOptions(8, 5).bias(true));
  dlm::TransposedWeight cache;
  const auto x = torch::randn({2, 3, 8});
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::allclose(dlm::project(lin, cache, x, false), lin->forward(x), 1e-6, 1e-6));
    ASSERT_TRUE(cache.wt.defined());
    lin->weight.mul_(-2.0);  // an optimizer step or a load writes in place
    EXPECT_TRUE(torch::allclose(dlm::project(lin, cache, x, false), lin->forward(x), 1e-6, 1e-6));
    lin->weight.set_data(torch::randn({5, 8}));  // a move to new storage
    EXPECT_TRUE(torch::allclose(dlm::project(lin, cache, x, false), lin->forward(x), 1e-6, 1e-6));
  }
  const auto y = dlm::project(lin, cache, x, true);
  ASSERT_TRUE(y.requires_grad());
  y.sum().backward();
  EXPECT_TRUE(lin->weight.grad().defined());
}

}  // namespace
