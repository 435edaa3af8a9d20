// libFuzzer target: safetensors images from arbitrary bytes (truncated files, lying headers, overlapping
// or misaligned tensors). Any dlm::Error is fine; a crash, an abort or undefined behaviour is a bug.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "dlm/error.h"
#include "dlm/hf/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/dlm_fuzz_safetensors_" + std::to_string(::getpid()) + ".safetensors";
  std::vector<dlm::SafetensorsEntry> entries;
  try {
    entries = dlm::parse_safetensors(data, size, "fuzz input");
  } catch (const dlm::Error&) {
    return 0;
  }
  // The image is valid: every tensor's bytes lie inside it. They are copied with memcpy, which AddressSanitizer
  // checks (LibTorch itself is not instrumented), into a tensor of the stored dtype and shape.
  uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = (header << 8) | data[i];
  std::vector<torch::Tensor> copies;
  for (const auto& e : entries) {
    torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
    if (t.nbytes() != e.end - e.begin) std::abort();  // the parser let a size mismatch through
    if (t.nbytes() > 0) std::memcpy(t.data_ptr(), data + 8 + header + e.begin, t.nbytes());
    t.sum();
    copies.push_back(t);
  }
  // The same bytes through the file reader (mmap, the alignment copy, from_blob) must give the same tensors.
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  const dlm::SafetensorsFile file(path);  // throws (and so fails loudly) only if it disagrees with the parser
  for (size_t i = 0; i < entries.size(); ++i) {
    const torch::Tensor t = file.tensor(entries[i].name);
    if (t.scalar_type() != copies[i].scalar_type() || t.sizes() != copies[i].sizes()) std::abort();
    if (t.nbytes() > 0 && std::memcmp(t.data_ptr(), copies[i].data_ptr(), t.nbytes()) != 0) std::abort();
  }
  return 0;
}
