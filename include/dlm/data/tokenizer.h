// Tokenizers: the interface, a character-level one over the Unicode code points seen in the training
// data, and a byte-level one over all 256 bytes. These two reserve ids 0..4 for the special tokens;
// subword tokenizers (bpe_tokenizer.h, sentencepiece_tokenizer.h, hf_tokenizer.h) keep their native ids
// and say where their specials are. Every tokenizer serialises to JSON so a checkpoint carries its tokenizer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "dlm/config.h"

namespace dlm {

// Ids of the special tokens of the char and byte tokenizers.
struct SpecialTokens {
  static constexpr int64_t kPad = 0;
  static constexpr int64_t kMask = 1;
  static constexpr int64_t kBos = 2;
  static constexpr int64_t kEos = 3;
  static constexpr int64_t kSep = 4;
  static constexpr int64_t kCount = 5;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Text to ids, no special tokens added. Throws dlm::Error on invalid UTF-8 or unknown characters.
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  // Ids to text; special tokens are dropped. Byte tokens that do not form UTF-8 are replaced by U+FFFD.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  // A printable form of one id for the denoising timeline (specials as <pad>, <eos>, ...).
  virtual std::string piece(int64_t id) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual nlohmann::json to_json() const = 0;

  // Special ids; pad, mask, bos, eos and sep are distinct, except that a tokenizer.json's sep is its eos
  // (BERT's [SEP] ends a sequence and separates two).
  virtual int64_t pad_id() const { return SpecialTokens::kPad; }
  virtual int64_t mask_id() const { return SpecialTokens::kMask; }
  virtual int64_t bos_id() const { return SpecialTokens::kBos; }
  virtual int64_t eos_id() const { return SpecialTokens::kEos; }
  virtual int64_t sep_id() const { return SpecialTokens::kSep; }
  bool is_special(int64_t id) const {
    return id == pad_id() || id == mask_id() || id == bos_id() || id == eos_id() || id == sep_id();
  }
  // Throws dlm::Error naming the id when it is outside [0, vocab_size).
  void check_id(int64_t id) const;

  // The ids a model's own tokenizer puts around one sequence (BERT: [CLS] before, [SEP] after; from a
  // tokenizer.json's post-processor); empty for dlm's own tokenizers.
  virtual std::vector<int64_t> template_before() const { return {}; }
  virtual std::vector<int64_t> template_after() const { return {}; }
  // template_before() + encode(text) + template_after(): the ids the model's own tokenizer gives for
  // `text` (transformers' tokenizer(text)["input_ids"]).
  std::vector<int64_t> encode_for_model(const std::string& text) const;
  // The Jinja chat template of a Hugging Face folder's tokenizer (tokenizer_config.json), empty when it has
  // none; dlm::chat_template_kind (generate/chat.h) tells which layout it is.
  virtual std::string chat_template() const { return ""; }
};

class CharTokenizer : public Tokenizer {
 public:
  // Vocabulary = specials + every distinct code point of `texts`, sorted by code point so the
  // result does not depend on the order of the data.
  static CharTokenizer build(const std::vector<std::string>& texts);
  explicit CharTokenizer(std::vector<char32_t> chars);

  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::string piece(int64_t id) const override;
  int64_t vocab_size() const override { return SpecialTokens::kCount + static_cast<int64_t>(chars_.size()); }
  nlohmann::json to_json() const override;

 private:
  std::vector<char32_t> chars_;
  std::unordered_map<char32_t, int64_t> index_;
};

class ByteTokenizer : public Tokenizer {
 public:
  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::string piece(int64_t id) const override;
  int64_t vocab_size() const override { return SpecialTokens::kCount + 256; }
  nlohmann::json to_json() const override;
};

// Builds the tokenizer named by `config`: char from the training texts, byte, bpe or sentencepiece
// from the files at config.path, or a SentencePiece model trained on the texts. `work_dir` receives
// the files a trained tokenizer leaves (the .model and its training input); empty means a temporary folder.
std::unique_ptr<Tokenizer> build_tokenizer(const TokenizerConfig& config, const std::vector<std::string>& texts,
                                           const std::string& work_dir = "");

// Loads a tokenizer from files: a SentencePiece `.model`, a Hugging Face tokenizer file (any `.json`) or
// a folder holding `tokenizer.json` (which wins over vocabulary files beside it), a slow Qwen2 tokenizer's
// folder (load_hf_tokenizer), or a folder with `vocab.json` + `merges.txt` or `encoder.json` + `vocab.bpe`
// (GPT-2's byte-level BPE). Throws dlm::Error naming
// what is missing.
std::unique_ptr<Tokenizer> load_tokenizer_files(const std::string& path);

// Rebuilds a tokenizer saved by Tokenizer::to_json. Throws dlm::Error on a malformed description.
std::unique_ptr<Tokenizer> tokenizer_from_json(const nlohmann::json& j);

}  // namespace dlm
