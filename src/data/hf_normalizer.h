// The text-side stages of a tokenizer.json, private to src/data/ (hf_normalizer.cpp and hf_decoder.cpp
// define them, hf_tokenizer.cpp uses them): the normaliser, pre-tokeniser and decoder sections read from
// JSON, the search for added tokens, and the Unicode predicates they share, as `tokenizers` 0.22 defines them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "hf_regex.h"
#include "hf_unicode.h"

namespace dlm::hf {

// Fields of a tokenizer.json section; null or absent gives `fallback`, a wrong type a dlm::Error naming
// `where` and the key.
bool json_flag(const nlohmann::json& j, const char* key, bool fallback, const std::string& where);
std::string json_text(const nlohmann::json& j, const char* key, const std::string& fallback, const std::string& where);
// The `type` of a section; a dlm::Error naming `where` when it is no object or has none.
std::string json_type(const nlohmann::json& j, const std::string& where);

// The `normalizer` section: BertNormalizer, Lowercase, NFD, NFC, StripAccents, or a Sequence of them.
class Normalizer {
 public:
  // null means no normaliser. Throws dlm::Error naming `where` and the unsupported type or bad field.
  static Normalizer parse(const nlohmann::json& j, const std::string& where);
  std::u32string apply(std::u32string text) const;

 private:
  enum class Kind : uint8_t { kBert, kLowercase, kNfd, kNfc, kStripAccents };
  struct Step {
    Kind kind;
    bool clean_text = false, chinese_chars = false, strip_accents = false, lowercase = false;  // kBert
  };
  static void parse_into(const nlohmann::json& j, const std::string& where, std::vector<Step>& steps);
  std::vector<Step> steps_;
};

// The `pre_tokenizer` section: BertPreTokenizer, ByteLevel, Whitespace, WhitespaceSplit, Split (a Regex or
// String pattern, behavior Isolated, invert false: each match and each run between matches is a word), or a
// Sequence of them.
class PreTokenizer {
 public:
  // null means no pre-tokeniser (the whole piece goes to the model). Throws dlm::Error like Normalizer.
  static PreTokenizer parse(const nlohmann::json& j, const std::string& where);
  // Splits one normalised piece into the words the model sees; ByteLevel also spells every UTF-8 byte
  // with its GPT-2 symbol. Empty words are dropped.
  std::vector<std::u32string> apply(const std::u32string& text) const;

 private:
  enum class Kind : uint8_t { kBert, kByteLevel, kWhitespace, kWhitespaceSplit, kSplit };
  struct Step {
    Kind kind;
    bool add_prefix_space = false, use_regex = true;  // kByteLevel
    std::shared_ptr<const Regex> pattern = nullptr;   // kSplit
  };
  static Step parse_split(const nlohmann::json& j, const std::string& where);
  static void parse_into(const nlohmann::json& j, const std::string& where, std::vector<Step>& steps);
  std::vector<Step> steps_;
};

struct AddedToken {
  std::string content;
  int64_t id = 0;
  bool special = false, single_word = false, lstrip = false, rstrip = false, normalized = false;
};

// A run of text that is either one added token (id >= 0) or text still to tokenize (id = -1).
struct Piece {
  std::u32string text;
  int64_t id;
};

// Finds added tokens as the library's Aho-Corasick automaton does with MatchKind::LeftmostLongest:
// the leftmost match, the longest one there, and the search resumes after it.
class AddedMatcher {
 public:
  // Looks for `pattern` as tokens[token] (an empty pattern, from a token that normalises to nothing,
  // never matches).
  void add(std::u32string pattern, size_t token);
  // The library's AddedVocabulary::find_matches: each match widened by lstrip/rstrip, single_word
  // matches inside a word skipped, the text between kept as pieces to tokenize; empty pieces dropped.
  void split(const std::u32string& text, const std::vector<AddedToken>& tokens, std::vector<Piece>& out) const;

 private:
  std::pair<size_t, size_t> longest_at(const std::u32string& text, size_t pos) const;  // (token, length)
  std::unordered_map<char32_t, std::vector<std::pair<std::u32string, size_t>>> by_first_;
};

// The `decoder` section, token strings to text: WordPiece (continuation prefix, optional cleanup of the
// spaces before punctuation), ByteLevel (GPT-2's symbols back to bytes, ill-formed UTF-8 as U+FFFD) or
// null (tokens joined with spaces).
class Decoder {
 public:
  static Decoder parse(const nlohmann::json& j, const std::string& where);
  std::string apply(const std::vector<std::string>& tokens) const;

 private:
  enum class Kind : uint8_t { kNone, kWordPiece, kByteLevel };
  Kind kind_ = Kind::kNone;
  std::string prefix_ = "##";
  bool cleanup_ = true;
};

}  // namespace dlm::hf
