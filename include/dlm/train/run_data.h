// What a run trains and validates on, loaded the same way by training and by `dtrain --eval`:
// examples held in memory, or blocks streamed from a corpus token file, both addressed by index so
// the data order is a function of the step; and the tokenizer of a new run, shared through the cache.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dlm/config.h"
#include "dlm/data/corpus.h"
#include "dlm/data/dataset.h"
#include "dlm/data/tokenizer.h"

namespace dlm {

struct RunData {
  Dataset memory;     ///< data.kind other than corpus
  CorpusData corpus;  ///< data.kind corpus
  bool is_corpus = false;
  int64_t n_train = 0;               ///< training examples or blocks
  std::vector<Example> val;          ///< every validation example or block
  double val_bytes_per_token = 0.0;  ///< corpus: UTF-8 bytes per validation token (0: unknown)

  Example train_at(int64_t i) const;
  // data.window_offsets random: the starts a training window may take, and the window at one.
  int64_t train_window_starts(int64_t seq_len) const;
  Example train_window(int64_t start, int64_t seq_len, int64_t pad_id) const;
  // The first `max` validation examples (all when max <= 0): training's periodic validation.
  std::vector<Example> val_head(int64_t max) const;
  // One line on what was loaded, for the log.
  std::string describe(const Config& config, const Tokenizer& tokenizer) const;
};

// Loads config.data under `tokenizer`; corpus token files are cached in `cache_dir`. `raw`, when
// given, holds the examples already read from data.path (the tokenizer of a new run needed them).
RunData load_run_data(const Config& config, const Tokenizer& tokenizer, const std::string& cache_dir,
                      const std::vector<TextExample>* raw = nullptr);

// Where a run's token files and trained tokenizers are cached: data.cache_dir, else .token-cache
// beside the run directory (shared by the runs under one folder).
std::string default_cache_dir(const Config& config, const std::string& run_dir);

// The tokenizer of a new run. A SentencePiece model trained here is kept in the token cache under a
// name derived from its settings and the training file, so runs on the same data (a diffusion model
// and its autoregressive twin) share one vocabulary and train it once.
std::unique_ptr<Tokenizer> make_run_tokenizer(const Config& config, const std::vector<TextExample>& raw,
                                              const std::string& cache_dir);

}  // namespace dlm
