// Data sets: read raw examples from a file (lines, documents, prompt/answer pairs, or one text cut
// into windows), tokenise them into fixed-length examples that end with EOS then padding, and split
// them deterministically into training and validation sets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dlm/config.h"
#include "dlm/data/tokenizer.h"

namespace dlm {

// One raw example: `prompt` is conditioning that is never masked (empty except for pairs).
struct TextExample {
  std::string prompt;
  std::string text;
  std::string where;  ///< file:line, for error messages
};

// One tokenised example of exactly seq_len ids: [prompt][text][EOS][pad ...].
struct Example {
  std::vector<int64_t> ids;
  int64_t n_prompt = 0;   ///< leading ids that are conditioning, never masked
  int64_t n_content = 0;  ///< ids before the padding (prompt + text + EOS)
};

struct Dataset {
  std::vector<Example> train;
  std::vector<Example> val;
  bool val_is_train = false;  ///< too few examples to hold any out: validation reuses training data
  // data.kind text with window_offsets random: the training windows' ids in order, the running text a
  // window may start anywhere in (text_window).
  std::vector<int64_t> train_tokens;
};

// A window of running text: the ids [start, start + seq_len) of `tokens` (fewer at its end), padded
// to seq_len; no prompt, no EOS added.
Example text_window(const std::vector<int64_t>& tokens, int64_t start, int64_t seq_len, int64_t pad_id);

// Reads the raw examples of `config`. Throws dlm::Error for a missing or unreadable file, invalid
// UTF-8 (with the line number), malformed JSONL, and a file with no usable example.
std::vector<TextExample> read_examples(const DataConfig& config);

// The same for file contents already in memory; config.path only names the source in messages.
std::vector<TextExample> parse_examples(const DataConfig& config, const std::string& content);

// The texts a character vocabulary must cover.
std::vector<std::string> vocabulary_texts(const std::vector<TextExample>& examples);

// Tokenises, pads and splits. Throws dlm::Error when an example does not fit data.seq_len.
Dataset make_dataset(const DataConfig& config, const Tokenizer& tokenizer, const std::vector<TextExample>& examples);

// Deterministic Fisher-Yates shuffle of 0..n-1 driven by std::mt19937_64 (portable across platforms).
std::vector<int64_t> shuffled_indices(int64_t n, uint64_t seed);

}  // namespace dlm
