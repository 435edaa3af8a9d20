// dgen --dump-logits / --dump-hidden: one forward pass over a prompt exactly as the model's tokenizer
// encodes it, written as NumPy files, so an import can be checked against the reference implementation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "dlm/model/checkpoint.h"

namespace dlm {

// Writes `tensor` as a float32, C-order .npy file (format 1.0), atomically.
void write_npy(const std::string& path, const torch::Tensor& tensor);

// Encodes `text` with the tokenizer's template (special tokens included; a mask token written in the
// text stays a mask), runs the model once and writes the logits [tokens x vocab] to `logits_path` and the
// last hidden state [tokens x width] to `hidden_path`, each when not empty. Returns the ids. Throws
// dlm::Error for an empty encoding, one longer than the model's context, or hidden states asked of a
// model that is not a transformer.
std::vector<int64_t> dump_forward(const LoadedModel& m, const std::string& text, const std::string& logits_path,
                                  const std::string& hidden_path);

}  // namespace dlm
