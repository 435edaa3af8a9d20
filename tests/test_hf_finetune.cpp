// ModernBERT folders out and back, and model.init_from: a run that fine-tunes a folder takes its
// architecture, tokenizer and weights, and every bad folder or config is refused in one line. (The
// oracle against transformers, with fine-tuning, resume and export per family: tests/hf/check_models.py.)
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dlm/diffusion/process.h"
#include "dlm/files.h"
#include "dlm/train/trainer.h"
#include "hf_fixture.h"
#include "test_util.h"

namespace fs = std::filesystem;
using dlm_test::error_of;
using ::testing::HasSubstr;
using HfFinetune = dlm_test::HfFolderTest;

namespace {

const std::vector<int64_t> kTokens = {2, 7, 8, 9, 4, 10, 11, 7, 8, 9, 4, 10, 11, 3};  // 14 ids, past the window

torch::Tensor logits_of(dlm::DenoiserImpl& model, const std::vector<int64_t>& ids) {
  torch::NoGradGuard no_grad;
  return model.forward(torch::tensor(ids).unsqueeze(0), torch::zeros({1}));
}

TEST_F(HfFinetune, ModernBertExportsAndLoadsBackWithTheSameLogits) {
  dlm_test::BertRun run(dir_ / "run", dlm_test::modernbert_config());
  const std::string out = exported(run);
  const nlohmann::json config = nlohmann::json::parse(dlm::read_file(out + "/config.json"));
  EXPECT_EQ(config["model_type"], "modernbert");
  EXPECT_EQ(config["global_attn_every_n_layers"], 2);
  EXPECT_EQ(config["local_attention"], 4);
  EXPECT_EQ(config["local_rope_theta"], 50.0);
  EXPECT_EQ(config["norm_bias"], false);
  EXPECT_EQ(config["mlp_bias"], true);
  EXPECT_EQ(config["attention_bias"], false);
  const dlm::SafetensorsFile weights(out + "/model.safetensors");
  EXPECT_FALSE(weights.contains("model.layers.0.attn_norm.weight"));  // layer 0 reads the embedding norm's output
  EXPECT_TRUE(weights.contains("model.layers.1.attn_norm.weight"));
  EXPECT_FALSE(weights.contains("model.layers.1.attn_norm.bias"));
  EXPECT_TRUE(weights.contains("model.layers.2.mlp.Wi.bias"));
  EXPECT_FALSE(weights.contains("model.layers.2.attn.Wqkv.bias"));
  EXPECT_EQ(weights.entry("model.layers.2.mlp.Wi.weight").shape, (std::vector<int64_t>{20, 12}));  // GeGLU: 2 x 10
  const dlm::LoadedModel back = dlm::load_any_model(out, torch::kCPU, dlm::make_process_model);
  EXPECT_TRUE(torch::equal(logits_of(*back.model, kTokens), run.logits(kTokens)));
  // The local layer's window and base matter: widening the window or sharing the base changes the logits.
  // (No structured bindings: C++17 lambdas cannot capture them.)
  for (const auto& edit : {std::pair<std::string, nlohmann::json>{"local_attention", 64},
                           std::pair<std::string, nlohmann::json>{"local_rope_theta", nullptr}}) {
    const std::string copy = (dir_ / ("edited_" + edit.first)).string();
    fs::copy(out, copy);
    edit_config(copy, [&](nlohmann::json& c) { c[edit.first] = edit.second; });
    EXPECT_FALSE(
        torch::allclose(logits_of(*dlm::load_any_model(copy, torch::kCPU, dlm::make_process_model).model, kTokens),
                        run.logits(kTokens)))
        << edit.first;
  }
}

// A text file of the tiny tokenizer's words, and a config that fine-tunes `folder` on it.
dlm::Config finetune_config(const fs::path& dir, const std::string& folder) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "the cats sat. the cat sat a b. ";
  dlm::write_atomically((dir / "words.txt").string(), text);
  dlm::Config c;
  c.name = "finetune";
  c.data.kind = dlm::DataKind::kText;
  c.data.path = (dir / "words.txt").string();
  c.data.seq_len = 12;
  c.model.init_from = folder;
  c.train.steps = 1;
  c.train.lr = 1e-12;  // one step that cannot move the weights measurably
  c.train.warmup = 0;
  c.train.eval_every = 1;
  c.train.threads = 1;
  return c;
}

dlm::TrainOptions options_for(const fs::path& run_dir) {
  dlm::TrainOptions o;
  o.run_dir = run_dir.string();
  o.progress = 0;
  return o;
}

TEST_F(HfFinetune, InitFromTakesTheFoldersArchitectureTokenizerAndWeights) {
  for (const bool modern : {false, true}) {
    const fs::path dir = dir_ / (modern ? "modern" : "bert");
    dlm_test::BertRun source(dir / "source", modern ? dlm_test::modernbert_config() : dlm_test::bert_config());
    const std::string folder = (dir / "folder").string();
    dlm::export_hf(source.checkpoint, folder);
    dlm::train(finetune_config(dir, folder), options_for(dir / "run"));
    const dlm::LoadedModel run =
        dlm::load_model_for_inference((dir / "run" / "last.pt").string(), torch::kCPU, dlm::make_process_model);
    EXPECT_EQ(run.config.model.init_from, folder);
    EXPECT_EQ(run.config.model.max_len, 16);  // the folder's positions; the run trains on 12
    EXPECT_EQ(run.config.model.n_layer, source.config.model.n_layer);
    EXPECT_EQ(run.config.model.activation, source.config.model.activation);
    EXPECT_EQ(run.tokenizer->to_json(), source.tokenizer->to_json());
    EXPECT_TRUE(torch::allclose(logits_of(*run.model, kTokens), source.logits(kTokens), 1e-5, 1e-5)) << folder;
  }
}

TEST_F(HfFinetune, BadFoldersAndConfigsAreRefusedInOneLine) {
  dlm_test::BertRun source(dir_ / "source");
  const std::string folder = (dir_ / "folder").string();
  dlm::export_hf(source.checkpoint, folder);
  int n = 0;
  const auto expect = [&](dlm::Config c, const std::string& words) {
    const std::string message = error_of([&] { dlm::train(c, options_for(dir_ / ("run" + std::to_string(n++)))); });
    EXPECT_THAT(message, HasSubstr(words)) << "case " << n - 1;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  };
  expect(finetune_config(dir_, (dir_ / "nowhere").string()), "nowhere is not a Hugging Face model folder");
  fs::create_directories(dir_ / "empty");
  expect(finetune_config(dir_, (dir_ / "empty").string()), "empty is not a Hugging Face model folder");
  dlm::Config too_long = finetune_config(dir_, folder);
  too_long.data.seq_len = 17;
  expect(too_long, "data.seq_len 17 is longer than the 16 positions " + folder + " takes");
  dlm::Config ar = finetune_config(dir_, folder);
  ar.objective = "ar";
  expect(ar, "model.init_from");
  const std::string gpt = (dir_ / "gpt").string();
  fs::copy(folder, gpt);
  edit_config(gpt, [](nlohmann::json& c) { c["model_type"] = "gpt2"; });
  expect(finetune_config(dir_, gpt), "model_type 'gpt2' is not supported");
  const std::string wide = (dir_ / "wide").string();
  fs::copy(folder, wide);
  edit_config(wide, [](nlohmann::json& c) { c["intermediate_size"] = 24; });
  expect(finetune_config(dir_, wide), "has shape [20, 12], but config.json implies [24, 12]");
  // Keys beside init_from, in the file and as flags.
  const std::string config_file = (dir_ / "config.json").string();
  dlm::write_atomically(config_file,
                        R"({"data": {"path": "words.txt"}, "model": {"init_from": "folder", "d_model": 8}})");
  EXPECT_THAT(error_of([&] { dlm::load_config_file(config_file); }),
              HasSubstr("model.d_model cannot be set beside model.init_from"));
  dlm::write_atomically(
      config_file,
      R"({"data": {"path": "words.txt"}, "model": {"init_from": "folder"}, "tokenizer": {"kind": "byte"}})");
  EXPECT_THAT(error_of([&] { dlm::load_config_file(config_file); }),
              HasSubstr("the tokenizer section cannot be given beside model.init_from"));
  dlm::Config flags = finetune_config(dir_, folder);
  EXPECT_THAT(error_of([&] { dlm::apply_override(flags, "model.dropout=0.2"); }),
              HasSubstr("come from model.init_from"));
  dlm::Config plain;
  dlm::apply_override(plain, "model.d_model=8");
  EXPECT_THAT(error_of([&] { dlm::apply_override(plain, "model.init_from=" + folder); }),
              HasSubstr("the config already sets model.* or tokenizer.* keys"));
}

}  // namespace
