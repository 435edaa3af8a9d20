// The CPU kernels of dlm's fused operations, on ATen's Vectorized<float>. This file is compiled once
// per instruction set with CPU_CAPABILITY set (DEFAULT, AVX2, AVX512; see CMakeLists.txt): it includes
// only ATen's vector headers, whose code lives in the CPU_CAPABILITY namespace, so that no inline
// function built for a wider instruction set can stand in for another file's copy.
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>

#include "model/kernels/cpu_kernels.h"

namespace dlm::kernels {
namespace CPU_CAPABILITY {
namespace {

using Vec = at::vec::Vectorized<float>;

float horizontal_sum(const Vec& v) {
  float lanes[Vec::size()];
  v.store(lanes);
  float s = 0.0f;
  for (int i = 0; i < Vec::size(); ++i) s += lanes[i];
  return s;
}

// sum(a[i] * b[i]) over n floats.
float dot(const float* a, const float* b, int64_t n) {
  Vec acc(0.0f);
  int64_t i = 0;
  for (; i + Vec::size() <= n; i += Vec::size()) acc = at::vec::fmadd(Vec::loadu(a + i), Vec::loadu(b + i), acc);
  float s = horizontal_sum(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void rms_norm(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t dim, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    const float s = 1.0f / std::sqrt(dot(xr, xr, dim) / static_cast<float>(dim) + eps);
    rstd[r] = s;
    const Vec vs(s);
    int64_t i = 0;
    for (; i + Vec::size() <= dim; i += Vec::size()) {
      Vec v = Vec::loadu(xr + i) * vs;
      if (w) v = v * Vec::loadu(w + i);
      v.store(yr + i);
    }
    for (; i < dim; ++i) yr[i] = w ? xr[i] * s * w[i] : xr[i] * s;
  }
}

// With g = dy * w (or dy), y = x * s and s = (mean(x^2) + eps)^-1/2:
//   dx = s * g - x * s^3 * mean(g * x),   dw += dy * x * s.
void rms_norm_backward(const float* dy, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                       int64_t rows, int64_t dim) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* dyr = dy + r * dim;
    const float* xr = x + r * dim;
    float* dxr = dx + r * dim;
    const float s = rstd[r];
    // mean(g * x), with g = dy * w: the weighted dot product.
    Vec acc(0.0f);
    int64_t i = 0;
    for (; i + Vec::size() <= dim; i += Vec::size()) {
      Vec g = Vec::loadu(dyr + i);
      if (w) g = g * Vec::loadu(w + i);
      acc = at::vec::fmadd(g, Vec::loadu(xr + i), acc);
    }
    float gx = horizontal_sum(acc);
    for (; i < dim; ++i) gx += (w ? dyr[i] * w[i] : dyr[i]) * xr[i];
    const float c = s * s * s * gx / static_cast<float>(dim);
    const Vec vs(s), vc(c);
    i = 0;
    for (; i + Vec::size() <= dim; i += Vec::size()) {
      const Vec xv = Vec::loadu(xr + i), dyv = Vec::loadu(dyr + i);
      const Vec g = w ? dyv * Vec::loadu(w + i) : dyv;
      (g * vs - xv * vc).store(dxr + i);
      if (w) at::vec::fmadd(dyv, xv * vs, Vec::loadu(dw + i)).store(dw + i);
    }
    for (; i < dim; ++i) {
      const float g = w ? dyr[i] * w[i] : dyr[i];
      dxr[i] = g * s - xr[i] * c;
      if (w) dw[i] += dyr[i] * xr[i] * s;
    }
  }
}

void relu2(const float* x, float* y, int64_t n) {
  const Vec zero(0.0f);
  int64_t i = 0;
  for (; i + Vec::size() <= n; i += Vec::size()) {
    const Vec r = at::vec::maximum(Vec::loadu(x + i), zero);
    (r * r).store(y + i);
  }
  for (; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] * x[i] : 0.0f;
}

void relu2_backward(const float* x, const float* dy, float* dx, int64_t n) {
  const Vec zero(0.0f), two(2.0f);
  int64_t i = 0;
  for (; i + Vec::size() <= n; i += Vec::size())
    (two * at::vec::maximum(Vec::loadu(x + i), zero) * Vec::loadu(dy + i)).store(dx + i);
  for (; i < n; ++i) dx[i] = x[i] > 0.0f ? 2.0f * x[i] * dy[i] : 0.0f;
}

// silu(x) = x sigmoid(x) and its slope, lane by lane.
struct Activated {
  Vec value, slope;
};
Activated silu(const Vec& x) {
  const Vec one(1.0f);
  const Vec s = one / (one + x.neg().exp());  // sigmoid
  return {x * s, s * (one + x * (one - s))};
}

// fn(i, count) over [0, n) in vectors, the last one partial (count < Vec::size()): one code path for
// every element, so the tail is computed exactly as the rest.
template <typename Fn>
void over_vectors(int64_t n, const Fn& fn) {
  for (int64_t i = 0; i < n; i += Vec::size()) fn(i, static_cast<int>(std::min<int64_t>(Vec::size(), n - i)));
}

void swiglu(const float* h, float* y, int64_t rows, int64_t f) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* gate = h + r * 2 * f;
    over_vectors(f, [&](int64_t i, int count) {
      (silu(Vec::loadu(gate + i, count)).value * Vec::loadu(gate + f + i, count)).store(y + r * f + i, count);
    });
  }
}

void swiglu_backward(const float* h, const float* dy, float* dh, int64_t rows, int64_t f) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* gate = h + r * 2 * f;
    float* dgate = dh + r * 2 * f;
    over_vectors(f, [&](int64_t i, int count) {
      const Activated a = silu(Vec::loadu(gate + i, count));
      const Vec g = Vec::loadu(dy + r * f + i, count);
      (a.slope * Vec::loadu(gate + f + i, count) * g).store(dgate + i, count);
      (a.value * g).store(dgate + f + i, count);
    });
  }
}

// One row rotated: y[i] = x[i] cos[i] - x[i+h] sin[i], y[i+h] = x[i+h] cos[i+h] + x[i] sin[i+h].
void rotate_row(const float* x, const float* cos, const float* sin, float* y, int64_t h) {
  int64_t i = 0;
  for (; i + Vec::size() <= h; i += Vec::size()) {
    const Vec a = Vec::loadu(x + i), b = Vec::loadu(x + h + i);
    (a * Vec::loadu(cos + i) - b * Vec::loadu(sin + i)).store(y + i);
    (b * Vec::loadu(cos + h + i) + a * Vec::loadu(sin + h + i)).store(y + h + i);
  }
  for (; i < h; ++i) {
    const float a = x[i], b = x[h + i];
    y[i] = a * cos[i] - b * sin[i];
    y[h + i] = b * cos[h + i] + a * sin[h + i];
  }
}

// The rotation's transpose applied to g: dx[i] = g[i] cos[i] + g[i+h] sin[i+h],
// dx[i+h] = g[i+h] cos[i+h] - g[i] sin[i].
void unrotate_row(const float* g, const float* cos, const float* sin, float* dx, int64_t h) {
  int64_t i = 0;
  for (; i + Vec::size() <= h; i += Vec::size()) {
    const Vec a = Vec::loadu(g + i), b = Vec::loadu(g + h + i);
    (a * Vec::loadu(cos + i) + b * Vec::loadu(sin + h + i)).store(dx + i);
    (b * Vec::loadu(cos + h + i) - a * Vec::loadu(sin + i)).store(dx + h + i);
  }
  for (; i < h; ++i) {
    const float a = g[i], b = g[h + i];
    dx[i] = a * cos[i] + b * sin[h + i];
    dx[h + i] = b * cos[h + i] - a * sin[i];
  }
}

void rotary_norm(const float* x, int64_t x_stride, const float* cos, const float* sin, float* y, float* rstd,
                 int64_t rows, int64_t dim, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    float* yr = y + r * dim;
    rotate_row(x + r * x_stride, cos + r * dim, sin + r * dim, yr, dim / 2);
    if (!rstd) continue;
    rms_norm(yr, nullptr, yr, rstd + r, 1, dim, eps);
  }
}

void rotary_norm_backward(const float* x, int64_t x_stride, const float* cos, const float* sin, const float* rstd,
                          const float* dy, float* dx, int64_t rows, int64_t dim) {
  float rotated[kMaxRotaryDim], g[kMaxRotaryDim];
  for (int64_t r = 0; r < rows; ++r) {
    const float* c = cos + r * dim;
    const float* s = sin + r * dim;
    const float* gr = dy + r * dim;
    if (rstd) {
      // The norm's backward on the rotated row, recomputed rather than kept.
      rotate_row(x + r * x_stride, c, s, rotated, dim / 2);
      rms_norm_backward(gr, rotated, nullptr, rstd + r, g, nullptr, 1, dim);
      gr = g;
    }
    unrotate_row(gr, c, s, dx + r * dim, dim / 2);
  }
}

void adamw(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s) {
  const float c1 = 1.0f - s.beta1, c2 = 1.0f - s.beta2;
  const Vec decay(s.decay), b1(s.beta1), b2(s.beta2), vc1(c1), vc2(c2), step(s.step_size), b2s(s.bias2_sqrt),
      eps(s.eps);
  int64_t i = 0;
  for (; i + Vec::size() <= n; i += Vec::size()) {
    const Vec gi = Vec::loadu(g + i);
    const Vec mi = Vec::loadu(m + i) * b1 + gi * vc1;
    const Vec vi = Vec::loadu(v + i) * b2 + gi * gi * vc2;
    mi.store(m + i);
    vi.store(v + i);
    (Vec::loadu(p + i) * decay - step * (mi / (vi.sqrt() / b2s + eps))).store(p + i);
  }
  for (; i < n; ++i) {
    m[i] = m[i] * s.beta1 + g[i] * c1;
    v[i] = v[i] * s.beta2 + g[i] * g[i] * c2;
    p[i] = p[i] * s.decay - s.step_size * (m[i] / (std::sqrt(v[i]) / s.bias2_sqrt + s.eps));
  }
}

}  // namespace

#if defined(CPU_CAPABILITY_AVX512)
constexpr const char* kIsa = "avx512";
#elif defined(CPU_CAPABILITY_AVX2)
constexpr const char* kIsa = "avx2";
#else
constexpr const char* kIsa = "default";
#endif

const CpuKernels& table() {
  static const CpuKernels kernels{kIsa,
                                  rms_norm,
                                  rms_norm_backward,
                                  relu2,
                                  relu2_backward,
                                  swiglu,
                                  swiglu_backward,
                                  rotary_norm,
                                  rotary_norm_backward,
                                  adamw};
  return kernels;
}

}  // namespace CPU_CAPABILITY
}  // namespace dlm::kernels
