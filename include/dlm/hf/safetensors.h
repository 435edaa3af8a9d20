// dlm's own reader and writer of safetensors files (Hugging Face's tensor format), so imported models
// need no Python at run time. Every malformed file is a one-line dlm::Error naming the file, never a
// crash. The format stores little-endian bytes and dlm maps them as they are: little-endian hosts only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

namespace dlm {

// One tensor of a safetensors file: its bytes are [begin, end) of the data that follows the header.
struct SafetensorsEntry {
  std::string name;
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

// Parses and validates a whole safetensors image in memory: the header, and that the tensors cover
// the data exactly, each in range and sized for its shape and dtype, no two overlapping, no gap.
// `where` names the image in messages. Entries come sorted by name; `metadata` (when given) receives
// the __metadata__ object, or an empty object. Used by the file reader and the fuzzer.
std::vector<SafetensorsEntry> parse_safetensors(const uint8_t* data, size_t size, const std::string& where,
                                                nlohmann::json* metadata = nullptr);

// A memory-mapped .safetensors file. Tensors share the mapping, which lives as long as any of them.
// The mapping is private (copy-on-write): a tensor changed in place never changes the file, but the
// change is seen by later tensor() calls for the same name on this object; clone() to keep them apart.
// As with any mapping, the file must not be truncated while it is open.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // throws dlm::Error "<path>: <problem>"
  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const nlohmann::json& metadata() const { return metadata_; }  // __metadata__, or an empty object
  bool contains(const std::string& name) const { return by_name_.count(name) > 0; }
  const SafetensorsEntry& entry(const std::string& name) const;  // throws naming the tensor and the file
  // A CPU tensor of the stored dtype and shape over the mapping; a copy when the bytes are not aligned
  // for the dtype.
  torch::Tensor tensor(const std::string& name) const;

  struct Mapping;  // the mmap'ed bytes (defined in the source file)

 private:
  std::string path_;
  std::shared_ptr<const Mapping> mapping_;
  size_t data_start_ = 0;  // where the data begins in the file: 8 + header length
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> by_name_;  // name -> index in entries_
  nlohmann::json metadata_;
};

// The tensors of a Hugging Face folder: model.safetensors, or without it the shards that
// model.safetensors.index.json names ({"metadata": {...}, "weight_map": {tensor: shard file}}).
class SafetensorsFolder {
 public:
  explicit SafetensorsFolder(const std::string& dir);
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return shard_of_.count(name) > 0; }
  const SafetensorsEntry& entry(const std::string& name) const;
  torch::Tensor tensor(const std::string& name) const;
  // The floating dtype most of the floating-point tensors have (F32 for a folder without any).
  torch::ScalarType dtype() const;

 private:
  const SafetensorsFile& file_of(const std::string& name) const;

  std::string dir_;
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, size_t> shard_of_;  // tensor name -> index in shards_
};

// Writes `tensors` (any device or layout: copied to contiguous CPU) under their names, with
// __metadata__ {"format": "pt"} plus `metadata` (whose keys win), atomically (write_atomically). The
// header lists the names sorted; the data is laid out widest dtype first, so every tensor is aligned
// for its dtype and maps without a copy. Refuses duplicate names, the reserved name "__metadata__",
// undefined tensors and unsupported dtypes, in one line naming the file.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace dlm
