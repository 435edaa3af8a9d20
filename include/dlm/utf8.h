// UTF-8 decoding and encoding with validation, shared by the tokenizers and the data loaders.
// Invalid input is reported with its byte offset so a user can find the bad byte in their file.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dlm {

// Decodes `text` into Unicode code points. Throws dlm::Error naming `where` and the byte offset
// on malformed sequences, overlong forms, surrogates and code points above U+10FFFF.
std::vector<char32_t> utf8_decode(const std::string& text, const std::string& where = "input");

// Encodes code points as UTF-8 (inputs are assumed valid, as produced by utf8_decode).
std::string utf8_encode(const std::vector<char32_t>& code_points);
std::string utf8_encode(char32_t code_point);

// True when `text` is well-formed UTF-8.
bool utf8_valid(const std::string& text);

// Copies `bytes`, replacing each ill-formed part (a maximal subpart, as WHATWG's decoder splits them:
// a sample may end inside a character) by `render(part)`.
std::string utf8_repair(const std::string& bytes, const std::function<std::string(const std::string&)>& render);

}  // namespace dlm
