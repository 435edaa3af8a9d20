// Shared by the Hugging Face folder tests: a tiny WordPiece tokenizer.json, BERT- and ModernBERT-shaped
// configs, a run of one with random weights saved as a checkpoint, and a fixture with a scratch folder.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "dlm/config.h"
#include "dlm/data/hf_tokenizer.h"
#include "dlm/files.h"
#include "dlm/hf/hf_folder.h"
#include "dlm/hf/safetensors.h"
#include "dlm/model/checkpoint.h"

namespace dlm_test {

// A WordPiece tokenizer.json of 12 ids with BERT's normaliser, pre-tokeniser and template.
inline nlohmann::json tiny_tokenizer_json() {
  return nlohmann::json::parse(R"({
    "version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [
      {"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
      {"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
      {"id": 2, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
      {"id": 3, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
      {"id": 4, "content": "[MASK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
    "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
      "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
               {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
               {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
      "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                         "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
    "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
              "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "a": 5, "b": 6, "the": 7,
                        "cat": 8, "##s": 9, "sat": 10, ".": 11}}
  })");
}

// A BERT-shaped config (post-norm, MLM head, token types, a config vocabulary above the tokenizer's).
inline dlm::Config bert_config(int64_t pos_offset = 0) {
  dlm::Config c;
  c.name = "tiny-bert";
  c.data.path = "unused.txt";
  c.data.seq_len = 16;
  dlm::ModelConfig& m = c.model;
  m.d_model = 12;
  m.n_layer = 2;
  m.n_head = 3;
  m.d_ff = 20;
  m.dropout = 0.0;
  m.norm_order = dlm::NormOrder::kPost;
  m.norm_eps = 1e-7;
  m.emb_norm = true;
  m.type_vocab = pos_offset > 0 ? 1 : 2;
  m.pos_offset = pos_offset;
  m.head_transform = true;
  m.head_bias = true;
  m.activation = dlm::Activation::kGeluTanh;
  m.head_activation = pos_offset > 0 ? dlm::Activation::kGelu : dlm::Activation::kGeluTanh;
  m.vocab_size = 14;
  return c;
}

// A run of that config with random weights (norms and biases too), saved as a checkpoint under `dir`.
struct BertRun {
  dlm::Config config;
  std::unique_ptr<dlm::Tokenizer> tokenizer;
  std::shared_ptr<dlm::DenoiserImpl> model;
  std::string checkpoint;
  BertRun(const std::filesystem::path& dir, int64_t pos_offset = 0) : BertRun(dir, bert_config(pos_offset)) {}
  BertRun(const std::filesystem::path& dir, dlm::Config c) : config(std::move(c)) {
    tokenizer = dlm::hf_tokenizer_from_json({{"kind", "hf"}, {"json", tiny_tokenizer_json()}});
    torch::manual_seed(7);
    model = dlm::make_model(config.model, tokenizer->vocab_size(), config.data.seq_len);
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.normal_(0.0, 0.5);
    model->eval();
    std::filesystem::create_directories(dir);
    checkpoint = (dir / "last.pt").string();
    dlm::save_checkpoint(checkpoint, config, *tokenizer, *model, nullptr, dlm::TrainState{});
  }
  torch::Tensor logits(const std::vector<int64_t>& ids) {
    torch::NoGradGuard no_grad;
    return model->forward(torch::tensor(ids).unsqueeze(0), torch::zeros({1}));
  }
};

class HfFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("dlm_hf_" + std::to_string(::getpid()) + "_" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // The exported folder of a fresh run, at dir_/name.
  std::string exported(BertRun& run, const std::string& name = "out") {
    const std::string out = (dir_ / name).string();
    dlm::export_hf(run.checkpoint, out);
    return out;
  }
  // Rewrites a folder's weights without the tensors `drop` names, plus `add`.
  void rewrite(const std::string& folder, const std::vector<std::string>& drop,
               const std::vector<std::pair<std::string, torch::Tensor>>& add = {}) {
    const std::string path = folder + "/model.safetensors";
    std::vector<std::pair<std::string, torch::Tensor>> keep;
    {
      const dlm::SafetensorsFile file(path);
      for (const auto& e : file.entries()) {
        if (std::find(drop.begin(), drop.end(), e.name) == drop.end())
          keep.emplace_back(e.name, file.tensor(e.name).clone());
      }
    }
    keep.insert(keep.end(), add.begin(), add.end());
    dlm::save_safetensors(path, keep);
  }
  void edit_config(const std::string& folder, const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json c = nlohmann::json::parse(dlm::read_file(folder + "/config.json"));
    edit(c);
    dlm::write_atomically(folder + "/config.json", c.dump());
  }
  std::filesystem::path dir_;
};

// A ModernBERT-shaped config: pre-norm LayerNorms without bias, rotary positions with a local window
// (layer 1 of 3 is local, its base differs), GeGLU with MLP biases but none in attention, layer 0
// without its attention norm.
inline dlm::Config modernbert_config() {
  dlm::Config c = bert_config();
  c.name = "tiny-modernbert";
  dlm::ModelConfig& m = c.model;
  m.n_layer = 3;
  m.d_ff = 10;
  m.norm_order = dlm::NormOrder::kPre;
  m.norm_bias = false;
  m.pos = dlm::PosKind::kRotary;
  m.type_vocab = 0;
  m.activation = dlm::Activation::kGeglu;
  m.head_activation = dlm::Activation::kGelu;
  m.head_transform_bias = false;
  m.bias = false;
  m.mlp_bias = true;
  m.first_norm = false;
  m.rope_theta = 1000.0;
  m.local_rope_theta = 50.0;
  m.local_attention = 4;
  m.global_every = 2;
  return c;
}

}  // namespace dlm_test
