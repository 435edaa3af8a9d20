// Helpers shared by the unit tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "dlm/config.h"
#include "dlm/diffusion/denoise.h"
#include "dlm/error.h"

namespace dlm_test {

// A 32-wide transformer, small enough for a test to run it many times; callers set what they test.
inline dlm::ModelConfig tiny_model(int64_t n_layer, int64_t n_head, double dropout) {
  dlm::ModelConfig c;
  c.d_model = 32;
  c.n_layer = n_layer;
  c.n_head = n_head;
  c.dropout = dropout;
  return c;
}

// The meta device: tensors without storage, on which the device helpers must do nothing.
inline const torch::Device kMeta(torch::kMeta);

// The message of the dlm::Error that `f` throws, or "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const dlm::Error& e) {
    return e.what();
  }
  return "";
}

// The enum value a config name stands for (tests loop over names to label their failures).
template <class E>
E enum_from(const std::string& name) {
  for (const auto& [value, n] : dlm::enum_names(static_cast<E*>(nullptr))) {
    if (n == name) return value;
  }
  throw std::invalid_argument("no such enum name: " + name);
}

// An empty folder `name` under the test's temporary folder (what an earlier run left there is removed).
inline std::string fresh_dir(const std::string& name) {
  const std::string dir = testing::TempDir() + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Writes `content` to `path` byte for byte and returns the path.
inline std::string write_file(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

// B canvases of L positions, every one masked and to be generated, no prompt or infill span; row r
// draws from the stream of seed + r.
inline dlm::DenoiseRows masked_rows(int64_t B, int64_t L, int64_t mask_id, uint64_t seed = 1) {
  dlm::DenoiseRows r;
  r.tokens = torch::full({B, L}, mask_id, torch::kInt64);
  r.generate = torch::ones({B, L}, torch::kBool);
  r.valid = r.generate.clone();
  r.span = torch::zeros({B, L}, torch::kBool);
  r.prompt = r.span.clone();
  r.counted_fixed.assign(static_cast<size_t>(B), 0);
  for (int64_t i = 0; i < B; ++i) r.seeds.push_back(seed + static_cast<uint64_t>(i));
  return r;
}

}  // namespace dlm_test
