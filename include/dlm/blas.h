// Which BLAS LibTorch's matrix products run on, and with which kernels. OpenBLAS built with
// DYNAMIC_ARCH picks its kernels from the CPU model, and an older release that does not know a new CPU
// falls back to its generic SSE3 (Prescott) kernels: about 5x slower than the AVX-512 ones that CPU runs.
// The apps correct that by restarting once with OPENBLAS_CORETYPE set, which OpenBLAS reads only at load.
#pragma once

#include <set>
#include <string>

namespace dlm {

// The CPU's instruction-set extensions, named as /proc/cpuinfo names them (SSE3 is `pni`).
// An empty set means "unknown" (no /proc/cpuinfo, or not x86): nothing is switched or refused then.
struct CpuFeatures {
  std::set<std::string> flags;
  bool has(const std::string& flag) const { return flags.count(flag) > 0; }
};

// Parses a /proc/cpuinfo `flags` line; the `flags\t\t: ` label is optional.
CpuFeatures parse_cpu_flags(const std::string& flags_line);

// This machine's features, from the first `flags` line of /proc/cpuinfo.
CpuFeatures host_cpu_features();

// The best OpenBLAS x86-64 kernel set the CPU runs among COOPERLAKE, SKYLAKEX, HASWELL and SANDYBRIDGE,
// or "" when it runs none of them (SSE-only CPUs: OpenBLAS's own choice is as good as any).
std::string best_openblas_core(const CpuFeatures& cpu);

// What to do about OpenBLAS's kernels. `core` is in OpenBLAS's upper-case spelling (COOPERLAKE).
struct BlasChoice {
  bool switch_core = false;  // restart with OPENBLAS_CORETYPE=core
  std::string core;          // the kernel set to switch to; empty when keeping OpenBLAS's
};

// Decides from the CPU's features, the kernel set OpenBLAS picked (`openblas_get_corename()`, e.g.
// "Prescott") and the user's `requested`: "" or "auto" switches to best_openblas_core() when OpenBLAS's
// pick needs a lower instruction set; "keep" never switches; a kernel set name (any case) is used as
// asked. Throws dlm::Error for an unknown name, or one whose instructions the CPU lacks (naming them:
// OpenBLAS would die with SIGILL).
BlasChoice choose_openblas_core(const CpuFeatures& cpu, const std::string& detected_core, const std::string& requested);

// The BLAS behind LibTorch, found at run time (OpenBLAS is never linked directly: the PyPI LibTorch
// uses MKL, and reference BLAS has no way to report itself).
struct BlasInfo {
  std::string library;         // "OpenBLAS", "MKL", or "" when neither is found
  std::string version;         // e.g. "0.3.21"; may be empty
  std::string threading;       // OpenBLAS: "openmp", "pthreads" or "serial"
  std::string core;            // OpenBLAS's kernel set as it names it, e.g. "Prescott"
  std::string cpu_capability;  // ATen's own vectorised kernels: "DEFAULT", "AVX2", "AVX512"
  bool onednn = false;         // LibTorch was built with oneDNN
};
BlasInfo detect_blas();

// One start-up line (`BLAS: OpenBLAS 0.3.21 (openmp), kernels Cooperlake (...)`); `warning` when the
// matrix products run slower than this machine allows, so quiet programs should still show it.
struct BlasStatus {
  std::string line;
  bool warning = false;
};

// For the apps, before any work: when OpenBLAS runs worse kernels than the CPU can, sets
// OPENBLAS_CORETYPE and re-executes the program (once: DLM_BLAS_REEXEC marks the restarted process).
// The environment variable DLM_BLAS_KERNELS (auto | keep | a kernel set) overrides the choice; a
// user-set OPENBLAS_CORETYPE is respected. Both are checked against the CPU; a kernel set it cannot run
// throws dlm::Error. If the restart fails, carries on with a warning.
BlasStatus ensure_blas_kernels(char** argv);

// For programs that embed the library and cannot restart: the same line, and a warning naming the
// OPENBLAS_CORETYPE to set before starting the program when OpenBLAS chose worse kernels. After
// ensure_blas_kernels() in the same process, its line (so code deeper in can log it).
BlasStatus blas_report();

}  // namespace dlm
