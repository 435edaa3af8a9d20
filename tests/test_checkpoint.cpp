// Checkpoints: reload gives identical logits; truncated, foreign or mismatched files are clear errors;
// files written by LibTorch 1.13, by 2.x and by a CUDA run all load here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "dlm/diffusion/process.h"
#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/model/checkpoint.h"
#include "dlm/model/run_dir.h"
#include "dlm/train/trainer.h"
#include "test_util.h"

namespace {

using dlm_test::error_of;

struct Fixture {
  dlm::Config config;
  dlm::CharTokenizer tokenizer = dlm::CharTokenizer::build({"abcdef"});
  std::shared_ptr<dlm::DenoiserImpl> model;
  Fixture() {
    config.data.path = "unused.txt";
    config.data.seq_len = 12;
    config.model = dlm_test::tiny_model(2, 4, dlm::ModelConfig{}.dropout);
    config.model.pos = dlm::PosKind::kRotary;
    config.model.time_cond = dlm::TimeCond::kAdaln;
    torch::manual_seed(3);
    model = dlm::make_model(config.model, tokenizer.vocab_size(), config.data.seq_len);
    // Perturb the zero-initialised adaLN weights so the test covers them.
    torch::NoGradGuard g;
    for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.01);
  }
};

TEST(Checkpoint, ReloadGivesIdenticalLogitsConfigAndTokenizer) {
  Fixture f;
  dlm::TrainState state;
  state.step = 42;
  const std::string path = testing::TempDir() + "/ck.pt";
  dlm::save_checkpoint(path, f.config, f.tokenizer, *f.model, nullptr, state);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  const auto loaded = dlm::load_model_for_inference(path, torch::kCPU, dlm::make_process_model);
  EXPECT_EQ(dlm::to_json(loaded.config), dlm::to_json(f.config));
  EXPECT_EQ(loaded.tokenizer->encode("fade"), f.tokenizer.encode("fade"));
  f.model->eval();
  const auto ids = torch::randint(0, f.tokenizer.vocab_size(), {2, 12});
  const auto t = torch::tensor({0.3f, 0.8f});
  EXPECT_TRUE(torch::equal(f.model->forward(ids, t), loaded.model->forward(ids, t)));
  EXPECT_EQ(dlm::CheckpointReader(path).state().step, 42);
}

TEST(Checkpoint, ReloadedOptimizerHasTheSameStepAndMomentsForEveryParameter) {
  Fixture f;
  torch::optim::AdamW opt(f.model->parameters(), torch::optim::AdamWOptions(1e-3));
  const auto loss = f.model->forward(torch::randint(0, 5, {1, 12}), torch::zeros({1})).sum();
  loss.backward();
  opt.step();
  const std::string path = testing::TempDir() + "/opt.pt";
  dlm::save_checkpoint(path, f.config, f.tokenizer, *f.model, &opt, {});
  torch::optim::AdamW other(f.model->parameters(), torch::optim::AdamWOptions(1e-3));
  dlm::CheckpointReader(path).load_optimizer(other, *f.model);
  ASSERT_EQ(other.state().size(), opt.state().size());
  for (const auto& p : f.model->named_parameters()) {
    const auto* a = dlm::adamw_state(opt, p.value());
    const auto* b = dlm::adamw_state(other, p.value());
    ASSERT_TRUE(a && b) << p.key();
    EXPECT_EQ(a->step(), b->step()) << p.key();
    EXPECT_TRUE(torch::equal(a->exp_avg(), b->exp_avg())) << p.key();
    EXPECT_TRUE(torch::equal(a->exp_avg_sq(), b->exp_avg_sq())) << p.key();
  }
}

// A copy of the checkpoint `from` with `edit` applied to its metadata and the records named in `drop`
// left out ("meta", "model", "adamw_exp_avg", "adamw_exp_avg_sq"): how each kind of damaged or foreign
// file is made.
std::string rebuilt(const std::string& from, const std::string& name, const std::function<void(nlohmann::json&)>& edit,
                    const std::set<std::string>& drop = {}) {
  torch::serialize::InputArchive in;
  in.load_from(from);
  c10::IValue meta;
  EXPECT_TRUE(in.try_read("meta", meta));
  nlohmann::json j = nlohmann::json::parse(meta.toStringRef());
  if (edit) edit(j);
  torch::serialize::OutputArchive out;
  for (const char* key : {"model", "adamw_exp_avg", "adamw_exp_avg_sq"}) {
    c10::IValue v;
    if (drop.count(key) == 0 && in.try_read(key, v)) out.write(key, v);
  }
  if (drop.count("meta") == 0) out.write("meta", c10::IValue(j.dump()));
  const std::string path = testing::TempDir() + "/" + name + ".pt";
  out.save_to(path);
  return path;
}

// Each way a checkpoint can be wrong, and the one line that names it.
TEST(Checkpoint, EveryDamagedPartIsNamedInOneLine) {
  Fixture f;
  torch::optim::AdamW opt(f.model->parameters(), torch::optim::AdamWOptions(1e-3));
  f.model->forward(torch::randint(0, 5, {1, 12}), torch::zeros({1})).sum().backward();
  opt.step();
  const std::string good = testing::TempDir() + "/good.pt";
  dlm::save_checkpoint(good, f.config, f.tokenizer, *f.model, &opt, {});
  const std::string first_tensor = f.model->named_parameters().begin()->key();
  const auto opening = [](const std::string& path) { return error_of([&] { dlm::CheckpointReader r(path); }); };
  const auto loading = [&](const std::string& path) {
    return error_of([&] { dlm::CheckpointReader(path).load_model(*f.model, torch::kCPU); });
  };
  const auto optimizer = [&](const std::string& path) {
    torch::optim::AdamW fresh(f.model->parameters(), torch::optim::AdamWOptions(1e-3));
    return error_of([&] { dlm::CheckpointReader(path).load_optimizer(fresh, *f.model); });
  };
  struct Case {
    std::string name, expected;
    std::string message;
  };
  const std::string plain = testing::TempDir() + "/no_optimizer.pt";
  dlm::save_checkpoint(plain, f.config, f.tokenizer, *f.model, nullptr, {});
  const std::vector<Case> cases = {
      {"no_meta", "not a dlm checkpoint (no metadata)", opening(rebuilt(good, "no_meta", nullptr, {"meta"}))},
      {"format", "not a dlm checkpoint (unknown format)",
       opening(rebuilt(good, "format", [](auto& j) { j["format"] = "other-tool"; }))},
      {"version", "checkpoint format version 2 is not supported (expected 1)",
       opening(rebuilt(good, "version", [](auto& j) { j["version"] = 2; }))},
      {"bad_config", "checkpoint config is invalid: config key 'model.n_head' = 0: must be > 0",
       opening(rebuilt(good, "bad_config", [](auto& j) { j["config"]["model"]["n_head"] = 0; }))},
      {"unknown_key", "checkpoint config is invalid: unknown config key 'model.widht'",
       opening(rebuilt(good, "unknown_key", [](auto& j) { j["config"]["model"]["widht"] = 1; }))},
      {"no_config", "checkpoint has no config",
       opening(rebuilt(good, "no_config", [](auto& j) { j.erase("config"); }))},
      {"tokenizer", "unknown tokenizer kind 'wordpiece'", error_of([&] {
         dlm::CheckpointReader(rebuilt(good, "tokenizer", [](auto& j) {
           j["tokenizer"]["kind"] = "wordpiece";
         })).tokenizer();
       })},
      {"no_weights", "checkpoint has no model weights", loading(rebuilt(good, "no_weights", nullptr, {"model"}))},
      {"names", "checkpoint weights and their names disagree",
       loading(rebuilt(good, "names", [](auto& j) { j["model_keys"].erase(j["model_keys"].size() - 1); }))},
      {"missing", "checkpoint lacks tensor '" + first_tensor + "'",
       loading(rebuilt(good, "missing",
                       [&](auto& j) {
                         for (auto& k : j["model_keys"]) {
                           if (k == first_tensor) k = "renamed.weight";
                         }
                       }))},
      {"no_optimizer", "checkpoint has no optimizer state", optimizer(plain)},
      {"incomplete", "checkpoint optimizer state is incomplete",
       optimizer(rebuilt(good, "incomplete", nullptr, {"adamw_exp_avg_sq"}))},
      {"mismatch", "optimizer state for 'nope' does not match the model",
       optimizer(rebuilt(good, "mismatch", [](auto& j) { j["adamw"]["names"][0] = "nope"; }))},
  };
  for (const Case& c : cases) {
    EXPECT_NE(c.message.find(c.expected), std::string::npos) << c.name << ": " << c.message;
    EXPECT_NE(c.message.find(c.name + ".pt"), std::string::npos) << c.name << " must name its file: " << c.message;
    EXPECT_EQ(c.message.find('\n'), std::string::npos) << c.name << ": one line: " << c.message;
  }
  // The untouched file passes every stage.
  EXPECT_EQ(opening(good) + loading(good) + optimizer(good), "");
}

TEST(Checkpoint, TruncatedFileIsAClearError) {
  Fixture f;
  const std::string path = testing::TempDir() + "/full.pt";
  dlm::save_checkpoint(path, f.config, f.tokenizer, *f.model, nullptr, {});
  const auto size = std::filesystem::file_size(path);
  const std::string cut = testing::TempDir() + "/cut.pt";
  std::filesystem::copy_file(path, cut, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(cut, size / 2);
  const std::string msg = error_of([&] { dlm::CheckpointReader r(cut); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
}

// Found by fuzz_checkpoint: a flipped byte inside a tensor record made LibTorch's loader crash.
// Every record's checksum is now verified first.
TEST(Checkpoint, FuzzRegressionCorruptedRecordIsAClearError) {
  Fixture f;
  const std::string path = testing::TempDir() + "/flip.pt";
  dlm::save_checkpoint(path, f.config, f.tokenizer, *f.model, nullptr, {});
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const size_t at = bytes.find("data/0");  // the first tensor record's name; its data follows
  ASSERT_NE(at, std::string::npos);
  bytes[at + 200] = static_cast<char>(bytes[at + 200] ^ 0x5A);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  const std::string msg = error_of([&] { dlm::CheckpointReader r(path); });
  EXPECT_NE(msg.find("fails its checksum"), std::string::npos) << msg;
}

TEST(Checkpoint, ForeignAndMissingFilesAreClearErrors) {
  const std::string foreign = testing::TempDir() + "/foreign.pt";
  std::ofstream(foreign) << "this is not a checkpoint";
  EXPECT_NE(error_of([&] { dlm::CheckpointReader r(foreign); }).find("not a readable checkpoint"), std::string::npos);
  EXPECT_NE(error_of([&] { dlm::CheckpointReader r(foreign + ".missing"); }).find("not found"), std::string::npos);
}

TEST(Checkpoint, ShapeMismatchNamesTheTensor) {
  Fixture f;
  const std::string path = testing::TempDir() + "/shape.pt";
  dlm::save_checkpoint(path, f.config, f.tokenizer, *f.model, nullptr, {});
  auto other_config = f.config.model;
  other_config.d_model = 64;
  auto other = dlm::make_model(other_config, f.tokenizer.vocab_size(), f.config.data.seq_len);
  dlm::CheckpointReader reader(path);
  const std::string msg = error_of([&] { reader.load_model(*other, torch::kCPU); });
  EXPECT_NE(msg.find("shape"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tok_emb.weight"), std::string::npos) << msg;
}

TEST(Checkpoint, RunDirectoryResolvesToBestThenLast) {
  Fixture f;
  const std::string dir = testing::TempDir() + "/run_resolve";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  dlm::save_checkpoint(dir + "/last.pt", f.config, f.tokenizer, *f.model, nullptr, {});
  EXPECT_EQ(std::filesystem::path(dlm::resolve_checkpoint_path(dir)).filename(), "last.pt");
  dlm::save_checkpoint(dir + "/best.pt", f.config, f.tokenizer, *f.model, nullptr, {});
  EXPECT_EQ(std::filesystem::path(dlm::resolve_checkpoint_path(dir)).filename(), "best.pt");
  EXPECT_THROW(dlm::resolve_checkpoint_path(dir + "/nothing"), dlm::Error);
}

}  // namespace

namespace {

// Checkpoints written by the other LibTorch flavour (tests/fixtures/checkpoints/, made by
// tests/tools/ckpt_fixture on each) load here and give the logits recorded when they were written.
void expect_fixture_reads_alike(const std::string& name, const std::string& record) {
  const std::string dir = std::string(DLM_SOURCE_DIR) + "/tests/fixtures/checkpoints/";
  const nlohmann::json expected = nlohmann::json::parse(dlm::read_file(dir + record + ".json"));
  const std::string path = dir + name + ".pt";
  const auto loaded = dlm::load_model_for_inference(path, torch::kCPU, dlm::make_process_model);
  const auto ids = torch::tensor(expected["ids"].get<std::vector<int64_t>>(), torch::kInt64).view({1, -1});
  const auto t = torch::tensor({expected["t"].get<float>()});
  const auto logits = loaded.model->forward(ids, t).flatten().to(torch::kFloat64);
  const auto want = torch::tensor(expected["logits"].get<std::vector<double>>(), torch::kFloat64);
  ASSERT_EQ(logits.numel(), want.numel()) << name;
  EXPECT_LT((logits - want).abs().max().item<double>(), 1e-5)
      << name << " (written by " << expected["written_by"] << ")";

  dlm::CheckpointReader reader(path);
  EXPECT_EQ(reader.state().step, 1) << name;
  const auto optimizer_owner = dlm::make_optimizer(*loaded.model, reader.config().train);
  torch::optim::AdamW& optimizer = *optimizer_owner;
  dlm::restore_optimizer(reader, optimizer, *loaded.model, reader.config().train);
  double moments = 0.0;
  for (const auto& item : optimizer.state()) {
    const auto& s = static_cast<torch::optim::AdamWParamState&>(*item.second);
    EXPECT_EQ(s.exp_avg().device(), torch::Device(torch::kCPU)) << name;
    moments += s.exp_avg().abs().sum().item<double>();
  }
  EXPECT_NEAR(moments, expected["exp_avg_abs_sum"].get<double>(), 1e-6 * expected["exp_avg_abs_sum"].get<double>())
      << name;
}

TEST(CheckpointFlavours, ReadsCheckpointsWrittenByLibTorch1And2) {
  expect_fixture_reads_alike("torch1", "torch1");
  expect_fixture_reads_alike("torch2", "torch2");
}

// cuda.pt is torch2.pt with every storage marked as saved from cuda:0 (relocate_to_cuda.py).
TEST(CheckpointFlavours, CheckpointFromACudaRunLoadsOnTheCpu) {
  const std::string path = std::string(DLM_SOURCE_DIR) + "/tests/fixtures/checkpoints/cuda.pt";
  if (!torch::cuda::is_available()) {
    // Read as it was saved, the file wants a GPU: proof that the fixture is a CUDA checkpoint.
    torch::serialize::InputArchive raw;
    EXPECT_ANY_THROW(raw.load_from(path));
  }
  expect_fixture_reads_alike("cuda", "torch2");
}

}  // namespace
