// UTF-8 validation, decoding and encoding (RFC 3629: no overlongs, no surrogates, max U+10FFFF).
#include "dlm/utf8.h"

#include <cstdio>

#include "dlm/error.h"

namespace dlm {
namespace {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: the lead byte's range of second bytes
// rules out overlongs, surrogates and code points above U+10FFFF); for an ill-formed one, minus the
// length of its maximal subpart, the unit WHATWG's decoder (JavaScript's TextDecoder) replaces.
int sequence_length(const std::string& s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  int need = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return -1;
  }
  for (int k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return -k;
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < lo || b > hi) return -k;
    lo = 0x80;
    hi = 0xBF;
  }
  return need + 1;
}

// Decodes one code point at text[i]; returns its length in bytes or 0 when invalid.
size_t decode_one(const std::string& text, size_t i, char32_t& out) {
  const int len = sequence_length(text, i);
  if (len <= 0) return 0;
  static constexpr unsigned char kLeadBits[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  char32_t cp = static_cast<unsigned char>(text[i]) & kLeadBits[len];
  for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
  out = cp;
  return static_cast<size_t>(len);
}

}  // namespace

std::vector<char32_t> utf8_decode(const std::string& text, const std::string& where) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    const size_t len = decode_one(text, i, cp);
    if (len == 0) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02X", static_cast<unsigned char>(text[i]));
      throw Error(where + ": invalid UTF-8 (byte " + hex + " at offset " + std::to_string(i) + ")");
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

bool utf8_valid(const std::string& text) {
  for (size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    const size_t len = decode_one(text, i, cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string utf8_encode(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

std::string utf8_encode(const std::vector<char32_t>& code_points) {
  std::string out;
  for (char32_t cp : code_points) out += utf8_encode(cp);
  return out;
}

std::string utf8_repair(const std::string& bytes, const std::function<std::string(const std::string&)>& render) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    const int len = sequence_length(bytes, i);
    const size_t n = static_cast<size_t>(len > 0 ? len : -len);
    out += len > 0 ? bytes.substr(i, n) : render(bytes.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace dlm
