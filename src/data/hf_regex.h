// The regular expressions of a tokenizer.json's Split pre-tokenizer, private to src/data/: dlm's own
// backtracking matcher for the subset that Qwen2's and Llama-3's patterns use, with Oniguruma's
// leftmost-first semantics (as `tokenizers` runs them): the leftmost start, there the first alternative
// that lets the rest match, quantifiers greedy and backtracking.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlm::hf {

class Regex {
 public:
  // Supported: literals and escaped punctuation, alternation |, groups (...), (?:...), (?i:...) (case
  // folded literals), lookaheads (?=...) and (?!...), classes [...] and [^...] with literals, ranges and
  // the escapes below, \p{L}, \p{N}, \s, \S, \r, \n, \t, \f, \v, and the greedy quantifiers ?, *, +, {n},
  // {n,}, {n,m}. Anything else throws dlm::Error "<where>: unsupported regex construct '<it>' at <index>"
  // (index = code point offset in the pattern).
  static Regex compile(const std::u32string& pattern, const std::string& where);
  // A pattern that matches `text` literally (Split's {"String": ...}).
  static Regex literal(const std::u32string& text);

  // The leftmost-first match starting at or after `from`: true with [start, end), or false. An empty match
  // is skipped (the search goes on one character later), as the library's split does.
  bool find(const std::u32string& text, size_t from, size_t& start, size_t& end) const;

  // One node of the compiled pattern; children by index into nodes_.
  struct Node {
    enum class Kind : uint8_t { kSet, kSequence, kAlternation, kRepeat, kLookahead };
    Kind kind = Kind::kSet;
    std::vector<int32_t> children;
    int32_t min = 0, max = -1;                          // kRepeat; max -1: unbounded
    bool negated = false;                               // kSet: [^...]; kLookahead: (?!...)
    std::vector<std::pair<char32_t, char32_t>> ranges;  // kSet: inclusive ranges
    uint8_t classes = 0;                                // kSet: bits of kLetter, kNumber, kSpace, kNotSpace
  };
  static constexpr uint8_t kLetter = 1, kNumber = 2, kSpace = 4, kNotSpace = 8;

 private:
  friend class RegexParser;
  friend class RegexRun;
  std::vector<Node> nodes_;
  int32_t root_ = -1;
};

}  // namespace dlm::hf
