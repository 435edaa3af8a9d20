// Safetensors files: an 8-byte little-endian header length, a JSON header giving each tensor's dtype,
// shape and byte range, then the raw data. Read through mmap, validated before any byte is used.
#include "dlm/hf/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <tuple>

#include "dlm/error.h"
#include "dlm/files.h"
#include "hf/safetensors_json.h"

// Tensors are mapped as the file stores them, with no byte swapping.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "dlm reads safetensors files on little-endian hosts only");

namespace dlm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The reference library's own cap: a corrupt length must not make us parse (or allocate) gigabytes.
constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

struct SafetensorsDtype {
  const char* name;
  torch::ScalarType type;
};
constexpr SafetensorsDtype kSafetensorsDtypes[] = {
    {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16},
    {"I64", torch::kInt64},   {"I32", torch::kInt32},   {"I16", torch::kInt16},   {"I8", torch::kInt8},
    {"U8", torch::kUInt8},    {"BOOL", torch::kBool}};
constexpr const char* kSafetensorsDtypeList = "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL";

const char* safetensors_name_of(torch::ScalarType type) {
  for (const auto& d : kSafetensorsDtypes) {
    if (d.type == type) return d.name;
  }
  return nullptr;
}

}  // namespace

// A name from a file, quoted for a one-line message: names may hold any character ("\n" included)
// and be megabytes long. JSON escaping makes it printable.
std::string quote_name(const std::string& name) {
  const std::string escaped = json(name.substr(0, 200)).dump(-1, ' ', false, json::error_handler_t::replace);
  return "'" + escaped.substr(1, escaped.size() - 2) + (name.size() > 200 ? "...'" : "'");
}

namespace {

std::string byte_range(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

// Parses JSON, refusing a key repeated within one object: nlohmann keeps the last of two silently, so a
// tensor listed twice would hide one of its byte ranges. `what` names the text ("header", "index");
// `top_key` names what a top-level key is ("tensor", "key").
json parse_unique_json(const char* begin, const char* end, const std::string& where, const std::string& what,
                       const std::string& top_key) {
  std::vector<std::set<std::string>> open_objects;  // the keys seen so far in each object being parsed
  std::string duplicate;
  size_t duplicate_depth = 0;
  const json::parser_callback_t note_keys = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.back().insert(parsed.get<std::string>()).second &&
               duplicate.empty()) {
      duplicate = parsed.get<std::string>();
      duplicate_depth = open_objects.size();
    }
    return true;
  };
  // nlohmann stops at a NUL as at the end of the text: what follows one would go unread.
  if (const void* nul = std::memchr(begin, 0, static_cast<size_t>(end - begin))) {
    throw Error(where + ": " + what + " is not valid JSON (a NUL byte at offset " +
                std::to_string(static_cast<const char*>(nul) - begin) + ")");
  }
  json value;
  try {
    value = json::parse(begin, end, note_keys);
  } catch (const json::exception& e) {
    std::string why = e.what();
    std::replace(why.begin(), why.end(), '\n', ' ');
    throw Error(where + ": " + what + " is not valid JSON (" + why + ")");
  }
  if (duplicate_depth == 1)
    throw Error(where + ": " + top_key + " " + quote_name(duplicate) + " appears twice in the " + what);
  if (!duplicate.empty())
    throw Error(where + ": key " + quote_name(duplicate) + " appears twice in one object of the " + what);
  return value;
}

namespace {

// A JSON integer >= 0 into `out`; false for anything else (nlohmann reads every integer >= 0 as unsigned).
bool non_negative(const json& v, uint64_t& out) {
  if (v.is_number_unsigned()) out = v.get<uint64_t>();
  return v.is_number_unsigned();
}

// One header entry, checked against the data's size (its place among the others is checked later).
SafetensorsEntry read_entry(const std::string& name, const json& info, uint64_t data_size, const std::string& where) {
  const std::string at = where + ": tensor " + quote_name(name);
  if (!info.is_object()) throw Error(at + ": its entry is a " + std::string(info.type_name()) + ", not an object");
  SafetensorsEntry e;
  e.name = name;
  const auto dtype = info.find("dtype"), shape = info.find("shape"), offsets = info.find("data_offsets");
  if (dtype == info.end() || !dtype->is_string()) throw Error(at + ": \"dtype\" is missing or not a string");
  const auto& dtype_name = dtype->get_ref<const std::string&>();
  const auto* known = std::find_if(std::begin(kSafetensorsDtypes), std::end(kSafetensorsDtypes),
                                   [&](const SafetensorsDtype& d) { return dtype_name == d.name; });
  if (known == std::end(kSafetensorsDtypes)) {
    throw Error(where + ": unknown dtype " + quote_name(dtype_name) + " for tensor " + quote_name(name) +
                " (dlm reads " + kSafetensorsDtypeList + ")");
  }
  e.dtype = known->type;
  if (shape == info.end() || !shape->is_array()) throw Error(at + ": \"shape\" is missing or not an array");
  // LibTorch computes strides over max(size, 1): that product must fit int64, even for an empty tensor.
  uint64_t elements = 1, stride_span = 1;
  for (const json& d : *shape) {
    uint64_t n = 0;
    if (!d.is_number_integer()) throw Error(at + ": \"shape\" holds a " + std::string(d.type_name()) + ", not a size");
    if (!non_negative(d, n)) throw Error(at + ": \"shape\" has a negative size (" + d.dump() + ")");
    if (__builtin_mul_overflow(stride_span, std::max<uint64_t>(n, 1), &stride_span) ||
        stride_span > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw Error(at + ": \"shape\" has too many elements (the count overflows)");
    }
    elements *= n;  // <= stride_span: no overflow
    e.shape.push_back(static_cast<int64_t>(n));
  }
  if (offsets == info.end() || !offsets->is_array() || offsets->size() != 2 || !non_negative((*offsets)[0], e.begin) ||
      !non_negative((*offsets)[1], e.end)) {
    throw Error(at + ": \"data_offsets\" must be two non-negative integers [begin, end]");
  }
  if (e.begin > e.end) throw Error(at + ": \"data_offsets\" " + offsets->dump() + " begin after they end");
  if (e.end > data_size) {
    throw Error(at + ": \"data_offsets\" end " + std::to_string(e.end) + " is past the end of the data (" +
                std::to_string(data_size) + " bytes; truncated file?)");
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(elements, c10::elementSize(e.dtype), &bytes) || bytes != e.end - e.begin) {
    throw Error(at + ": shape " + shape->dump() + " of " + dtype_name + " does not match the " +
                std::to_string(e.end - e.begin) + " bytes of its \"data_offsets\"");
  }
  return e;
}

// The tensors must tile the data exactly, as the reference library demands: no overlap, no gap.
void check_tiling(const std::vector<SafetensorsEntry>& entries, uint64_t data_size, const std::string& where) {
  std::vector<const SafetensorsEntry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
  });
  uint64_t covered = 0;
  const SafetensorsEntry* last = nullptr;
  for (const SafetensorsEntry* e : order) {
    if (e->begin < covered) {
      throw Error(where + ": tensors " + quote_name(last->name) + " and " + quote_name(e->name) +
                  " overlap in the data (bytes " + byte_range(last->begin, last->end) + " and " +
                  byte_range(e->begin, e->end) + ")");
    }
    if (e->begin > covered) throw Error(where + ": bytes " + byte_range(covered, e->begin) + " of the data are a gap");
    covered = e->end;
    last = e;
  }
  if (covered != data_size) throw Error(where + ": bytes " + byte_range(covered, data_size) + " of the data are a gap");
}

// LibTorch reads a bool byte other than 0 or 1 with undefined behaviour.
void check_bools(const std::vector<SafetensorsEntry>& entries, const uint8_t* data, const std::string& where) {
  for (const auto& e : entries) {
    for (uint64_t i = e.begin; e.dtype == torch::kBool && i < e.end; ++i) {
      if (data[i] > 1) {
        throw Error(where + ": BOOL tensor " + quote_name(e.name) + " holds the byte " + std::to_string(data[i]) +
                    " (a bool is 0 or 1)");
      }
    }
  }
}

}  // namespace

std::vector<SafetensorsEntry> parse_safetensors(const uint8_t* data, size_t size, const std::string& where,
                                                json* metadata) {
  if (size < 8) {
    throw Error(where + ": file too short for a safetensors header (" + std::to_string(size) +
                " bytes, need 8 or more)");
  }
  const uint64_t header_size = read_u64_le(data);
  if (header_size > kMaxSafetensorsHeader) {
    throw Error(where + ": header length " + std::to_string(header_size) +
                " is over the 100 MB limit (not safetensors?)");
  }
  if (header_size > size - 8) {
    throw Error(where + ": header length " + std::to_string(header_size) + " runs past the end of the file (" +
                std::to_string(size) + " bytes; truncated, or not safetensors)");
  }
  const char* text = reinterpret_cast<const char*>(data + 8);
  const json header = parse_unique_json(text, text + header_size, where, "header", "tensor");
  if (!header.is_object()) throw Error(where + ": header is a JSON " + header.type_name() + ", not an object");
  const uint64_t data_size = size - 8 - header_size;
  std::vector<SafetensorsEntry> entries;  // sorted by name, as nlohmann's objects are
  json found_metadata = json::object();
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() != "__metadata__") {
      entries.push_back(read_entry(it.key(), it.value(), data_size, where));
    } else if (it->is_object() && std::all_of(it->begin(), it->end(), [](const json& v) { return v.is_string(); })) {
      found_metadata = it.value();
    } else {
      throw Error(where + ": \"__metadata__\" must be an object of strings");
    }
  }
  check_tiling(entries, data_size, where);
  check_bools(entries, data + 8 + header_size, where);
  if (metadata) *metadata = std::move(found_metadata);
  return entries;
}

// The file's bytes, mapped private and writable (copy-on-write): a tensor changed in place then cannot
// fault on a read-only page, and its change never reaches the file.
struct SafetensorsFile::Mapping {
  uint8_t* bytes = nullptr;
  size_t size = 0;

  explicit Mapping(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot open file (" + std::strerror(errno) + ")");
    struct stat st {};
    std::string problem;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      problem = S_ISDIR(st.st_mode) ? "is a directory, expected a safetensors file" : "not a regular file";
    } else if (st.st_size > 0) {  // mmap refuses a length of 0; the parser reports the empty file
      size = static_cast<size_t>(st.st_size);
      void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED)
        problem = std::string("cannot map file (") + std::strerror(errno) + ")";
      else
        bytes = static_cast<uint8_t*>(p);
    }
    ::close(fd);  // the mapping keeps the file open
    if (!problem.empty()) throw Error(path + ": " + problem);
  }
  ~Mapping() {
    if (bytes) ::munmap(bytes, size);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
};

SafetensorsFile::SafetensorsFile(const std::string& path)
    : path_(path), mapping_(std::make_shared<const Mapping>(path)) {
  entries_ = parse_safetensors(mapping_->bytes, mapping_->size, path, &metadata_);
  data_start_ = 8 + static_cast<size_t>(read_u64_le(mapping_->bytes));
  for (size_t i = 0; i < entries_.size(); ++i) by_name_[entries_[i].name] = i;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  const auto it = by_name_.find(name);
  if (it == by_name_.end()) throw Error(path_ + ": no tensor " + quote_name(name) + " in this file");
  return entries_[it->second];
}

torch::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const auto options = torch::TensorOptions().dtype(e.dtype);
  // cpu: a file's tensors live in host memory, as its mapping does
  if (e.begin == e.end) return torch::empty(e.shape, options);
  uint8_t* bytes = mapping_->bytes + data_start_ + e.begin;
  if (reinterpret_cast<uintptr_t>(bytes) % c10::elementSize(e.dtype) != 0) {
    // LibTorch's kernels assume elements aligned to their size: copy into a fresh tensor.
    torch::Tensor copy = torch::empty(e.shape, options);  // cpu: as the mapping
    std::memcpy(copy.data_ptr(), bytes, e.end - e.begin);
    return copy;
  }
  // The deleter owns a reference to the mapping: it is unmapped only after the last tensor over it goes.
  return torch::from_blob(
      bytes, e.shape, [keep = mapping_](void*) mutable { keep.reset(); }, options);
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  struct Item {
    std::string name;
    torch::Tensor data;  // contiguous, on the CPU
    const char* dtype;
  };
  std::vector<Item> items;
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    const std::string at = path + ": tensor " + quote_name(name);
    if (name == "__metadata__") throw Error(at + ": the name is reserved for the file's metadata");
    if (!seen.insert(name).second) throw Error(at + " is given twice");
    if (!t.defined()) throw Error(at + " is undefined");
    const char* dtype = safetensors_name_of(t.scalar_type());
    if (!dtype) {
      throw Error(at + " has dtype " + std::string(c10::toString(t.scalar_type())) +
                  ", which dlm does not store in safetensors (it stores " + kSafetensorsDtypeList + ")");
    }
    torch::Tensor cpu = t.layout() == torch::kStrided ? t.detach() : t.detach().to_dense();
    items.push_back({name, cpu.to(torch::kCPU).contiguous(), dtype});
  }
  // Widest elements first: every tensor then starts at a multiple of its element size.
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return std::make_tuple(-a.data.element_size(), a.name) < std::make_tuple(-b.data.element_size(), b.name);
  });
  json meta = {{"format", "pt"}};
  for (const auto& [key, value] : metadata) meta[key] = value;
  json header = {{"__metadata__", meta}};
  uint64_t offset = 0;
  for (const Item& item : items) {
    const uint64_t end = offset + item.data.nbytes();
    header[item.name] = {{"dtype", item.dtype}, {"shape", item.data.sizes().vec()}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception&) {
    throw Error(path + ": tensor names and metadata must be valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned in the file
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((text.size() >> (8 * i)) & 0xFF);
    out.write(length, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const Item& item : items) {
      const auto bytes = static_cast<std::streamsize>(item.data.nbytes());
      if (bytes > 0) out.write(static_cast<const char*>(item.data.data_ptr()), bytes);
    }
    if (!out.flush()) throw Error("cannot write " + tmp + " (disk full?)");
  });
}

}  // namespace dlm
