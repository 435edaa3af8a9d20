// The normaliser, pre-tokeniser and added-token search of a tokenizer.json, as `tokenizers` 0.22 runs them
// (the Unicode classes and normal forms are in hf_unicode.cpp, the Split regex in hf_regex.cpp).
#include "hf_normalizer.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <utility>

#include "dlm/error.h"
#include "dlm/utf8.h"
#include "gpt2_pretokenizer.h"

namespace dlm::hf {
namespace {

// BertNormalizer's CJK ranges. The library writes 0x2B920 where BERT's original has 0x2B820, so
// U+2B820..U+2B91F get no spaces around them; kept, to match it.
bool is_chinese_char(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

std::u32string bert_normalize(const std::u32string& text, bool clean_text, bool chinese_chars, bool strip_accents,
                              bool lowercase) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t cp : text) {
    const bool kept_control = cp == U'\t' || cp == U'\n' || cp == U'\r';
    if (clean_text && (cp == 0 || cp == 0xFFFD || (!kept_control && is_bert_other(cp)))) continue;
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
      if (!is_bert_nonspacing(cp)) kept += cp;
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
  if (is_letter(cp)) return gpt2::CharClass::kLetter;
  if (is_number(cp)) return gpt2::CharClass::kNumber;
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

// Split with behavior Isolated: every match is a word, and so is every run of text between two matches.
void isolated_split(const Regex& pattern, const std::u32string& text, std::vector<std::u32string>& out) {
  size_t done = 0, start = 0, end = 0;
  while (pattern.find(text, done, start, end)) {
    if (start > done) out.push_back(text.substr(done, start - done));
    out.push_back(text.substr(start, end - start));
    done = end;
  }
  if (done < text.size()) out.push_back(text.substr(done));
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
  } else if (type == "Lowercase" || type == "NFD" || type == "NFC" || type == "StripAccents") {
    steps.push_back(Step{type == "Lowercase" ? Kind::kLowercase
                         : type == "NFD"     ? Kind::kNfd
                         : type == "NFC"     ? Kind::kNfc
                                             : Kind::kStripAccents});
  } else {
    throw Error(where + " type '" + type +
                "' is not supported (supported: BertNormalizer, Lowercase, NFD, NFC, StripAccents, Sequence)");
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
      case Kind::kNfc:
        text = nfc(text);
        break;
      case Kind::kStripAccents:
        text.erase(std::remove_if(text.begin(), text.end(), is_mark), text.end());
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
  } else if (type == "Split") {
    steps.push_back(parse_split(j, where));
  } else {
    throw Error(where + " type '" + type +
                "' is not supported (supported: BertPreTokenizer, ByteLevel, Whitespace, WhitespaceSplit, Split, "
                "Sequence)");
  }
}

PreTokenizer::Step PreTokenizer::parse_split(const nlohmann::json& j, const std::string& where) {
  const std::string behavior = json_text(j, "behavior", "", where);
  if (behavior != "Isolated") {
    throw Error(where + ".behavior " + in_quotes(behavior) + " is not supported (supported: Isolated)");
  }
  if (json_flag(j, "invert", false, where)) throw Error(where + ".invert: true is not supported");
  const nlohmann::json* pattern = j.contains("pattern") ? &j["pattern"] : nullptr;
  const bool regex = pattern && pattern->is_object() && pattern->size() == 1 && pattern->contains("Regex");
  const bool literal = pattern && pattern->is_object() && pattern->size() == 1 && pattern->contains("String");
  if ((!regex && !literal) || !pattern->begin()->is_string()) {
    throw Error(where + ".pattern: expected {\"Regex\": text} or {\"String\": text}");
  }
  const std::vector<char32_t> cps = utf8_decode(pattern->begin()->get<std::string>(), where + ".pattern");
  const std::u32string text(cps.begin(), cps.end());
  Step s{Kind::kSplit};
  s.pattern = std::make_shared<const Regex>(regex ? Regex::compile(text, where + ".pattern") : Regex::literal(text));
  return s;
}

std::vector<std::u32string> PreTokenizer::apply(const std::u32string& text) const {
  std::vector<std::u32string> pieces, next;
  if (!text.empty()) pieces.push_back(text);
  for (const Step& s : steps_) {
    next.clear();
    for (const std::u32string& piece : pieces) {
      if (s.kind == Kind::kSplit) {
        isolated_split(*s.pattern, piece, next);
      } else if (s.kind == Kind::kByteLevel) {
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
