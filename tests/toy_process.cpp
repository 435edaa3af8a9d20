// A process added from outside the library: the proof that a process is one file and one registry
// line. The toy masks as absorbing noise does but scores every position, and samples in one greedy
// pass; it is registered at run time (never compiled into dlm), then trained, evaluated and sampled
// through the public API. Its own CTest (toy_process): the registry is global to a program.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "dlm/config.h"
#include "dlm/data/tokenizer.h"
#include "dlm/diffusion/process.h"
#include "dlm/error.h"
#include "dlm/generate/generate.h"
#include "dlm/model/checkpoint.h"
#include "dlm/train/evaluate.h"
#include "dlm/train/trainer.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;

class ToyProcess : public dlm::Process {
 public:
  ToyProcess(const dlm::Config& c, const dlm::SpecialIds& ids) : c_(c.diffusion), ids_(ids) {
    c_.loss_on = dlm::LossOn::kAll;
  }
  std::string name() const override { return "the toy process"; }

  dlm::Batch noise(const std::vector<const dlm::Example*>& share, int64_t begin, int64_t global_size, uint64_t seed,
                   int64_t micro) const override {
    return dlm::collate_share(share, begin, global_size, c_, ids_.mask, seed, micro);
  }
  torch::Tensor loss(const torch::Tensor& hidden, dlm::DenoiserImpl& model, const dlm::Batch& batch) const override {
    ++losses;
    return dlm::scored_loss(model, hidden, batch);
  }

  bool has_bound() const override { return false; }
  dlm::Likelihood bound(dlm::DenoiserImpl&, const std::vector<dlm::Example>&, int64_t, int64_t, uint64_t, int64_t,
                        const torch::Device&) const override {
    throw dlm::Error("the toy process has no bound");
  }
  std::vector<dlm::LevelMetrics> by_level(dlm::DenoiserImpl& model, const std::vector<dlm::Example>& examples,
                                          const std::vector<double>& levels, int64_t batch_size, const torch::Device&,
                                          uint64_t seed) const override {
    dlm::InferenceScope scope(model);
    return dlm::per_level(examples, levels, batch_size, seed, c_, ids_.mask,
                          [&](dlm::Batch& b, const std::vector<const dlm::Example*>&, torch::Generator&) {
                            const torch::Tensor logits = model.forward(b.input, b.t);
                            return dlm::level_sums(dlm::token_ce(logits, b.target), logits.argmax(-1), b.target,
                                                   b.masked);
                          });
  }

  // One pass: every generated position takes its most likely id that is not [MASK].
  dlm::DenoiseResult sample(dlm::DenoiserImpl& model, const dlm::DenoiseRows& rows, const dlm::SampleConfig&,
                            const dlm::StepCallback& on_step, const dlm::StopCheck&) const override {
    dlm::InferenceScope scope(model);
    torch::Tensor logits = model.forward_rows(rows.tokens, torch::ones({rows.tokens.size(0)}), rows.valid);
    logits.select(-1, ids_.mask).fill_(-INFINITY);
    dlm::DenoiseResult out;
    out.tokens = torch::where(rows.generate, logits.argmax(-1), rows.tokens);
    out.rows.assign(static_cast<size_t>(rows.tokens.size(0)), dlm::RowStats{1, 1, 1.0});
    out.forward_calls = 1;
    if (on_step) on_step({0, out.tokens, {}});
    return out;
  }
  int64_t planned_steps(const dlm::SampleConfig&, const dlm::DenoiseRows&) const override { return 1; }

  static inline int64_t losses = 0;  ///< calls of loss(): training went through this process

 private:
  dlm::DiffusionConfig c_;
  dlm::SpecialIds ids_;
};

dlm::Config toy_config(const std::string& dir) {
  fs::create_directories(dir);
  std::ofstream(dir + "/names.txt") << "asha\nravi\nmeena\nkiran\nsuresh\nlata\narjun\npriya\nrohan\numa\n";
  dlm::Config c;
  c.name = "toy";
  c.objective = "toy";
  c.data.path = dir + "/names.txt";
  c.data.seq_len = 10;
  c.model.d_model = 16;
  c.model.n_layer = 1;
  c.model.n_head = 2;
  c.train.steps = 2;
  c.train.batch_size = 4;
  c.train.eval_every = 2;
  c.train.threads = 1;
  c.train.device = dlm::parse_device("cpu");
  return c;
}

TEST(ToyProcess, IsOneFileAndOneRegistryLine) {
  const std::string dir = testing::TempDir() + "/toy_process";
  fs::remove_all(dir);
  const dlm::Config config = toy_config(dir);
  dlm::TrainOptions options;
  options.run_dir = dir + "/run";
  options.progress = 0;

  // Unregistered, the objective is unknown, and the message lists the registered ones.
  const std::string refused = dlm_test::error_of([&] { dlm::train(config, options); });
  EXPECT_NE(refused.find("unknown objective"), std::string::npos) << refused;
  EXPECT_NE(refused.find("'objective' = \"toy\""), std::string::npos) << refused;
  EXPECT_NE(refused.find("registered: diffusion (noise absorbing, uniform), simplex, ar"), std::string::npos)
      << refused;

  dlm::register_process({"toy", "", [](const dlm::Config& c, const dlm::SpecialIds& ids) {
                           return std::make_unique<ToyProcess>(c, ids);
                         }});
  const dlm::TrainSummary summary = dlm::train(config, options);
  EXPECT_EQ(summary.steps, 2);
  EXPECT_EQ(ToyProcess::losses, 2) << "each training step's loss is the toy's";

  const dlm::LoadedModel loaded =
      dlm::load_model_for_inference(dir + "/run/last.pt", torch::kCPU, dlm::make_process_model);
  const dlm::EvalReport report = dlm::evaluate_checkpoint(loaded, dir + "/run", torch::kCPU);
  EXPECT_EQ(report.process, "the toy process");
  EXPECT_FALSE(report.has_bound);
  EXPECT_EQ(report.levels.size(), config.eval.levels.size());
  EXPECT_NE(dlm::format_report(report).find("no likelihood bound for the toy process"), std::string::npos);

  dlm::GenerateOptions o;
  o.num_samples = 3;
  int64_t steps_seen = 0;
  const dlm::GenerateReport out =
      dlm::generate_text(*loaded.model, *loaded.tokenizer, loaded.config, {dlm::Prompt{"a", ""}}, o,
                         [&](int64_t, int64_t planned, const std::vector<dlm::StepRow>& rows) {
                           EXPECT_EQ(planned, 1);
                           EXPECT_EQ(rows.size(), 3u);
                           ++steps_seen;
                         });
  ASSERT_EQ(out.samples.size(), 3u);
  EXPECT_EQ(out.forward_calls, 1);
  EXPECT_EQ(steps_seen, 1);
  for (const auto& s : out.samples) EXPECT_EQ(s.text.rfind("a", 0), 0u) << s.text;
}

}  // namespace
