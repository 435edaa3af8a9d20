// Uniform-state noise against independent derivations: Bayes' rule enumerated over a small
// support, the bound's closed form under a model whose predictions are known, discrete time
// converging to continuous time, and a sampler that follows an oracle and never emits what it must not.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <set>

#include "dlm/diffusion/noise_schedule.h"
#include "dlm/diffusion/process.h"
#include "dlm/diffusion/sampler.h"
#include "dlm/diffusion/uniform.h"
#include "process_models.h"
#include "test_util.h"

namespace processes_test {

const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);

// The transition matrix of uniform noise that keeps a state with probability a: a I + (1 - a)/N.
torch::Tensor transition(int64_t n, double a) {
  return a * torch::eye(n, f64) + (1.0 - a) / static_cast<double>(n) * torch::ones({n, n}, f64);
}

torch::Tensor scalar(double v) { return torch::tensor(v, f64); }

TEST(UniformNoise, MarginalAndPosteriorAreBayesRuleOverFiveStates) {
  const int64_t n = 5;
  const double as = 0.7, at = 0.3;  // alpha at s < t
  // A prediction that is not one-hot, as p_theta's x0 is.
  const torch::Tensor p = torch::tensor({0.1, 0.4, 0.05, 0.25, 0.2}, f64);
  for (int64_t x0 = 0; x0 < n; ++x0) {
    const torch::Tensor clean = torch::eye(n, f64)[x0];
    // q(x_t | x0) is row x0 of Q(at), and also of Q(as) Q(at / as): the process is Markov.
    EXPECT_TRUE(torch::allclose(dlm::uniform_marginal(clean, scalar(at)), transition(n, at)[x0], 0, 1e-12));
    EXPECT_TRUE(torch::allclose(transition(n, as).matmul(transition(n, at / as))[x0], transition(n, at)[x0], 0, 1e-12));
    for (int64_t z = 0; z < n; ++z) {
      // Bayes: q(x_s = j | x_t = z, x0) = q(x_s = j | x0) q(x_t = z | x_s = j) / q(x_t = z | x0).
      torch::Tensor joint = transition(n, as)[x0] * transition(n, at / as).select(1, z);
      const torch::Tensor got = dlm::uniform_posterior(clean, torch::tensor(z), scalar(as), scalar(at));
      EXPECT_TRUE(torch::allclose(got, joint / joint.sum(), 0, 1e-12)) << "x0 " << x0 << " z " << z;
    }
  }
  // With a prediction: p_theta(x_s | z) = sum over x0 of q(x_s, x_t = z | x0) p(x0), normalised.
  for (int64_t z = 0; z < n; ++z) {
    torch::Tensor mix = torch::zeros({n}, f64);
    for (int64_t x0 = 0; x0 < n; ++x0) mix += p[x0] * transition(n, as)[x0] * transition(n, at / as).select(1, z);
    EXPECT_TRUE(torch::allclose(dlm::uniform_posterior(p, torch::tensor(z), scalar(as), scalar(at)), mix / mix.sum(), 0,
                                1e-12));
  }
}

// KL(q || p_theta) of one step, summed over the support from the posteriors themselves.
double brute_step_kl(const torch::Tensor& p, int64_t z, int64_t k, double as, double at) {
  const int64_t n = p.size(0);
  const torch::Tensor q = dlm::uniform_posterior(torch::eye(n, f64)[k], torch::tensor(z), scalar(as), scalar(at));
  const torch::Tensor m = dlm::uniform_posterior(p, torch::tensor(z), scalar(as), scalar(at));
  return torch::where(q > 0, q * torch::log(q / m), torch::zeros_like(q)).sum().item<double>();
}

TEST(UniformNoise, StepKlIsTheKlOfThePosteriorsAndItsRateIsTheBoundsIntegrand) {
  const torch::Tensor p = torch::tensor({0.1, 0.4, 0.05, 0.25, 0.2, 0.0001, 0.0, 0.0}, f64);
  const torch::Tensor pn = p.clamp_min(1e-6) / p.clamp_min(1e-6).sum();
  for (int64_t k : {1, 3, 5}) {
    for (int64_t z : {1, 2, 5}) {
      for (double at : {0.05, 0.5, 0.93}) {
        for (double as : {at + 0.02, std::min(1.0, at + 0.3), 1.0}) {
          const double closed =
              dlm::uniform_step_kl(pn, torch::tensor(z), torch::tensor(k), scalar(as), scalar(at)).item<double>();
          EXPECT_NEAR(closed, brute_step_kl(pn, z, k, as, at), 1e-9 * std::max(1.0, std::abs(closed)))
              << "k " << k << " z " << z << " as " << as << " at " << at;
        }
        // The continuous integrand is the step's KL per unit of t as the step shrinks (alpha = 1 - t).
        const double h = 1e-6;
        const double rate = dlm::uniform_bound_rate(pn, torch::tensor(z), torch::tensor(k), scalar(at)).item<double>();
        const double kl = brute_step_kl(pn, z, k, at + h, at) / h;
        EXPECT_NEAR(rate, kl, 2e-4 * std::max(1.0, std::abs(rate))) << "k " << k << " z " << z << " alpha " << at;
      }
    }
  }
  // A perfect prediction costs nothing, at any level.
  const torch::Tensor exact = torch::eye(8, f64)[3];
  EXPECT_NEAR(dlm::uniform_bound_rate(exact, torch::tensor(3), torch::tensor(3), scalar(0.4)).item<double>(), 0.0,
              1e-12);
  EXPECT_NEAR(dlm::uniform_bound_rate(exact, torch::tensor(6), torch::tensor(3), scalar(0.4)).item<double>(), 0.0,
              1e-12);
}
// The integral over t in (0, 1) of g(t), as the integral over y in [1e-9, 18] of g(e^-y) e^-y
// (Simpson's rule): the bound's integrand grows like log(1/t) near 0, which this grid follows.
double integral(const std::function<double(double)>& g) {
  const int64_t m = 6000;
  const double lo = 1e-9, h = (18.0 - lo) / m;
  const auto at = [&](double y) { return g(std::exp(-y)) * std::exp(-y); };
  double sum = at(lo) + at(18.0);
  for (int64_t i = 1; i < m; ++i) sum += (i % 2 ? 4.0 : 2.0) * at(lo + i * h);
  return sum * h / 3.0;
}

// Each position's prediction given its noisy state z (N states, the clean one k = 0): the expected
// continuous integrand and the exact discrete bound, by enumeration of z.
using Prediction = std::function<torch::Tensor(int64_t z)>;
double expected_rate(const Prediction& pred, double t) {
  const int64_t n = kSupport;
  const double a = 1.0 - t;
  double sum = 0.0;
  for (int64_t z = 0; z < n; ++z) {
    const double pz = (z == 0 ? a : 0.0) + (1.0 - a) / n;
    sum += pz * dlm::uniform_bound_rate(pred(z), torch::tensor(z), torch::tensor(0), scalar(a)).item<double>();
  }
  return sum;
}
double exact_discrete(const Prediction& pred, int64_t T) {
  const int64_t n = kSupport;
  double sum = 0.0;
  for (int64_t i = 1; i <= T; ++i) {
    const double at = 1.0 - static_cast<double>(i) / T, as = 1.0 - static_cast<double>(i - 1) / T;
    for (int64_t z = 0; z < n; ++z)
      sum += ((z == 0 ? at : 0.0) + (1.0 - at) / n) * brute_step_kl(pred(z), z, 0, as, at);
  }
  return sum;
}

TEST(UniformNoise, BoundEqualsItsClosedFormOnAModelWithKnownPredictions) {
  // A prediction that ignores its input makes the reverse chain the exact reverse of "x0 drawn from the
  // prediction, then noised": the model's likelihood is q per token, and every bound of it, in discrete
  // or continuous time, equals -log q exactly (the forward and reverse paths agree given x0).
  const double q = 0.6;
  const Prediction fixed = [&](int64_t) {
    torch::Tensor p = torch::full({kSupport}, (1.0 - q) / (kSupport - 1), f64);
    p[0] = q;
    return p;
  };
  EXPECT_NEAR(integral([&](double t) { return expected_rate(fixed, t); }), -std::log(q), 1e-4);
  for (int64_t T : {1, 3, 20}) EXPECT_NEAR(exact_discrete(fixed, T), -std::log(q), 1e-9) << "T = " << T;
  // The process's estimate over a batch of blocks: stratified levels, random states.
  const std::vector<int64_t> truth = {5, 6, 7, 8, 3, 5, 6, 0};  // content, EOS, padding: all in the support
  KnownModel model(truth, q);
  const auto blocks = blocks_of(truth, 200);
  for (int64_t T : {0, 1, 4, 64}) {
    const dlm::Likelihood got =
        uniform_process(T)->bound(model, blocks, 0, std::max<int64_t>(64, T), 11, 4096, torch::kCPU);
    EXPECT_EQ(got.tokens, 200 * 8);
    EXPECT_NEAR(got.nats_per_token(), -std::log(q), 0.02 * -std::log(q)) << "T = " << T;
  }
}

TEST(UniformNoise, DiscreteTimeBoundApproachesTheContinuousOne) {
  const double r = 0.7;
  const Prediction copy = [&](int64_t z) {
    torch::Tensor p = torch::full({kSupport}, (1.0 - r) / (kSupport - 1), f64);
    p[z] = r;
    return p;
  };
  const double continuous = integral([&](double t) { return expected_rate(copy, t); });
  double previous = 1e9;
  for (int64_t T : {1, 4, 16, 64, 256}) {
    const double gap = continuous - exact_discrete(copy, T);
    EXPECT_GT(gap, 0.0) << "T = " << T;  // more steps, a looser bound here, up to the continuous one
    EXPECT_LT(gap, previous) << "T = " << T;
    previous = gap;
  }
  EXPECT_LT(previous, 0.002 * continuous);
  // The process's estimates follow the exact values: T = 1 and T = 64 apart, and continuous time.
  const std::vector<int64_t> truth = {5, 6, 7, 8, 3, 5, 6, 0};
  CopyModel model(r);
  const auto blocks = blocks_of(truth, 200);
  for (int64_t T : {1, 64, 0}) {
    const double exact = T == 0 ? continuous : exact_discrete(copy, T);
    const double got =
        uniform_process(T)->bound(model, blocks, 0, std::max<int64_t>(64, T), 11, 4096, torch::kCPU).nats_per_token();
    EXPECT_NEAR(got, exact, 0.02 * exact) << "T = " << T;
  }
}
TEST(UniformNoise, TheSamplerNeverEmitsMaskBosOrSepNorEosInAnInfillSpan) {
  const std::vector<int64_t> truth = {5, 6, 7, 8, 3, 0, 0, 0};
  KnownModel model(truth, 0.3);  // MASK, BOS and SEP get the largest logits of all
  dlm::DenoiseRows rows = dlm_test::masked_rows(16, 8, kIds.mask, 40);
  rows.span.slice(1, 0, 4).fill_(true);  // the first four positions are an infill span
  dlm::SampleConfig o;
  o.steps = 6;
  o.schedule = dlm::Schedule::kLinear;
  o.sampling = dlm::Sampling::kNucleus;
  o.top_p = 1.0;
  std::set<int64_t> seen;
  const torch::Tensor out =
      uniform_process(0)
          ->sample(model, rows, o,
                   [&](const dlm::SamplerStep& at) {
                     const torch::Tensor& x = at.canvas;
                     for (int64_t v : std::vector<int64_t>(x.data_ptr<int64_t>(), x.data_ptr<int64_t>() + x.numel()))
                       seen.insert(v);
                   })
          .tokens;
  for (int64_t banned : {kIds.mask, kIds.bos, kIds.sep}) EXPECT_EQ(seen.count(banned), 0u) << "id " << banned;
  EXPECT_FALSE(out.slice(1, 0, 4).eq(kIds.eos).any().item<bool>());
  EXPECT_FALSE(out.slice(1, 0, 4).eq(kIds.pad).any().item<bool>());
  EXPECT_GT(seen.size(), 4u);  // the draws did range over the support
}

TEST(UniformNoise, AnOracleIsFollowedExactlyAndPlacedTokensStillMove) {
  const std::vector<int64_t> truth = {5, 6, 7, 8, 5, 6, 3, 0};
  KnownModel model(truth, 0.999999);
  dlm::DenoiseRows rows = dlm_test::masked_rows(4, 8, kIds.mask, 7);
  rows.tokens.slice(1, 0, 2).copy_(torch::tensor({5, 6}).expand({4, 2}));  // a prefix, kept
  rows.generate.slice(1, 0, 2).fill_(false);
  dlm::SampleConfig o;
  o.steps = 8;
  o.sampling = dlm::Sampling::kGreedy;
  std::vector<torch::Tensor> canvases;
  const auto r = uniform_process(0)->sample(model, rows, o, [&](const dlm::SamplerStep& at) {
    const torch::Tensor& x = at.canvas;
    canvases.push_back(x.clone());
  });
  EXPECT_TRUE(torch::equal(r.tokens, torch::tensor(truth).expand({4, 8}))) << r.tokens;
  EXPECT_EQ(r.rows[0].steps, 8);
  // Between two steps before the last, some generated token changed: nothing is ever final early.
  bool moved = false;
  for (size_t s = 2; s + 1 < canvases.size(); ++s) moved = moved || !torch::equal(canvases[s], canvases[s - 1]);
  EXPECT_TRUE(moved);
}
}  // namespace processes_test
