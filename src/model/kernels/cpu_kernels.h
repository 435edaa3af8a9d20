// dlm's CPU kernels behind one table: cpu_kernels.cpp is compiled once per instruction set (the
// CPU_CAPABILITY namespaces DEFAULT, AVX2, AVX512, as ATen's own kernels are), and dispatch.cpp picks
// the best table the CPU runs. Kernels take plain pointers to contiguous fp32 rows and a row range, so
// that the caller (src/model/fused.cpp) splits the work over threads and owns every allocation.
#pragma once

#include <cstdint>
#include <string>

namespace dlm::kernels {

// One AdamW step's scalars, as LibTorch's AdamW derives them at step t: decay = 1 - lr * weight_decay,
// step_size = lr / (1 - beta1^t), bias2_sqrt = sqrt(1 - beta2^t).
struct AdamWStep {
  float decay, beta1, beta2, step_size, bias2_sqrt, eps;
};

struct CpuKernels {
  const char* isa;  ///< "default", "avx2" or "avx512"
  // RMSNorm over rows of `dim`: y = x * rstd * w (w null: no weight), rstd = 1 / sqrt(mean(x^2) + eps)
  // stored per row for the backward pass.
  void (*rms_norm)(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t dim, float eps);
  // Its backward: dx for each row, and the rows' sum of dy * x * rstd added into dw (w null: dw unused).
  void (*rms_norm_backward)(const float* dy, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                            int64_t rows, int64_t dim);
  // relu(x)^2 over n floats, and its backward dx = 2 relu(x) dy.
  void (*relu2)(const float* x, float* y, int64_t n);
  void (*relu2_backward)(const float* x, const float* dy, float* dx, int64_t n);
  // SwiGLU over rows of h = [gate, value], each of f floats: y = silu(gate) * value (rows of f); and its
  // backward dh = [silu'(gate) value dy, silu(gate) dy].
  void (*swiglu)(const float* h, float* y, int64_t rows, int64_t f);
  void (*swiglu_backward)(const float* h, const float* dy, float* dh, int64_t rows, int64_t f);
  // Rotary positions on rows of `dim` (even, at most kMaxRotaryDim): element i pairs with i + dim/2,
  // y = x * cos + rotate_half(x) * sin, rotate_half(x) = (-x2, x1); then, when rstd is not null, a
  // weightless RMSNorm of the rotated row (rstd[r] kept for backward). Row r reads x + r * x_stride
  // and cos/sin + r * dim, and writes y + r * dim.
  void (*rotary_norm)(const float* x, int64_t x_stride, const float* cos, const float* sin, float* y, float* rstd,
                      int64_t rows, int64_t dim, float eps);
  // Its backward: dx (rows of dim, contiguous) from dy (the same), the rotation recomputed from x.
  void (*rotary_norm_backward)(const float* x, int64_t x_stride, const float* cos, const float* sin, const float* rstd,
                               const float* dy, float* dx, int64_t rows, int64_t dim);
  // AdamW on n parameters p with gradients g and moments m, v, in one pass:
  //   p *= decay; m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
  //   p -= step_size m / (sqrt(v) / bias2_sqrt + eps).
  void (*adamw)(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s);
};

// The widest head rotary_norm takes (its rows are rotated in a buffer on the stack).
constexpr int64_t kMaxRotaryDim = 1024;

// Each instruction set's table (defined in cpu_kernels.cpp under its CPU_CAPABILITY namespace).
namespace DEFAULT {
const CpuKernels& table();
}
namespace AVX2 {
const CpuKernels& table();
}
namespace AVX512 {
const CpuKernels& table();
}

// The table in use: the widest instruction set both this CPU and `limit` allow ("" or "auto": the
// widest the CPU runs). Throws on an unknown name.
const CpuKernels& cpu_kernels();
void set_cpu_kernel_limit(const std::string& limit);

}  // namespace dlm::kernels
