// Character- and byte-level tokenizers with shared special-token ids.
#include "dlm/data/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "dlm/data/bpe_tokenizer.h"
#include "dlm/data/hf_tokenizer.h"
#include "dlm/data/sentencepiece_tokenizer.h"
#include "dlm/error.h"
#include "dlm/utf8.h"
#include "hf_tokenizer_config.h"

namespace dlm {
namespace {

const char* special_piece(int64_t id) {
  static const char* kNames[] = {"<pad>", "<mask>", "<bos>", "<eos>", "<sep>"};
  return kNames[id];
}

std::string describe_code_point(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "U+%04X", static_cast<unsigned>(cp));
  return "'" + utf8_encode(cp) + "' (" + buf + ")";
}

void check_id(int64_t id, int64_t vocab_size) {
  if (id < 0 || id >= vocab_size) {
    throw Error("token id " + std::to_string(id) + " is out of range (vocabulary size " + std::to_string(vocab_size) +
                ")");
  }
}

}  // namespace

void Tokenizer::check_id(int64_t id) const { dlm::check_id(id, vocab_size()); }

std::vector<int64_t> Tokenizer::encode_for_model(const std::string& text) const {
  std::vector<int64_t> ids = template_before();
  const std::vector<int64_t> body = encode(text), after = template_after();
  ids.insert(ids.end(), body.begin(), body.end());
  ids.insert(ids.end(), after.begin(), after.end());
  return ids;
}

CharTokenizer CharTokenizer::build(const std::vector<std::string>& texts) {
  std::set<char32_t> seen;
  for (size_t i = 0; i < texts.size(); ++i) {
    for (char32_t cp : utf8_decode(texts[i], "example " + std::to_string(i + 1))) seen.insert(cp);
  }
  return CharTokenizer(std::vector<char32_t>(seen.begin(), seen.end()));
}

CharTokenizer::CharTokenizer(std::vector<char32_t> chars) : chars_(std::move(chars)) {
  for (size_t i = 0; i < chars_.size(); ++i) {
    if (!index_.emplace(chars_[i], SpecialTokens::kCount + static_cast<int64_t>(i)).second) {
      throw Error("tokenizer: character " + describe_code_point(chars_[i]) + " listed twice");
    }
  }
}

std::vector<int64_t> CharTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  for (char32_t cp : utf8_decode(text, "text")) {
    const auto it = index_.find(cp);
    if (it == index_.end()) {
      throw Error("character " + describe_code_point(cp) + " is not in the tokenizer's vocabulary (" +
                  std::to_string(chars_.size()) + " characters seen in training)");
    }
    ids.push_back(it->second);
  }
  return ids;
}

std::string CharTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    check_id(id);
    if (id >= SpecialTokens::kCount) out += utf8_encode(chars_[id - SpecialTokens::kCount]);
  }
  return out;
}

std::string CharTokenizer::piece(int64_t id) const {
  check_id(id);
  if (id < SpecialTokens::kCount) return special_piece(id);
  return utf8_encode(chars_[id - SpecialTokens::kCount]);
}

nlohmann::json CharTokenizer::to_json() const {
  std::vector<uint32_t> cps(chars_.begin(), chars_.end());
  return {{"kind", "char"}, {"code_points", cps}};
}

std::vector<int64_t> ByteTokenizer::encode(const std::string& text) const {
  if (!utf8_valid(text)) utf8_decode(text, "text");  // throws with the offset of the bad byte
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  for (unsigned char b : text) ids.push_back(SpecialTokens::kCount + b);
  return ids;
}

std::string ByteTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string bytes;
  for (int64_t id : ids) {
    check_id(id);
    if (id >= SpecialTokens::kCount) bytes += static_cast<char>(id - SpecialTokens::kCount);
  }
  if (utf8_valid(bytes)) return bytes;
  // A sampled byte sequence may be invalid UTF-8: replace each bad byte so output stays printable.
  std::string out;
  for (size_t i = 0; i < bytes.size();) {
    size_t len = 1;
    for (size_t l = 4; l >= 1; --l) {
      if (i + l <= bytes.size() && utf8_valid(bytes.substr(i, l))) {
        len = l;
        break;
      }
    }
    out += utf8_valid(bytes.substr(i, len)) ? bytes.substr(i, len) : std::string("\xEF\xBF\xBD");
    i += len;
  }
  return out;
}

std::string ByteTokenizer::piece(int64_t id) const {
  check_id(id);
  if (id < SpecialTokens::kCount) return special_piece(id);
  const unsigned char b = static_cast<unsigned char>(id - SpecialTokens::kCount);
  if (b < 0x80) return std::string(1, static_cast<char>(b));
  char buf[8];
  std::snprintf(buf, sizeof(buf), "<%02X>", b);
  return buf;
}

nlohmann::json ByteTokenizer::to_json() const { return {{"kind", "byte"}}; }

std::unique_ptr<Tokenizer> build_tokenizer(const TokenizerConfig& config, const std::vector<std::string>& texts,
                                           const std::string& work_dir) {
  switch (config.kind) {
    case TokenizerKind::kChar:
      return std::make_unique<CharTokenizer>(CharTokenizer::build(texts));
    case TokenizerKind::kByte:
      return std::make_unique<ByteTokenizer>();
    case TokenizerKind::kBpe:
      if (config.path.empty())
        throw Error("tokenizer.path: a bpe tokenizer needs the folder with its vocabulary files");
      return load_bpe_tokenizer(config.path);
    case TokenizerKind::kSentencePiece:
      if (!config.path.empty()) return load_sentencepiece_model(config.path);
      return train_sentencepiece(config, texts, work_dir);
    case TokenizerKind::kHf:
      return load_hf_tokenizer(config.path);
  }
  throw Error("tokenizer kind " + std::to_string(static_cast<int>(config.kind)) + " has no builder");
}

std::unique_ptr<Tokenizer> load_tokenizer_files(const std::string& path) {
  std::error_code ec;
  namespace fs = std::filesystem;
  if (!fs::exists(path, ec)) throw Error("tokenizer '" + path + "' does not exist");
  const bool dir = fs::is_directory(path, ec);
  if (dir ? fs::exists(fs::path(path) / "tokenizer.json", ec) : fs::path(path).extension() == ".json") {
    return load_hf_tokenizer(path);
  }
  if (dir && hf::is_slow_qwen2_folder(path)) return load_hf_tokenizer(path);  // Qwen2Tokenizer's own files
  if (dir) return load_bpe_tokenizer(path);
  return load_sentencepiece_model(path);
}

std::unique_ptr<Tokenizer> tokenizer_from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string()) {
    throw Error("tokenizer description is malformed (no 'kind')");
  }
  // A saved tokenizer.json carries the whole file, not a path.
  if (j["kind"] == "hf") return hf_tokenizer_from_json(j);
  TokenizerKind kind;
  try {
    kind = parse_enum<TokenizerKind>(j["kind"].get<std::string>(), "tokenizer kind");
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " in checkpoint");
  }
  if (kind == TokenizerKind::kByte) return std::make_unique<ByteTokenizer>();
  if (kind == TokenizerKind::kBpe) return bpe_tokenizer_from_json(j);
  if (kind == TokenizerKind::kSentencePiece) return sentencepiece_from_json(j);
  {
    if (!j.contains("code_points") || !j["code_points"].is_array()) throw Error("char tokenizer has no 'code_points'");
    std::vector<char32_t> chars;
    for (const auto& v : j["code_points"]) {
      if (!v.is_number_unsigned() || v.get<uint64_t>() > 0x10FFFF)
        throw Error("char tokenizer has an invalid code point");
      chars.push_back(static_cast<char32_t>(v.get<uint64_t>()));
    }
    return std::make_unique<CharTokenizer>(std::move(chars));
  }
}

}  // namespace dlm
