// Samplers: token choice, unmasking orders, determinism, prefix preservation, EOS stop.
#include <gtest/gtest.h>

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>

#include "dlm/diffusion/denoise.h"
#include "dlm/diffusion/sampler.h"
#include "dlm/model/model.h"
#include "dlm/random.h"
#include "test_util.h"

namespace {

constexpr int64_t kMask = 1, kEos = 3, kPad = 0, kV = 12;

// A stand-in model: position i always predicts token target[i] with confidence conf[i].
class ScriptedModel : public dlm::DenoiserImpl {
 public:
  ScriptedModel(std::vector<int64_t> target, std::vector<double> conf)
      : target_(std::move(target)), conf_(std::move(conf)) {}
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor&) override {
    const int64_t B = ids.size(0), L = ids.size(1);
    torch::Tensor logits = torch::full({B, L, kV}, -10.0);
    for (int64_t i = 0; i < L; ++i) {
      logits.select(1, i).select(1, target_[i]).fill_(std::log(conf_[i] / (1 - conf_[i])) - 10.0 + 10.0);
      logits.select(1, i).select(1, kMask).fill_(50.0);  // must be ignored: [MASK] is never predicted
    }
    ++calls;
    return logits;
  }
  int64_t max_len() const override { return static_cast<int64_t>(target_.size()); }
  int calls = 0;

 private:
  std::vector<int64_t> target_;
  std::vector<double> conf_;
};

dlm::SampleConfig greedy(dlm::Strategy strategy, int64_t steps) {
  dlm::SampleConfig o;
  o.sampling = dlm::Sampling::kGreedy;
  o.strategy = strategy;
  o.steps = steps;
  o.schedule = dlm::Schedule::kLinear;
  return o;
}

// B rows of L positions, the first `prefix` fixed to id 4, the rest to generate.
dlm::DenoiseRows rows_of(int64_t B, int64_t L, int64_t prefix = 0) {
  dlm::DenoiseRows r = dlm_test::masked_rows(B, L, kMask, 100);
  r.tokens.slice(1, 0, prefix).fill_(4);  // a prefix the model would overwrite if it could
  r.generate.slice(1, 0, prefix).fill_(false);
  r.prompt = r.generate.logical_not();
  return r;
}

const dlm::SpecialIds kIds{kMask, kEos, kPad};

// Records, for each position, the step at which it was first revealed.
std::vector<int64_t> reveal_steps(dlm::DenoiserImpl& model, const dlm::SampleConfig& o, int64_t L) {
  std::vector<int64_t> when(static_cast<size_t>(L), -1);
  dlm::denoise(model, rows_of(1, L), o, kIds, [&](const dlm::SamplerStep& at) {
    const int64_t step = at.step;
    const torch::Tensor& x = at.canvas;
    for (int64_t i = 0; i < L; ++i) {
      if (when[i] < 0 && x[0][i].item<int64_t>() != kMask) when[i] = step;
    }
  });
  return when;
}

TEST(Sampler, LeftToRightRevealsInOrder) {
  ScriptedModel model({5, 6, 7, 8, 9, 10, 11, 5}, {0.6, 0.9, 0.7, 0.99, 0.8, 0.6, 0.95, 0.7});
  const auto when = reveal_steps(model, greedy(dlm::Strategy::kL2R, 4), 8);
  EXPECT_EQ(when, (std::vector<int64_t>{0, 0, 1, 1, 2, 2, 3, 3}));
}

TEST(Sampler, ConfidenceRevealsMostConfidentFirst) {
  ScriptedModel model({5, 6, 7, 8, 9, 10, 11, 5}, {0.6, 0.9, 0.7, 0.99, 0.8, 0.55, 0.95, 0.65});
  const auto when = reveal_steps(model, greedy(dlm::Strategy::kConfidence, 4), 8);
  // Pairs by descending confidence: (0.99, 0.95), (0.9, 0.8), (0.7, 0.65), (0.6, 0.55).
  EXPECT_EQ(when, (std::vector<int64_t>{3, 1, 2, 0, 1, 3, 0, 2}));
}

TEST(Sampler, EveryStrategyEndsWithNoMaskAndKeepsThePrefix) {
  ScriptedModel model({5, 6, 7, 8, 9, 10, 11, 5, 6, 7}, std::vector<double>(10, 0.8));
  for (const auto& [s, name] : dlm::enum_names(static_cast<dlm::Strategy*>(nullptr))) {
    if (s == dlm::Strategy::kOrigin) continue;  // --sampler dream's rule only
    model.calls = 0;
    const auto r = dlm::denoise(model, rows_of(3, 10, 3), greedy(s, 5), kIds);
    EXPECT_FALSE(r.tokens.eq(kMask).any().item<bool>()) << name;
    EXPECT_TRUE(r.tokens.slice(1, 0, 3).eq(4).all().item<bool>()) << name;
    EXPECT_TRUE(r.tokens.slice(1, 3).equal(torch::tensor({8, 9, 10, 11, 5, 6, 7}).expand({3, 7}))) << name;
    EXPECT_EQ(r.forward_calls, model.calls) << name;
    for (const auto& row : r.rows) EXPECT_LE(row.steps, 5) << name;
  }
}

TEST(Sampler, SameSeedGivesSameSamplesAndOtherSeedsDiffer) {
  torch::manual_seed(0);
  dlm::ModelConfig mc = dlm_test::tiny_model(1, 2, dlm::ModelConfig{}.dropout);
  auto model = dlm::make_model(mc, 20, 12);
  dlm::SampleConfig o;
  o.sampling = dlm::Sampling::kTopK;
  o.top_k = 8;
  o.strategy = dlm::Strategy::kRemask;
  const auto run = [&](uint64_t seed) {
    dlm::DenoiseRows rows = rows_of(4, 12);
    for (auto& s : rows.seeds) s += seed;
    return dlm::denoise(*model, rows, o, kIds).tokens;
  };
  EXPECT_TRUE(run(42).equal(run(42)));
  EXPECT_FALSE(run(42).equal(run(43)));
}

// order_temperature T draws the positions to reveal by softmax(score / T), without replacement; 0
// takes the top ones.
TEST(Sampler, OrderTemperatureDrawsPositionsBySoftmaxOfTheirScores) {
  dlm::Candidates c;
  c.confidence = torch::full({3}, 0.5, torch::kFloat64);
  c.positions = torch::arange(3);
  const torch::Tensor scores = torch::tensor({2.0, 1.0, 0.0}, torch::kFloat64);
  torch::Generator g = dlm::cpu_generator(7);
  dlm::SampleConfig o;
  for (double T : {1.0, 0.5}) {
    o.order_temperature = T;
    const int n = 4000;
    int top = 0;
    for (int k = 0; k < n; ++k) top += dlm::pick_reveals(c, scores, 1, o, g)[0].item<int64_t>() == 0 ? 1 : 0;
    const double expected = std::exp(2.0 / T) / (std::exp(2.0 / T) + std::exp(1.0 / T) + 1.0);  // .665, .867
    EXPECT_NEAR(static_cast<double>(top) / n, expected, 0.03) << "T " << T;
    for (int k = 0; k < 50; ++k) {
      const torch::Tensor two = dlm::pick_reveals(c, scores, 2, o, g);
      ASSERT_EQ(two.size(0), 2);
      EXPECT_NE(two[0].item<int64_t>(), two[1].item<int64_t>()) << "drawn with replacement";
    }
  }
  o.order_temperature = 0.0;
  for (int k = 0; k < 20; ++k)
    EXPECT_TRUE(torch::equal(dlm::pick_reveals(c, scores, 2, o, g), torch::tensor({0, 1}, torch::kInt64)));
}

// The factor rule: the longest run from the first whose j-th confidence is at least 1 - F / (j + 1),
// at least one; pick_reveals applies it along the priority order, not the confidences' own.
TEST(Sampler, FactorRevealsTheLongestSureRunInPriorityOrder) {
  const auto count = [](std::vector<double> c, double f) {
    return dlm::factor_count(torch::tensor(c, torch::kFloat64), f);
  };
  // F = 1: the bars are 0.5, 0.667, 0.75, 0.8 for j = 1..4.
  EXPECT_EQ(count({0.99, 0.9, 0.8, 0.5}, 1.0), 3);
  EXPECT_EQ(count({0.99, 0.9, 0.76, 0.5}, 1.0), 3);
  EXPECT_EQ(count({0.99, 0.9, 0.74, 0.99}, 1.0), 2);  // a run: the 4th cannot follow a 3rd that fails
  EXPECT_EQ(count({0.99, 0.9, 0.8, 0.8}, 1.0), 4);    // at the bar counts
  EXPECT_EQ(count({0.99, 0.9}, 0.1), 1);              // F = 0.1: 0.95, then 0.967
  EXPECT_EQ(count({0.3, 0.2}, 1.0), 1);               // none sure: still one
  EXPECT_EQ(count({}, 1.0), 0);
  dlm::Candidates c;
  c.confidence = torch::tensor({0.55, 0.99, 0.98, 0.97}, torch::kFloat64);
  c.positions = torch::arange(4);
  const torch::Tensor scores = torch::tensor({4.0, 3.0, 2.0, 1.0}, torch::kFloat64);  // e.g. margins
  dlm::SampleConfig o;
  o.factor = 1.0;
  torch::Generator g = dlm::cpu_generator(1);
  // In priority order the confidences are 0.55, 0.99, 0.98, 0.97: 0.55 passes j = 1 (0.5), all pass.
  EXPECT_TRUE(torch::equal(dlm::pick_reveals(c, scores, 0, o, g), torch::tensor({0, 1, 2, 3}, torch::kInt64)));
  c.confidence = torch::tensor({0.99, 0.6, 0.98, 0.97}, torch::kFloat64);  // the 2nd fails 0.667
  EXPECT_TRUE(torch::equal(dlm::pick_reveals(c, scores, 0, o, g), torch::tensor({0}, torch::kInt64)));
}

TEST(Sampler, ChosenTokensFollowGreedyTopKNucleusAndTemperature) {
  at::Generator gen = at::detail::createCPUGenerator(11);
  // Probabilities 0.5, 0.3, 0.15, 0.05 for tokens 0..3.
  const auto logits =
      torch::log(torch::tensor({0.5, 0.3, 0.15, 0.05}, torch::kFloat64)).view({1, 1, 4}).expand({1, 20000, 4});
  dlm::SampleConfig o;
  o.sampling = dlm::Sampling::kGreedy;
  torch::Tensor conf;
  EXPECT_TRUE(dlm::choose_tokens(logits, o, gen, &conf).eq(0).all().item<bool>());
  EXPECT_NEAR(conf[0][0].item<double>(), 0.5, 1e-6);  // the normaliser is computed in float32

  o.sampling = dlm::Sampling::kTopK;
  o.top_k = 2;
  auto ids = dlm::choose_tokens(logits, o, gen);
  EXPECT_TRUE(ids.lt(2).all().item<bool>());
  EXPECT_NEAR(ids.eq(0).to(torch::kFloat64).mean().item<double>(), 0.5 / 0.8, 0.015);

  o.sampling = dlm::Sampling::kNucleus;
  o.top_p = 0.7;  // keeps 0 and 1 (mass before 1 is 0.5 < 0.7; before 2 it is 0.8)
  ids = dlm::choose_tokens(logits, o, gen);
  EXPECT_TRUE(ids.lt(2).all().item<bool>());
  EXPECT_TRUE(ids.eq(1).any().item<bool>());

  o.top_p = 1.0;
  o.temperature = 1.0;
  ids = dlm::choose_tokens(logits, o, gen);
  const auto freq3 = ids.eq(3).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(freq3, 0.05, 0.01);

  o.sampling = dlm::Sampling::kTopK;
  o.top_k = 4;
  o.temperature = 0.01;  // near-greedy
  EXPECT_GT(dlm::choose_tokens(logits, o, gen).eq(0).to(torch::kFloat64).mean().item<double>(), 0.999);
}

TEST(Sampler, PrefixTokensCountInTimeOnlyWhereTrainingWouldHaveMaskedThem) {
  dlm::Config config;
  EXPECT_EQ(dlm::counted_prefix_tokens(config, 5), 5);  // a document prefix was maskable in training
  config.diffusion.prefix_len = 3;
  EXPECT_EQ(dlm::counted_prefix_tokens(config, 5), 2);
  config.diffusion.prefix_prob = 0.5;
  EXPECT_EQ(dlm::counted_prefix_tokens(config, 5), 0);
  config.diffusion.prefix_prob = 0.0;
  config.data.kind = dlm::DataKind::kPairs;
  EXPECT_EQ(dlm::counted_prefix_tokens(config, 5), 0);
}

TEST(Sampler, OutputStopsAtTheFirstEos) {
  EXPECT_EQ(dlm::cut_at_eos({7, 8, kEos, 9, 9, kPad}, kEos, kPad), (std::vector<int64_t>{7, 8}));
  EXPECT_EQ(dlm::cut_at_eos({7, kPad, 8}, kEos, kPad), (std::vector<int64_t>{7, 8}));
  // A model that writes text, EOS, then more text: nothing after EOS survives.
  ScriptedModel model({5, 6, kEos, 7, 8, 9}, std::vector<double>(6, 0.9));
  const auto r = dlm::denoise(model, rows_of(1, 6), greedy(dlm::Strategy::kConfidence, 3), kIds);
  std::vector<int64_t> ids(r.tokens.data_ptr<int64_t>(), r.tokens.data_ptr<int64_t>() + 6);
  EXPECT_EQ(dlm::cut_at_eos(ids, kEos, kPad), (std::vector<int64_t>{5, 6}));
  // Everything after the revealed EOS became padding, never predicted.
  EXPECT_EQ(ids, (std::vector<int64_t>{5, 6, kEos, kPad, kPad, kPad}));
}

}  // namespace
