// The LLaDA and Dream samplers (--sampler llada | dream): each rule's arithmetic alone, the loops over
// a model of fixed logits, and the settings each sampler takes or refuses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include "denoise_fixture.h"
#include "dlm/config.h"
#include "dlm/diffusion/process.h"
#include "dlm/diffusion/reference_samplers.h"
#include "dlm/random.h"
#include "dlm/sample_options.h"
#include "dlm/sampler_settings.h"
#include "test_util.h"

namespace reference_samplers_test {

using dlm_test::error_of;

constexpr int64_t kV = 6, kMask = 5;  // ids 0..4 are tokens, 5 the mask
const dlm::SpecialIds kIds{kMask, 4, 0, -1, -1, kV};

// Logits that depend on the position only: position p puts `height[p]` on token `token[p]`, 0 elsewhere.
class FixedModel : public dlm::DenoiserImpl {
 public:
  FixedModel(std::vector<int64_t> token, std::vector<double> height) : token_(std::move(token)), height_(height) {}
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor&) override {
    const int64_t B = ids.size(0), L = ids.size(1);
    torch::Tensor logits = torch::zeros({B, L, kV});
    for (int64_t p = 0; p < L; ++p)
      logits.select(1, p).select(1, token_[static_cast<size_t>(p)]).fill_(height_[static_cast<size_t>(p)]);
    return logits;
  }
  int64_t max_len() const override { return static_cast<int64_t>(token_.size()); }

 private:
  std::vector<int64_t> token_;
  std::vector<double> height_;
};

// One row: `prompt` fixed ids, then n masks to generate.
dlm::DenoiseRows one_row(const std::vector<int64_t>& prompt, int64_t n, uint64_t seed = 7) {
  const int64_t P = static_cast<int64_t>(prompt.size());
  dlm::DenoiseRows r = dlm_test::masked_rows(1, P + n, kMask, seed);
  for (int64_t p = 0; p < P; ++p) {
    r.tokens[0][p] = prompt[static_cast<size_t>(p)];
    r.generate[0][p] = prompt[static_cast<size_t>(p)] == kMask;
  }
  r.generate[0].narrow(0, 0, P).fill_(false);
  r.seed = seed;
  return r;
}

// The canvases after each step (the first is the start).
std::vector<std::vector<int64_t>> run(dlm::DenoiserImpl& model, const dlm::DenoiseRows& rows,
                                      const dlm::SampleConfig& o) {
  dlm::Config c;
  c.sample = o;
  const auto process = dlm::make_process(c, kIds);
  std::vector<std::vector<int64_t>> canvases;
  process->sample(model, rows, o, [&](const dlm::SamplerStep& s) {
    const torch::Tensor row = s.canvas[0].contiguous();
    canvases.emplace_back(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
  });
  return canvases;
}

// An int64 tensor's entries.
std::vector<int64_t> as_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// A sampler's defaults made greedy and unfiltered, generating `length` in blocks of `block` over `steps`.
dlm::SampleConfig greedy_blocks(dlm::Sampler s, int64_t length, int64_t block, int64_t steps) {
  dlm::SampleConfig o = dlm::sampler_defaults(s);
  o.length = length;
  o.block_length = block;
  o.steps = steps;
  o.temperature = 0.0;
  o.top_p = 1.0;
  return o;
}

// Positions whose id changed from one canvas to the next.
std::vector<int64_t> revealed(const std::vector<int64_t>& before, const std::vector<int64_t>& after) {
  std::vector<int64_t> out;
  for (size_t p = 0; p < before.size(); ++p) {
    if (before[p] != after[p]) out.push_back(static_cast<int64_t>(p));
  }
  return out;
}

TEST(ReferenceSamplers, LladaRevealCountsSpreadTheRemainderOverTheFirstSteps) {
  EXPECT_EQ(dlm::llada_reveal_counts(10, 4), (std::vector<int64_t>{3, 3, 2, 2}));
  EXPECT_EQ(dlm::llada_reveal_counts(3, 5), (std::vector<int64_t>{1, 1, 1, 0, 0}));
  EXPECT_EQ(dlm::llada_reveal_counts(8, 4), (std::vector<int64_t>{2, 2, 2, 2}));
  EXPECT_EQ(dlm::llada_reveal_counts(10, 3), (std::vector<int64_t>{4, 3, 3}));
}

// torch.linspace(1, eps, n) in float32 on the CPU (torch 2.12's values): the second half is computed
// from the end, each value with one rounding; a plain start + step * i gives 0.64999998 at index 3.
TEST(ReferenceSamplers, DreamTimestepsAreTorchsLinspace) {
  const std::vector<float> t = dlm::dream_timesteps(0.3, 6);
  ASSERT_EQ(t.size(), 7u);
  EXPECT_EQ(t[0], 1.0f);
  EXPECT_EQ(t[6], 0.3f);
  EXPECT_EQ(t[3], 0.6500000357627869f);
  EXPECT_EQ(t[4], 0.5333333611488342f);
  EXPECT_EQ(t[1], 0.8833333253860474f);
  const std::vector<float> u = dlm::dream_timesteps(1e-3, 8);
  EXPECT_EQ(u[8], 0.001f);
  for (size_t i = 1; i < u.size(); ++i) EXPECT_LT(u[i], u[i - 1]);
}

TEST(ReferenceSamplers, DreamRevealsTruncateAndTakeTheRestAtTheLastStep) {
  const std::vector<float> t = dlm::dream_timesteps(1e-3, 10);  // 1, 0.9001, ..., 0.001
  EXPECT_EQ(dlm::dream_reveal_count(100, t, 0), 9);             // int(100 * 0.0999)
  EXPECT_EQ(dlm::dream_reveal_count(5, t, 0), 0);               // may be 0
  EXPECT_EQ(dlm::dream_reveal_count(7, t, 9), 7);               // the last step: all
  EXPECT_FLOAT_EQ(dlm::dream_reveal_probability(t, 0), 1.0f - t[1] / t[0]);
  EXPECT_EQ(dlm::dream_reveal_probability(t, 9), 1.0f);
  // The share grows: 1 - 0.1009 / 0.2008 at step 8 (of 0..9) reveals 49 of 100.
  EXPECT_EQ(dlm::dream_reveal_count(100, t, 8), 49);
}

TEST(ReferenceSamplers, DreamProbsFilterTopPThenTopK) {
  const torch::Tensor l = torch::tensor({{3.0f, 2.0f, 1.0f, 0.0f}});
  EXPECT_TRUE(torch::allclose(dlm::dream_probs(l, 0.0, 1.0, 0), torch::softmax(l, -1)));
  // top-p 0.8: 0.644 < 0.8 keeps the next token, whose cumulative 0.881 passes it, and no more.
  const double a = std::exp(3.0), b = std::exp(2.0);
  const torch::Tensor two = torch::tensor({{a / (a + b), b / (a + b), 0.0, 0.0}}).to(torch::kFloat32);
  EXPECT_TRUE(torch::allclose(dlm::dream_probs(l, 0.0, 0.8, 0), two));
  EXPECT_TRUE(torch::allclose(dlm::dream_probs(l, 0.0, 1.0, 2), two));  // top-k 2: the same two
  // The temperature divides first: at T = 0.5 the first token alone passes 0.8.
  const torch::Tensor one = torch::tensor({{1.0f, 0.0f, 0.0f, 0.0f}});
  EXPECT_TRUE(torch::allclose(dlm::dream_probs(l, 0.5, 0.8, 0), one));
  EXPECT_TRUE(torch::allclose(dlm::dream_probs(l, 0.0, 1.0, 1), one));
  // top-k counts ties in: both 2.0 logits stay with k = 2.
  const torch::Tensor tied = dlm::dream_probs(torch::tensor({{2.0f, 2.0f, 2.0f, 0.0f}}), 0.0, 1.0, 2);
  EXPECT_GT(tied[0][2].item<float>(), 0.0f);
}

TEST(ReferenceSamplers, DreamConfidenceRules) {
  const torch::Tensor probs = torch::tensor({{0.5f, 0.3f, 0.2f}, {0.4f, 0.4f, 0.2f}});
  const torch::Tensor x0 = torch::tensor({0, 1}, torch::kInt64);
  const torch::Tensor c = dlm::dream_confidence(probs, x0, dlm::Strategy::kConfidence);
  EXPECT_FLOAT_EQ(c[0].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(c[1].item<float>(), 0.4f);
  const torch::Tensor m = dlm::dream_confidence(probs, x0, dlm::Strategy::kMargin);
  EXPECT_NEAR(m[0].item<float>(), 0.2f, 1e-6);
  EXPECT_NEAR(m[1].item<float>(), 0.0f, 1e-6);
  // Entropy: sum p log(p + 1e-10), the negated entropy (the peaked row scores higher).
  const torch::Tensor e = dlm::dream_confidence(probs, x0, dlm::Strategy::kEntropy);
  EXPECT_NEAR(e[0].item<float>(), 0.5 * std::log(0.5) + 0.3 * std::log(0.3) + 0.2 * std::log(0.2), 1e-5);
  EXPECT_GT(e[0].item<float>(), e[1].item<float>());
}

TEST(ReferenceSamplers, LladaChoiceCoversTheMaskIdAndScoresInFloat64) {
  torch::Tensor logits = torch::zeros({2, kV});
  logits[0][kMask] = 4.0;  // the mask id wins: LLaDA does not ban it
  logits[1][2] = 1.0;
  torch::Generator gen = dlm::cpu_generator(1);
  const auto [x0, confidence] = dlm::llada_choose(logits, 0.0, gen);
  EXPECT_EQ(x0[0].item<int64_t>(), kMask);
  EXPECT_EQ(x0[1].item<int64_t>(), 2);
  EXPECT_EQ(confidence.scalar_type(), torch::kFloat64);
  EXPECT_NEAR(confidence[1].item<double>(), std::exp(1.0) / (std::exp(1.0) + kV - 1), 1e-12);
}

TEST(ReferenceSamplers, DreamSurePositionsTakeTheFirstInOrderAndTheSureOnes) {
  const double inf = std::numeric_limits<double>::infinity();
  // Entropy-like confidences: position 2 first, then 1, then 3; 0 and 4 are not candidates.
  const torch::Tensor confidence = torch::tensor({-inf, -0.5, -0.1, -2.0, -inf});
  const torch::Tensor probability = torch::tensor({0.0, 0.6, 0.95, 0.99, 0.0});
  const auto sure = [&](double threshold, double factor) {
    return as_vector(dlm::dream_sure_positions(confidence, probability, threshold, factor));
  };
  EXPECT_EQ(sure(0.9, 0.0), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(sure(0.97, 0.0), (std::vector<int64_t>{2, 3}));  // the first in order, sure or not
  EXPECT_EQ(sure(0.999, 0.0), (std::vector<int64_t>{2}));
  EXPECT_EQ(sure(0.0, 1.0), (std::vector<int64_t>{2}));        // the second (0.6) is below 1 - 1/3
  EXPECT_EQ(sure(0.0, 2.0), (std::vector<int64_t>{2, 1, 3}));  // 0.95 >= 0, 0.6 >= 1/3, 0.99 >= 1/2
  const torch::Tensor none = torch::full({3}, -inf);
  EXPECT_EQ(dlm::dream_sure_positions(none, torch::zeros({3}), 0.9, 0.0).numel(), 0);
}

TEST(ReferenceSamplers, TopConfidenceTakesKOrTheThresholdAndAtLeastOne) {
  const double inf = std::numeric_limits<double>::infinity();
  const torch::Tensor c = torch::tensor({0.2, -inf, 0.95, 0.5, 0.91, -inf}, torch::kFloat64);
  EXPECT_EQ(as_vector(dlm::top_confidence(c, 2)), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(as_vector(dlm::top_confidence(c, 9)), (std::vector<int64_t>{2, 4, 3, 0}));  // never a -inf
  EXPECT_EQ(as_vector(dlm::top_confidence(c, 0)), std::vector<int64_t>{});
  EXPECT_EQ(as_vector(dlm::top_confidence(c, 0, 0.9)), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(as_vector(dlm::top_confidence(c, 0, 0.99)), (std::vector<int64_t>{2}));  // at least one
  // factor 1: bars 0.5, 0.667, 0.75 for the 1st, 2nd, 3rd best (0.95, 0.91, 0.5): two.
  EXPECT_EQ(as_vector(dlm::top_confidence(c, 0, 0.0, 1.0)), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(as_vector(dlm::top_confidence(c, 0, 0.0, 3.0)), (std::vector<int64_t>{2, 4, 3}));     // 0.2 < 0.4
  EXPECT_EQ(as_vector(dlm::top_confidence(c, 0, 0.0, 5.0)), (std::vector<int64_t>{2, 4, 3, 0}));  // never a -inf
}

// Blocks of 4 in 2 steps each: the first block's two most confident positions, then its other two,
// although the second block's positions are more confident still; uneven counts with 3 steps.
TEST(ReferenceSamplers, LladaRevealsWithinTheBlockByConfidence) {
  //                       prompt  block 1      block 2
  FixedModel model({1, 2, 1, 2, 3, 1, 2, 3, 1, 2}, {0, 0, 1.0, 3.0, 2.0, 0.5, 9, 8, 7, 6});
  dlm::SampleConfig o = dlm::sampler_defaults(dlm::Sampler::kLlada);
  o.length = 8;
  o.block_length = 4;
  o.steps = 4;
  const auto steps = run(model, one_row({1, 2}, 8), o);
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_EQ(revealed(steps[0], steps[1]), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(revealed(steps[1], steps[2]), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(revealed(steps[2], steps[3]), (std::vector<int64_t>{6, 7}));
  EXPECT_EQ(steps[4], (std::vector<int64_t>{1, 2, 1, 2, 3, 1, 2, 3, 1, 2}));
  o.length = 5;
  o.block_length = 0;
  o.steps = 3;  // 5 in 3 steps: 2, 2, 1
  FixedModel five({1, 1, 2, 3, 1, 2}, {0, 5, 4, 3, 2, 1});
  const auto uneven = run(five, one_row({1}, 5), o);
  EXPECT_EQ(revealed(uneven[0], uneven[1]), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(revealed(uneven[1], uneven[2]), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(revealed(uneven[2], uneven[3]), (std::vector<int64_t>{5}));
}

// The mask id may win the argmax: it is "revealed" (the position stays masked and competes again),
// and it is in the final canvas, where dlm's own samplers would have banned it.
TEST(ReferenceSamplers, LladaAndDreamKeepTheMaskIdInTheirArgmax) {
  FixedModel model({1, 2, kMask, 3, 1}, {0, 2, 0.3, 1, 3});
  for (const dlm::Sampler s : {dlm::Sampler::kLlada, dlm::Sampler::kDream}) {
    dlm::SampleConfig o = dlm::sampler_defaults(s);
    o.length = 4;
    o.steps = 4;
    o.temperature = 0.0;
    const auto steps = run(model, one_row({1}, 4), o);
    EXPECT_EQ(steps.back()[2], kMask) << dlm::enum_name(s);
    EXPECT_EQ(revealed(steps[0], steps.back()), (std::vector<int64_t>{1, 3, 4})) << dlm::enum_name(s);
  }
}

// A sampler with an adaptive rule (`set` turns it on) over positions 1 and 2 nearly sure, 3 and 4 not:
// the sure two at once, then one a step (at least one) until the block is full.
void expect_sure_ones_then_one_a_step(dlm::Sampler sampler, const std::function<void(dlm::SampleConfig&)>& set) {
  FixedModel model({1, 2, 3, 1, 2}, {0, 12, 11, 1, 0.5});
  dlm::SampleConfig o = dlm::sampler_defaults(sampler);
  o.length = 4;
  o.steps = 4;
  o.temperature = 0.0;
  o.top_p = 1.0;
  set(o);
  const auto steps = run(model, one_row({1}, 4), o);
  ASSERT_EQ(steps.size(), 4u) << dlm::enum_name(sampler);  // start, then {1, 2}, {3}, {4}
  EXPECT_EQ(revealed(steps[0], steps[1]), (std::vector<int64_t>{1, 2})) << dlm::enum_name(sampler);
  EXPECT_EQ(revealed(steps[1], steps[2]), (std::vector<int64_t>{3})) << dlm::enum_name(sampler);
  EXPECT_EQ(revealed(steps[2], steps[3]), (std::vector<int64_t>{4})) << dlm::enum_name(sampler);
}

// A threshold reveals every candidate of the block at or above it, at least one, until the block is full.
TEST(ReferenceSamplers, ThresholdRevealsAllSureOnesAndAtLeastOne) {
  for (const dlm::Sampler s : {dlm::Sampler::kLlada, dlm::Sampler::kDream})
    expect_sure_ones_then_one_a_step(s, [](dlm::SampleConfig& o) { o.threshold = 0.9; });
}

// The factor rule: each step reveals the block's sure run, at least one, until it is full.
TEST(ReferenceSamplers, FactorRevealsTheSureRunAndAtLeastOne) {
  for (const dlm::Sampler s : {dlm::Sampler::kLlada, dlm::Sampler::kDream})
    expect_sure_ones_then_one_a_step(s, [](dlm::SampleConfig& o) { o.factor = 0.5; });
}

// --remasking random: one float32 draw per canvas position (torch.rand((1, W))'s order), prompt
// included, and the step reveals the candidates with the largest.
TEST(ReferenceSamplers, LladaRandomRemaskingDrawsOnePerCanvasPosition) {
  FixedModel model({1, 2, 3, 1, 2, 3}, {0, 1, 1, 1, 1, 1});
  dlm::SampleConfig o = dlm::sampler_defaults(dlm::Sampler::kLlada);
  o.length = 5;
  o.steps = 5;
  o.strategy = dlm::Strategy::kRandom;
  o.rng = dlm::Rng::kTorch;
  const auto steps = run(model, one_row({1}, 5, 9), o);
  torch::Generator gen = dlm::cpu_generator(9);
  const torch::Tensor draws = torch::rand({6}, gen, torch::kFloat32);
  const int64_t first = 1 + draws.narrow(0, 1, 5).argmax().item<int64_t>();
  EXPECT_EQ(revealed(steps[0], steps[1]), (std::vector<int64_t>{first}));
}

// --stop-at-eos: the second block holds EOS (id 4), so the third is never decoded and becomes EOS;
// the ids up to the EOS are the full run's, and the model is called for two blocks' steps only.
TEST(ReferenceSamplers, StopAtEosDecodesNoBlockAfterTheOneHoldingIt) {
  //                     prompt  block 1    block 2    block 3
  FixedModel model({1, 1, 2, 3, 1, 4, 2, 3, 3, 3}, {0, 3, 2, 1, 3, 2, 1, 3, 2, 1});
  for (const dlm::Sampler s : {dlm::Sampler::kLlada, dlm::Sampler::kDream}) {
    dlm::SampleConfig o = greedy_blocks(s, 9, 3, 9);
    dlm::Config c;
    c.sample = o;
    const auto process = dlm::make_process(c, kIds);
    const dlm::DenoiseResult full = process->sample(model, one_row({1}, 9), o);
    o.stop_at_eos = true;
    const dlm::DenoiseResult stopped = process->sample(model, one_row({1}, 9), o);
    const std::string what = dlm::enum_name(s);
    EXPECT_EQ(as_vector(full.tokens[0]), (std::vector<int64_t>{1, 1, 2, 3, 1, 4, 2, 3, 3, 3})) << what;
    EXPECT_EQ(as_vector(stopped.tokens[0]), (std::vector<int64_t>{1, 1, 2, 3, 1, 4, 2, 4, 4, 4})) << what;
    EXPECT_EQ(stopped.forward_calls, 6) << what;  // two blocks of 3 steps
    EXPECT_EQ(full.forward_calls, 9) << what;
  }
}

// Dream in blocks: each block its own S / blocks timesteps counting its own masks, and nothing revealed
// outside the current block even where the model is surest.
TEST(ReferenceSamplers, DreamBlocksKeepTheirOwnScheduleAndPositions) {
  //                     prompt  block 1 (less sure)   block 2 (surer)
  FixedModel model({1, 2, 3, 1, 2, 3, 1, 2, 3}, {0, 1.0, 1.5, 1.2, 1.1, 5, 6, 7, 8});
  dlm::SampleConfig o = dlm::sampler_defaults(dlm::Sampler::kDream);
  o.length = 8;
  o.block_length = 4;
  o.steps = 4;  // two a block
  o.temperature = 0.0;
  o.top_p = 1.0;
  const std::vector<float> t = dlm::dream_timesteps(o.eps, 2);
  const int64_t k = dlm::dream_reveal_count(4, t, 0);
  ASSERT_EQ(k, 1);
  const auto steps = run(model, one_row({1}, 8), o);
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_EQ(revealed(steps[0], steps[1]), (std::vector<int64_t>{2}));  // block 1's surest
  EXPECT_EQ(revealed(steps[1], steps[2]), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(revealed(steps[2], steps[3]), (std::vector<int64_t>{8}));
  EXPECT_EQ(revealed(steps[3], steps[4]), (std::vector<int64_t>{5, 6, 7}));
}

// Dream reveals int(n (1 - t[i+1] / t[i])) by entropy each step; origin draws one uniform per masked
// position from torch.manual_seed(seed)'s stream under --rng torch.
TEST(ReferenceSamplers, DreamCountsAndOriginDraws) {
  const int64_t n = 12;
  std::vector<int64_t> token(n + 1, 1);
  std::vector<double> height(n + 1, 0.0);
  for (int64_t p = 1; p <= n; ++p) height[static_cast<size_t>(p)] = static_cast<double>(p % 5) + 0.1 * p;
  FixedModel model(token, height);
  dlm::SampleConfig o = dlm::sampler_defaults(dlm::Sampler::kDream);
  o.length = n;
  o.steps = 4;
  o.temperature = 0.0;
  o.top_p = 1.0;  // unfiltered: the entropies follow the heights
  const std::vector<float> t = dlm::dream_timesteps(o.eps, o.steps);
  const auto steps = run(model, one_row({1}, n), o);
  int64_t masked = n;
  for (int64_t i = 0; i < o.steps; ++i) {
    const auto r = revealed(steps[static_cast<size_t>(i)], steps[static_cast<size_t>(i + 1)]);
    ASSERT_EQ(static_cast<int64_t>(r.size()), dlm::dream_reveal_count(masked, t, i)) << "step " << i;
    masked -= static_cast<int64_t>(r.size());
  }
  // The first step's picks are the most peaked (highest height) positions.
  const auto first = revealed(steps[0], steps[1]);
  for (int64_t p : first) {
    for (int64_t q = 1; q <= n; ++q) {
      if (std::find(first.begin(), first.end(), q) == first.end())
        EXPECT_GT(height[static_cast<size_t>(p)], height[static_cast<size_t>(q)]);
    }
  }
  o.strategy = dlm::Strategy::kOrigin;
  o.rng = dlm::Rng::kTorch;
  const auto origin = run(model, one_row({1}, n, 7), o);
  torch::Generator gen = dlm::cpu_generator(7);
  const torch::Tensor draws = torch::rand({n}, gen, torch::kFloat32);
  std::vector<int64_t> expected;
  for (int64_t j = 0; j < n; ++j) {
    if (draws[j].item<float>() < dlm::dream_reveal_probability(t, 0)) expected.push_back(j + 1);
  }
  EXPECT_EQ(revealed(origin[0], origin[1]), expected);
}

TEST(ReferenceSamplers, EachSamplerHasItsDefaultsAndRefusesWhatItDoesNotRead) {
  const dlm::SampleConfig dlm_default;
  const auto with = [](const nlohmann::json& flags) { return dlm::resolve_sample(dlm::SampleConfig{}, flags); };
  const dlm::SampleConfig llada = with({{"sampler", "llada"}});
  EXPECT_EQ(llada.steps, 128);
  EXPECT_EQ(llada.length, 128);
  EXPECT_EQ(llada.temperature, 0.0);
  const dlm::SampleConfig dream = with({{"sampler", "dream"}, {"alg", "topk_margin"}});
  EXPECT_EQ(dream.steps, 512);
  EXPECT_EQ(dream.strategy, dlm::Strategy::kMargin);  // --alg is --strategy under another name
  EXPECT_EQ(dream.top_p, 0.95);
  EXPECT_EQ(with({{"sampler", "llada"}, {"remasking", "random"}}).strategy, dlm::Strategy::kRandom);
  EXPECT_EQ(error_of([&] { with({{"temperature", 0.0}}); }), "config key 'sample.temperature' = 0.0: must be > 0");
  EXPECT_EQ(error_of([&] { with({{"sampler", "llada"}, {"cache", true}}); }).rfind("--cache does not apply to", 0), 0u);
  EXPECT_NE(error_of([&] { with({{"sampler", "dream"}, {"cfg_scale", 1.0}}); }).find("--cfg-scale"), std::string::npos);
  EXPECT_NE(error_of([&] {
              with({{"sampler", "dream"}, {"length", 30}, {"block_length", 8}});
            }).find("indivisible dream layout"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { with({{"sampler", "dream"}, {"block_length", 32}, {"kv_cache", true}}); }), "");
  EXPECT_NE(error_of([&] {
              with({{"sampler", "dream"}, {"kv_cache_mode", "prefix"}});
            }).find("needs sample.kv_cache = true"),
            std::string::npos);
  EXPECT_NE(error_of([&] { with({{"kv_cache_mode", "prefix"}}); }).find("--kv-cache-mode"), std::string::npos);
  EXPECT_NE(error_of([&] {
              with({{"sampler", "dream"}, {"alg", "origin"}, {"threshold", 0.9}});
            }).find("--alg origin"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              with({{"sampler", "dream"}, {"remasking", "random"}});
            }).find("--remasking"),
            std::string::npos);
  EXPECT_NE(error_of([&] { with({{"sampler", "llada"}, {"alg", "entropy"}}); }).find("--alg"), std::string::npos);
  EXPECT_NE(error_of([&] { with({{"remasking", "random"}}); }).find("--remasking"), std::string::npos);
  EXPECT_NE(error_of([&] { with({{"strategy", "origin"}}); }).find("origin"), std::string::npos);
  EXPECT_NE(error_of([&] {
              with({{"sampler", "llada"}, {"strategy", "margin"}});
            }).find("--remasking"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              with({{"sampler", "llada"}, {"length", 30}, {"block_length", 8}});
            }).find("indivisible llada layout"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              with({{"sampler", "llada"}, {"length", 32}, {"block_length", 8}, {"steps", 6}});
            }).find("indivisible llada layout"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { with({{"sampler", "llada"}, {"length", 30}, {"block_length", 10}, {"steps", 12}}); }), "");
  EXPECT_NE(error_of([&] { with({{"sampler", "dream"}, {"rng", "torch"}}); }).find("--rng torch"), std::string::npos);
  EXPECT_EQ(error_of([&] { with({{"sampler", "dream"}, {"rng", "torch"}, {"temperature", 0.0}}); }), "");
  EXPECT_NE(error_of([&] { with({{"rng", "torch"}}); }).find("--rng"), std::string::npos);
  // One reveal rule at a time.
  EXPECT_NE(error_of([&] {
              with({{"sampler", "llada"}, {"threshold", 0.9}, {"factor", 1.0}});
            }).find("choose one reveal rule"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              with({{"threshold", 0.9}, {"factor", 1.0}});
            }).find("choose one reveal rule"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              with({{"sampler", "dream"}, {"threshold", 0.9}, {"factor", 1.0}});
            }).find("choose one reveal rule"),
            std::string::npos);
  EXPECT_NE(error_of([&] { with({{"strategy", "remask"}, {"factor", 1.0}}); }).find("factor"), std::string::npos);
  // A saved llada config keeps its values; the sampler's aliases are not written back.
  dlm::SampleConfig saved = llada;
  saved.steps = 64;
  EXPECT_EQ(dlm::resolve_sample(saved, nlohmann::json::object()).steps, 64);
  const nlohmann::json written = dlm::sample_json(llada);
  EXPECT_FALSE(written.contains("remasking"));
  EXPECT_EQ(written.at("sampler"), "llada");
  EXPECT_EQ(dlm_default.sampler, dlm::Sampler::kDlm);
}

TEST(ReferenceSamplers, DreamFolderGenerationConfigOverridesItsDefaults) {
  const std::string dir = dlm_test::fresh_dir("dream_generation_config");
  {
    std::ofstream(dir + "/generation_config.json")
        << R"({"max_new_tokens": 64, "steps": 32, "top_p": null, "alg": "maskgit_plus", "bos_token_id": 1})";
  }
  const dlm::SampleConfig c = dlm::folder_sample_config(dlm::Sampler::kDream, dir);
  EXPECT_EQ(c.length, 64);
  EXPECT_EQ(c.steps, 32);
  EXPECT_EQ(c.top_p, 1.0);  // null: off
  EXPECT_EQ(c.strategy, dlm::Strategy::kConfidence);
  EXPECT_EQ(c.temperature, 0.2);                                               // not in the file: dream's default
  EXPECT_EQ(dlm::resolve_sample(c, {{"steps", 8}}).steps, 8);                  // flags override both
  EXPECT_EQ(dlm::folder_sample_config(dlm::Sampler::kLlada, dir).steps, 128);  // llada reads no such file
}

// A model whose mask id never wins (an untrained model predicts the mask everywhere it sees one).
class MaskLast : public dlm::DenoiserImpl {
 public:
  MaskLast(std::shared_ptr<dlm::DenoiserImpl> inner, int64_t mask) : inner_(std::move(inner)), mask_(mask) {}
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& t) override {
    torch::Tensor logits = inner_->forward(ids, t);
    logits.select(-1, mask_).fill_(-100.0);
    return logits;
  }
  int64_t max_len() const override { return inner_->max_len(); }

 private:
  std::shared_ptr<dlm::DenoiserImpl> inner_;
  int64_t mask_;
};

// Rows of different widths in one batch each give what they give alone (each width is its own batch,
// each row's counts its own), with a real transformer whose logits depend on the whole canvas.
TEST(ReferenceSamplers, BatchedRowsOfDifferentWidthsEqualTheirSingleRuns) {
  const dlm_test::Denoising d;
  const int64_t mask = d.tok.mask_id();
  // Rows: prompt "ab" + 6 masks (width 8), prompt "abc" + 6 masks (9), prompt "hg" + 6 masks (8).
  const std::vector<std::string> prompts = {"ab", "abc", "hg"};
  const auto rows_of = [&](const std::vector<size_t>& which) {
    const int64_t B = static_cast<int64_t>(which.size());
    dlm::DenoiseRows r = dlm_test::masked_rows(B, 9, mask);
    r.tokens.fill_(d.tok.pad_id());
    r.generate.fill_(false);
    r.valid.fill_(false);
    r.seeds.clear();
    for (int64_t b = 0; b < B; ++b) {
      const std::vector<int64_t> ids = d.tok.encode(prompts[which[static_cast<size_t>(b)]]);
      const int64_t P = static_cast<int64_t>(ids.size());
      for (int64_t p = 0; p < P; ++p) r.tokens[b][p] = ids[static_cast<size_t>(p)];
      r.tokens[b].narrow(0, P, 6).fill_(mask);
      r.generate[b].narrow(0, P, 6).fill_(true);
      r.valid[b].narrow(0, 0, P + 6).fill_(true);
      r.seeds.push_back(100 + which[static_cast<size_t>(b)]);  // a row's stream follows it
    }
    return r;
  };
  dlm::Config c;
  c.model.type = dlm::ModelType::kTransformer;
  const auto process = dlm::make_process(c, d.ids);
  for (const dlm::Sampler s : {dlm::Sampler::kLlada, dlm::Sampler::kDream}) {
    dlm::SampleConfig o = dlm::sampler_defaults(s);
    o.length = 6;
    o.steps = s == dlm::Sampler::kLlada ? 4 : 5;
    o.block_length = s == dlm::Sampler::kLlada ? 3 : 0;
    o.temperature = s == dlm::Sampler::kLlada ? 0.0 : 0.7;  // dream draws: the streams must follow the rows
    MaskLast model(d.model, mask);
    const torch::Tensor all = process->sample(model, rows_of({0, 1, 2}), o).tokens;
    for (size_t r = 0; r < 3; ++r) {
      const torch::Tensor alone = process->sample(model, rows_of({r}), o).tokens;
      EXPECT_TRUE(torch::equal(all[static_cast<int64_t>(r)], alone[0])) << dlm::enum_name(s) << " row " << r;
      EXPECT_FALSE(alone.eq(mask).any().item<bool>()) << dlm::enum_name(s) << " row " << r;
    }
  }
}

// Rows of the char tokenizer's prompts, each followed by `n` masks, padded to the longest.
dlm::DenoiseRows prompt_rows(const dlm_test::Denoising& d, const std::vector<std::string>& prompts, int64_t n) {
  const int64_t B = static_cast<int64_t>(prompts.size());
  int64_t W = 0;
  for (const auto& p : prompts) W = std::max(W, static_cast<int64_t>(d.tok.encode(p).size()) + n);
  dlm::DenoiseRows r = dlm_test::masked_rows(B, W, d.tok.mask_id());
  r.tokens.fill_(d.tok.pad_id());
  r.generate.fill_(false);
  r.valid.fill_(false);
  r.seeds.clear();
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<int64_t> ids = d.tok.encode(prompts[static_cast<size_t>(b)]);
    const int64_t P = static_cast<int64_t>(ids.size());
    for (int64_t p = 0; p < P; ++p) r.tokens[b][p] = ids[static_cast<size_t>(p)];
    r.tokens[b].narrow(0, P, n).fill_(d.tok.mask_id());
    r.generate[b].narrow(0, P, n).fill_(true);
    r.valid[b].narrow(0, 0, P + n).fill_(true);
    r.seeds.push_back(100 + static_cast<uint64_t>(P));
  }
  return r;
}

// The settings of the cache tests: blocks of 4 of 8 positions; `mode` none, dual or prefix.
dlm::SampleConfig cached(dlm::Sampler s, const std::string& mode, bool adaptive) {
  dlm::SampleConfig o = greedy_blocks(s, 8, 4, 4);
  o.threshold = adaptive ? 0.5 : 0.0;
  o.kv_cache = mode != "none";
  if (o.kv_cache) o.kv_cache_mode = dlm_test::enum_from<dlm::KvCacheMode>(mode);
  return o;
}

// A float64 transformer of the char tokenizer's vocabulary for the cache tests: grouped-query
// attention, rotary positions, shifted predictions (Dream's) or not, no time input. `peaked`: logits
// x 20 and the mask id's far below, so that thresholds fire at some steps and the mask never wins.
std::shared_ptr<dlm::DenoiserImpl> cache_model(const dlm_test::Denoising& d, int64_t n_layer, bool shift, bool peaked) {
  dlm::ModelConfig c = dlm_test::tiny_model(n_layer, 2, 0.0);
  c.pos = dlm::PosKind::kRotary;
  c.n_kv_head = 1;
  c.shift = shift;
  c.head_bias = true;
  torch::manual_seed(8);
  const auto model = dlm::make_model(c, d.tok.vocab_size(), dlm_test::kDenoiseContext);
  model->to(torch::kFloat64);
  if (peaked) {
    torch::NoGradGuard no_grad;
    auto params = model->named_parameters();
    params["norm_f.layer_norm.weight"].mul_(20.0);
    params["head_bias"][d.tok.mask_id()].fill_(-100.0);
  }
  return model;
}

// One layer without a time input: a position's keys and values depend on its own id and place alone,
// so the cached ones of unchanged positions are exact and every cache mode must give the ids of the
// full passes, shifted (Dream) or not, by count or threshold, guided (llada: each row's unconditional
// twin has its own cache) or not, for the same number of model calls (one a step, guided too) and
// fewer full-canvas equivalents; the cache's size is reported.
TEST(ReferenceSamplers, ACacheOnAOneLayerModelGivesTheFullPassesIds) {
  const dlm_test::Denoising d;
  const dlm::DenoiseRows rows = prompt_rows(d, {"ab", "hgf", "cd"}, 8);
  dlm::Config config;
  const auto process = dlm::make_process(config, d.ids);
  for (const dlm::Sampler s : {dlm::Sampler::kLlada, dlm::Sampler::kDream}) {
    const auto model = cache_model(d, 1, s == dlm::Sampler::kDream, false);
    for (const int variant : {0, 1, 2}) {                       // by count, by threshold, guided
      if (variant == 2 && s == dlm::Sampler::kDream) continue;  // dream has no guidance
      const auto settings = [&](const std::string& mode) {
        dlm::SampleConfig o = cached(s, mode, variant == 1);
        o.cfg_scale = variant == 2 ? 1.0 : 0.0;
        return o;
      };
      const dlm::DenoiseResult full = process->sample(*model, rows, settings("none"));
      for (const std::string mode : {"dual", "prefix"}) {
        const std::string what = dlm::enum_name(s) + " " + mode + " variant " + std::to_string(variant);
        const dlm::DenoiseResult got = process->sample(*model, rows, settings(mode));
        EXPECT_TRUE(torch::equal(got.tokens, full.tokens)) << what;
        EXPECT_EQ(got.forward_calls, full.forward_calls) << what;
        EXPECT_LT(got.rows[0].equivalents, full.rows[0].equivalents) << what;
        // The largest group's cache: 2 rows (guided: 4) of width 10, one layer, keys and values of 1 kv
        // head of 16, in float64.
        EXPECT_EQ(got.cache_bytes, (variant == 2 ? 2 : 1) * 2 * 2 * 10 * 16 * 8) << what;
        EXPECT_EQ(full.cache_bytes, 0) << what;
      }
      // Two groups (widths 10 and 11), each 2 blocks of 2 steps (by count): one model call a step, guided or not.
      if (variant != 1) EXPECT_EQ(full.forward_calls, 2 * 4) << dlm::enum_name(s);
    }
  }
}

// Rows of different prompts batched give what they give alone in every cache mode (a row's cache is
// its own, and a pass over some rows reads theirs), on a two-layer model where the cache approximates.
TEST(ReferenceSamplers, BatchedRowsEqualTheirSingleRunsInEveryCacheMode) {
  const dlm_test::Denoising d;
  const std::vector<std::string> prompts = {"ab", "hgf", "cd"};
  dlm::Config config;
  const auto process = dlm::make_process(config, d.ids);
  for (const dlm::Sampler s : {dlm::Sampler::kLlada, dlm::Sampler::kDream}) {
    const auto model = cache_model(d, 2, s == dlm::Sampler::kDream, true);
    for (const std::string mode : {"dual", "prefix"}) {
      for (bool adaptive : {false, true}) {
        const dlm::SampleConfig o = cached(s, mode, adaptive);
        const torch::Tensor all = process->sample(*model, prompt_rows(d, prompts, 8), o).tokens;
        for (size_t r = 0; r < prompts.size(); ++r) {
          const torch::Tensor alone = process->sample(*model, prompt_rows(d, {prompts[r]}, 8), o).tokens;
          const int64_t W = alone.size(1);
          EXPECT_TRUE(torch::equal(all[static_cast<int64_t>(r)].narrow(0, 0, W), alone[0]))
              << dlm::enum_name(s) << " " << mode << (adaptive ? " threshold" : "") << " row " << r;
        }
      }
    }
  }
}

}  // namespace reference_samplers_test
