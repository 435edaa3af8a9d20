// The Unicode side of the tokenizer.json reader: class predicates, lowercase, case folding, NFD and NFC,
// over the tables in hf_unicode.inc (scripts/gen_hf_unicode.py), as `tokenizers` 0.22 and Oniguruma use them.
#include "hf_unicode.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

#include "code_point_ranges.h"

namespace dlm::hf {
namespace {

struct LowercaseMapping {
  char32_t cp, first, second;
};
struct Decomposition {
  char32_t cp;
  uint16_t offset;
  uint8_t length;
};
struct CombiningClass {
  char32_t first, last;
  uint8_t ccc;
};
struct CaseFold {
  char32_t cp, folded;
};
struct Composition {
  char32_t first, second, composite;
};
#include "hf_unicode.inc"

constexpr char32_t kHangulBase = 0xAC00, kHangulCount = 11172, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount;

uint8_t combining_class(char32_t cp) {
  const auto* it = std::upper_bound(std::begin(kCombiningClasses), std::end(kCombiningClasses), cp,
                                    [](char32_t c, const CombiningClass& r) { return c < r.first; });
  return it != std::begin(kCombiningClasses) && cp <= std::prev(it)->last ? std::prev(it)->ccc : 0;
}

char32_t case_fold(char32_t cp) {
  const auto* it = std::lower_bound(std::begin(kCaseFolds), std::end(kCaseFolds), cp,
                                    [](const CaseFold& f, char32_t c) { return f.cp < c; });
  return it != std::end(kCaseFolds) && it->cp == cp ? it->folded : cp;
}

// The primary composite of `first` and `second`, or 0; Hangul L+V and LV+T compose by arithmetic.
char32_t compose(char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount) {
    return kHangulBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (first >= kHangulBase && first < kHangulBase + kHangulCount && (first - kHangulBase) % kTCount == 0 &&
      second > kTBase && second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  const auto* it = std::lower_bound(std::begin(kCompositions), std::end(kCompositions), std::make_pair(first, second),
                                    [](const Composition& c, const std::pair<char32_t, char32_t>& key) {
                                      return std::make_pair(c.first, c.second) < key;
                                    });
  return it != std::end(kCompositions) && it->first == first && it->second == second ? it->composite : 0;
}

}  // namespace

bool is_white_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_word_char(char32_t cp) { return in_ranges(kWordRanges, cp); }
bool is_letter(char32_t cp) { return in_ranges(kLetterRanges, cp); }
bool is_number(char32_t cp) { return in_ranges(kNumberRanges, cp); }
bool is_mark(char32_t cp) { return in_ranges(kMarkRanges, cp); }
bool is_bert_nonspacing(char32_t cp) { return in_ranges(kBertNonspacingRanges, cp); }
bool is_bert_other(char32_t cp) { return in_ranges(kBertOtherRanges, cp); }

bool is_bert_punctuation(char32_t cp) {
  const bool ascii = (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
                     (cp >= 0x7B && cp <= 0x7E);
  return ascii || in_ranges(kBertPunctuationRanges, cp);
}

void append_lowercase(char32_t cp, std::u32string& out) {
  const auto* it = std::lower_bound(std::begin(kLowercase), std::end(kLowercase), cp,
                                    [](const LowercaseMapping& m, char32_t c) { return m.cp < c; });
  if (it == std::end(kLowercase) || it->cp != cp) {
    out += cp;
    return;
  }
  out += it->first;
  if (it->second != 0) out += it->second;
}

std::vector<char32_t> case_variants(char32_t cp) {
  const char32_t folded = case_fold(cp);
  std::vector<char32_t> out{cp};
  if (folded != cp) out.push_back(folded);
  for (const CaseFold& f : kCaseFolds) {
    if (f.folded == folded && f.cp != cp) out.push_back(f.cp);
  }
  return out;
}

std::u32string nfd(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t cp : text) {
    if (cp >= kHangulBase && cp < kHangulBase + kHangulCount) {  // Hangul syllables decompose by arithmetic
      const char32_t s = cp - kHangulBase;
      out += static_cast<char32_t>(kLBase + s / kNCount);
      out += static_cast<char32_t>(kVBase + (s % kNCount) / kTCount);
      if (s % kTCount != 0) out += static_cast<char32_t>(kTBase + s % kTCount);
      continue;
    }
    const auto* it = std::lower_bound(std::begin(kDecompositions), std::end(kDecompositions), cp,
                                      [](const Decomposition& d, char32_t c) { return d.cp < c; });
    if (it == std::end(kDecompositions) || it->cp != cp) {
      out += cp;
    } else {
      out.append(kDecompositionPool + it->offset, it->length);
    }
  }
  for (size_t i = 0; i < out.size();) {
    if (combining_class(out[i]) == 0) {
      ++i;
      continue;
    }
    size_t end = i + 1;
    while (end < out.size() && combining_class(out[end]) != 0) ++end;
    std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(i), out.begin() + static_cast<std::ptrdiff_t>(end),
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = end;
  }
  return out;
}

// The canonical composition algorithm: each character joins the last starter unless a character between
// them has a combining class of 0 or at least its own.
std::u32string nfc(const std::u32string& text) {
  const std::u32string d = nfd(text);
  std::u32string out;
  out.reserve(d.size());
  size_t starter = std::u32string::npos;
  int last_ccc = -1;  // -1: the last character kept is the starter itself
  for (char32_t cp : d) {
    const int ccc = combining_class(cp);
    if (starter != std::u32string::npos && (last_ccc == -1 || last_ccc < ccc)) {
      const char32_t composite = compose(out[starter], cp);
      if (composite != 0) {
        out[starter] = composite;
        continue;
      }
    }
    out += cp;
    if (ccc == 0) {
      starter = out.size() - 1;
      last_ccc = -1;
    } else {
      last_ccc = ccc;
    }
  }
  return out;
}

}  // namespace dlm::hf
