// One forward pass over a prompt, written as .npy files (dgen --dump-logits, --dump-hidden).
#include "dlm/generate/inspect.h"

#include <algorithm>
#include <cstring>

#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/utf8.h"

namespace dlm {

void write_npy(const std::string& path, const torch::Tensor& tensor) {
  const torch::Tensor t = tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  // A Python tuple: (3, 5) or (3,).
  std::string shape = "(";
  for (int64_t i = 0; i < t.dim(); ++i)
    shape += std::to_string(t.size(i)) + (t.dim() == 1 || i + 1 < t.dim() ? ", " : "");
  if (t.dim() == 1) shape.pop_back();
  shape += ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64, ending in '\n'.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  bytes += header;
  const size_t data = static_cast<size_t>(t.numel()) * sizeof(float);
  const size_t at = bytes.size();
  bytes.resize(at + data);
  if (data > 0) std::memcpy(&bytes[at], t.data_ptr<float>(), data);  // little-endian, as '<f4' says
  write_atomically(path, bytes);
}

std::vector<int64_t> dump_forward(const LoadedModel& m, const std::string& text, const std::string& logits_path,
                                  const std::string& hidden_path) {
  utf8_decode(text, "--prefix");
  const std::vector<int64_t> ids = m.tokenizer->encode_for_model(text);
  const int64_t L = static_cast<int64_t>(ids.size());
  if (L == 0) throw Error("--prefix encodes to no tokens: nothing to run the model on");
  if (L > m.model->max_len()) {
    throw Error("--prefix is " + std::to_string(L) + " tokens but the model's context is " +
                std::to_string(m.model->max_len()));
  }
  const torch::Device device = module_device(*m.model);
  const torch::Tensor x = torch::tensor(ids, torch::kInt64).unsqueeze(0).to(device);  // cpu: built here, moved
  // The rate a diffusion model is told: the share of the prompt that is masked.
  const double masked =
      static_cast<double>(std::count(ids.begin(), ids.end(), m.tokenizer->mask_id())) / static_cast<double>(L);
  const torch::Tensor t = torch::full({1}, masked, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  InferenceScope scope(*m.model);
  if (!logits_path.empty()) write_npy(logits_path, m.model->forward(x, t)[0]);
  if (!hidden_path.empty()) {
    auto* transformer = dynamic_cast<TransformerImpl*>(m.model.get());
    if (!transformer) throw Error("--dump-hidden needs a transformer; this model is " + enum_name(m.config.model.type));
    write_npy(hidden_path, transformer->hidden(x, t)[0]);
  }
  return ids;
}

}  // namespace dlm
