// Likelihood: the diffusion bound equals its analytic value on a model whose predictions are known,
// autoregressive perplexity equals the vocabulary size on a uniform model, the bound never masks the
// protected prefix, and the training loss runs the head only where it scores.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dlm/config.h"
#include "dlm/diffusion/collator.h"
#include "dlm/diffusion/likelihood.h"
#include "dlm/diffusion/process.h"
#include "dlm/model/model.h"
#include "dlm/train/evaluate.h"

namespace {

constexpr int64_t kVocab = 11;
constexpr int64_t kMask = 1;

// Puts logit a(t) = 3 (1 - t) on the true token of every position and 0 elsewhere, where t is the
// time input: its cross-entropy at a masked position is log(e^a + V - 1) - a, known in closed form.
class OracleModel : public dlm::DenoiserImpl {
 public:
  // Knows every block's ids; checks that the first `prefix` positions are never masked.
  OracleModel(const std::vector<dlm::Example>& blocks, int64_t prefix) : prefix_(prefix) {
    for (const auto& b : blocks) truth_.push_back(b.ids);
  }
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& t) override {
    const int64_t B = ids.size(0), L = ids.size(1);
    torch::Tensor logits = torch::zeros({B, L, kVocab});
    for (int64_t b = 0; b < B; ++b) {
      // Which block is this row? The visible tokens tell (blocks differ at their first position).
      const std::vector<int64_t>* row = nullptr;
      for (const auto& candidate : truth_) {
        if (candidate[0] == ids[b][0].item<int64_t>()) row = &candidate;
      }
      const double a = 3.0 * (1.0 - t[b].item<double>());
      for (int64_t i = 0; i < L; ++i) {
        // The prefix must never be masked: the bound conditions on it.
        if (i < prefix_) EXPECT_NE(ids[b][i].item<int64_t>(), kMask) << "prefix position " << i << " was masked";
        logits[b][i][(*row)[i]] = a;
      }
      rows_seen_ += 1;
    }
    return logits;
  }
  int64_t max_len() const override { return 64; }
  int64_t prefix_ = 0;
  int64_t rows_seen_ = 0;

 private:
  std::vector<std::vector<int64_t>> truth_;
};

// The masking process of a default config over this vocabulary.
std::unique_ptr<dlm::Process> absorbing(int64_t time_steps = 0) {
  dlm::Config c;
  c.diffusion.time_steps = time_steps;
  dlm::SpecialIds ids;
  ids.mask = kMask;
  ids.vocab = kVocab;
  return dlm::make_process(c, ids);
}

double oracle_ce(double t) {
  const double a = 3.0 * (1.0 - t);
  return std::log(std::exp(a) + kVocab - 1) - a;
}

std::vector<dlm::Example> make_blocks(int64_t n_blocks, int64_t L) {
  std::vector<dlm::Example> blocks;
  for (int64_t b = 0; b < n_blocks; ++b) {
    dlm::Example e;
    for (int64_t i = 0; i < L; ++i) e.ids.push_back(2 + (b + i * 3) % (kVocab - 2));
    e.n_content = L;
    blocks.push_back(e);
  }
  return blocks;
}

TEST(Likelihood, DiffusionBoundEqualsTheAnalyticValueWhenEveryMaskCountIsVisited) {
  const int64_t L = 12, P = 4, n = L - P;
  const auto blocks = make_blocks(3, L);
  OracleModel model(blocks, P);
  // S = n draws per block visit k = 1..n once each, so the estimate is exact:
  // n * E_k[(1/k) * k * CE(k/n)] = sum_k CE(k/n) nats per block.
  const dlm::Likelihood got = absorbing()->bound(model, blocks, P, n, 99, 5, torch::kCPU);
  double expected = 0.0;
  for (int64_t k = 1; k <= n; ++k) expected += oracle_ce(static_cast<double>(k) / n);
  expected *= static_cast<double>(blocks.size());
  EXPECT_EQ(got.tokens, n * static_cast<int64_t>(blocks.size()));
  EXPECT_NEAR(got.nats, expected, 1e-4 * expected);
  EXPECT_EQ(model.rows_seen_, n * static_cast<int64_t>(blocks.size()));
  // Another seed moves the masks and the stratification offset, not an exact estimate.
  EXPECT_NEAR(absorbing()->bound(model, blocks, P, n, 7, 5, torch::kCPU).nats, expected, 1e-4 * expected);
}

TEST(Likelihood, DiffusionBoundWithFewDrawsIsUnbiased) {
  const int64_t L = 20, P = 2, n = L - P;
  const auto blocks = make_blocks(9, L);
  OracleModel model(blocks, P);
  double expected = 0.0;
  for (int64_t k = 1; k <= n; ++k) expected += oracle_ce(static_cast<double>(k) / n) / n;  // per token
  double mean = 0.0;
  const int seeds = 40;
  for (int s = 0; s < seeds; ++s) {
    mean += absorbing()->bound(model, blocks, P, 3, 1000 + s, 64, torch::kCPU).nats_per_token() / seeds;
  }
  EXPECT_NEAR(mean, expected, 0.02 * expected);  // an off-by-one in k moves it by about 7%
  // A bound of the right size, not the unweighted masked loss (which would be the mean CE over t).
  double unweighted = 0.0;
  for (int64_t k = 1; k <= n; ++k) unweighted += oracle_ce(static_cast<double>(k) / n) * k;
  unweighted /= static_cast<double>(n * (n + 1) / 2);
  EXPECT_GT(std::abs(unweighted - expected), 0.05 * expected);
}

// Logits of the causal twin that predict "the next id is this id + 1" with logit 4.
class IncrementModel : public dlm::DenoiserImpl {
 public:
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor&) override {
    torch::Tensor logits = torch::zeros({ids.size(0), ids.size(1), kVocab});
    logits.scatter_(2, ((ids + 1) % kVocab).unsqueeze(-1), 4.0);
    return logits;
  }
  int64_t max_len() const override { return 64; }
};

class UniformModel : public dlm::DenoiserImpl {
 public:
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor&) override {
    return torch::zeros({ids.size(0), ids.size(1), kVocab});
  }
  int64_t max_len() const override { return 64; }
};

// The autoregressive twin's exact likelihood (its process's bound), with BOS = 0.
dlm::Likelihood twin_likelihood(dlm::DenoiserImpl& model, const std::vector<dlm::Example>& blocks, int64_t first,
                                int64_t batch_size) {
  dlm::Config c;
  c.objective = "ar";
  const auto twin = dlm::make_process(c, dlm::SpecialIds{-1, -1, -1, /*bos=*/0, -1, -1});
  EXPECT_TRUE(twin->exact_likelihood());
  return twin->bound(model, blocks, first, 1, 0, batch_size, torch::kCPU);
}

TEST(Likelihood, ArPerplexityOfAUniformModelIsTheVocabularySize) {
  UniformModel model;
  auto blocks = make_blocks(5, 16);
  blocks[4].n_content = 9;  // a short last block: its padding is not scored
  const dlm::Likelihood got = twin_likelihood(model, blocks, 3, 2);
  EXPECT_EQ(got.tokens, 4 * (16 - 3) + (9 - 3));
  EXPECT_NEAR(std::exp(got.nats_per_token()), static_cast<double>(kVocab), 1e-5);  // float32 logits
}

TEST(Likelihood, ArScoresEachTokenGivenTheTokensBeforeIt) {
  // Tokens count up by one, so a model that predicts "previous + 1" is right at every scored
  // position if and only if position j is fed token j - 1.
  std::vector<dlm::Example> blocks(2);
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t i = 0; i < 8; ++i) blocks[b].ids.push_back((2 + b + i) % kVocab);
    blocks[b].n_content = 8;
  }
  IncrementModel model;
  const dlm::Likelihood got = twin_likelihood(model, blocks, 1, 8);
  const double right = std::log(std::exp(4.0) + kVocab - 1) - 4.0;
  EXPECT_EQ(got.tokens, 14);
  EXPECT_NEAR(got.nats_per_token(), right, 1e-6);
}

// Delegates to a model and counts the positions its head is given.
class HeadCounter : public dlm::DenoiserImpl {
 public:
  explicit HeadCounter(std::shared_ptr<dlm::DenoiserImpl> inner) : inner_(register_module("inner", std::move(inner))) {}
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& t) override { return inner_->forward(ids, t); }
  torch::Tensor hidden(const torch::Tensor& ids, const torch::Tensor& t, const torch::Tensor& key_valid = {},
                       const torch::Tensor& out = {}) override {
    return inner_->hidden(ids, t, key_valid, out);
  }
  torch::Tensor head(const torch::Tensor& hidden) override {
    positions_ += hidden.numel() / hidden.size(-1);
    return inner_->head(hidden);
  }
  // The split the fused head-and-loss kernel takes (the transformer's): counted the same way.
  OutputProjection output_projection() override { return inner_->output_projection(); }
  torch::Tensor head_features(const torch::Tensor& hidden) override {
    positions_ += hidden.numel() / hidden.size(-1);
    return inner_->head_features(hidden);
  }
  bool positionwise_head() const override { return inner_->positionwise_head(); }
  int64_t max_len() const override { return inner_->max_len(); }
  int64_t positions_ = 0;

 private:
  std::shared_ptr<dlm::DenoiserImpl> inner_;
};

TEST(Likelihood, TheTrainingLossRunsTheHeadWhereItScoresAndEqualsTheLossOverEveryPosition) {
  torch::manual_seed(5);
  std::vector<dlm::Example> data(3);
  data[0].ids = {5, 6, 7, 8, 3, 0, 0, 0, 0, 0};
  data[0].n_content = 5;
  data[1].ids = {9, 4, 2, 7, 6, 5, 8, 3, 0, 0};
  data[1].n_content = 8;
  data[1].n_prompt = 3;  // never masked, never scored
  data[2].ids = {2, 3, 4, 5, 6, 7, 8, 9, 10, 3};
  data[2].n_content = 10;
  std::vector<const dlm::Example*> batch;
  for (int i = 0; i < 6; ++i) batch.push_back(&data[i % 3]);
  dlm::ModelConfig transformer;
  transformer.d_model = 24;
  transformer.n_layer = 1;
  transformer.n_head = 3;
  transformer.dropout = 0.0;
  dlm::ModelConfig mlp = transformer;
  mlp.type = dlm::ModelType::kMlp;
  for (const auto& [loss_on, weighting] :
       {std::pair{dlm::LossOn::kMasked, dlm::Weighting::kElbo}, std::pair{dlm::LossOn::kMasked, dlm::Weighting::kNone},
        std::pair{dlm::LossOn::kAll, dlm::Weighting::kNone}}) {
    for (const auto& model_config : {transformer, mlp}) {
      const bool positionwise = model_config.type == dlm::ModelType::kTransformer;
      SCOPED_TRACE(std::string(positionwise ? "transformer" : "mlp") +
                   (loss_on == dlm::LossOn::kAll ? ", all" : ", masked") +
                   (weighting == dlm::Weighting::kElbo ? ", elbo" : ""));
      dlm::DiffusionConfig dc;
      dc.loss_on = loss_on;
      dc.weighting = weighting;
      torch::Generator gen = at::detail::createCPUGenerator(7);
      const dlm::Batch b = dlm::collate(batch, dc, kMask, gen);
      HeadCounter model(dlm::make_model(model_config, kVocab, 10));
      const auto params = model.parameters();
      const torch::Tensor hidden = model.hidden(b.input, b.t, {});
      const torch::Tensor every = (dlm::token_ce(model.head(hidden), b.target) * b.loss_weight).sum() / b.loss_norm;
      const auto every_grads = torch::autograd::grad({every}, params, {}, /*retain_graph=*/true);
      model.positions_ = 0;
      const torch::Tensor scored = dlm::scored_loss(model, hidden, b);
      const auto scored_grads = torch::autograd::grad({scored}, params);
      EXPECT_NEAR(scored.item<double>(), every.item<double>(), 1e-6);
      for (size_t i = 0; i < params.size(); ++i)
        EXPECT_LT((scored_grads[i] - every_grads[i]).abs().max().item<double>(), 1e-6) << "parameter " << i;
      const int64_t weighted = b.loss_weight.ne(0).sum().item<int64_t>();
      EXPECT_LT(weighted, 6 * 10);  // padding or the prompt is never scored, so the head saw fewer
      EXPECT_EQ(model.positions_, positionwise ? weighted : 6 * 10);
    }
  }
}

}  // namespace
