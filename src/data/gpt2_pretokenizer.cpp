// GPT-2's pre-tokeniser written out over code points (its pattern needs \p{L} and \p{N}, which
// std::regex lacks), with the Unicode classes taken from the reference's own engine.
#include "gpt2_pretokenizer.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

#include "code_point_ranges.h"

namespace dlm::gpt2 {
namespace {

#include "unicode_classes.inc"

CharClass classify_slow(char32_t cp) {
  if (in_ranges(kLetterRanges, cp)) return CharClass::kLetter;
  if (in_ranges(kNumberRanges, cp)) return CharClass::kNumber;
  if (in_ranges(kSpaceRanges, cp)) return CharClass::kSpace;
  return CharClass::kOther;
}

CharClass classify(char32_t cp) {
  // Most text is ASCII: a table saves three binary searches per character.
  static const std::array<CharClass, 128> kAscii = [] {
    std::array<CharClass, 128> t{};
    for (char32_t c = 0; c < 128; ++c) t[c] = classify_slow(c);
    return t;
  }();
  return cp < 128 ? kAscii[cp] : classify_slow(cp);
}

}  // namespace

std::vector<size_t> pre_token_ends(const std::vector<char32_t>& cps) { return pre_token_ends(cps, classify); }

// The alternatives are tried in order at each position, as a backtracking regex engine does.
std::vector<size_t> pre_token_ends(const std::vector<char32_t>& cps, CharClass (*classify)(char32_t)) {
  const size_t n = cps.size();
  std::vector<size_t> ends;
  size_t i = 0;
  while (i < n) {
    const char32_t c = cps[i];
    if (c == U'\'' && i + 1 < n) {
      const char32_t c1 = cps[i + 1];
      const char32_t c2 = i + 2 < n ? cps[i + 2] : 0;
      size_t len = 0;
      if (c1 == U's' || c1 == U't' || c1 == U'm' || c1 == U'd') {
        len = 2;
      } else if ((c1 == U'r' && c2 == U'e') || (c1 == U'v' && c2 == U'e') || (c1 == U'l' && c2 == U'l')) {
        len = 3;
      }
      if (len > 0) {
        ends.push_back(i + len);
        i += len;
        continue;
      }
    }
    // ` ?X+`: only U+0020 counts as the optional space, and it is taken only when an X follows it.
    const size_t start = c == U' ' ? i + 1 : i;
    if (start < n) {
      const CharClass cls = classify(cps[start]);
      if (cls != CharClass::kSpace) {
        size_t end = start + 1;
        while (end < n && classify(cps[end]) == cls) ++end;
        ends.push_back(end);
        i = end;
        continue;
      }
    }
    // cps[i] is whitespace. `\s+(?!\S)` takes the run but leaves its last character when a
    // non-space follows (that character may then prefix the next word as ` ?X+`); a lone
    // whitespace character before a non-space falls through to `\s+`.
    size_t end = i + 1;
    while (end < n && classify(cps[end]) == CharClass::kSpace) ++end;
    if (end < n && end - i >= 2) --end;
    ends.push_back(end);
    i = end;
  }
  return ends;
}

std::array<char32_t, 256> byte_symbols() {
  std::array<char32_t, 256> table{};
  char32_t next = 256;
  for (char32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= U'!' && b <= U'~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    table[b] = printable ? b : next++;
  }
  return table;
}

}  // namespace dlm::gpt2
