// Unicode classes and mappings of the tokenizer.json reader, private to src/data/ (tables in hf_unicode.inc,
// made by scripts/gen_hf_unicode.py): the predicates the normalisers, pre-tokenisers and the Split regex share,
// lowercase, case folding and the canonical normal forms NFD and NFC.
#pragma once

#include <string>
#include <vector>

namespace dlm::hf {

// Rust's char::is_whitespace (Unicode White_Space), which is also \s of the regex crate and of Oniguruma.
bool is_white_space(char32_t cp);
// \w of the Rust regex crate: the single_word test of added tokens.
bool is_word_char(char32_t cp);
// \p{L} and \p{N} as Oniguruma has them.
bool is_letter(char32_t cp);
bool is_number(char32_t cp);
// General category M (StripAccents).
bool is_mark(char32_t cp);
// The Unicode 8.0 sets of BertNormalizer and BertPreTokenizer: Mn, Cc/Cf/Co, and ASCII punctuation or P*.
bool is_bert_nonspacing(char32_t cp);
bool is_bert_other(char32_t cp);
bool is_bert_punctuation(char32_t cp);

// Rust's char::to_lowercase of one character (one or two characters).
void append_lowercase(char32_t cp, std::u32string& out);
// The characters equal to `cp` under simple case folding, `cp` first (Oniguruma's (?i:...)).
std::vector<char32_t> case_variants(char32_t cp);

// Canonical decomposition with canonical ordering (NFD), and NFD followed by canonical composition (NFC).
std::u32string nfd(const std::u32string& text);
std::u32string nfc(const std::u32string& text);

}  // namespace dlm::hf
