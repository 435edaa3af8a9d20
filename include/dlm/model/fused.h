// Fused operations with their own backward pass: one sweep over memory where the composition of ATen
// operations makes several and keeps their intermediates for backward. On the CPU in fp32 they run
// dlm's vectorised kernels (src/model/kernels/, AVX-512, AVX2 or plain, picked by the CPU's flags);
// elsewhere (CUDA, bf16) the same composition as before, so both paths agree to rounding.
#pragma once

#include <string>

#include <torch/torch.h>

namespace dlm {

// x / rms(x) over the last dimension, times `weight` when defined: rms in fp32 with `eps` inside the
// root, as rms_norm (layers.h) computes it.
torch::Tensor fused_rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// relu(x)^2, keeping only x for backward.
torch::Tensor fused_relu2(const torch::Tensor& x);

// SwiGLU on h = [gate, value] (the last dimension's halves): silu(gate) * value, keeping only h for
// backward. (GELU and GeGLU keep ATen's GELU kernel, which runs at memory speed where a kernel on
// SLEEF's vector erf took 8 times as long: docs/performance.md.)
torch::Tensor fused_swiglu(const torch::Tensor& h);

// Rotary positions on x (B, H, L, Dh) with the tables cos and sin ((L, Dh) or (B, 1, L, Dh), as rotate()
// in layers.h takes them), then with `norm` a weightless RMSNorm of each head's row: the attention's
// rotary and QK-norm in one pass, reading x in place (a slice of the fused q/k/v projection).
torch::Tensor fused_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, bool norm,
                           double eps);

// Per-row cross-entropy (N) of the logits features (N, D) · weight (V, D)ᵀ + bias (V; undefined: none)
// against target (N): the output head's GEMM, log-softmax and loss keeping one (N, V) buffer, the
// logits, which backward turns into their gradient in place (so one backward pass per forward).
// fp32 on the CPU; fused_head_ce_takes says whether it applies.
torch::Tensor fused_head_ce(const torch::Tensor& features, const torch::Tensor& weight, const torch::Tensor& bias,
                            const torch::Tensor& target);
bool fused_head_ce_takes(const torch::Tensor& features, const torch::Tensor& weight);

// One AdamW step of LibTorch's AdamW (its arithmetic, at step `step` >= 1) on a contiguous fp32 CPU
// parameter, its gradient and moments, in one pass: the optimizer's five to seven passes fused.
void fused_adamw_step(const torch::Tensor& param, const torch::Tensor& grad, const torch::Tensor& exp_avg,
                      const torch::Tensor& exp_avg_sq, int64_t step, double lr, double beta1, double beta2, double eps,
                      double weight_decay);
// Whether fused_adamw_step takes these (contiguous, fp32, on the CPU).
bool fused_adamw_takes(const torch::Tensor& param, const torch::Tensor& grad);

// The CPU kernels' instruction set in use ("avx512", "avx2" or "default"), and a cap on it (auto,
// avx512, avx2, default) so tests and benchmarks can run each set the CPU has.
std::string cpu_kernel_isa();
void limit_cpu_kernels(const std::string& isa);

}  // namespace dlm
