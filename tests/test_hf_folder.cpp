// Hugging Face folders: a BERT-shaped dlm run exported and loaded back, a folder without an MLM head,
// the RoBERTa wiring, the .npy dump, and every broken folder refused in one line.
// (The oracle against transformers itself is tests/hf/check_models.py, CTest hf.oracle.)
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dlm/data/hf_tokenizer.h"
#include "dlm/diffusion/process.h"
#include "dlm/files.h"
#include "dlm/generate/generate.h"
#include "dlm/generate/inspect.h"
#include "dlm/hf/hf_folder.h"
#include "dlm/hf/safetensors.h"
#include "hf_fixture.h"
#include "test_util.h"

namespace fs = std::filesystem;
using dlm_test::bert_config;
using dlm_test::BertRun;
using dlm_test::error_of;
using ::testing::HasSubstr;
using HfFolder = dlm_test::HfFolderTest;

namespace {

const std::vector<int64_t> kIds = {2, 7, 8, 9, 4, 10, 11, 3};  // [CLS] the cat ##s [MASK] sat . [SEP]

TEST_F(HfFolder, ExportedBertLoadsBackWithTheSameLogits) {
  BertRun run(dir_ / "run");
  const std::string out = exported(run);
  const nlohmann::json config = nlohmann::json::parse(dlm::read_file(out + "/config.json"));
  EXPECT_EQ(config["model_type"], "bert");
  EXPECT_EQ(config["architectures"][0], "BertForMaskedLM");
  EXPECT_EQ(config["vocab_size"], 14);
  EXPECT_EQ(config["max_position_embeddings"], 16);
  EXPECT_EQ(config["hidden_act"], "gelu_new");
  EXPECT_EQ(config["torch_dtype"], "float32");
  const dlm::SafetensorsFile weights(out + "/model.safetensors");
  EXPECT_TRUE(weights.contains("bert.encoder.layer.1.attention.self.value.bias"));
  EXPECT_TRUE(weights.contains("cls.predictions.transform.LayerNorm.weight"));
  EXPECT_EQ(weights.entry("bert.embeddings.word_embeddings.weight").shape, (std::vector<int64_t>{14, 12}));
  ASSERT_TRUE(dlm::is_hf_folder(out));
  const dlm::LoadedModel back = dlm::load_any_model(out, torch::kCPU, dlm::make_process_model);
  EXPECT_EQ(back.tokenizer->encode_for_model("The cats [MASK] sat."), kIds);
  torch::NoGradGuard no_grad;
  const torch::Tensor theirs = back.model->forward(torch::tensor(kIds).unsqueeze(0), torch::zeros({1}));
  EXPECT_TRUE(torch::equal(theirs, run.logits(kIds)));
}

TEST_F(HfFolder, RobertaPositionsStartAfterThePaddingIndex) {
  BertRun run(dir_ / "run", /*pos_offset=*/2);
  const std::string out = exported(run);
  const nlohmann::json config = nlohmann::json::parse(dlm::read_file(out + "/config.json"));
  EXPECT_EQ(config["model_type"], "roberta");
  EXPECT_EQ(config["max_position_embeddings"], 18);  // 16 positions after rows 0 and 1
  EXPECT_EQ(config["pad_token_id"], 1);
  const dlm::SafetensorsFile weights(out + "/model.safetensors");
  EXPECT_TRUE(weights.contains("lm_head.dense.weight"));
  EXPECT_EQ(weights.entry("roberta.embeddings.position_embeddings.weight").shape, (std::vector<int64_t>{18, 12}));
  const dlm::LoadedModel back = dlm::load_any_model(out, torch::kCPU, dlm::make_process_model);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(back.model->forward(torch::tensor(kIds).unsqueeze(0), torch::zeros({1})), run.logits(kIds)));
  // The offset matters: zeroing the two rows before the first position changes nothing, the third does.
  rewrite(out, {"roberta.embeddings.position_embeddings.weight"},
          {{"roberta.embeddings.position_embeddings.weight",
            torch::cat({torch::zeros({2, 12}),
                        weights.tensor("roberta.embeddings.position_embeddings.weight").slice(0, 2)})}});
  const dlm::LoadedModel zeroed = dlm::load_any_model(out, torch::kCPU, dlm::make_process_model);
  EXPECT_TRUE(
      torch::equal(zeroed.model->forward(torch::tensor(kIds).unsqueeze(0), torch::zeros({1})), run.logits(kIds)));
}

TEST_F(HfFolder, AFolderWithoutAHeadGetsAFreshOneAndKeepsItsHiddenStates) {
  BertRun run(dir_ / "run");
  const std::string out = exported(run);
  rewrite(out,
          {"cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
           "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
           "cls.predictions.bias"},
          {{"pooler.dense.weight", torch::zeros({12, 12})}});
  const dlm::LoadedModel back = dlm::load_any_model(out, torch::kCPU, dlm::make_process_model);
  auto& original = dynamic_cast<dlm::TransformerImpl&>(*run.model);
  auto& loaded = dynamic_cast<dlm::TransformerImpl&>(*back.model);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::tensor(kIds).unsqueeze(0);
  EXPECT_TRUE(torch::equal(loaded.hidden(x, torch::zeros({1})), original.hidden(x, torch::zeros({1}))));
  EXPECT_FALSE(torch::allclose(loaded.forward(x, torch::zeros({1})), original.forward(x, torch::zeros({1}))));
  // The fresh head is the same on every load, so a headless folder's logits repeat.
  torch::manual_seed(99);
  const dlm::LoadedModel again = dlm::load_any_model((dir_ / "out").string(), torch::kCPU, dlm::make_process_model);
  EXPECT_TRUE(torch::equal(again.model->forward(x, torch::zeros({1})), loaded.forward(x, torch::zeros({1}))));
}

TEST_F(HfFolder, DumpWritesNpyOfLogitsAndHiddenStates) {
  BertRun run(dir_ / "run");
  const dlm::LoadedModel m = dlm::load_any_model(exported(run), torch::kCPU, dlm::make_process_model);
  const std::string logits = (dir_ / "l.npy").string(), hidden = (dir_ / "h.npy").string();
  EXPECT_EQ(dlm::dump_forward(m, "The cats [MASK] sat.", logits, hidden), kIds);
  const std::string bytes = dlm::read_file(logits);
  ASSERT_EQ(bytes.compare(0, 6, "\x93NUMPY"), 0);
  const size_t header = 10 + static_cast<uint8_t>(bytes[8]) + 256 * static_cast<uint8_t>(bytes[9]);
  EXPECT_EQ(header % 64, 0u);
  EXPECT_THAT(bytes.substr(10, header - 10), HasSubstr("'descr': '<f4', 'fortran_order': False, 'shape': (8, 14), }"));
  ASSERT_EQ(bytes.size(), header + 8 * 14 * 4);
  const torch::Tensor stored = torch::from_blob(const_cast<char*>(bytes.data() + header), {8, 14}, torch::kFloat32);
  EXPECT_TRUE(torch::equal(stored, run.logits(kIds)[0]));
  EXPECT_THAT(dlm::read_file(hidden).substr(10, 80), HasSubstr("'shape': (8, 12), }"));
  EXPECT_THAT(
      error_of([&] { dlm::dump_forward(m, std::string(40, 'a') + " b b b b b b b b b b b b b b b b", logits, ""); }),
      HasSubstr("but the model's context is 16"));
}

TEST_F(HfFolder, SamplingUsesTheTemplateAndNeverDrawsIdsPastTheTokenizer) {
  BertRun run(dir_ / "run");
  dlm::LoadedModel m = dlm::load_any_model(exported(run), torch::kCPU, dlm::make_process_model);
  {
    // The two config rows past the tokenizer's 12 ids get the largest logits of all.
    torch::NoGradGuard no_grad;
    m.model->named_parameters()["head_bias"].slice(0, 12).fill_(1e4);
  }
  dlm::GenerateOptions o;
  o.num_samples = 3;
  o.sample = m.config.sample;
  o.sample.length = 4;
  o.sample.steps = 4;
  std::vector<std::string> first_canvases;
  const auto on_step = [&](int64_t step, int64_t, const std::vector<dlm::StepRow>& rows) {
    if (step == 0) first_canvases.push_back(rows[0].canvas);
  };
  const dlm::GenerateReport r = dlm::generate_text(*m.model, *m.tokenizer, m.config, {{"the cat", ""}}, o, on_step);
  ASSERT_EQ(first_canvases.size(), 1u);
  EXPECT_EQ(first_canvases[0].rfind("[CLS]thecat", 0), 0u) << first_canvases[0];  // [CLS] prompt masks [SEP]
  ASSERT_EQ(r.samples.size(), 3u);
  for (const dlm::TextSample& sample : r.samples) {
    EXPECT_EQ(sample.text.rfind("the cat", 0), 0u) << sample.text;
    EXPECT_LE(sample.ids.size(), 4u);
    for (int64_t id : sample.ids) EXPECT_LT(id, 12) << sample.text;
  }
}

TEST_F(HfFolder, BrokenFoldersAreRefusedInOneLineNamingTheProblem) {
  BertRun run(dir_ / "run");
  const std::string base = exported(run, "base");
  int n = 0;
  // Each case: a fresh copy of the folder, broken one way, and the words the message must hold.
  const auto expect = [&](const std::function<void(const std::string&)>& break_it, const std::string& words) {
    const std::string folder = (dir_ / ("case" + std::to_string(n++))).string();
    fs::copy(base, folder);
    break_it(folder);
    const std::string message = error_of([&] { dlm::load_any_model(folder, torch::kCPU, dlm::make_process_model); });
    EXPECT_THAT(message, HasSubstr(words)) << "case " << n - 1;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  };
  expect([&](const std::string& f) { edit_config(f, [](auto& c) { c["model_type"] = "gpt2"; }); },
         "model_type 'gpt2' is not supported (supported: bert, roberta, modernbert, llada, Dream)");
  expect([&](const std::string& f) { edit_config(f, [](auto& c) { c["hidden_act"] = "relu"; }); },
         "hidden_act 'relu' is not supported");
  expect([&](const std::string& f) { edit_config(f, [](auto& c) { c.erase("hidden_size"); }); },
         "hidden_size must be a positive integer");
  expect([&](const std::string& f) { edit_config(f, [](auto& c) { c["num_attention_heads"] = 5; }); },
         "not divisible by num_attention_heads 5");
  expect([&](const std::string& f) { edit_config(f, [](auto& c) { c["position_embedding_type"] = "relative_key"; }); },
         "position_embedding_type 'relative_key'");
  expect([&](const std::string& f) { edit_config(f, [](auto& c) { c["num_hidden_layers"] = 3; }); },
         "tensor 'bert.encoder.layer.2.attention.self.query.weight' is missing");
  expect([&](const std::string& f) { edit_config(f, [](auto& c) { c["num_hidden_layers"] = 1; }); },
         "tensor 'bert.encoder.layer.1.attention.output.LayerNorm.bias' has no place in a bert model");
  expect(
      [&](const std::string& f) { edit_config(f, [](auto& c) { c["intermediate_size"] = 24; }); },
      "tensor 'bert.encoder.layer.0.intermediate.dense.weight' has shape [20, 12], but config.json implies [24, 12]");
  expect([&](const std::string& f) { rewrite(f, {"bert.encoder.layer.0.attention.self.key.bias"}); },
         "tensor 'bert.encoder.layer.0.attention.self.key.bias' is missing");
  expect([&](const std::string& f) { fs::remove(f + "/tokenizer.json"); }, "tokenizer.json");
  expect([&](const std::string& f) { fs::resize_file(f + "/model.safetensors", 100); }, "model.safetensors");
  expect([&](const std::string& f) { dlm::write_atomically(f + "/config.json", "{\"model_type\": "); }, "config.json");
  expect([&](const std::string& f) { fs::rename(f + "/model.safetensors", f + "/pytorch_model.bin"); },
         "pytorch_model.bin but no model.safetensors");
}

TEST_F(HfFolder, ExportRefusesModelsNoFamilyFitsAndFoldersInUse) {
  BertRun run(dir_ / "run");
  const std::string out = exported(run);
  EXPECT_THAT(error_of([&] { dlm::export_hf(run.checkpoint, out); }), HasSubstr("exists and is not an empty folder"));
  // A pre-norm run of dlm's own shape.
  dlm::Config c = bert_config();
  c.model.norm_order = dlm::NormOrder::kPre;
  const auto model = dlm::make_model(c.model, run.tokenizer->vocab_size(), c.data.seq_len);
  const std::string pre = (dir_ / "pre.pt").string();
  dlm::save_checkpoint(pre, c, *run.tokenizer, *model, nullptr, dlm::TrainState{});
  EXPECT_THAT(error_of([&] { dlm::export_hf(pre, (dir_ / "pre_out").string()); }),
              HasSubstr("no Hugging Face family fits this model (bert: model.norm_order is not post; roberta: "
                        "model.norm_order is not post; modernbert: "));
  // A BERT-shaped run with dlm's byte tokenizer.
  dlm::ByteTokenizer bytes;
  dlm::Config b = bert_config();
  b.model.vocab_size = 0;
  const auto byte_model = dlm::make_model(b.model, bytes.vocab_size(), b.data.seq_len);
  const std::string byte_run = (dir_ / "bytes.pt").string();
  dlm::save_checkpoint(byte_run, b, bytes, *byte_model, nullptr, dlm::TrainState{});
  EXPECT_THAT(error_of([&] { dlm::export_hf(byte_run, (dir_ / "byte_out").string()); }),
              HasSubstr("not a tokenizer.json one"));
}

}  // namespace
