// The `model` section of a tokenizer.json, private to src/data/hf_tokenizer.cpp: WordPiece (greedy
// longest match with a continuation prefix) and BPE (ranked merges), as the tokenizers library (0.22) runs them.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace dlm::hf {

// A token id read from a file: an integer from 0 to 2^31-1, else a dlm::Error naming `where`.
int64_t id_value(const nlohmann::json& v, const std::string& where);

// The `model` section: WordPiece (greedy longest match with a continuation prefix) or BPE (ranked merges).
struct Model {
  bool wordpiece = true;
  std::unordered_map<std::string, int64_t> vocab;
  std::vector<std::string> pieces;  // by id; ids run from 0 to N-1
  std::string unk_token, prefix, suffix, where;
  bool has_unk = false, fuse_unk = false, ignore_merges = false;
  size_t max_chars = 100;
  struct Merge {
    int32_t rank, result;
  };
  std::unordered_map<uint64_t, Merge> merges;

  static uint64_t key(int64_t a, int64_t b);  // a merge's pair
  int64_t unk_id() const;
  // Appends the ids of one pre-tokenised word.
  void tokenize(const std::string& word, std::vector<int64_t>& ids) const;

  // At each position the longest vocabulary entry (with the prefix after the first); a word with a
  // part that matches nothing, or longer than max_chars characters, is one unk.
  void tokenize_wordpiece(const std::string& word, const std::vector<size_t>& bounds, std::vector<int64_t>& ids) const;
  void tokenize_bpe(const std::string& word, const std::vector<size_t>& bounds, std::vector<int64_t>& ids) const;
  // The library's Word::merge_all: a min-queue of (rank, position) over adjacent pairs; an entry whose
  // pair has changed since it was queued is skipped.
  void merge_all(std::vector<int64_t>& symbols) const;
};

// Reads the section; throws dlm::Error naming `where` and the unsupported type or bad field.
Model read_model(const nlohmann::json& j, const std::string& where);

}  // namespace dlm::hf
