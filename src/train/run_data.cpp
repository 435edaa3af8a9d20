// What a run trains and validates on, and the tokenizer of a new run.
#include "dlm/train/run_data.h"

#include <filesystem>

#include "dlm/files.h"
#include "dlm/log.h"

namespace dlm {
namespace fs = std::filesystem;

Example RunData::train_at(int64_t i) const {
  return is_corpus ? corpus.train->block(i) : memory.train[static_cast<size_t>(i)];
}

int64_t RunData::train_window_starts(int64_t seq_len) const {
  if (is_corpus) return corpus.train->window_starts();
  return std::max<int64_t>(1, static_cast<int64_t>(memory.train_tokens.size()) - seq_len + 1);
}

Example RunData::train_window(int64_t start, int64_t seq_len, int64_t pad_id) const {
  return is_corpus ? corpus.train->window(start) : text_window(memory.train_tokens, start, seq_len, pad_id);
}

std::vector<Example> RunData::val_head(int64_t max) const {
  if (max <= 0 || max >= static_cast<int64_t>(val.size())) return val;
  return std::vector<Example>(val.begin(), val.begin() + max);
}

std::string RunData::describe(const Config& config, const Tokenizer& tokenizer) const {
  const std::string offsets =
      config.data.window_offsets == WindowOffsets::kRandom ? " (training windows at random offsets)" : "";
  if (is_corpus && corpus.val_is_tail) {
    return log::format(
        "{} training blocks ({} tokens){}, {} validation blocks (the last {} tokens: {} is one document), "
        "{} tokens each; vocabulary {}",
        {n_train, corpus.train->n_tokens(), offsets, val.size(), corpus.val->n_tokens(), config.data.path,
         config.data.seq_len, tokenizer.vocab_size()});
  }
  if (is_corpus) {
    return log::format(
        "{} training blocks ({} tokens, {} documents){}, {} validation blocks ({} documents), {} tokens "
        "each; vocabulary {}",
        {n_train, corpus.train->n_tokens(), corpus.train_docs, offsets, val.size(), corpus.val_docs,
         config.data.seq_len, tokenizer.vocab_size()});
  }
  return log::format(
      "{} train / {} validation examples{}{}, {} tokens each; vocabulary {}",
      {n_train, val.size(), memory.val_is_train ? " (too few to hold out: validating on training data)" : "", offsets,
       config.data.seq_len, tokenizer.vocab_size()});
}

RunData load_run_data(const Config& config, const Tokenizer& tokenizer, const std::string& cache_dir,
                      const std::vector<TextExample>* raw) {
  RunData data;
  if (config.data.kind == DataKind::kCorpus) {
    data.is_corpus = true;
    data.corpus = open_corpus(config.data, tokenizer, cache_dir);
    data.n_train = data.corpus.train->size();
    for (int64_t i = 0; i < data.corpus.val->size(); ++i) data.val.push_back(data.corpus.val->block(i));
    data.val_bytes_per_token = data.corpus.val->bytes_per_token();
    return data;
  }
  data.memory = raw ? make_dataset(config.data, tokenizer, *raw)
                    : make_dataset(config.data, tokenizer, read_examples(config.data));
  data.n_train = static_cast<int64_t>(data.memory.train.size());
  data.val = data.memory.val;
  return data;
}

std::string default_cache_dir(const Config& config, const std::string& run_dir) {
  if (!config.data.cache_dir.empty()) return config.data.cache_dir;
  return (fs::path(run_dir).parent_path() / ".token-cache").string();
}

std::unique_ptr<Tokenizer> make_run_tokenizer(const Config& config, const std::vector<TextExample>& raw,
                                              const std::string& cache_dir) {
  const TokenizerConfig& tc = config.tokenizer;
  if (tc.kind != TokenizerKind::kSentencePiece || !tc.path.empty()) return build_tokenizer(tc, vocabulary_texts(raw));
  const std::string key = cache_key(to_json(config)["tokenizer"].dump(), read_file(config.data.path));
  const fs::path dir = fs::path(cache_dir) / ("spm-" + key);
  const fs::path model = dir / "tokenizer.model";
  std::error_code ec;
  if (fs::exists(model, ec)) {
    log::info("tokenizer: reusing {}", model.string());
    TokenizerConfig load = tc;
    load.path = model.string();
    return build_tokenizer(load, {});
  }
  log::info("tokenizer: training a {} SentencePiece model of {} pieces", enum_name(tc.model_type), tc.vocab_size);
  auto tok = build_tokenizer(tc, vocabulary_texts(raw), dir.string());
  log::info("tokenizer: saved {}", model.string());
  return tok;
}

}  // namespace dlm
