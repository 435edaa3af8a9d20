// Picks the CPU kernels' instruction set once, from the CPU's flags: dlm is built without -march, so
// the same binary runs AVX-512 kernels where the CPU has them and AVX2 or plain ones elsewhere.
#include <algorithm>
#include <atomic>
#include <string>

#include "dlm/error.h"
#include "model/kernels/cpu_kernels.h"

namespace dlm::kernels {
namespace {

int widest_supported() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return 2;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
  return 0;
}

std::atomic<int> limit{2};

}  // namespace

const CpuKernels& cpu_kernels() {
  static const int supported = widest_supported();
  const int level = std::min(supported, limit.load());
#if defined(__x86_64__) || defined(__i386__)  // the only targets the AVX objects are built for
  if (level == 2) return AVX512::table();
  if (level == 1) return AVX2::table();
#endif
  (void)level;
  return DEFAULT::table();
}

void set_cpu_kernel_limit(const std::string& name) {
  if (name.empty() || name == "auto" || name == "avx512") {
    limit = 2;
  } else if (name == "avx2") {
    limit = 1;
  } else if (name == "default") {
    limit = 0;
  } else {
    throw Error("unknown CPU kernel instruction set '" + name + "' (valid: auto, avx512, avx2, default)");
  }
}

}  // namespace dlm::kernels
