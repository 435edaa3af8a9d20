// The processes side by side: the per-level table, the time steps of training and sampling, and what
// each process refuses. Each process's own tests are in test_absorbing_noise.cpp, test_uniform_noise.cpp
// and test_simplex.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <set>

#include "dlm/diffusion/noise_schedule.h"
#include "dlm/diffusion/process.h"
#include "dlm/diffusion/sampler.h"
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
    EXPECT_NEAR(copied[i].loss, -kept * std::log(r) - (1.0 - kept) * std::log((1.0 - r) / (n - 1.0)), 0.1)
        << "t = " << levels[i];
  }
  EXPECT_GT(copied[2].accuracy, copied[0].accuracy + 0.5);
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
  const auto nucleus = with([](dlm::SampleConfig& o) {
    o.sampling = dlm::Sampling::kNucleus;
    o.top_p = 0.5;
    o.steps = 40;
  });
  for (const auto* p : {uniform.get(), simplex.get()}) {
    EXPECT_NE(dlm_test::error_of([&] { p->check_sample(threshold); }).find("--threshold"), std::string::npos);
    EXPECT_NE(dlm_test::error_of([&] { p->check_sample(kv); }).find("does not apply to " + p->name()),
              std::string::npos);
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
  EXPECT_EQ(refused([](dlm::Config& c) {
              c.objective = "simplex";
              c.diffusion.block_length = 4;
            }),
            "");
  EXPECT_NE(refused([](dlm::Config& c) {
              c.diffusion.noise = "uniform";
              c.diffusion.loss_on = dlm::LossOn::kAll;
            }).find("diffusion.loss_on"),
            std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) {
              c.diffusion.noise = "uniform";
              c.diffusion.cfg_dropout = 0.1;
            }).find("diffusion.cfg_dropout"),
            std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) {
              c.objective = "ar";
              c.diffusion.noise = "uniform";
            }).find("diffusion.noise"),
            std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) {
              c.objective = "simplex";
              c.model.type = dlm::ModelType::kMlp;
            }).find("model.type"),
            std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) {
              c.objective = "ar";
              c.model.type = dlm::ModelType::kMlp;
            }).find("model.type"),
            std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) {
              c.objective = "ar";
              c.model.init_from = "folder";
            }).find("model.init_from"),
            std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) { c.diffusion.noise = "gaussian"; }).find("diffusion.noise"), std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) { c.diffusion.block_length = 4; }).find("diffusion.block_length"),
            std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) {
              c.diffusion.time_steps = 10;
              c.diffusion.rate_dist = dlm::RateDist::kDiscrete;
            }).find("diffusion.time_steps"),
            std::string::npos);
  EXPECT_NE(refused([](dlm::Config& c) { c.diffusion.time_steps = -1; }).find("diffusion.time_steps"),
            std::string::npos);
}

}  // namespace processes_test
