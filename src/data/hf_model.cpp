// tokenizer.json's `model` section: reading WordPiece and BPE, and splitting a word into their ids.
#include "hf_model.h"

#include <algorithm>
#include <queue>

#include "dlm/error.h"
#include "dlm/utf8.h"
#include "hf_normalizer.h"

namespace dlm::hf {

using Json = nlohmann::json;

int64_t id_value(const Json& v, const std::string& where) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX) {
    throw Error(where + ": expected a token id (an integer from 0 to 2^31-1)");
  }
  return v.get<int64_t>();
}

uint64_t Model::key(int64_t a, int64_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

int64_t Model::unk_id() const {
  const auto it = vocab.find(unk_token);
  if (!has_unk || it == vocab.end()) {
    throw Error(where + ": unk_token " + in_quotes(unk_token) + " is not in the vocabulary (needed for this text)");
  }
  return it->second;
}

void Model::tokenize(const std::string& word, std::vector<int64_t>& ids) const {
  std::vector<size_t> bounds;  // byte offset of each character, then the end
  for (size_t i = 0; i < word.size(); ++i) {
    if ((static_cast<unsigned char>(word[i]) & 0xC0) != 0x80) bounds.push_back(i);
  }
  bounds.push_back(word.size());
  wordpiece ? tokenize_wordpiece(word, bounds, ids) : tokenize_bpe(word, bounds, ids);
}

void Model::tokenize_wordpiece(const std::string& word, const std::vector<size_t>& bounds,
                               std::vector<int64_t>& ids) const {
  const size_t n = bounds.size() - 1;
  if (n > max_chars) return ids.push_back(unk_id());
  std::vector<int64_t> parts;
  for (size_t start = 0; start < n;) {
    size_t end = n;
    for (; end > start; --end) {
      const std::string sub = (start > 0 ? prefix : "") + word.substr(bounds[start], bounds[end] - bounds[start]);
      const auto it = vocab.find(sub);
      if (it != vocab.end()) {
        parts.push_back(it->second);
        break;
      }
    }
    if (end == start) return ids.push_back(unk_id());
    start = end;
  }
  ids.insert(ids.end(), parts.begin(), parts.end());
}

void Model::tokenize_bpe(const std::string& word, const std::vector<size_t>& bounds, std::vector<int64_t>& ids) const {
  if (ignore_merges) {
    const auto it = vocab.find(word);
    if (it != vocab.end()) return ids.push_back(it->second);
  }
  // One symbol per character; characters missing from the vocabulary become unk (runs fused with
  // fuse_unk) or, without an unk_token, vanish, as in the library.
  std::vector<int64_t> symbols;
  bool pending_unk = false;
  const size_t n = bounds.size() - 1;
  for (size_t k = 0; k < n; ++k) {
    std::string s = word.substr(bounds[k], bounds[k + 1] - bounds[k]);
    if (k > 0) s = prefix + s;
    if (k + 1 == n) s += suffix;
    const auto it = vocab.find(s);
    if (it != vocab.end()) {
      if (pending_unk) symbols.push_back(unk_id());
      pending_unk = false;
      symbols.push_back(it->second);
    } else if (has_unk) {
      if (pending_unk && !fuse_unk) symbols.push_back(unk_id());
      pending_unk = true;
      unk_id();  // throws now if the unk token is missing, as the library does
    }
  }
  if (pending_unk) symbols.push_back(unk_id());
  merge_all(symbols);
  ids.insert(ids.end(), symbols.begin(), symbols.end());
}

void Model::merge_all(std::vector<int64_t>& symbols) const {
  struct Candidate {
    int32_t rank;
    size_t pos;
    int32_t result;
  };
  const auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(later)> queue(later);
  const size_t n = symbols.size();
  std::vector<ptrdiff_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  const auto push = [&](size_t pos) {
    if (next[pos] < 0) return;
    const auto it = merges.find(key(symbols[pos], symbols[next[pos]]));
    if (it != merges.end()) queue.push({it->second.rank, pos, it->second.result});
  };
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<ptrdiff_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<ptrdiff_t>(i + 1) : -1;
  }
  for (size_t i = 0; i + 1 < n; ++i) push(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    if (!alive[top.pos] || next[top.pos] < 0) continue;
    const auto right = static_cast<size_t>(next[top.pos]);
    const auto it = merges.find(key(symbols[top.pos], symbols[right]));
    if (it == merges.end() || it->second.result != top.result) continue;
    symbols[top.pos] = top.result;
    alive[right] = false;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = static_cast<ptrdiff_t>(top.pos);
    if (prev[top.pos] >= 0) push(static_cast<size_t>(prev[top.pos]));
    push(top.pos);
  }
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    if (alive[i]) symbols[out++] = symbols[i];
  }
  symbols.resize(out);
}

namespace {

// {piece: id} with ids running from 0 to N-1 (the library allows gaps; real files have none).
void read_vocab(const Json& j, const std::string& where, Model& m) {
  if (!j.is_object()) throw Error(where + ": expected a JSON object {token: id}");
  m.pieces.assign(j.size(), std::string());
  std::vector<bool> seen(j.size(), false);
  for (const auto& [piece, value] : j.items()) {
    const int64_t id = id_value(value, where + ": id of " + in_quotes(piece));
    if (static_cast<size_t>(id) >= j.size()) {
      throw Error(where + ": id " + std::to_string(id) + " of " + in_quotes(piece) + " is outside 0.." +
                  std::to_string(j.size() - 1) + " (ids must run from 0 to N-1)");
    }
    if (seen[id]) {
      throw Error(where + ": id " + std::to_string(id) + " is used by both " + in_quotes(m.pieces[id]) + " and " +
                  in_quotes(piece));
    }
    seen[id] = true;
    m.pieces[id] = piece;
    m.vocab.emplace(piece, id);
  }
}

// Merges as ["a b", ...] or [["a", "b"], ...]; a pair listed twice keeps its later rank, as in the library.
void read_merges(const Json& j, const std::string& where, Model& m) {
  if (!j.is_array()) throw Error(where + ": expected an array of \"a b\" strings or [\"a\", \"b\"] pairs");
  int32_t rank = 0;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    std::string first, second;
    if (j[i].is_string()) {
      const std::string line = j[i].get<std::string>();
      if (line.rfind("#version", 0) == 0) continue;  // skipped without taking a rank, as in the library
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        throw Error(at + ": expected two tokens separated by one space, got " + in_quotes(line));
      }
      first = line.substr(0, space), second = line.substr(space + 1);
    } else if (j[i].is_array() && j[i].size() == 2 && j[i][0].is_string() && j[i][1].is_string()) {
      first = j[i][0].get<std::string>(), second = j[i][1].get<std::string>();
    } else {
      throw Error(at + ": expected \"a b\" or [\"a\", \"b\"]");
    }
    // The library drops the second part's continuation prefix by length, present or not.
    const std::string joined = first + second.substr(std::min(m.prefix.size(), second.size()));
    for (const std::string& token : {first, second, joined}) {
      if (!m.vocab.count(token)) throw Error(at + ": " + in_quotes(token) + " is not in the vocabulary");
    }
    m.merges[Model::key(m.vocab[first], m.vocab[second])] = {rank++, static_cast<int32_t>(m.vocab[joined])};
  }
}

}  // namespace

Model read_model(const Json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected an object");
  // Files from before the library wrote "type" are told apart by their fields.
  const std::string type = hf::json_text(j, "type", j.contains("merges") ? "BPE" : "WordPiece", where);
  if (type != "WordPiece" && type != "BPE") {
    throw Error(where + " type " + in_quotes(type) + " is not supported (supported: WordPiece, BPE)");
  }
  if (!j.contains("vocab")) throw Error(where + ": no 'vocab'");
  Model m;
  m.where = where;
  m.wordpiece = type == "WordPiece";
  read_vocab(j["vocab"], where + ".vocab", m);
  if (m.wordpiece) {
    m.has_unk = true;
    m.unk_token = hf::json_text(j, "unk_token", "[UNK]", where);
    m.prefix = hf::json_text(j, "continuing_subword_prefix", "##", where);
    if (j.contains("max_input_chars_per_word")) {
      const Json& v = j["max_input_chars_per_word"];
      if (!v.is_number_integer() || v.get<int64_t>() < 0) {
        throw Error(where + ".max_input_chars_per_word: expected a non-negative integer");
      }
      m.max_chars = v.get<size_t>();
    }
    return m;
  }
  if (j.contains("dropout") && !j["dropout"].is_null() &&
      !(j["dropout"].is_number() && j["dropout"].get<double>() == 0)) {
    throw Error(where + ".dropout: only null or 0 is supported (dlm tokenizes deterministically)");
  }
  if (hf::json_flag(j, "byte_fallback", false, where)) throw Error(where + ".byte_fallback: true is not supported");
  m.has_unk = j.contains("unk_token") && !j["unk_token"].is_null();
  m.unk_token = hf::json_text(j, "unk_token", "", where);
  m.prefix = hf::json_text(j, "continuing_subword_prefix", "", where);
  m.suffix = hf::json_text(j, "end_of_word_suffix", "", where);
  m.fuse_unk = hf::json_flag(j, "fuse_unk", false, where);
  m.ignore_merges = hf::json_flag(j, "ignore_merges", false, where);
  if (!j.contains("merges")) throw Error(where + ": no 'merges'");
  read_merges(j["merges"], where + ".merges", m);
  return m;
}

}  // namespace dlm::hf
