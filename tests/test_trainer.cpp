// The trainer: a run stopped and resumed ends bit-identical to one never stopped, a run killed before
// its first checkpoint resumes from step 0, bad numbers stop the run without overwriting the last
// good checkpoint, LATEST sits beside the run, the twin's validation measures what --eval does, and
// the learning rate warms up then decays to its floor.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "dlm/data/dataset.h"
#include "dlm/diffusion/process.h"
#include "dlm/error.h"
#include "dlm/model/checkpoint.h"
#include "dlm/model/run_dir.h"
#include "dlm/train/evaluate.h"
#include "dlm/train/run_data.h"
#include "dlm/train/trainer.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;

dlm::Config tiny_config(const std::string& dir) {
  fs::create_directories(dir);
  std::ofstream(dir + "/names.txt") << "asha\nravi\nmeena\nkiran\nsuresh\nlata\narjun\npriya\nrohan\numa\n";
  dlm::Config c;
  c.name = "tiny";
  c.data.path = dir + "/names.txt";
  c.data.seq_len = 10;
  c.data.val_fraction = 0.2;
  c.model = dlm_test::tiny_model(1, 2, /*dropout=*/0.1);  // dropout draws must repeat after a resume too
  c.train.steps = 24;
  c.train.batch_size = 8;
  c.train.warmup = 4;
  c.train.eval_every = 10;
  c.train.log_every = 100;
  c.train.threads = 1;
  c.train.device = dlm::parse_device("cpu");
  return c;
}

// The config for one of the processes: absorbing (masking), uniform noise, the simplex or the twin.
dlm::Config with_process(dlm::Config c, const std::string& process) {
  if (process == "uniform") c.diffusion.noise = "uniform";
  if (process == "simplex" || process == "ar") c.objective = process;
  return c;
}

// Options for a run in `run_dir` without a progress bar.
dlm::TrainOptions quiet_run(const std::string& run_dir) {
  dlm::TrainOptions o;
  o.run_dir = run_dir;
  o.progress = 0;
  return o;
}

void expect_same_weights(const std::string& a, const std::string& b) {
  auto ma = dlm::load_model_for_inference(a, torch::kCPU, dlm::make_process_model);
  auto mb = dlm::load_model_for_inference(b, torch::kCPU, dlm::make_process_model);
  const auto pb = mb.model->named_parameters();
  for (const auto& p : ma.model->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), *pb.find(p.key()))) << p.key();
  }
}

// tiny_config's names as one running text, its windows at random offsets.
dlm::Config random_windows(dlm::Config c) {
  c.data.kind = dlm::DataKind::kText;
  c.data.window_offsets = dlm::WindowOffsets::kRandom;
  return c;
}

// A run under `process` stopped twice and resumed ends with the weights of the uninterrupted run.
void expect_resume_is_exact(const std::string& process, bool text_at_random_offsets = false) {
  const std::string root = testing::TempDir() + "/resume_test_" + process + (text_at_random_offsets ? "_text" : "");
  fs::remove_all(root);
  dlm::Config c = with_process(tiny_config(root), process);
  if (text_at_random_offsets) c = random_windows(c);
  dlm::TrainOptions straight = quiet_run(root + "/straight");
  const auto s = dlm::train(c, straight);
  EXPECT_FALSE(s.interrupted);

  dlm::TrainOptions first = straight;
  first.run_dir = root + "/stopped";
  for (int64_t stop : {7, 13}) {  // one stop between evaluations, one after the first evaluation
    first.stop_at_step = stop;
    first.resume = stop != 7;
    const auto part = dlm::train(c, first);
    EXPECT_TRUE(part.interrupted);
    EXPECT_EQ(dlm::CheckpointReader(first.run_dir + "/last.pt").state().step, stop);
  }
  dlm::TrainOptions rest = straight;
  rest.run_dir = first.run_dir;
  rest.resume = true;
  const auto r = dlm::train(c, rest);
  EXPECT_EQ(r.steps, 24);
  EXPECT_DOUBLE_EQ(r.final_train_loss, s.final_train_loss);
  expect_same_weights(straight.run_dir + "/last.pt", rest.run_dir + "/last.pt");
  // One metrics line per evaluation, as in the uninterrupted run.
  std::ifstream m(rest.run_dir + "/metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(m, line);) ++lines;
  EXPECT_EQ(lines, 3);
}

TEST(Trainer, StoppedAndResumedRunEqualsTheUninterruptedOne) {
  for (const std::string process : {"absorbing", "uniform", "simplex", "ar"}) {
    SCOPED_TRACE(process);
    expect_resume_is_exact(process);
  }
  SCOPED_TRACE("running text at random window offsets");
  expect_resume_is_exact("absorbing", true);
}

TEST(Trainer, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  const std::string root = testing::TempDir() + "/nan_test";
  fs::remove_all(root);
  dlm::Config c = tiny_config(root);
  dlm::TrainOptions o = quiet_run(root + "/run");
  c.train.steps = 10;
  dlm::train(c, o);
  const auto good = fs::last_write_time(o.run_dir + "/last.pt");
  c.train.steps = 40;
  c.train.lr = 1e30;  // weights blow up within a few steps
  c.train.grad_clip = 0.0;
  c.train.warmup = 0;
  o.resume = true;
  try {
    dlm::train(c, o);
    FAIL() << "expected the run to stop";
  } catch (const dlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not finite"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fs::last_write_time(o.run_dir + "/last.pt"), good);
  auto loaded = dlm::load_model_for_inference(o.run_dir + "/last.pt", torch::kCPU, dlm::make_process_model);
  for (const auto& p : loaded.model->parameters()) EXPECT_TRUE(p.isfinite().all().item<bool>());
}

// A run given a wall-clock budget ends when the budget is spent, validated and checkpointed, and
// the time spent validating does not count against it.
TEST(Trainer, TimeLimitEndsTheRunWithAValidationAndACheckpoint) {
  const std::string dir = testing::TempDir() + "/time_limit_test";
  fs::remove_all(dir);
  dlm::Config c = tiny_config(dir);
  c.train.steps = 100000;
  c.train.eval_every = 100000;
  c.train.time_limit = 0.5;
  dlm::TrainOptions o = quiet_run(dir + "/run");
  const auto start = std::chrono::steady_clock::now();
  const dlm::TrainSummary s = dlm::train(c, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(s.steps, 1);
  EXPECT_LT(s.steps, c.train.steps);
  EXPECT_GT(seconds, 0.5);
  EXPECT_FALSE(s.interrupted);
  EXPECT_EQ(dlm::CheckpointReader(o.run_dir + "/last.pt").state().step, s.steps);
  std::ifstream metrics(o.run_dir + "/metrics.jsonl");
  std::string line, last;
  while (std::getline(metrics, line)) last = line;
  EXPECT_EQ(nlohmann::json::parse(last)["step"].get<int64_t>(), s.steps);
}

TEST(Trainer, UnwritableRunDirectoryFailsBeforeTraining) {
  const std::string root = testing::TempDir() + "/unwritable_test";
  fs::remove_all(root);
  const dlm::Config c = tiny_config(root);
  std::ofstream(root + "/file") << "x";
  dlm::TrainOptions o;
  o.run_dir = root + "/file/run";  // a path below a regular file cannot be created
  const std::string msg = dlm_test::error_of([&] { dlm::train(c, o); });
  EXPECT_EQ(msg.rfind("cannot create run directory " + root + "/file/run: ", 0), 0u) << msg;
}

TEST(Trainer, AnInvalidConfigIsRefusedWithItsKeyBeforeAnythingIsWritten) {
  const std::string root = testing::TempDir() + "/invalid_config_test";
  fs::remove_all(root);
  dlm::Config c = tiny_config(root);
  c.model.n_head = 3;  // does not divide d_model 32
  const std::string msg = dlm_test::error_of([&] { dlm::train(c, quiet_run(root + "/run")); });
  EXPECT_NE(msg.find("model.d_model (32) must be divisible by model.n_head (3)"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(root + "/run")) << "a refused config leaves no run directory";
}

// A preemption loop always resumes: a run killed before its first checkpoint (only the config it
// saved at start is there) starts again from step 0 and ends as a fresh run would.
TEST(Trainer, RunStoppedBeforeItsFirstCheckpointResumesFromStepZero) {
  const std::string root = testing::TempDir() + "/early_resume_test";
  fs::remove_all(root);
  dlm::Config c = tiny_config(root);
  c.train.steps = 6;
  dlm::TrainOptions fresh = quiet_run(root + "/fresh");
  dlm::train(c, fresh);

  const dlm::RunDir killed(root + "/killed");
  killed.check_writable();
  killed.save_config(c);
  ASSERT_FALSE(killed.has_checkpoint());
  const dlm::Config saved = killed.saved_config();
  EXPECT_EQ(saved.train.steps, 6);
  dlm::TrainOptions resume = fresh;
  resume.run_dir = killed.path();
  resume.resume = true;
  EXPECT_EQ(dlm::train(saved, resume).steps, 6);
  expect_same_weights(fresh.run_dir + "/last.pt", killed.last());
  // With nothing there at all, resuming says so.
  EXPECT_NE(dlm_test::error_of([&] { dlm::RunDir(root + "/nothing").saved_config(); }).find("no run to resume"),
            std::string::npos);
}

// LATEST is written beside the run directory, wherever dtrain runs, by absolute path.
TEST(Trainer, LatestRunIsRecordedBesideTheRunDirectory) {
  const std::string root = testing::TempDir() + "/latest_test";
  fs::remove_all(root);
  dlm::Config c = tiny_config(root);
  c.train.steps = 2;
  dlm::TrainOptions o = quiet_run(root + "/runs/a");
  dlm::train(c, o);
  std::ifstream in(root + "/runs/LATEST");
  std::string recorded;
  std::getline(in, recorded);
  EXPECT_EQ(recorded, fs::absolute(o.run_dir).lexically_normal().string());
}

// The twin's periodic validation scores the positions --eval scores (from diffusion.prefix_len on),
// so the two figures are the same number.
TEST(Trainer, PeriodicArValidationMeasuresWhatEvalMeasures) {
  const std::string root = testing::TempDir() + "/ar_validation_test";
  fs::remove_all(root);
  dlm::Config c = tiny_config(root);
  c.objective = "ar";
  c.diffusion.prefix_len = 2;
  c.model.dropout = 0.0;
  c.train.steps = 10;
  dlm::TrainOptions o = quiet_run(root + "/run");
  const dlm::TrainSummary s = dlm::train(c, o);
  const dlm::LoadedModel loaded =
      dlm::load_model_for_inference(o.run_dir + "/last.pt", torch::kCPU, dlm::make_process_model);
  const dlm::EvalReport report = dlm::evaluate_checkpoint(loaded, o.run_dir, torch::kCPU);
  EXPECT_NEAR(s.final_val_loss, report.likelihood.nats_per_token(), 1e-5);
}

// Two ranks split every global batch: their examples never overlap, together they are the single
// process's batch in order, and their masks, rates and loss weights are the rows one process draws.
void expect_ranks_batch_as_one(const std::string& process) {
  const std::string root = testing::TempDir() + "/rank_batches_test_" + process;
  fs::remove_all(root);
  dlm::Config c = with_process(tiny_config(root), process);
  c.train.batch_size = 4;
  c.diffusion.prefix_prob = 0.3;  // the kept prefixes are drawn per example too
  const auto tok = dlm::CharTokenizer::build(dlm::vocabulary_texts(dlm::read_examples(c.data)));
  const dlm::RunData data = dlm::load_run_data(c, tok, root + "/cache");
  dlm::TrainingBatches one(data, c, tok), first(data, c, tok, 0, 2), second(data, c, tok, 1, 2);
  for (int64_t micro = 0; micro < 6; ++micro) {  // 8 examples, batches of 4: three epochs
    const auto all = one.example_indices(micro);
    auto a = first.example_indices(micro);
    const auto b = second.example_indices(micro);
    ASSERT_EQ(a.size(), 2u);
    ASSERT_EQ(b.size(), 2u);
    for (int64_t i : a) EXPECT_EQ(std::count(b.begin(), b.end(), i), 0) << "micro-batch " << micro;
    a.insert(a.end(), b.begin(), b.end());
    EXPECT_EQ(a, all);
    const dlm::Batch whole = one.at(micro), left = first.at(micro), right = second.at(micro);
    EXPECT_TRUE(torch::equal(torch::cat({left.input, right.input}), whole.input));
    EXPECT_TRUE(torch::equal(torch::cat({left.target, right.target}), whole.target));
    EXPECT_TRUE(torch::equal(torch::cat({left.loss_weight, right.loss_weight}), whole.loss_weight));
    EXPECT_TRUE(torch::equal(torch::cat({left.t, right.t}), whole.t));
    EXPECT_DOUBLE_EQ(left.norm_count + right.norm_count, whole.norm_count);
    EXPECT_EQ(whole.noise.defined(), process == "simplex");
    if (whole.noise.defined()) EXPECT_TRUE(torch::equal(torch::cat({left.noise, right.noise}), whole.noise));
    if (whole.visible.defined()) EXPECT_TRUE(torch::equal(torch::cat({left.visible, right.visible}), whole.visible));
  }
}

TEST(Trainer, RanksSplitEachGlobalBatchAndMaskAsOneProcess) {
  for (const std::string process : {"absorbing", "uniform", "simplex", "ar"}) {
    SCOPED_TRACE(process);
    expect_ranks_batch_as_one(process);
  }
}

}  // namespace

namespace {

TEST(Trainer, LearningRateWarmsUpThenDecaysToTheFloor) {
  dlm::TrainConfig c;
  c.lr = 1.0;
  c.warmup = 10;
  c.steps = 110;
  c.min_lr_ratio = 0.1;
  EXPECT_NEAR(dlm::learning_rate(c, 0), 0.1, 1e-12);
  EXPECT_NEAR(dlm::learning_rate(c, 9), 1.0, 1e-12);
  EXPECT_NEAR(dlm::learning_rate(c, 60), 0.55, 1e-12);
  EXPECT_NEAR(dlm::learning_rate(c, 110), 0.1, 1e-12);
}

// LibTorch >= 2.4 restores each parameter group's options from a checkpoint, 1.13 does not: a resumed
// run must take its hyperparameters from the config on both.
TEST(Trainer, ResumedOptimizerTakesItsHyperparametersFromTheConfig) {
  const std::string dir = testing::TempDir() + "/opt_hparams";
  dlm::Config c = tiny_config(dir);
  dlm::CharTokenizer tokenizer = dlm::CharTokenizer::build({"asharvi"});
  auto model = dlm::make_model(c.model, tokenizer.vocab_size(), c.data.seq_len);
  c.train.lr = 1e-2;
  c.train.weight_decay = 0.5;
  c.train.beta1 = 0.8;
  const auto written_owner = dlm::make_optimizer(*model, c.train);
  torch::optim::AdamW& written = *written_owner;
  model->forward(torch::randint(0, 5, {2, 10}), torch::rand({2})).sum().backward();
  written.step();
  dlm::TrainState state;
  state.step = 7;
  dlm::save_checkpoint(dir + "/last.pt", c, tokenizer, *model, &written, state);

  dlm::TrainConfig resumed = c.train;
  resumed.lr = 3e-4;
  resumed.weight_decay = 0.01;
  resumed.beta1 = 0.9;
  const auto optimizer_owner = dlm::make_optimizer(*model, resumed);
  torch::optim::AdamW& optimizer = *optimizer_owner;
  dlm::CheckpointReader reader(dir + "/last.pt");
  dlm::restore_optimizer(reader, optimizer, *model, resumed);
  const auto& groups = optimizer.param_groups();
  ASSERT_EQ(groups.size(), 2u);
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(groups[i].options());
    EXPECT_DOUBLE_EQ(o.lr(), dlm::learning_rate(resumed, 7)) << "group " << i;
    EXPECT_DOUBLE_EQ(std::get<0>(o.betas()), 0.9) << "group " << i;
    EXPECT_DOUBLE_EQ(o.weight_decay(), i == 0 ? 0.01 : 0.0) << "group " << i;
  }
  // The moments themselves do come from the checkpoint.
  const auto& s = static_cast<torch::optim::AdamWParamState&>(*optimizer.state().begin()->second);
  EXPECT_EQ(s.step(), 1);
}

// data.window_offsets random: each row's window starts where (seed, its place in training) draws,
// anywhere in the training text rather than every seq_len tokens; every TrainingBatches (a resumed run)
// draws the same, and two ranks' halves are one process's batch.
TEST(Trainer, RandomWindowOffsetsDrawEachStartFromTheSeedAndThePlace) {
  const std::string root = testing::TempDir() + "/random_windows_test";
  fs::remove_all(root);
  dlm::Config c = random_windows(tiny_config(root));
  c.train.batch_size = 4;
  const int64_t L = c.data.seq_len;
  const auto tok = dlm::CharTokenizer::build(dlm::vocabulary_texts(dlm::read_examples(c.data)));
  const dlm::RunData data = dlm::load_run_data(c, tok, root + "/cache");
  const std::vector<int64_t>& text = data.memory.train_tokens;
  ASSERT_EQ(static_cast<int64_t>(text.size()), data.n_train * L);  // the fixed windows, end to end
  dlm::TrainingBatches one(data, c, tok), again(data, c, tok), first(data, c, tok, 0, 2), second(data, c, tok, 1, 2);
  std::set<int64_t> phases;
  for (int64_t micro = 0; micro < 12; ++micro) {
    const auto starts = one.window_starts(micro);
    ASSERT_EQ(starts.size(), 4u);
    EXPECT_EQ(again.window_starts(micro), starts);
    auto halves = first.window_starts(micro);
    const auto right = second.window_starts(micro);
    halves.insert(halves.end(), right.begin(), right.end());
    EXPECT_EQ(halves, starts);
    const dlm::Batch b = one.at(micro);
    for (size_t r = 0; r < starts.size(); ++r) {
      ASSERT_LE(starts[r] + L, static_cast<int64_t>(text.size()));
      phases.insert(starts[r] % L);
      const std::vector<int64_t> window(text.begin() + starts[r], text.begin() + starts[r] + L);
      EXPECT_TRUE(torch::equal(b.target[static_cast<int64_t>(r)], torch::tensor(window))) << "row " << r;
    }
  }
  EXPECT_GT(phases.size(), 4u);  // fixed windows would all start at phase 0
  dlm::Config reseeded = c;      // (TrainingBatches holds its config by reference)
  reseeded.train.seed += 1;
  EXPECT_NE(dlm::TrainingBatches(data, reseeded, tok).window_starts(0), one.window_starts(0));
}

}  // namespace
