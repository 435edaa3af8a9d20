// GPT-2's pre-tokeniser and byte symbols, private to the byte-level BPE tokenizer: text is split by
// GPT-2's pattern before merging, and vocabulary files spell every byte with a visible symbol.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace dlm::gpt2 {

// The four classes the GPT-2 pattern distinguishes: \p{L}, \p{N}, \s and everything else.
enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

// Splits code points into the matches of the GPT-2 pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// and returns the end of each match; the matches tile the text, so match k is [ends[k-1], ends[k]).
// The classes are the reference JavaScript encoder's (see bpe_tokenizer.h for its quirks).
std::vector<size_t> pre_token_ends(const std::vector<char32_t>& cps);
// The same pattern with the caller's classes: the tokenizer.json reader passes Oniguruma's.
std::vector<size_t> pre_token_ends(const std::vector<char32_t>& cps, CharClass (*classify)(char32_t));

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves and the other 68 bytes for
// U+0100.. in byte order, so every byte has a visible, non-space symbol in the vocabulary files.
std::array<char32_t, 256> byte_symbols();

}  // namespace dlm::gpt2
