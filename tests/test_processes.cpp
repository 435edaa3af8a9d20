// The processes side by side: the per-level table, masking's discrete-time bound, SSD-LM's
// signal-to-noise ratio and its reverse step under an oracle, and what each process refuses.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <set>

#include "dlm/diffusion/noise_schedule.h"
#include "dlm/diffusion/process.h"
#include "dlm/diffusion/sampler.h"
#include "dlm/diffusion/simplex.h"
#include "dlm/random.h"
#include "process_models.h"
#include "test_util.h"

namespace processes_test {

TEST(Processes, TheLevelTableScoresTheCleanTokenAtEachLevel) {
  // A model that ignores its input costs -log q at every level and always has the clean token as argmax.
  const std::vector<int64_t> truth = {5, 6, 7, 8, 3, 5, 6, 8};
  const auto blocks = blocks_of(truth, 200);
  const std::vector<double> levels = {1.0, 0.5, 0.1};
  KnownModel fixed(truth, 0.6, /*tempt=*/false);
  const auto masking = dlm::make_process(dlm::Config{}, kIds)->by_level(fixed, blocks, levels, 64, torch::kCPU, 3);
  const auto uniform = uniform_process(0)->by_level(fixed, blocks, levels, 64, torch::kCPU, 3);
  for (size_t i = 0; i < levels.size(); ++i) {
    for (const auto& row : {masking[i], uniform[i]}) {
      EXPECT_EQ(row.rate, levels[i]);
      EXPECT_NEAR(row.loss, -std::log(0.6), 1e-5);
      EXPECT_EQ(row.accuracy, 1.0);
    }
  }
  // Under uniform noise a copying model is right where the shown token is the clean one, with
  // probability (1 - t) + t / n, and its loss is the mixture of the two cases' costs.
  const double r = 0.7, n = static_cast<double>(kSupport);
  CopyModel copy(r);
  const auto copied = uniform_process(0)->by_level(copy, blocks, levels, 64, torch::kCPU, 3);
  for (size_t i = 0; i < levels.size(); ++i) {
    const double kept = 1.0 - levels[i] + levels[i] / n;
    EXPECT_NEAR(copied[i].accuracy, kept, 0.05) << "t = " << levels[i];
    EXPECT_NEAR(copied[i].loss, -kept * std::log(r) - (1.0 - kept) * std::log((1.0 - r) / (n - 1.0)), 0.1) << "t = " << levels[i];
  }
  EXPECT_GT(copied[2].accuracy, copied[0].accuracy + 0.5);
}

TEST(AbsorbingNoise, DiscreteTimeBoundWeighsBernoulliMasksWithoutBias) {
  // Under masking with alpha_t = 1 - t, a model that ignores its input costs -log q per token at any
  // level, in continuous time and in discrete time alike, so both estimators must give -log q: the
  // continuous one exactly (it visits every mask count), the discrete one (1 / t_i over Bernoulli
  // masks, i uniform on 1..T) within its sampling error.
  const std::vector<int64_t> truth = {5, 6, 7, 8, 3, 5, 6, 8};
  KnownModel model(truth, 0.6, /*tempt=*/false);
  const auto blocks = blocks_of(truth, 200);
  dlm::Config c;
  for (int64_t T : {0, 1, 4, 100}) {
    c.diffusion.time_steps = T;
    const double got = dlm::make_process(c, kIds)->bound(model, blocks, 0, 16, 5, 512, torch::kCPU).nats_per_token();
    EXPECT_NEAR(got, -std::log(0.6), T == 0 ? 1e-6 : 0.03 * -std::log(0.6)) << "T = " << T;
  }
}
TEST(Simplex, ForwardNoiseHasTheScheduledSignalToNoiseRatio) {
  EXPECT_DOUBLE_EQ(dlm::simplex_alpha_bar(0.0), 1.0);
  EXPECT_NEAR(dlm::simplex_alpha_bar(1.0), 0.0, 1e-12);
  for (double t = 0.1; t < 1.0; t += 0.1) EXPECT_LT(dlm::simplex_alpha_bar(t), dlm::simplex_alpha_bar(t - 0.1));
  const double k = 5.0;
  torch::Generator gen = dlm::cpu_generator(3);
  const torch::Tensor ids = torch::randint(0, 50, {4000}, gen, torch::TensorOptions().dtype(torch::kInt64));
  const torch::Tensor w = dlm::simplex_logits(ids, 50, k);  // (4000, 50)
  EXPECT_TRUE(torch::equal(std::get<0>(w.max(-1)), torch::full({4000}, k)));
  EXPECT_TRUE(torch::equal(w.argmax(-1), ids));
  EXPECT_TRUE(torch::equal(std::get<0>(w.min(-1)), torch::full({4000}, -k)));
  for (double t : {0.2, 0.5, 0.8}) {
    const double abar = dlm::simplex_alpha_bar(t);
    const torch::Tensor noise = torch::randn({4000, 50}, gen);
    const torch::Tensor noised = dlm::simplex_noised(w, torch::tensor(abar), noise, k).to(torch::kFloat64);
    const torch::Tensor wd = w.to(torch::kFloat64);
    const double coef = (noised * wd).sum().item<double>() / (wd * wd).sum().item<double>();  // least squares
    const double noise_power = (noised - coef * wd).pow(2).mean().item<double>();
    const double snr = coef * coef * k * k / noise_power;  // each entry of w has power k^2
    EXPECT_NEAR(snr, abar / (1.0 - abar), 0.03 * abar / (1.0 - abar)) << "t " << t;
  }
}

// A model that, shown probability vectors, predicts the truth at every position.
class OracleSoftModel : public dlm::DenoiserImpl {
 public:
  explicit OracleSoftModel(std::vector<int64_t> truth) : truth_(std::move(truth)) {}
  torch::Tensor forward(const torch::Tensor& input, const torch::Tensor&) override {
    EXPECT_EQ(input.dim(), 3) << "the simplex shows the model probability vectors";
    const int64_t B = input.size(0), L = input.size(1);
    torch::Tensor logits = torch::zeros({B, L, kV});
    for (int64_t i = 0; i < L; ++i) logits.select(1, i).select(1, truth_[static_cast<size_t>(i)]).fill_(12.0);
    ++calls;
    return logits;
  }
  torch::Tensor forward_rows(const torch::Tensor& input, const torch::Tensor& t, const torch::Tensor& key_valid,
                             const torch::Tensor& out = {}) override {
    if (key_valid.defined()) hidden = hidden || !key_valid.all().item<bool>();
    return dlm::DenoiserImpl::forward_rows(input, t, key_valid, out);
  }
  int64_t max_len() const override { return static_cast<int64_t>(truth_.size()); }
  int calls = 0;
  bool hidden = false;

 private:
  std::vector<int64_t> truth_;
};

TEST(Simplex, TheReverseStepReturnsTheCleanSequenceUnderAnOracle) {
  const std::vector<int64_t> truth = {5, 6, 7, 8, 5, 6, 7, 8, 6, 5};
  dlm::Config c;
  c.objective = "simplex";
  for (int64_t block : {0, 3}) {
    OracleSoftModel model(truth);
    dlm::DenoiseRows rows = dlm_test::masked_rows(3, 10, kIds.mask, 5);
    rows.tokens.slice(1, 0, 2).copy_(torch::tensor({5, 6}).expand({3, 2}));
    rows.generate.slice(1, 0, 2).fill_(false);
    dlm::SampleConfig o;
    o.steps = 5;
    o.sampling = dlm::Sampling::kNucleus;
    o.block_length = block;
    const auto r = dlm::make_process(c, kIds)->sample(model, rows, o);
    EXPECT_TRUE(torch::equal(r.tokens, torch::tensor(truth).expand({3, 10}))) << "block " << block << "\n" << r.tokens;
    // Left to right in blocks of 3 after the prefix: 8 positions make 3 blocks of 5 steps each.
    EXPECT_EQ(model.calls, block == 0 ? 5 : 15);
    EXPECT_EQ(model.hidden, block > 0) << "positions after the block are hidden from the model";
  }
}

TEST(Processes, EachRefusesTheSamplingSettingsItDoesNotUse) {
  dlm::Config c;
  c.diffusion.noise = "uniform";
  const auto uniform = dlm::make_process(c, kIds);
  c.diffusion.noise = "absorbing";
  c.objective = "simplex";
  const auto simplex = dlm::make_process(c, kIds);
  const auto with = [](const std::function<void(dlm::SampleConfig&)>& set) {
    dlm::SampleConfig o;
    set(o);
    return o;
  };
  const auto threshold = with([](dlm::SampleConfig& o) { o.threshold = 0.9; });
  const auto kv = with([](dlm::SampleConfig& o) { o.kv_cache = true; });
  const auto order = with([](dlm::SampleConfig& o) { o.strategy = dlm::Strategy::kRandom; });
  const auto blocks = with([](dlm::SampleConfig& o) { o.block_length = 4; });
  const auto nucleus = with([](dlm::SampleConfig& o) { o.sampling = dlm::Sampling::kNucleus; o.top_p = 0.5; o.steps = 40; });
  for (const auto* p : {uniform.get(), simplex.get()}) {
    EXPECT_NE(dlm_test::error_of([&] { p->check_sample(threshold); }).find("--threshold"), std::string::npos);
    EXPECT_NE(dlm_test::error_of([&] { p->check_sample(kv); }).find("does not apply to " + p->name()), std::string::npos);
    EXPECT_NE(dlm_test::error_of([&] { p->check_sample(order); }).find("--strategy"), std::string::npos);
    EXPECT_EQ(dlm_test::error_of([&] { p->check_sample(nucleus); }), "");
  }
  EXPECT_NE(dlm_test::error_of([&] { uniform->check_sample(blocks); }).find("--block-length"), std::string::npos);
  EXPECT_EQ(dlm_test::error_of([&] { simplex->check_sample(blocks); }), "");
  EXPECT_FALSE(simplex->infills());
  EXPECT_TRUE(uniform->infills());
  c.objective = "ar";
  const auto twin = dlm::make_process(c, kIds);
  const auto guided = with([](dlm::SampleConfig& o) { o.cfg_scale = 2.0; });
  EXPECT_NE(dlm_test::error_of([&] { twin->check_sample(guided); }).find("--cfg-scale"), std::string::npos);
  EXPECT_EQ(dlm_test::error_of([&] { twin->check_sample(threshold); }), "");
  EXPECT_FALSE(twin->infills());
  EXPECT_TRUE(twin->causal());
}

TEST(Processes, TimeStepsPutTrainingLevelsAndTheSamplersGridOnIOverT) {
  dlm::DiffusionConfig c;
  c.time_steps = 8;
  torch::Generator gen = dlm::cpu_generator(1);
  const torch::Tensor t = dlm::sample_rates(4000, c, gen);
  EXPECT_TRUE(torch::allclose(t * 8, torch::round(t * 8), 0, 1e-12));
  EXPECT_EQ(t.min().item<double>(), 1.0 / 8);
  EXPECT_EQ(t.max().item<double>(), 1.0);
  const std::vector<double> values(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  EXPECT_EQ(std::set<double>(values.begin(), values.end()).size(), 8u);
  const std::vector<double> levels = dlm::noise_levels(dlm::Schedule::kCosine, 20, 4);
  EXPECT_EQ(levels, (std::vector<double>{1.0, 0.75, 0.5, 0.25, 0.0}));
  const std::vector<double> continuous = dlm::noise_levels(dlm::Schedule::kLinear, 4, 0);
  EXPECT_EQ(continuous, (std::vector<double>{1.0, 0.75, 0.5, 0.25, 0.0}));
  // Masking's sampler on the same grid: with MDLM's random order (which follows the schedule exactly),
  // the count still masked after every step is a multiple of a quarter of the canvas.
  int64_t pending = 100;
  for (int64_t step = 0; step < 10; ++step) {
    pending -= dlm::scheduled_reveals(dlm::Schedule::kCosine, dlm::Strategy::kRandom, step, 10, pending, 100, 4);
    EXPECT_EQ(pending % 25, 0) << "step " << step;
  }
  EXPECT_EQ(pending, 0);
}

TEST(Processes, ConfigsThatMixProcessesAreRefusedNamingTheKey) {
  const auto refused = [](const std::function<void(dlm::Config&)>& set) {
    dlm::Config c;
    c.data.path = "x.txt";
    set(c);
    return dlm_test::error_of([&] {
      dlm::validate(c);
      dlm::make_process(c, dlm::SpecialIds{});
    });
  };
  EXPECT_EQ(refused([](dlm::Config& c) { c.diffusion.noise = "uniform"; }), "");
  EXPECT_EQ(refused([](dlm::Config& c) { c.objective = "simplex"; c.diffusion.block_length = 4; }), "");
  EXPECT_NE(refused([](dlm::Config& c) { c.diffusion.noise = "uniform"; c.diffusion.loss_on = dlm::LossOn::kAll; })
                .find("diffusion.loss_on"), std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) { c.diffusion.noise = "uniform"; c.diffusion.cfg_dropout = 0.1; })
                .find("diffusion.cfg_dropout"), std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) { c.objective = "ar"; c.diffusion.noise = "uniform"; })
                .find("diffusion.noise"), std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) { c.objective = "simplex"; c.model.type = dlm::ModelType::kMlp; })
                .find("model.type"), std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) { c.objective = "ar"; c.model.type = dlm::ModelType::kMlp; }).find("model.type"),
            std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) { c.objective = "ar"; c.model.init_from = "folder"; }).find("model.init_from"),
            std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) { c.diffusion.noise = "gaussian"; }).find("diffusion.noise"), std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) { c.diffusion.block_length = 4; }).find("diffusion.block_length"), std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) { c.diffusion.time_steps = 10; c.diffusion.rate_dist = dlm::RateDist::kDiscrete; })
                .find("diffusion.time_steps"), std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) { c.diffusion.time_steps = -1; }).find("diffusion.time_steps"), std::string::npos);
}

}  // namespace processes_test
