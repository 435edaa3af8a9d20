// The decoder of a tokenizer.json (WordPiece or ByteLevel): tokens back to text, as `tokenizers` 0.22.
#include <array>

#include "dlm/error.h"
#include "dlm/utf8.h"
#include "gpt2_pretokenizer.h"
#include "hf_normalizer.h"

namespace dlm::hf {
namespace {

// The byte a GPT-2 symbol stands for, or -1 for other code points.
int byte_of_symbol(char32_t cp) {
  static const std::array<int, 512> kBytes = [] {
    std::array<int, 512> t{};
    t.fill(-1);
    const std::array<char32_t, 256> symbols = gpt2::byte_symbols();
    for (int b = 0; b < 256; ++b) t[symbols[b]] = b;
    return t;
  }();
  return cp < kBytes.size() ? kBytes[cp] : -1;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  // Like Rust's str::replace: matches in the original text, none inside a replacement.
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// The WordPiece decoder's cleanup of tokenization spaces, in the library's order.
std::string cleanup_spaces(std::string s) {
  static const char* const kPairs[][2] = {{" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
                                          {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
                                          {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& pair : kPairs) s = replace_all(std::move(s), pair[0], pair[1]);
  return s;
}

}  // namespace

Decoder Decoder::parse(const nlohmann::json& j, const std::string& where) {
  Decoder d;
  if (j.is_null()) return d;
  const std::string type = json_type(j, where);
  if (type == "WordPiece") {
    d.kind_ = Kind::kWordPiece;
    d.prefix_ = json_text(j, "prefix", "##", where);
    d.cleanup_ = json_flag(j, "cleanup", true, where);
  } else if (type == "ByteLevel") {
    d.kind_ = Kind::kByteLevel;
  } else {
    throw Error(where + " type '" + type + "' is not supported (supported: WordPiece, ByteLevel)");
  }
  return d;
}

std::string Decoder::apply(const std::vector<std::string>& tokens) const {
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (kind_ == Kind::kNone) {
      out += (i > 0 ? " " : "") + t;
    } else if (kind_ == Kind::kWordPiece) {
      // The first token keeps a prefix it has; later ones lose it or get a space before them.
      std::string word = i == 0 ? t : t.rfind(prefix_, 0) == 0 ? t.substr(prefix_.size()) : " " + t;
      out += cleanup_ ? cleanup_spaces(std::move(word)) : word;
    } else {
      // A token whose characters are all byte symbols stands for those bytes, any other for itself.
      std::string bytes;
      bool all_symbols = true;
      for (char32_t cp : utf8_decode(t, "token")) {
        const int b = byte_of_symbol(cp);
        all_symbols = all_symbols && b >= 0;
        bytes += static_cast<char>(b);
      }
      out += all_symbols ? bytes : t;
    }
  }
  if (kind_ != Kind::kByteLevel) return out;
  return utf8_repair(out, [](const std::string&) { return std::string("\xEF\xBF\xBD"); });
}

}  // namespace dlm::hf
