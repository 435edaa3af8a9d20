// The normaliser, pre-tokeniser and added-token search of a tokenizer.json, with the Unicode classes and
// mappings they need (tables in hf_unicode.inc, made by scripts/gen_hf_unicode.py), as `tokenizers` 0.22.
#include "hf_normalizer.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <utility>

#include "code_point_ranges.h"
#include "dlm/error.h"
#include "dlm/utf8.h"
#include "gpt2_pretokenizer.h"

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
#include "hf_unicode.inc"

// BertNormalizer's CJK ranges. The library writes 0x2B920 where BERT's original has 0x2B820, so
// U+2B820..U+2B91F get no spaces around them; kept, to match it.
bool is_chinese_char(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// BertPreTokenizer: ASCII punctuation (which includes symbols such as $ + < = > ^ ` | ~) or Unicode P*.
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

uint8_t combining_class(char32_t cp) {
  const auto* it = std::upper_bound(std::begin(kCombiningClasses), std::end(kCombiningClasses), cp,
                                    [](char32_t c, const CombiningClass& r) { return c < r.first; });
  return it != std::begin(kCombiningClasses) && cp <= std::prev(it)->last ? std::prev(it)->ccc : 0;
}

// Canonical decomposition followed by the canonical ordering of each run of combining marks.
std::u32string nfd(const std::u32string& text) {
  constexpr char32_t kHangulBase = 0xAC00, kHangulCount = 11172;
  std::u32string out;
  out.reserve(text.size());
  for (char32_t cp : text) {
    if (cp >= kHangulBase && cp < kHangulBase + kHangulCount) {  // Hangul syllables decompose by arithmetic
      const char32_t s = cp - kHangulBase;
      out += static_cast<char32_t>(0x1100 + s / 588);
      out += static_cast<char32_t>(0x1161 + (s % 588) / 28);
      if (s % 28 != 0) out += static_cast<char32_t>(0x11A7 + s % 28);
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

std::u32string bert_normalize(const std::u32string& text, bool clean_text, bool chinese_chars, bool strip_accents,
                              bool lowercase) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t cp : text) {
    const bool kept_control = cp == U'\t' || cp == U'\n' || cp == U'\r';
    if (clean_text && (cp == 0 || cp == 0xFFFD || (!kept_control && in_ranges(kBertOtherRanges, cp)))) continue;
    if (clean_text && (kept_control || is_white_space(cp))) cp = U' ';
    if (chinese_chars && is_chinese_char(cp)) {
      out += U' ';
      out += cp;
      out += U' ';
    } else {
      out += cp;
    }
  }
  if (strip_accents) {
    std::u32string kept;
    for (char32_t cp : nfd(out)) {
      if (!in_ranges(kBertNonspacingRanges, cp)) kept += cp;
    }
    out.swap(kept);
  }
  if (lowercase) {
    std::u32string lower;
    lower.reserve(out.size());
    for (char32_t cp : out) append_lowercase(cp, lower);
    out.swap(lower);
  }
  return out;
}

gpt2::CharClass onig_class(char32_t cp) {
  if (in_ranges(kLetterRanges, cp)) return gpt2::CharClass::kLetter;
  if (in_ranges(kNumberRanges, cp)) return gpt2::CharClass::kNumber;
  if (is_white_space(cp)) return gpt2::CharClass::kSpace;
  return gpt2::CharClass::kOther;
}

const std::array<char32_t, 256>& byte_symbols() {
  static const std::array<char32_t, 256> kSymbols = gpt2::byte_symbols();
  return kSymbols;
}

// ByteLevel: the optional leading space, GPT-2's pattern with Oniguruma's classes, then bytes to symbols.
void byte_level_split(std::u32string text, bool add_prefix_space, bool use_regex, std::vector<std::u32string>& out) {
  if (add_prefix_space && (text.empty() || text[0] != U' ')) text.insert(text.begin(), U' ');
  std::vector<size_t> ends{text.size()};
  if (use_regex) ends = gpt2::pre_token_ends(std::vector<char32_t>(text.begin(), text.end()), onig_class);
  size_t begin = 0;
  for (size_t end : ends) {
    std::u32string symbols;
    for (unsigned char b : utf8_encode(std::vector<char32_t>(text.begin() + begin, text.begin() + end))) {
      symbols += byte_symbols()[b];
    }
    out.push_back(std::move(symbols));
    begin = end;
  }
}

// Whitespace keeps the matches of \w+|[^\w\s]+ and drops the rest (the whitespace between them).
void whitespace_split(const std::u32string& text, std::vector<std::u32string>& out) {
  std::u32string word;
  int word_kind = -1;  // 1: \w run, 0: [^\w\s] run
  for (char32_t cp : text) {
    const int kind = is_word_char(cp) ? 1 : is_white_space(cp) ? -1 : 0;
    if (kind != word_kind && !word.empty()) out.push_back(std::exchange(word, std::u32string()));
    if (kind >= 0) word += cp;
    word_kind = kind;
  }
  if (!word.empty()) out.push_back(std::move(word));
}

const nlohmann::json& list_of(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_array()) throw Error(where + "." + key + ": expected an array");
  return j[key];
}

}  // namespace

bool json_flag(const nlohmann::json& j, const char* key, bool fallback, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_boolean()) throw Error(where + "." + key + ": expected true or false");
  return j[key].get<bool>();
}

std::string json_text(const nlohmann::json& j, const char* key, const std::string& fallback, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_string()) throw Error(where + "." + key + ": expected a string");
  return j[key].get<std::string>();
}

std::string json_type(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected an object");
  if (!j.contains("type") || !j["type"].is_string()) throw Error(where + ": no 'type'");
  return j["type"].get<std::string>();
}

bool is_white_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_word_char(char32_t cp) { return in_ranges(kWordRanges, cp); }

void AddedMatcher::add(std::u32string pattern, size_t token) {
  if (pattern.empty()) return;
  auto& list = by_first_[pattern[0]];
  list.emplace_back(std::move(pattern), token);
  std::stable_sort(list.begin(), list.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

void AddedMatcher::split(const std::u32string& text, const std::vector<AddedToken>& tokens,
                         std::vector<Piece>& out) const {
  size_t done = 0;  // end of the last piece emitted
  for (size_t pos = 0; pos < text.size() && !by_first_.empty();) {
    const auto [token, length] = longest_at(text, pos);
    if (length == 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + length;
    pos = stop;  // the automaton goes on after the match, whatever becomes of it
    const AddedToken& t = tokens[token];
    if (t.single_word &&
        ((start > 0 && is_word_char(text[start - 1])) || (stop < text.size() && is_word_char(text[stop])))) {
      continue;
    }
    if (t.lstrip) {
      size_t s = start;
      while (s > 0 && is_white_space(text[s - 1])) --s;
      start = std::max(s, done);  // spaces an earlier match took stay with it
    }
    if (t.rstrip) {
      while (stop < text.size() && is_white_space(text[stop])) ++stop;
    }
    // Only a token starting with a space could begin inside the spaces an rstrip took; the library
    // would then emit overlapping pieces, dlm skips the match.
    if (start < done) continue;
    if (done < start) out.push_back({text.substr(done, start - done), -1});
    out.push_back({text.substr(start, stop - start), t.id});
    done = stop;
  }
  if (done < text.size()) out.push_back({text.substr(done), -1});
}

std::pair<size_t, size_t> AddedMatcher::longest_at(const std::u32string& text, size_t pos) const {
  const auto it = by_first_.find(text[pos]);
  if (it == by_first_.end()) return {0, 0};
  for (const auto& [pattern, token] : it->second) {
    if (text.compare(pos, pattern.size(), pattern) == 0) return {token, pattern.size()};
  }
  return {0, 0};
}

Normalizer Normalizer::parse(const nlohmann::json& j, const std::string& where) {
  Normalizer n;
  if (!j.is_null()) parse_into(j, where, n.steps_);
  return n;
}

void Normalizer::parse_into(const nlohmann::json& j, const std::string& where, std::vector<Step>& steps) {
  const std::string type = json_type(j, where);
  if (type == "Sequence") {
    const nlohmann::json& list = list_of(j, "normalizers", where);
    for (size_t i = 0; i < list.size(); ++i) {
      parse_into(list[i], where + ".normalizers[" + std::to_string(i) + "]", steps);
    }
  } else if (type == "BertNormalizer") {
    Step s{Kind::kBert};
    s.clean_text = json_flag(j, "clean_text", true, where);
    s.chinese_chars = json_flag(j, "handle_chinese_chars", true, where);
    s.lowercase = json_flag(j, "lowercase", true, where);
    s.strip_accents = json_flag(j, "strip_accents", s.lowercase, where);  // null: follow lowercase
    steps.push_back(s);
  } else if (type == "Lowercase" || type == "NFD" || type == "StripAccents") {
    steps.push_back(Step{type == "Lowercase" ? Kind::kLowercase : type == "NFD" ? Kind::kNfd : Kind::kStripAccents});
  } else {
    throw Error(where + " type '" + type +
                "' is not supported (supported: BertNormalizer, Lowercase, NFD, StripAccents, Sequence)");
  }
}

std::u32string Normalizer::apply(std::u32string text) const {
  for (const Step& s : steps_) {
    switch (s.kind) {
      case Kind::kBert:
        text = bert_normalize(text, s.clean_text, s.chinese_chars, s.strip_accents, s.lowercase);
        break;
      case Kind::kLowercase:
        text = bert_normalize(text, false, false, false, true);
        break;
      case Kind::kNfd:
        text = nfd(text);
        break;
      case Kind::kStripAccents:
        text.erase(std::remove_if(text.begin(), text.end(), [](char32_t cp) { return in_ranges(kMarkRanges, cp); }),
                   text.end());
        break;
    }
  }
  return text;
}

PreTokenizer PreTokenizer::parse(const nlohmann::json& j, const std::string& where) {
  PreTokenizer p;
  if (!j.is_null()) parse_into(j, where, p.steps_);
  return p;
}

void PreTokenizer::parse_into(const nlohmann::json& j, const std::string& where, std::vector<Step>& steps) {
  const std::string type = json_type(j, where);
  if (type == "Sequence") {
    const nlohmann::json& list = list_of(j, "pretokenizers", where);
    for (size_t i = 0; i < list.size(); ++i) {
      parse_into(list[i], where + ".pretokenizers[" + std::to_string(i) + "]", steps);
    }
  } else if (type == "ByteLevel") {
    Step s{Kind::kByteLevel};
    s.add_prefix_space = json_flag(j, "add_prefix_space", true, where);
    s.use_regex = json_flag(j, "use_regex", true, where);
    steps.push_back(s);
  } else if (type == "BertPreTokenizer" || type == "Whitespace" || type == "WhitespaceSplit") {
    steps.push_back(Step{type == "BertPreTokenizer" ? Kind::kBert
                         : type == "Whitespace"     ? Kind::kWhitespace
                                                    : Kind::kWhitespaceSplit});
  } else {
    throw Error(where + " type '" + type +
                "' is not supported (supported: BertPreTokenizer, ByteLevel, Whitespace, WhitespaceSplit, Sequence)");
  }
}

std::vector<std::u32string> PreTokenizer::apply(const std::u32string& text) const {
  std::vector<std::u32string> pieces, next;
  if (!text.empty()) pieces.push_back(text);
  for (const Step& s : steps_) {
    next.clear();
    for (const std::u32string& piece : pieces) {
      if (s.kind == Kind::kByteLevel) {
        byte_level_split(piece, s.add_prefix_space, s.use_regex, next);
      } else if (s.kind == Kind::kWhitespace) {
        whitespace_split(piece, next);
      } else {
        // Whitespace ends a word and is dropped; BertPreTokenizer also makes each punctuation mark a word.
        std::u32string word;
        for (char32_t cp : piece) {
          const bool space = is_white_space(cp), punct = s.kind == Kind::kBert && is_bert_punctuation(cp);
          if ((space || punct) && !word.empty()) next.push_back(std::exchange(word, std::u32string()));
          if (punct) next.push_back(std::u32string(1, cp));
          if (!space && !punct) word += cp;
        }
        if (!word.empty()) next.push_back(std::move(word));
      }
    }
    // As in the library, an empty piece is dropped at once (ByteLevel would give it a prefix space).
    pieces.clear();
    for (auto& piece : next) {
      if (!piece.empty()) pieces.push_back(std::move(piece));
    }
  }
  return pieces;
}

}  // namespace dlm::hf
