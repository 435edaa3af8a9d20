// The optimised denoising loop (dlm::denoise: batches of rows with their own streams, reused
// predictions, blocks) against the plain dlm::denoise_reference, token for token, for every strategy
// on several seeds; and what the loop feeds guidance's unconditional pass.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "denoise_fixture.h"
#include "dlm/data/tokenizer.h"
#include "dlm/diffusion/denoise.h"
#include "dlm/diffusion/sampler.h"
#include "test_util.h"

namespace {

using dlm_test::denoise_settings;
using dlm_test::Denoising;
using dlm_test::kDenoiseContext;

// The loop's canvases for `s`, against the reference's, for seeds 1..5.
void expect_matches_reference(Denoising& setup, dlm::SampleConfig s, const std::string& what) {
  const dlm::SampleConfig plain = s;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const dlm::DenoiseRows rows = setup.rows(seed);
    s = plain;
    s.block_length = 0;
    const torch::Tensor expected = dlm::denoise_reference(*setup.model, rows, s, setup.ids);
    ASSERT_FALSE(expected.eq(setup.ids.mask).any().item<bool>()) << what << ": the reference left a mask";
    for (bool cache : {true, false}) {
      s.cache = cache;
      const torch::Tensor batched = dlm::denoise(*setup.model, rows, s, setup.ids).tokens;
      EXPECT_TRUE(torch::equal(batched, expected)) << what << ", seed " << seed << ", batched, cache " << cache
                                                   << ", rows that differ: " << batched.ne(expected).any(1);
    }
    if (s.strategy == dlm::Strategy::kRemask) continue;  // re-masking has no blocks
    s.block_length = kDenoiseContext;                    // one block holding every generated position
    EXPECT_TRUE(torch::equal(dlm::denoise(*setup.model, rows, s, setup.ids).tokens, expected))
        << what << ", seed " << seed << ", one block";
  }
}

TEST(DenoiseReference, TheLoopMatchesItForEveryStrategy) {
  Denoising setup;
  for (const auto& [strategy, name] : dlm::enum_names(static_cast<dlm::Strategy*>(nullptr))) {
    if (strategy == dlm::Strategy::kOrigin) continue;  // --sampler dream's rule only
    expect_matches_reference(setup, denoise_settings(strategy), name);
  }
}

TEST(DenoiseReference, TheLoopMatchesItWithRevealRulesGuidanceAndTheMlp) {
  Denoising setup;
  dlm::SampleConfig s = denoise_settings(dlm::Strategy::kConfidence);
  s.threshold = 0.2;
  expect_matches_reference(setup, s, "threshold");
  s = denoise_settings(dlm::Strategy::kEntropy);
  s.entropy_bound = 1.0;
  expect_matches_reference(setup, s, "entropy bound");
  s = denoise_settings(dlm::Strategy::kMargin);
  s.order_temperature = 0.5;
  expect_matches_reference(setup, s, "order temperature");
  s = denoise_settings(dlm::Strategy::kConfidence);
  s.cfg_scale = 1.5;
  expect_matches_reference(setup, s, "guidance");
  Denoising mlp(dlm::ModelType::kMlp);
  expect_matches_reference(mlp, denoise_settings(dlm::Strategy::kRandom), "mlp");
}

TEST(DenoiseReference, RefusesBlocks) {
  Denoising setup;
  dlm::SampleConfig s = denoise_settings(dlm::Strategy::kConfidence);
  s.block_length = 4;
  EXPECT_NE(
      dlm_test::error_of([&] { dlm::denoise_reference(*setup.model, setup.rows(1), s, setup.ids); }).find("no blocks"),
      std::string::npos);
}

// Delegates to a real model and keeps every canvas it was given.
class Recording : public dlm::DenoiserImpl {
 public:
  explicit Recording(std::shared_ptr<dlm::DenoiserImpl> inner) : inner_(std::move(inner)) {}
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& t) override {
    seen.push_back(ids.cpu().clone());
    return inner_->forward(ids, t);
  }
  int64_t max_len() const override { return inner_->max_len(); }
  std::vector<torch::Tensor> seen;

 private:
  std::shared_ptr<dlm::DenoiserImpl> inner_;
};

TEST(DenoiseGuidance, TheUnconditionalPassSeesThePromptMaskedAndNothingElseChanged) {
  Denoising setup;
  Recording model(setup.model);
  dlm::SampleConfig s = denoise_settings(dlm::Strategy::kConfidence);
  s.cfg_scale = 2.0;
  const dlm::DenoiseRows rows = setup.rows(1);
  dlm::denoise(model, rows, s, setup.ids);
  ASSERT_FALSE(model.seen.empty());
  // The first pass has every row: conditional rows, then the same rows with the prompt masked.
  const torch::Tensor& first = model.seen.front();
  ASSERT_EQ(first.size(0), 6);
  EXPECT_TRUE(torch::equal(first.narrow(0, 0, 3), rows.tokens));
  EXPECT_TRUE(torch::equal(first.narrow(0, 3, 3), rows.tokens.masked_fill(rows.prompt, setup.ids.mask)));
  EXPECT_TRUE(rows.prompt.any().item<bool>());
  // Later passes: the unconditional half differs from the conditional half only by masks.
  for (const torch::Tensor& ids : model.seen) {
    ASSERT_EQ(ids.size(0) % 2, 0);
    const int64_t n = ids.size(0) / 2;
    const torch::Tensor cond = ids.narrow(0, 0, n), uncond = ids.narrow(0, n, n);
    EXPECT_TRUE(uncond.ne(cond).logical_and(uncond.ne(setup.ids.mask)).logical_not().all().item<bool>());
  }
}

}  // namespace
