// One core's peak multiply-add rate for fp32 FMAs and for bf16 dot products (AVX512-BF16), from loops
// over registers only: whether bf16 matrix products can outrun fp32 ones on this CPU at all, whatever
// the GEMM library (issue 32's bf16 target). Needs no LibTorch; x86-64 only.
//   bench/bf16_dot [--iterations N]
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

// Twelve independent accumulators hide either instruction's latency, so the loop runs at its throughput.
#define DLM_TWELVE(OP) OP(a0) OP(a1) OP(a2) OP(a3) OP(a4) OP(a5) OP(a6) OP(a7) OP(a8) OP(a9) OP(a10) OP(a11)
constexpr int kAccumulators = 12;

using Clock = std::chrono::steady_clock;

// The accumulators' sum, printed so the compiler keeps the loop.
__attribute__((target("avx512f"))) float total(const __m512* a) {
  float lanes[16], s = 0;
  for (int i = 0; i < kAccumulators; ++i) {
    _mm512_storeu_ps(lanes, a[i]);
    for (float v : lanes) s += v;
  }
  return s;
}

// fp32: 16 lanes, one multiply and one add each per instruction.
__attribute__((target("avx512f"))) double fma_gflops(long iterations, float* sink) {
  const __m512 x = _mm512_set1_ps(1e-7f);
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
         a10 = a0, a11 = a0;
  const auto start = Clock::now();
  for (long i = 0; i < iterations; ++i) {
#define DLM_FMA(a) a = _mm512_fmadd_ps(x, x, a);
    DLM_TWELVE(DLM_FMA)
#undef DLM_FMA
  }
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  const __m512 all[kAccumulators] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11};
  *sink += total(all);
  return 2.0 * 16 * kAccumulators * static_cast<double>(iterations) / s / 1e9;
}

// bf16: 16 lanes, two products summed into fp32 each per instruction.
__attribute__((target("avx512f,avx512bf16"))) double bf16_dot_gflops(long iterations, float* sink) {
  const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-4f), _mm512_set1_ps(1e-4f));
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
         a10 = a0, a11 = a0;
  const auto start = Clock::now();
  for (long i = 0; i < iterations; ++i) {
#define DLM_DOT(a) a = _mm512_dpbf16_ps(a, x, x);
    DLM_TWELVE(DLM_DOT)
#undef DLM_DOT
  }
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  const __m512 all[kAccumulators] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11};
  *sink += total(all);
  return 2.0 * 32 * kAccumulators * static_cast<double>(iterations) / s / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 100000000;
  if (argc == 3 && std::strcmp(argv[1], "--iterations") == 0) iterations = std::atol(argv[2]);
  if (iterations <= 0 || (argc != 1 && argc != 3)) {
    std::fprintf(stderr, "usage: bf16_dot [--iterations N]\n");
    return 2;
  }
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f")) {
    std::printf("this CPU has no AVX-512: nothing to compare\n");
    return 0;
  }
  const bool bf16 = __builtin_cpu_supports("avx512bf16");
  std::printf("one core, %d accumulators, %ld iterations a run; GFLOP/s (a multiply-add counts 2)\n", kAccumulators,
              iterations);
  float sink = 0;
  for (int run = 0; run < 3; ++run) {
    const double fp32 = fma_gflops(iterations, &sink);
    if (!bf16) {
      std::printf("fp32 FMA %.1f  bf16 dot: none (no AVX512-BF16)\n", fp32);
      continue;
    }
    const double dot = bf16_dot_gflops(iterations, &sink);
    std::printf("fp32 FMA %.1f  bf16 dot %.1f  ratio %.2f\n", fp32, dot, dot / fp32);
  }
  std::printf("(checksum %g)\n", static_cast<double>(sink));
}
