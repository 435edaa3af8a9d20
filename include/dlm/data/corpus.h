// Corpus data: a text file tokenised once into a binary token file (documents joined by EOS), kept in
// a cache keyed by the tokenizer and the file's bytes, then read back through mmap as fixed-length
// blocks. Training streams blocks by index; nothing is tokenised twice.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dlm/config.h"
#include "dlm/data/dataset.h"
#include "dlm/data/tokenizer.h"

namespace dlm {

// A read-only token file: ids and the token offset where each document starts.
class TokenFile {
 public:
  // Maps `path`. Throws dlm::Error for a missing, truncated or foreign file.
  explicit TokenFile(const std::string& path);
  ~TokenFile();
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;

  int64_t n_tokens() const { return n_tokens_; }
  int64_t n_docs() const { return static_cast<int64_t>(doc_starts_.size()); }
  int64_t doc_start(int64_t doc) const { return doc_starts_[static_cast<size_t>(doc)]; }
  int64_t doc_bytes(int64_t doc) const;  ///< UTF-8 bytes of the document's text
  int64_t source_bytes() const { return source_bytes_; }
  uint32_t operator[](int64_t i) const { return tokens_[i]; }

 private:
  void* map_ = nullptr;
  size_t map_size_ = 0;
  size_t doc_bytes_offset_ = 0;
  const uint32_t* tokens_ = nullptr;
  int64_t n_tokens_ = 0;
  int64_t source_bytes_ = 0;
  std::vector<int64_t> doc_starts_;
};

// A 16-hex-digit FNV-1a digest of `settings` then `content`: names cached files after what they were
// made from, so an edited file or other settings never reuse a stale one.
std::string cache_key(const std::string& settings, const std::string& content);

// Writes the token file for `documents`: each document's ids followed by `eos_id`. `doc_bytes` are
// the documents' UTF-8 sizes (for bits per byte). Written through a temporary file and a rename.
void write_token_file(const std::string& path, const std::vector<std::vector<int64_t>>& documents,
                      const std::vector<int64_t>& doc_bytes, int64_t eos_id);

// The token file for the corpus at `source` under `tokenizer`, built on first use. The name holds a
// hash of the tokenizer and of the file's bytes, so an edited file or another tokenizer never reuses
// a stale cache. Throws dlm::Error for an unreadable or empty corpus.
std::string cached_token_file(const DataConfig& data, const std::string& source, const Tokenizer& tokenizer,
                              const std::string& cache_dir);

// Fixed-length blocks over a token range [begin, end) of a token file. Block i covers tokens
// [begin + i * L, begin + (i + 1) * L); a final partial block is padded and marks its content length.
class BlockSource {
 public:
  BlockSource(std::shared_ptr<const TokenFile> file, int64_t begin, int64_t end, int64_t block_len, int64_t pad_id,
              bool keep_partial);
  int64_t size() const { return n_blocks_; }
  int64_t n_tokens() const { return end_ - begin_; }
  Example block(int64_t i) const;
  // The block_len tokens from `start` (0-based within the range; fewer at its end), padded: a window
  // at any offset. Starts run over 0 .. window_starts() - 1.
  Example window(int64_t start) const;
  int64_t window_starts() const { return std::max<int64_t>(1, end_ - begin_ - block_len_ + 1); }
  // UTF-8 bytes of text per token over the range, for converting nats/token to bits/byte.
  double bytes_per_token() const;

 private:
  std::shared_ptr<const TokenFile> file_;
  int64_t begin_, end_, block_len_, pad_id_, n_blocks_;
};

// Training and validation blocks of a corpus config: validation is data.val_path when given, else
// the last data.val_fraction of the documents (whole documents, so no text is in both), or of the
// tokens when the file is one document (a plain text file).
struct CorpusData {
  std::unique_ptr<BlockSource> train;
  std::unique_ptr<BlockSource> val;
  int64_t train_docs = 0, val_docs = 0;
  bool val_is_tail = false;  ///< one document: validation is its last tokens, not whole documents
};
CorpusData open_corpus(const DataConfig& data, const Tokenizer& tokenizer, const std::string& cache_dir);

}  // namespace dlm
