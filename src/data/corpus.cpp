// Token files, their cache, and fixed-length blocks streamed from them.
#include "dlm/data/corpus.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/log.h"

namespace dlm {
namespace {

namespace fs = std::filesystem;

// File layout (little-endian): magic, n_tokens, n_docs, source_bytes, then n_docs document starts,
// n_docs document byte sizes (all uint64), then n_tokens uint32 ids.
constexpr char kMagic[8] = {'D', 'L', 'M', 'T', 'O', 'K', '0', '1'};
constexpr size_t kHeader = 8 + 3 * sizeof(uint64_t);

// FNV-1a, 64 bit: enough to tell a changed file or tokenizer from the cached one.
uint64_t fnv1a(const std::string& bytes, uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

std::string cache_key(const std::string& settings, const std::string& content) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(fnv1a(content, fnv1a(settings))));
  return buf;
}

TokenFile::TokenFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error("cannot open token file " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < kHeader) {
    ::close(fd);
    throw Error("token file " + path + " is truncated (no header)");
  }
  map_size_ = static_cast<size_t>(st.st_size);
  map_ = ::mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw Error("cannot map token file " + path);
  }
  const char* base = static_cast<const char*>(map_);
  if (std::memcmp(base, kMagic, 8) != 0) throw Error(path + " is not a dlm token file");
  uint64_t header[3];
  std::memcpy(header, base + 8, sizeof(header));
  const uint64_t n_tokens = header[0], n_docs = header[1];
  source_bytes_ = static_cast<int64_t>(header[2]);
  const uint64_t need = kHeader + n_docs * 2 * sizeof(uint64_t) + n_tokens * sizeof(uint32_t);
  if (n_docs > map_size_ || n_tokens > map_size_ || need != map_size_) {
    throw Error("token file " + path + " is truncated or corrupt (" + std::to_string(map_size_) + " bytes, expected " +
                std::to_string(need) + ")");
  }
  n_tokens_ = static_cast<int64_t>(n_tokens);
  doc_starts_.resize(n_docs);
  std::memcpy(doc_starts_.data(), base + kHeader, n_docs * sizeof(uint64_t));
  for (size_t d = 0; d < n_docs; ++d) {
    if (doc_starts_[d] < 0 || doc_starts_[d] > n_tokens_ || (d > 0 && doc_starts_[d] < doc_starts_[d - 1])) {
      throw Error("token file " + path + " is corrupt (document offsets out of order)");
    }
  }
  doc_bytes_offset_ = kHeader + n_docs * sizeof(uint64_t);
  tokens_ = reinterpret_cast<const uint32_t*>(base + kHeader + n_docs * 2 * sizeof(uint64_t));
}

TokenFile::~TokenFile() {
  if (map_) ::munmap(map_, map_size_);
}

int64_t TokenFile::doc_bytes(int64_t doc) const {
  uint64_t v;
  std::memcpy(&v, static_cast<const char*>(map_) + doc_bytes_offset_ + static_cast<size_t>(doc) * sizeof(uint64_t),
              sizeof(v));
  return static_cast<int64_t>(v);
}

void write_token_file(const std::string& path, const std::vector<std::vector<int64_t>>& documents,
                      const std::vector<int64_t>& doc_bytes, int64_t eos_id) {
  std::vector<uint64_t> starts, sizes;
  uint64_t n_tokens = 0, total_bytes = 0;
  for (size_t d = 0; d < documents.size(); ++d) {
    starts.push_back(n_tokens);
    sizes.push_back(static_cast<uint64_t>(doc_bytes[d]));
    n_tokens += documents[d].size() + 1;
    total_bytes += static_cast<uint64_t>(doc_bytes[d]);
  }
  std::string out;
  out.reserve(kHeader + starts.size() * 16 + n_tokens * 4);
  out.append(kMagic, 8);
  const uint64_t header[3] = {n_tokens, static_cast<uint64_t>(documents.size()), total_bytes};
  out.append(reinterpret_cast<const char*>(header), sizeof(header));
  out.append(reinterpret_cast<const char*>(starts.data()), starts.size() * sizeof(uint64_t));
  out.append(reinterpret_cast<const char*>(sizes.data()), sizes.size() * sizeof(uint64_t));
  for (const auto& doc : documents) {
    for (int64_t id : doc) {
      if (id < 0 || id > static_cast<int64_t>(UINT32_MAX))
        throw Error("token id " + std::to_string(id) + " does not fit a token file");
      const uint32_t v = static_cast<uint32_t>(id);
      out.append(reinterpret_cast<const char*>(&v), sizeof(v));
    }
    const uint32_t eos = static_cast<uint32_t>(eos_id);
    out.append(reinterpret_cast<const char*>(&eos), sizeof(eos));
  }
  write_atomically(path, out);
}

std::string cached_token_file(const DataConfig& data, const std::string& source, const Tokenizer& tokenizer,
                              const std::string& cache_dir) {
  const std::string content = read_file(source);
  const std::string key = cache_key(tokenizer.to_json().dump() + "\n" + enum_name(data.format) + "\n", content);
  const std::string path = (fs::path(cache_dir) / (fs::path(source).stem().string() + "-" + key + ".tok")).string();
  std::error_code ec;
  if (fs::exists(path, ec)) {
    TokenFile check(path);  // a damaged cache fails loudly rather than training on garbage
    return path;
  }
  DataConfig c = data;
  c.path = source;
  const std::vector<TextExample> docs = parse_examples(c, content);
  std::vector<std::vector<int64_t>> ids;
  std::vector<int64_t> bytes;
  ids.reserve(docs.size());
  for (const auto& d : docs) {
    try {
      ids.push_back(tokenizer.encode(d.text));
    } catch (const Error& e) {
      throw Error(d.where + ": " + e.what());
    }
    bytes.push_back(static_cast<int64_t>(d.text.size()));
  }
  fs::create_directories(cache_dir, ec);
  if (ec) throw Error("cannot create token cache folder " + cache_dir + ": " + ec.message());
  write_token_file(path, ids, bytes, tokenizer.eos_id());
  return path;
}

BlockSource::BlockSource(std::shared_ptr<const TokenFile> file, int64_t begin, int64_t end, int64_t block_len,
                         int64_t pad_id, bool keep_partial)
    : file_(std::move(file)), begin_(begin), end_(end), block_len_(block_len), pad_id_(pad_id) {
  const int64_t n = end_ - begin_;
  n_blocks_ = n / block_len_ + (keep_partial && n % block_len_ != 0 ? 1 : 0);
}

Example BlockSource::block(int64_t i) const { return window(i * block_len_); }

// The layout of text_window (dataset.cpp), read from the mapped file instead of a vector: the
// content, then padding to the block's length; n_content counts the content.
Example BlockSource::window(int64_t offset) const {
  Example e;
  const int64_t start = begin_ + offset;
  const int64_t stop = std::min(end_, start + block_len_);
  e.ids.assign(static_cast<size_t>(block_len_), pad_id_);
  for (int64_t k = start; k < stop; ++k) e.ids[static_cast<size_t>(k - start)] = (*file_)[k];
  e.n_prompt = 0;
  e.n_content = stop - start;
  return e;
}

double BlockSource::bytes_per_token() const {
  // A document cut by the range (one long text split into training and validation) counts in
  // proportion to its tokens inside it.
  double bytes = 0.0;
  for (int64_t d = 0; d < file_->n_docs(); ++d) {
    const int64_t start = file_->doc_start(d);
    const int64_t stop = d + 1 < file_->n_docs() ? file_->doc_start(d + 1) : file_->n_tokens();
    const int64_t inside = std::min(stop, end_) - std::max(start, begin_);
    if (inside > 0) bytes += static_cast<double>(file_->doc_bytes(d)) * inside / static_cast<double>(stop - start);
  }
  return bytes / static_cast<double>(std::max<int64_t>(1, end_ - begin_));
}

CorpusData open_corpus(const DataConfig& data, const Tokenizer& tokenizer, const std::string& cache_dir) {
  const int64_t L = data.seq_len;
  CorpusData out;
  const std::string train_path = cached_token_file(data, data.path, tokenizer, cache_dir);
  auto train = std::make_shared<const TokenFile>(train_path);
  std::string val_path;
  int64_t train_end = train->n_tokens();
  if (!data.val_path.empty()) {
    val_path = cached_token_file(data, data.val_path, tokenizer, cache_dir);
    auto val = std::make_shared<const TokenFile>(val_path);
    out.val = std::make_unique<BlockSource>(val, 0, val->n_tokens(), L, tokenizer.pad_id(), false);
    out.val_docs = val->n_docs();
  } else if (train->n_docs() == 1) {
    // One document, the usual input.txt: its last val_fraction of tokens.
    const int64_t n_val = std::llround(static_cast<double>(train->n_tokens()) * data.val_fraction);
    if (n_val > 0) {
      train_end = train->n_tokens() - n_val;
      out.val = std::make_unique<BlockSource>(train, train_end, train->n_tokens(), L, tokenizer.pad_id(), false);
      out.val_docs = 1;
      out.val_is_tail = true;
    }
    out.train_docs = 1;
  } else {
    // Whole documents at the end of the file, so validation text is never trained on.
    const int64_t n_docs = train->n_docs();
    int64_t n_val = static_cast<int64_t>(static_cast<double>(n_docs) * data.val_fraction);
    if (data.val_fraction > 0 && n_val == 0 && n_docs > 1) n_val = 1;
    if (n_val > 0) {
      train_end = train->doc_start(n_docs - n_val);
      out.val = std::make_unique<BlockSource>(train, train_end, train->n_tokens(), L, tokenizer.pad_id(), false);
      out.val_docs = n_val;
    }
    out.train_docs = n_docs - n_val;
  }
  if (out.train_docs == 0) out.train_docs = train->n_docs();
  out.train = std::make_unique<BlockSource>(train, 0, train_end, L, tokenizer.pad_id(), false);
  if (out.train->size() == 0) {
    throw Error(data.path + ": the corpus has " + std::to_string(train_end) +
                " training tokens, fewer than one block of " + std::to_string(L) + " (data.seq_len)");
  }
  if (!out.val || out.val->size() == 0) {
    throw Error(data.path + ": no validation block of " + std::to_string(L) + " tokens (set data.val_path, or a " +
                "data.val_fraction that holds out at least one block of text)");
  }
  log::info("tokens: {} ({} tokens, {:.2f} bytes/token){}", train_path, train->n_tokens(),
            static_cast<double>(train->source_bytes()) / static_cast<double>(std::max<int64_t>(1, train->n_tokens())),
            data.val_path.empty() ? "" : ", validation " + val_path);
  return out;
}

}  // namespace dlm
