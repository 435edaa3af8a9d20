// The transformer's building blocks: RMS and layer norms, the MLP's nonlinearity, and linear projections
// with a CPU fast path for inference.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "dlm/config.h"

namespace dlm {

// x / rms(x) over the last dimension, computed in fp32 and returned in x's type.
torch::Tensor rms_norm(const torch::Tensor& x, double eps = 1e-6);

// Rotary positions on x (B, H, L, Dh) with the tables' cos and sin (broadcastable: (L, Dh) or
// (B, 1, L, Dh)): x * cos + rotate_half(x) * sin, rotate_half(x) = (-x2, x1) over the last dimension's
// halves; in fp32 whatever x's type (a bf16 model's angles would otherwise lose their low bits),
// returned in x's type.
torch::Tensor rotate(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// The MLP's nonlinearity on the first projection's output h: gelu(h) (exact or tanh's), relu(h)^2, or for swiglu
// silu(gate) * value and for geglu gelu(gate) * value, with h = [gate, value] (h is twice the MLP width then).
torch::Tensor activate(const torch::Tensor& h, Activation activation);

// RMSNorm: x / rms(x) * weight, or without `weight` no parameter at all (LibTorch 1.13 has no module for it).
class RMSNormImpl : public torch::nn::Module {
 public:
  explicit RMSNormImpl(int64_t dim, double eps = 1e-6, bool with_weight = true);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  ///< undefined when weightless

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// LayerNorm with a weight and no bias (ModernBERT's norm_bias false); LibTorch 1.13's module has both or neither.
class WeightedLayerNormImpl : public torch::nn::Module {
 public:
  WeightedLayerNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(WeightedLayerNorm);

// LayerNorm or RMSNorm behind one interface, picked by ModelConfig::norm.
class NormImpl : public torch::nn::Module {
 public:
  // eps 0: the kind's default (1e-5 for LayerNorm, 1e-6 for RMSNorm). `bias`: an affine LayerNorm's bias
  // (RMSNorm has none).
  NormImpl(NormKind kind, int64_t dim, bool affine = true, double eps = 0.0, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::LayerNorm layer_norm_{nullptr};
  WeightedLayerNorm weighted_{nullptr};
  RMSNorm rms_norm_{nullptr};
};
TORCH_MODULE(Norm);

// A linear layer's weight W, transposed into a contiguous copy for inference on the CPU, where
// OpenBLAS packs a non-transposed operand faster: passes of 1 to 64 rows (an AR decode step, a
// block of generation) run their projections 5-30% faster, and a 1-row 320 -> 1280 one 5x
// (bench/linear_layout.py); from 256 rows on the two are within 6% either way. Every pass takes the
// same path, whatever its size, so a row computes the same alone and in a batch.
// `project` remakes the copy whenever the weight changed (an optimizer step, a load, a move), which
// the weight's storage and version counter tell; holding the storage keeps its address from being
// reused by a new weight.
struct TransposedWeight {
  torch::Tensor wt;
  c10::Storage of;
  int64_t version = -1;
};
// x W^T + b through `lin`; in eval mode without autograd, for float32 on the CPU, via `cache`.
torch::Tensor project(torch::nn::Linear& lin, TransposedWeight& cache, const torch::Tensor& x, bool training);

}  // namespace dlm
