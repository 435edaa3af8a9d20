// Reading, tokenising and splitting data sets.
#include "dlm/data/dataset.h"

#include <filesystem>
#include <random>

#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/json.h"
#include "dlm/utf8.h"

namespace dlm {
namespace {

bool is_blank(const std::string& s) { return s.find_first_not_of(" \t") == std::string::npos; }

std::string extension(const std::string& path) { return std::filesystem::path(path).extension().string(); }

// The concrete format: plain, jsonl or tsv.
DataFormat resolve_format(const DataConfig& c) {
  if (c.format != DataFormat::kAuto) return c.format;
  const std::string ext = extension(c.path);
  if (ext == ".jsonl") return DataFormat::kJsonl;
  if (ext == ".tsv") return DataFormat::kTsv;
  return DataFormat::kPlain;
}

const std::string& json_string(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) throw Error(where + ": JSON line has no \"" + key + "\" field");
  if (!j[key].is_string()) throw Error(where + ": field \"" + std::string(key) + "\" must be a string");
  return j[key].get_ref<const std::string&>();
}

}  // namespace

std::vector<TextExample> read_examples(const DataConfig& c) { return parse_examples(c, read_file(c.path)); }

std::vector<TextExample> parse_examples(const DataConfig& c, const std::string& content) {
  const DataFormat format = resolve_format(c);
  if (c.kind == DataKind::kCorpus && format == DataFormat::kTsv) {
    throw Error("data.format '" + enum_name(format) + "' is not supported for data.kind 'corpus' (use plain or jsonl)");
  }
  if (c.kind == DataKind::kText && format != DataFormat::kPlain) {
    throw Error("data.format '" + enum_name(format) + "' is not supported for data.kind 'text' (use plain)");
  }
  std::vector<std::string> lines = split_lines(content);
  for (size_t i = 0; i < lines.size(); ++i) utf8_decode(lines[i], c.path + ":" + std::to_string(i + 1));

  std::vector<TextExample> out;
  const auto where = [&](size_t i) { return c.path + ":" + std::to_string(i + 1); };
  if (c.kind == DataKind::kText || (c.kind == DataKind::kCorpus && format == DataFormat::kPlain)) {
    // A plain corpus file is one document.
    if (!is_blank(content)) out.push_back({"", content, c.path});
  } else if (format == DataFormat::kJsonl) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (is_blank(lines[i])) continue;
      const nlohmann::json j = parse_json(lines[i], where(i));
      if (c.kind == DataKind::kPairs) {
        out.push_back({json_string(j, "prompt", where(i)) + c.separator, json_string(j, "answer", where(i)), where(i)});
      } else {
        out.push_back({"", json_string(j, "text", where(i)), where(i)});
      }
    }
  } else if (c.kind == DataKind::kLines) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (!is_blank(lines[i])) out.push_back({"", lines[i], where(i)});
    }
  } else if (c.kind == DataKind::kPairs) {
    const std::string sep = format == DataFormat::kTsv ? "\t" : c.separator;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (is_blank(lines[i])) continue;
      const auto pos = lines[i].find(sep);
      if (pos == std::string::npos) {
        throw Error(where(i) + ": no separator '" + (sep == "\t" ? std::string("\\t") : sep) +
                    "' between prompt and answer");
      }
      // The separator stays part of the prompt, so `--prefix "hello>"` is exactly what training saw.
      out.push_back({lines[i].substr(0, pos) + c.separator, lines[i].substr(pos + sep.size()), where(i)});
    }
  } else {
    // Documents (the only kind left) are separated by blank lines; each keeps its trailing newline.
    std::string doc;
    size_t first = 0;
    for (size_t i = 0; i <= lines.size(); ++i) {
      if (i == lines.size() || is_blank(lines[i])) {
        if (!doc.empty()) out.push_back({"", doc, where(first)});
        doc.clear();
        continue;
      }
      if (doc.empty()) first = i;
      doc += lines[i] + "\n";
    }
  }
  if (out.empty()) throw Error(c.path + ": no usable example (the file is empty or blank)");
  return out;
}

std::vector<std::string> vocabulary_texts(const std::vector<TextExample>& examples) {
  std::vector<std::string> texts;
  texts.reserve(examples.size() * 2);
  for (const auto& e : examples) {
    texts.push_back(e.prompt);
    texts.push_back(e.text);
  }
  return texts;
}

std::vector<int64_t> shuffled_indices(int64_t n, uint64_t seed) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[i] = i;
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(idx[i], idx[j]);
  }
  return idx;
}

Example text_window(const std::vector<int64_t>& tokens, int64_t start, int64_t seq_len, int64_t pad_id) {
  const int64_t stop = std::min(static_cast<int64_t>(tokens.size()), start + seq_len);
  Example e;
  e.ids.assign(tokens.begin() + start, tokens.begin() + stop);
  e.n_content = stop - start;
  e.ids.resize(static_cast<size_t>(seq_len), pad_id);
  return e;
}

Dataset make_dataset(const DataConfig& c, const Tokenizer& tok, const std::vector<TextExample>& examples) {
  const int64_t L = c.seq_len;
  std::vector<Example> all;
  const auto finish = [&](std::vector<int64_t> ids, int64_t n_prompt, bool add_eos) {
    if (add_eos) ids.push_back(tok.eos_id());
    Example e;
    e.n_prompt = n_prompt;
    e.n_content = static_cast<int64_t>(ids.size());
    ids.resize(static_cast<size_t>(L), tok.pad_id());
    e.ids = std::move(ids);
    all.push_back(std::move(e));
  };
  if (c.kind == DataKind::kText) {
    // One corpus cut into windows of seq_len tokens; text runs on across windows, so only the
    // last (partial) window carries EOS.
    for (const auto& ex : examples) {
      const std::vector<int64_t> ids = tok.encode(ex.text);
      for (size_t start = 0; start < ids.size(); start += static_cast<size_t>(L)) {
        const size_t end = std::min(ids.size(), start + static_cast<size_t>(L));
        std::vector<int64_t> window(ids.begin() + start, ids.begin() + end);
        finish(std::move(window), 0, static_cast<int64_t>(end - start) < L);
      }
    }
  } else {
    for (const auto& ex : examples) {
      std::vector<int64_t> ids = tok.encode(ex.prompt);
      const int64_t n_prompt = static_cast<int64_t>(ids.size());
      const std::vector<int64_t> text = tok.encode(ex.text);
      ids.insert(ids.end(), text.begin(), text.end());
      if (static_cast<int64_t>(ids.size()) + 1 > L) {
        throw Error(ex.where + ": example needs " + std::to_string(ids.size() + 1) +
                    " tokens (with EOS) but data.seq_len is " + std::to_string(L) + "; raise data.seq_len");
      }
      finish(std::move(ids), n_prompt, true);
    }
  }
  if (all.empty()) throw Error(c.path + ": no usable example");

  Dataset ds;
  const int64_t n = static_cast<int64_t>(all.size());
  int64_t n_val = std::min<int64_t>(c.val_max, static_cast<int64_t>(static_cast<double>(n) * c.val_fraction));
  if (n_val <= 0 || n_val >= n) n_val = 0;
  if (c.kind == DataKind::kText) {
    // Running text validates on its end: a random window would sit between training windows
    // that share its sentences, and the usual split of a corpus file is first 90% / last 10%.
    for (int64_t i = 0; i < n; ++i) (i >= n - n_val ? ds.val : ds.train).push_back(all[static_cast<size_t>(i)]);
  } else {
    const std::vector<int64_t> order = shuffled_indices(n, static_cast<uint64_t>(c.shuffle_seed));
    for (int64_t i = 0; i < n; ++i) (i < n_val ? ds.val : ds.train).push_back(all[order[i]]);
  }
  if (ds.val.empty()) {
    ds.val = ds.train;
    ds.val_is_train = true;
  }
  if (c.kind == DataKind::kText && c.window_offsets == WindowOffsets::kRandom) {
    for (const auto& e : ds.train)
      ds.train_tokens.insert(ds.train_tokens.end(), e.ids.begin(), e.ids.begin() + e.n_content);
  }
  return ds;
}

}  // namespace dlm
