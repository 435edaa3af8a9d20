// Byte-level BPE (GPT-2, RoBERTa): vocabulary loading and validation, rank-ordered merges over GPT-2's
// pre-tokens with a word cache, and decoding with U+FFFD for bad UTF-8.
#include "dlm/data/bpe_tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iterator>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/json.h"
#include "dlm/utf8.h"
#include "gpt2_pretokenizer.h"

namespace dlm {
namespace {

size_t utf8_length(char32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

const char* const kSpecialNames[] = {"pad", "mask", "bos", "eos", "sep"};

class BpeTokenizer : public Tokenizer {
 public:
  // special_ids: pad, mask, bos, eos, sep. merge_where(i) names merge i in error messages.
  BpeTokenizer(std::vector<std::string> pieces, std::vector<std::pair<std::string, std::string>> merges,
               const std::array<int64_t, 5>& special_ids, const std::string& vocab_where,
               const std::function<std::string(size_t)>& merge_where);

  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::string piece(int64_t id) const override;
  int64_t vocab_size() const override { return vocab_size_; }
  nlohmann::json to_json() const override;

  int64_t pad_id() const override { return special_ids_[0]; }
  int64_t mask_id() const override { return special_ids_[1]; }
  int64_t bos_id() const override { return special_ids_[2]; }
  int64_t eos_id() const override { return special_ids_[3]; }
  int64_t sep_id() const override { return special_ids_[4]; }

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  static uint64_t pair_key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

  // Applies the merges to one pre-token's byte symbols (ids), lowest rank first.
  std::vector<int32_t> merge_word(std::vector<int32_t> word) const;
  // Appends the pieces of one pre-token (its bytes), through the word cache.
  void append_word(const std::string& token, std::vector<int64_t>& ids) const;
  // The constructor's steps: the specials' ids and vocab_size_; the byte symbols' ids and each id's
  // bytes; the merges checked against the vocabulary (`ids`: piece to id) and ranked as pairs.
  void check_specials(const std::string& vocab_where);
  void map_bytes(const std::unordered_map<std::string, int32_t>& ids, const std::string& vocab_where);
  void rank_pairs(const std::unordered_map<std::string, int32_t>& ids,
                  const std::function<std::string(size_t)>& merge_where);

  std::vector<std::string> pieces_;                          // vocabulary string by id, as in the file (byte symbols)
  std::vector<std::string> bytes_;                           // the bytes each ordinary id stands for
  std::vector<std::pair<std::string, std::string>> merges_;  // in rank order, kept for to_json
  std::unordered_map<uint64_t, Merge> pair_merges_;
  std::array<int32_t, 256> byte_ids_{};
  std::array<int64_t, 5> special_ids_{};
  int64_t vocab_size_ = 0;

  // Pre-tokens repeat (" the", "\n"), so their merges are remembered; the mutex keeps encode
  // callable from several threads. Long pre-tokens are rare and not worth keeping.
  static constexpr size_t kCacheLimit = 1 << 18;
  static constexpr size_t kCacheMaxBytes = 64;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

BpeTokenizer::BpeTokenizer(std::vector<std::string> pieces, std::vector<std::pair<std::string, std::string>> merges,
                           const std::array<int64_t, 5>& special_ids, const std::string& vocab_where,
                           const std::function<std::string(size_t)>& merge_where)
    : pieces_(std::move(pieces)), merges_(std::move(merges)), special_ids_(special_ids) {
  check_specials(vocab_where);
  std::unordered_map<std::string, int32_t> ids;
  ids.reserve(pieces_.size());
  for (int32_t id = 0; id < static_cast<int32_t>(pieces_.size()); ++id) ids.emplace(pieces_[id], id);
  map_bytes(ids, vocab_where);
  rank_pairs(ids, merge_where);
}

void BpeTokenizer::check_specials(const std::string& vocab_where) {
  const auto n = static_cast<int64_t>(pieces_.size());
  if (n > INT32_MAX) throw Error(vocab_where + ": vocabulary too large (" + std::to_string(n) + " entries)");
  vocab_size_ = n;
  for (int k = 0; k < 5; ++k) {
    // Specials either reuse vocabulary ids or follow them without a gap, so none can exceed n + 4.
    if (special_ids_[k] < 0 || special_ids_[k] > n + 4) {
      throw Error(vocab_where + ": special id " + kSpecialNames[k] + " = " + std::to_string(special_ids_[k]) +
                  " is outside 0.." + std::to_string(n + 4));
    }
    vocab_size_ = std::max(vocab_size_, special_ids_[k] + 1);
    for (int l = 0; l < k; ++l) {
      if (special_ids_[k] == special_ids_[l]) {
        throw Error(vocab_where + ": specials " + kSpecialNames[l] + " and " + kSpecialNames[k] + " share id " +
                    std::to_string(special_ids_[k]));
      }
    }
  }
  for (int64_t id = n; id < vocab_size_; ++id) {
    if (!is_special(id)) {
      throw Error(vocab_where + ": id " + std::to_string(id) + " is neither in the vocabulary nor a special");
    }
  }
}

void BpeTokenizer::map_bytes(const std::unordered_map<std::string, int32_t>& ids, const std::string& vocab_where) {
  // Byte symbols back to bytes, for decode.
  const std::array<char32_t, 256> symbols = gpt2::byte_symbols();
  std::unordered_map<char32_t, unsigned char> symbol_bytes;
  for (int b = 0; b < 256; ++b) {
    symbol_bytes[symbols[b]] = static_cast<unsigned char>(b);
    const auto it = ids.find(utf8_encode(symbols[b]));
    if (it == ids.end()) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "%02X", b);
      throw Error(vocab_where + ": byte 0x" + buf + " (symbol " + in_quotes(utf8_encode(symbols[b])) +
                  ") is not in the vocabulary");
    }
    byte_ids_[b] = it->second;
  }
  bytes_.resize(pieces_.size());
  for (size_t id = 0; id < pieces_.size(); ++id) {
    // A vocabulary's own specials may use characters outside the byte table; they decode to nothing.
    if (is_special(static_cast<int64_t>(id))) continue;
    for (char32_t cp : utf8_decode(pieces_[id], vocab_where + ": piece of id " + std::to_string(id))) {
      const auto it = symbol_bytes.find(cp);
      bytes_[id] += it == symbol_bytes.end() ? utf8_encode(cp) : std::string(1, static_cast<char>(it->second));
    }
  }
}

void BpeTokenizer::rank_pairs(const std::unordered_map<std::string, int32_t>& ids,
                              const std::function<std::string(size_t)>& merge_where) {
  // The reference looks a pair's rank up under the key "first,second" (a JavaScript array used as an
  // object key), so a pair whose key equals a merge's key gets that merge's rank even when it is not
  // that merge: GPT-2's merge ("\"", ",\"") also ranks the pair ("\",", "\""). Every split of every key
  // at a comma into two vocabulary pieces is therefore a pair with that rank; a later duplicate key
  // wins, as in the reference and in OpenAI's Python encoder.
  std::unordered_map<std::string, int32_t> key_ranks;
  key_ranks.reserve(merges_.size());
  for (size_t r = 0; r < merges_.size(); ++r) {
    const auto& [first, second] = merges_[r];
    const auto a = ids.find(first), b = ids.find(second), ab = ids.find(first + second);
    if (a == ids.end() || b == ids.end() || ab == ids.end()) {
      const std::string& missing = a == ids.end() ? first : b == ids.end() ? second : first + second;
      throw Error(merge_where(r) + ": " + in_quotes(missing) + " is not in the vocabulary");
    }
    for (auto id : {a->second, b->second, ab->second}) {
      if (is_special(id)) throw Error(merge_where(r) + ": merges the special " + in_quotes(pieces_[id]));
    }
    key_ranks[first + "," + second] = static_cast<int32_t>(r);
  }
  pair_merges_.reserve(key_ranks.size());
  for (const auto& [key, rank] : key_ranks) {
    for (size_t comma = key.find(','); comma != std::string::npos; comma = key.find(',', comma + 1)) {
      if (comma == 0 || comma + 1 == key.size()) continue;
      const std::string first = key.substr(0, comma), second = key.substr(comma + 1);
      const auto a = ids.find(first), b = ids.find(second), ab = ids.find(first + second);
      // A pair whose concatenation is not a piece would give the reference an undefined id; skip it.
      if (a == ids.end() || b == ids.end() || ab == ids.end()) continue;
      if (is_special(a->second) || is_special(b->second) || is_special(ab->second)) continue;
      pair_merges_[pair_key(a->second, b->second)] = Merge{rank, ab->second};
    }
  }
}

std::vector<int32_t> BpeTokenizer::merge_word(std::vector<int32_t> word) const {
  // As in the reference: pick the lowest-ranked adjacent pair (the rightmost one on a tie, which only
  // the comma-key pairs above can produce), merge all its occurrences left to right, repeat.
  std::vector<int32_t> merged;
  while (word.size() >= 2) {
    int32_t best_rank = INT32_MAX;
    size_t best = word.size();
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      const auto it = pair_merges_.find(pair_key(word[i], word[i + 1]));
      if (it != pair_merges_.end() && it->second.rank <= best_rank) {
        best_rank = it->second.rank;
        best = i;
      }
    }
    if (best == word.size()) break;
    const int32_t first = word[best], second = word[best + 1];
    const int32_t result = pair_merges_.at(pair_key(first, second)).result;
    merged.clear();
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(result);
        i += 2;
      } else {
        merged.push_back(word[i]);
        ++i;
      }
    }
    word.swap(merged);
  }
  return word;
}

void BpeTokenizer::append_word(const std::string& token, std::vector<int64_t>& ids) const {
  const bool cacheable = token.size() <= kCacheMaxBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(token);
    if (it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> word;
  word.reserve(token.size());
  for (unsigned char b : token) word.push_back(byte_ids_[b]);
  const std::vector<int32_t> pieces = merge_word(std::move(word));
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kCacheLimit) cache_.clear();
    cache_.emplace(token, pieces);
  }
}

std::vector<int64_t> BpeTokenizer::encode(const std::string& text) const {
  const std::vector<char32_t> cps = utf8_decode(text, "text");
  std::vector<int64_t> ids;
  ids.reserve(text.size() / 3 + 1);
  size_t begin = 0, byte_pos = 0;  // code point and byte offsets of the pre-token's start
  for (const size_t end : gpt2::pre_token_ends(cps)) {
    size_t len = 0;
    for (size_t k = begin; k < end; ++k) len += utf8_length(cps[k]);
    append_word(text.substr(byte_pos, len), ids);
    byte_pos += len;
    begin = end;
  }
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string bytes;
  for (int64_t id : ids) {
    check_id(id);
    if (!is_special(id)) bytes += bytes_[id];
  }
  // A sample may end inside a character or put pieces in an order that is not UTF-8.
  return utf8_repair(bytes, [](const std::string&) { return std::string("\xEF\xBF\xBD"); });
}

std::string BpeTokenizer::piece(int64_t id) const {
  check_id(id);
  if (id == pad_id()) return "<pad>";
  if (id == mask_id()) return "<mask>";
  if (id == bos_id()) return "<bos>";
  if (id == eos_id()) return "<eos>";
  if (id == sep_id()) return "<sep>";
  // Pieces holding part of a character show those bytes as <XX>, as the byte tokenizer does.
  return utf8_repair(bytes_[id], [](const std::string& part) {
    std::string out;
    for (unsigned char b : part) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "<%02X>", b);
      out += buf;
    }
    return out;
  });
}

nlohmann::json BpeTokenizer::to_json() const {
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t id = 0; id < pieces_.size(); ++id) vocab[pieces_[id]] = id;
  std::vector<std::string> merges;
  merges.reserve(merges_.size());
  for (const auto& [first, second] : merges_) merges.push_back(first + " " + second);
  nlohmann::json specials = nlohmann::json::object();
  for (int k = 0; k < 5; ++k) specials[kSpecialNames[k]] = special_ids_[k];
  return {{"kind", "bpe"}, {"vocab", std::move(vocab)}, {"merges", std::move(merges)}, {"special_ids", specials}};
}

// The pieces of a {piece: id} object, indexed by id; ids must run from 0 to N-1 without duplicates.
std::vector<std::string> pieces_by_id(const nlohmann::json& vocab, const std::string& where) {
  if (!vocab.is_object()) throw Error(where + ": expected a JSON object {piece: id}");
  const size_t n = vocab.size();
  std::vector<std::string> pieces(n);
  std::vector<bool> seen(n, false);
  for (const auto& [piece, value] : vocab.items()) {
    if (!value.is_number_integer()) throw Error(where + ": id of " + in_quotes(piece) + " is not an integer");
    const int64_t id = value.get<int64_t>();
    if (id < 0 || static_cast<size_t>(id) >= n) {
      throw Error(where + ": id " + std::to_string(id) + " of " + in_quotes(piece) + " is outside 0.." +
                  std::to_string(static_cast<int64_t>(n) - 1) + " (ids must run from 0 to N-1)");
    }
    if (seen[id]) {
      throw Error(where + ": id " + std::to_string(id) + " is used by both " + in_quotes(pieces[id]) + " and " +
                  in_quotes(piece));
    }
    seen[id] = true;
    pieces[id] = piece;
  }
  return pieces;
}

// Splits "first second" (any run of spaces or tabs between); anything but two tokens is an error.
std::pair<std::string, std::string> parse_merge(const std::string& line, const std::string& where) {
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) tokens.push_back(line.substr(start, i - start));
  }
  if (tokens.size() != 2) {
    throw Error(where + ": expected two tokens separated by a space, got " + std::to_string(tokens.size()) + " in '" +
                line + "'");
  }
  return {tokens[0], tokens[1]};
}

}  // namespace

std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& folder) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    throw Error(folder + ": not a folder (a bpe tokenizer needs vocab.json + merges.txt or encoder.json + vocab.bpe)");
  }
  // RoBERTa names its files vocab.json + merges.txt, GPT-2 encoder.json + vocab.bpe; same formats.
  const fs::path dir(folder);
  const bool roberta = fs::exists(dir / "vocab.json", ec) || fs::exists(dir / "merges.txt", ec);
  const bool gpt2 = fs::exists(dir / "encoder.json", ec) || fs::exists(dir / "vocab.bpe", ec);
  if (!roberta && !gpt2) {
    throw Error(folder + ": no vocab.json + merges.txt or encoder.json + vocab.bpe (byte-level BPE files)");
  }
  const std::string vocab_path = (dir / (roberta ? "vocab.json" : "encoder.json")).string();
  const std::string merges_path = (dir / (roberta ? "merges.txt" : "vocab.bpe")).string();
  for (const auto& path : {vocab_path, merges_path}) {
    if (!fs::exists(path, ec)) {
      throw Error(path + ": missing (a bpe tokenizer needs both " + fs::path(vocab_path).filename().string() + " and " +
                  fs::path(merges_path).filename().string() + ")");
    }
  }

  std::vector<std::string> pieces = pieces_by_id(parse_json(read_file(vocab_path), vocab_path), vocab_path);

  // Specials: the vocabulary's own where it has them, else new ids after the last piece.
  std::unordered_map<std::string, int64_t> ids;
  for (size_t id = 0; id < pieces.size(); ++id) ids.emplace(pieces[id], static_cast<int64_t>(id));
  const auto own = [&](std::initializer_list<const char*> names) -> int64_t {
    for (const char* name : names) {
      const auto it = ids.find(name);
      if (it != ids.end()) return it->second;
    }
    return -1;
  };
  std::array<int64_t, 5> special_ids = {own({"<pad>"}), own({"<mask>"}), own({"<s>"}), own({"</s>", "<|endoftext|>"}),
                                        -1};
  int64_t next_id = static_cast<int64_t>(pieces.size());
  for (auto& id : special_ids) {
    if (id < 0) id = next_id++;
  }

  const std::string text = read_file(merges_path);
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<size_t> line_numbers;
  std::vector<std::string> lines = split_lines(text);
  while (!lines.empty() && lines.back().find_first_not_of(" \t") == std::string::npos) lines.pop_back();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i == 0 && lines[i].rfind("#version", 0) == 0) continue;
    const std::string where = merges_path + ":" + std::to_string(i + 1);
    merges.push_back(parse_merge(lines[i], where));
    line_numbers.push_back(i + 1);
  }

  return std::make_unique<BpeTokenizer>(std::move(pieces), std::move(merges), special_ids, vocab_path,
                                        [&](size_t r) { return merges_path + ":" + std::to_string(line_numbers[r]); });
}

std::unique_ptr<Tokenizer> bpe_tokenizer_from_json(const nlohmann::json& j) {
  const std::string where = "bpe tokenizer description";
  if (!j.is_object()) throw Error(where + ": expected a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "kind" && key != "vocab" && key != "merges" && key != "special_ids") {
      throw Error(where + ": unknown key '" + key + "'");
    }
  }
  for (const char* key : {"vocab", "merges", "special_ids"}) {
    if (!j.contains(key)) throw Error(where + ": missing '" + std::string(key) + "'");
  }
  std::vector<std::string> pieces = pieces_by_id(j["vocab"], where + ": vocab");

  const nlohmann::json& jm = j["merges"];
  if (!jm.is_array()) throw Error(where + ": merges: expected an array of \"first second\" strings");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(jm.size());
  for (size_t i = 0; i < jm.size(); ++i) {
    const std::string at = where + ": merges[" + std::to_string(i) + "]";
    if (!jm[i].is_string()) throw Error(at + ": expected a string");
    merges.push_back(parse_merge(jm[i].get<std::string>(), at));
  }

  const nlohmann::json& js = j["special_ids"];
  if (!js.is_object()) throw Error(where + ": special_ids: expected an object");
  std::array<int64_t, 5> special_ids{};
  for (int k = 0; k < 5; ++k) {
    if (!js.contains(kSpecialNames[k]) || !js[kSpecialNames[k]].is_number_integer()) {
      throw Error(where + ": special_ids." + kSpecialNames[k] + ": expected an integer id");
    }
    special_ids[k] = js[kSpecialNames[k]].get<int64_t>();
  }
  return std::make_unique<BpeTokenizer>(std::move(pieces), std::move(merges), special_ids, where,
                                        [&](size_t r) { return where + ": merges[" + std::to_string(r) + "]"; });
}

}  // namespace dlm
