// Device and thread selection: `auto` picks CUDA when present; asking for CUDA without it is an error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "dlm/config.h"

namespace dlm {

// The device a setting names (dlm::parse_device reads it). Throws dlm::Error for CUDA without a CUDA
// device, or an index past the machine's devices.
torch::Device resolve_device(const DeviceChoice& choice);

// The threads a setting of 0 means: OMP_NUM_THREADS when it holds a positive count (as for PyTorch),
// else the number of cores.
int64_t default_threads();

// Sets LibTorch's intra-op threads; 0 means default_threads(). Returns the count in effect.
int64_t set_threads(int64_t threads);

// Autocast to `dtype` (bfloat16 on CPU; bfloat16 or float16 on CUDA) on `device` for the guard's
// lifetime: matmuls run in the reduced type, reductions and the weights stay fp32. The previous state is
// restored on exit. LibTorch 2.4 replaced the per-backend functions with per-device ones; both are
// handled here. Devices without autocast (e.g. meta) are left as they are.
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, torch::ScalarType dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  torch::DeviceType type_;
  bool active_ = false;
  bool was_enabled_ = false;
  torch::ScalarType was_dtype_ = torch::kFloat32;
};

// Whether autocast is on for `device`'s type now (e.g. inside autocast_for's guard).
bool autocast_active(const torch::Device& device);
// The type autocast casts to on `device`'s type (meaningful while autocast_active).
torch::ScalarType active_autocast_dtype(const torch::Device& device);

// Whether this CPU has bf16 dot products (AVX512-BF16 or AMX-BF16). Without them LibTorch computes a
// bf16 matrix product in fp32 arithmetic plus the casts: slower than fp32 itself.
bool cpu_has_bf16_dot();

// The precision a run asking for `requested` computes in on `device`: bf16 on CUDA and on a CPU with
// bf16 dot products (`cpu_bf16_dot`), fp32 on other CPUs.
Precision precision_for(Precision requested, const torch::Device& device, bool cpu_bf16_dot);

// The line a run asking for `requested` on `device` logs at start: what the CPU has for bf16 and what
// runs. Empty where there is nothing to say (fp32, CUDA).
std::string precision_notice(Precision requested, const torch::Device& device, bool cpu_bf16_dot);

// The autocast a run's `precision` asks for on `device`, as precision_for decides on this CPU, while
// the returned guard lives (null for fp32).
std::unique_ptr<AutocastGuard> autocast_for(Precision precision, const torch::Device& device);

// Process-wide allocator tuning for training and sampling loops (glibc only; no-op elsewhere).
void tune_allocator();

}  // namespace dlm
