// The masking collator: protected positions never masked, exact masked fraction, loss weights.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include "dlm/diffusion/collator.h"

namespace {

dlm::Example example(int64_t n_prompt, int64_t n_content, int64_t L) {
  dlm::Example e;
  e.ids.resize(static_cast<size_t>(L), 0);
  for (int64_t i = 0; i < n_content - 1; ++i) e.ids[i] = 10 + i % 7;
  e.ids[n_content - 1] = 3;  // EOS
  e.n_prompt = n_prompt;
  e.n_content = n_content;
  return e;
}

TEST(Collator, ProtectedPositionsAreNeverMasked) {
  at::Generator gen = at::detail::createCPUGenerator(7);
  dlm::DiffusionConfig c;
  c.prefix_len = 3;
  c.mask_pad = false;
  const dlm::Example a = example(5, 20, 32), b = example(0, 12, 32);
  for (int rep = 0; rep < 200; ++rep) {
    const auto batch = dlm::collate({&a, &b}, c, 1, gen);
    const auto m = batch.masked;
    // a: prompt of 5 (beats prefix 3), padding from 20; b: prefix 3, padding from 12.
    EXPECT_FALSE(m[0].slice(0, 0, 5).any().item<bool>());
    EXPECT_FALSE(m[0].slice(0, 20).any().item<bool>());
    EXPECT_FALSE(m[1].slice(0, 0, 3).any().item<bool>());
    EXPECT_FALSE(m[1].slice(0, 12).any().item<bool>());
    EXPECT_TRUE(batch.input.masked_select(m.logical_not()).equal(batch.target.masked_select(m.logical_not())));
    EXPECT_TRUE(batch.input.masked_select(m).eq(1).all().item<bool>());
  }
}

TEST(Collator, GuidanceDropoutMasksThePromptInsteadOfGivingIt) {
  const dlm::Example a = example(5, 20, 32);
  dlm::DiffusionConfig c;
  at::Generator g1 = at::detail::createCPUGenerator(3), g2 = at::detail::createCPUGenerator(3);
  const auto plain = dlm::collate({&a, &a}, c, 1, g1);
  c.cfg_dropout = 0.999999;
  const auto dropped = dlm::collate({&a, &a}, c, 1, g2);
  // The same masks and weights; only the prompt is hidden, and it is never scored.
  EXPECT_TRUE(dropped.masked.equal(plain.masked));
  EXPECT_TRUE(dropped.loss_weight.equal(plain.loss_weight));
  EXPECT_TRUE(dropped.input.slice(1, 0, 5).eq(1).all().item<bool>());
  EXPECT_TRUE(dropped.input.slice(1, 5).equal(plain.input.slice(1, 5)));
  EXPECT_TRUE(plain.input.slice(1, 0, 5).equal(plain.target.slice(1, 0, 5)));
  // A share of the examples, not all of them.
  c.cfg_dropout = 0.3;
  std::vector<const dlm::Example*> many(400, &a);
  const auto some = dlm::collate(many, c, 1, g2);
  const double share = some.input.select(1, 0).eq(1).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(share, 0.3, 0.07);
}

TEST(Collator, PaddingIsMaskableWhenMaskPadIsOn) {
  at::Generator gen = at::detail::createCPUGenerator(1);
  dlm::DiffusionConfig c;
  c.mask_pad = true;
  const dlm::Example a = example(0, 4, 16);
  const auto batch = dlm::collate_at_rates({&a}, torch::tensor({1.0}, torch::kFloat64), c, 1, gen);
  EXPECT_EQ(batch.masked.sum().item<int64_t>(), 16);
}

TEST(Collator, MaskedFractionMatchesTheRate) {
  at::Generator gen = at::detail::createCPUGenerator(3);
  dlm::DiffusionConfig c;
  c.mask_pad = false;
  const dlm::Example a = example(4, 44, 64);  // 40 maskable positions
  std::vector<const dlm::Example*> group(8, &a);
  for (double rate : {0.1, 0.25, 0.5, 0.9, 1.0}) {
    const auto batch = dlm::collate_at_rates(group, torch::full({8}, rate, torch::kFloat64), c, 1, gen);
    const auto per_row = batch.masked.sum(1);
    for (int64_t b = 0; b < 8; ++b) EXPECT_EQ(per_row[b].item<int64_t>(), static_cast<int64_t>(std::lround(rate * 40)));
    EXPECT_TRUE(torch::allclose(batch.t, torch::full({8}, static_cast<float>(std::lround(rate * 40) / 40.0))));
  }
}

TEST(Collator, EachRateDistributionSpreadsItsRatesEvenlyAndPerBatchRowsShareOne) {
  at::Generator gen = at::detail::createCPUGenerator(5);
  dlm::DiffusionConfig c;
  c.rate_dist = dlm::RateDist::kDiscrete;
  c.rates = {0.2, 0.6};
  const auto d = dlm::sample_rates(1000, c, gen);
  EXPECT_TRUE((d.eq(0.2).logical_or(d.eq(0.6))).all().item<bool>());
  EXPECT_GT(d.eq(0.2).sum().item<int64_t>(), 400);
  EXPECT_GT(d.eq(0.6).sum().item<int64_t>(), 400);

  c.rate_dist = dlm::RateDist::kUniform;
  const auto u = dlm::sample_rates(2000, c, gen);
  EXPECT_GE(u.min().item<double>(), c.eps);
  EXPECT_LE(u.max().item<double>(), 1.0);
  EXPECT_NEAR(u.mean().item<double>(), 0.5, 0.03);

  c.rate_dist = dlm::RateDist::kAntithetic;
  const auto a = std::get<0>(dlm::sample_rates(8, c, gen).sort());
  // One per stratum of width (1 - eps) / 8: evenly spaced.
  const auto gaps = a.slice(0, 1) - a.slice(0, 0, 7);
  EXPECT_TRUE(torch::allclose(gaps, torch::full({7}, (1 - c.eps) / 8, torch::kFloat64), 1e-9, 1e-9));

  c.rate_per = dlm::RatePer::kBatch;
  c.rate_dist = dlm::RateDist::kUniform;
  const auto per_batch = dlm::sample_rates(16, c, gen);
  EXPECT_TRUE(per_batch.eq(per_batch[0]).all().item<bool>());
}

TEST(Collator, MaskedTokensWeighOneOrOneOverTAndLossOnAllWeighsEveryToken) {
  at::Generator gen = at::detail::createCPUGenerator(9);
  dlm::DiffusionConfig c;
  c.mask_pad = false;
  const dlm::Example a = example(0, 20, 20);
  const auto rates = torch::tensor({0.5}, torch::kFloat64);
  auto batch = dlm::collate_at_rates({&a}, rates, c, 1, gen);
  EXPECT_TRUE(batch.loss_weight.eq(batch.masked.to(torch::kFloat32)).all().item<bool>());
  EXPECT_DOUBLE_EQ(batch.loss_norm, 10.0);

  c.weighting = dlm::Weighting::kElbo;  // masked CE / t over all maskable tokens
  batch = dlm::collate_at_rates({&a}, rates, c, 1, gen);
  EXPECT_FLOAT_EQ(batch.loss_weight.masked_select(batch.masked).mean().item<float>(), 2.0f);
  EXPECT_DOUBLE_EQ(batch.loss_norm, 20.0);

  c.weighting = dlm::Weighting::kNone;
  c.loss_on = dlm::LossOn::kAll;
  batch = dlm::collate_at_rates({&a}, rates, c, 1, gen);
  EXPECT_EQ(batch.loss_weight.sum().item<float>(), 20.0f);
}

}  // namespace
