// Finds the BLAS behind LibTorch and, for OpenBLAS, makes sure it runs the best kernels the CPU allows.
#include "dlm/blas.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include <ATen/Context.h>
#include <ATen/Version.h>
#include <torch/version.h>

#include "dlm/error.h"

namespace dlm {

namespace {

// The instruction sets OpenBLAS's x86-64 kernel sets are written for, lowest first.
enum class IsaLevel { kSse, kAvx, kAvx2, kAvx512, kAvx512Bf16, kAmx };

struct CoreSpec {
  const char* name;  // OPENBLAS_CORETYPE spelling
  IsaLevel level;
  std::vector<const char*> needs;  // /proc/cpuinfo flags the kernels execute
};

// The 64-bit kernel sets of OpenBLAS's DYNAMIC_ARCH builds. The AMD ones before Zen are written with
// FMA4 (vfmaddps), which no Intel CPU has; Barcelona's and Bobcat's use SSE4a.
const std::vector<CoreSpec>& core_specs() {
  static const std::vector<CoreSpec> specs = {
      {"PRESCOTT", IsaLevel::kSse, {"sse2", "pni"}},
      {"CORE2", IsaLevel::kSse, {"sse2", "pni", "ssse3"}},
      {"PENRYN", IsaLevel::kSse, {"sse2", "pni", "ssse3", "sse4_1"}},
      {"DUNNINGTON", IsaLevel::kSse, {"sse2", "pni", "ssse3", "sse4_1"}},
      {"NEHALEM", IsaLevel::kSse, {"sse2", "pni", "ssse3", "sse4_1", "sse4_2"}},
      {"ATOM", IsaLevel::kSse, {"sse2", "pni", "ssse3"}},
      {"NANO", IsaLevel::kSse, {"sse2", "pni", "ssse3"}},
      {"OPTERON", IsaLevel::kSse, {"sse2"}},
      {"OPTERON_SSE3", IsaLevel::kSse, {"sse2", "pni"}},
      {"BARCELONA", IsaLevel::kSse, {"sse2", "pni", "sse4a"}},
      {"BOBCAT", IsaLevel::kSse, {"sse2", "pni", "ssse3", "sse4a"}},
      {"SANDYBRIDGE", IsaLevel::kAvx, {"avx"}},
      {"BULLDOZER", IsaLevel::kAvx, {"avx", "fma4"}},
      {"PILEDRIVER", IsaLevel::kAvx, {"avx", "fma", "fma4"}},
      {"STEAMROLLER", IsaLevel::kAvx, {"avx", "fma", "fma4"}},
      {"HASWELL", IsaLevel::kAvx2, {"avx", "avx2", "fma"}},
      {"ZEN", IsaLevel::kAvx2, {"avx", "avx2", "fma"}},
      {"EXCAVATOR", IsaLevel::kAvx2, {"avx", "avx2", "fma", "fma4"}},
      {"SKYLAKEX", IsaLevel::kAvx512, {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"}},
      {"COOPERLAKE",
       IsaLevel::kAvx512Bf16,
       {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx512_bf16"}},
      {"SAPPHIRERAPIDS",
       IsaLevel::kAmx,
       {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx512_bf16", "avx512_fp16",
        "amx_bf16", "amx_tile"}},
  };
  return specs;
}

// Lower case, letters and digits only: OpenBLAS reports "SkylakeX" or "Opteron(SSE3)" for the kernel
// sets OPENBLAS_CORETYPE calls SKYLAKEX and OPTERON_SSE3.
std::string normalize(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    if (std::isalnum(c)) out += static_cast<char>(std::tolower(c));
  }
  return out;
}

bool same_core(const std::string& a, const std::string& b) { return normalize(a) == normalize(b); }

const CoreSpec* find_core(const std::string& name) {
  for (const CoreSpec& spec : core_specs()) {
    if (same_core(spec.name, name)) return &spec;
  }
  return nullptr;
}

const CoreSpec& known_core(const std::string& name, const std::string& also_valid) {
  if (const CoreSpec* spec = find_core(name)) return *spec;
  std::string valid = also_valid;
  for (const CoreSpec& spec : core_specs()) valid += (valid.empty() ? "" : ", ") + std::string(spec.name);
  throw Error("unknown OpenBLAS kernel set '" + name + "' (valid: " + valid + ")");
}

std::vector<std::string> missing_flags(const CpuFeatures& cpu, const CoreSpec& spec) {
  std::vector<std::string> missing;
  for (const char* flag : spec.needs) {
    if (!cpu.has(flag)) missing.push_back(std::strcmp(flag, "pni") == 0 ? "pni (SSE3)" : flag);
  }
  return missing;
}

// A kernel set the CPU lacks instructions for dies with SIGILL inside the first matrix product, so
// it is refused up front. An unknown CPU (no flags) is trusted.
void check_runnable(const CpuFeatures& cpu, const CoreSpec& spec) {
  if (cpu.flags.empty()) return;
  const std::vector<std::string> missing = missing_flags(cpu, spec);
  if (missing.empty()) return;
  std::string list;
  for (const std::string& flag : missing) list += (list.empty() ? "" : ", ") + flag;
  throw Error("OpenBLAS kernels " + std::string(spec.name) + " need " + list +
              ", which this CPU does not have (they would stop the program with SIGILL)");
}

BlasChoice choose_auto(const CpuFeatures& cpu, const std::string& detected_core) {
  const std::string best = best_openblas_core(cpu);
  const CoreSpec* picked = find_core(detected_core);
  // Nothing better to offer, or a kernel set this table cannot rank (another architecture, a newer
  // OpenBLAS): OpenBLAS's own choice stands.
  if (best.empty() || !picked) return {};
  if (picked->level >= find_core(best)->level) return {};
  return {true, best};
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// ATen's dispatch level for its own vectorised kernels. LibTorch 2.1 added a getter; before that the
// level is only printed in the build summary.
std::string aten_cpu_capability() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  return at::get_cpu_capability();
#else
  const std::string config = at::show_config();
  const std::string key = "CPU capability usage: ";
  const size_t found = config.find(key);
  if (found == std::string::npos) return "";
  const size_t begin = found + key.size();
  return config.substr(begin, config.find('\n', begin) - begin);
#endif
}

// "2024.2" from MKL's banner ("Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build ...").
std::string mkl_version() {
  std::istringstream words(at::get_mkl_version());
  for (std::string w; words >> w;) {
    if (w == "Version" && words >> w) return w.substr(0, w.find('-'));
  }
  return "";
}

// OpenBLAS's exported entry points, looked up among the libraries already loaded.
void fill_openblas(BlasInfo& info) {
  using TextFn = char* (*)();
  using IntFn = int (*)();
  const auto corename = reinterpret_cast<TextFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (!corename) return;
  info.library = "OpenBLAS";
  info.core = corename();
  if (const auto config = reinterpret_cast<TextFn>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    std::istringstream words(config());  // "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ... USE_OPENMP ..."
    std::string name;
    words >> name >> info.version;
  }
  if (const auto parallel = reinterpret_cast<IntFn>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"))) {
    const int mode = parallel();
    info.threading = mode == 2 ? "openmp" : mode == 1 ? "pthreads" : "serial";
  }
}

std::string openblas_head(const BlasInfo& info) {
  std::string head = "BLAS: OpenBLAS";
  if (!info.version.empty()) head += " " + info.version;
  if (!info.threading.empty()) head += " (" + info.threading + ")";
  return head + ", kernels " + info.core;
}

// MKL dispatches on CPUID itself, so there is nothing to switch; unknown BLAS gets a warning.
BlasStatus describe_other(const BlasInfo& info) {
  const std::string aten = info.cpu_capability.empty() ? "" : ", ATen CPU capability " + info.cpu_capability;
  const std::string onednn = info.onednn ? ", oneDNN" : "";
  if (info.library == "MKL") {
    const std::string version = info.version.empty() ? "" : " " + info.version;
    return {"BLAS: MKL" + version + " (code path chosen by MKL from CPUID)" + aten + onednn, false};
  }
  return {"BLAS: reference or unknown BLAS (neither OpenBLAS nor MKL found)" + aten + onednn +
              "; matrix products will be slow",
          true};
}

// Runs `choose_openblas_core`, naming the environment variable in any error.
BlasChoice choose_from(const char* variable, const CpuFeatures& cpu, const std::string& detected_core,
                       const std::string& requested) {
  try {
    return choose_openblas_core(cpu, detected_core, requested);
  } catch (const Error& e) {
    throw Error(std::string(variable) + "=" + requested + ": " + e.what());
  }
}

// In the restarted process: `marker` is "<core dlm asked for>:<core OpenBLAS had picked>".
BlasStatus after_restart(const BlasInfo& info, const std::string& marker, const std::string& requested) {
  const size_t colon = marker.find(':');
  const std::string target = marker.substr(0, colon);
  const std::string picked = colon == std::string::npos ? "?" : marker.substr(colon + 1);
  if (!same_core(info.core, target)) {
    return {openblas_head(info) + " (dlm restarted with OPENBLAS_CORETYPE=" + target + ", but OpenBLAS runs " +
                info.core + ")",
            true};
  }
  const std::string req = normalize(requested);
  if (req.empty() || req == "auto") {
    return {openblas_head(info) + " (chosen by dlm: OpenBLAS picked " + picked +
                " on this CPU; override with DLM_BLAS_KERNELS)",
            false};
  }
  return {openblas_head(info) + " (DLM_BLAS_KERNELS=" + requested + "; OpenBLAS picked " + picked + ")", false};
}

// OPENBLAS_CORETYPE set by the user: already in effect, only checked and reported. Without x86 flags
// (e.g. an ARM machine, whose kernel sets this table does not list) the user is trusted.
BlasStatus user_core(const BlasInfo& info, const CpuFeatures& cpu, const std::string& coretype,
                     const std::string& requested) {
  const std::string req = normalize(requested);
  if (!req.empty() && req != "auto" && req != "keep" && !same_core(req, coretype)) {
    throw Error("DLM_BLAS_KERNELS=" + requested + " and OPENBLAS_CORETYPE=" + coretype + " disagree; unset one");
  }
  if (!cpu.flags.empty()) {
    try {
      check_runnable(cpu, known_core(coretype, ""));
    } catch (const Error& e) {
      throw Error("OPENBLAS_CORETYPE=" + coretype + ": " + e.what());
    }
  }
  if (same_core(info.core, coretype)) return {openblas_head(info) + " (set by OPENBLAS_CORETYPE)", false};
  return {openblas_head(info) + " (OPENBLAS_CORETYPE=" + coretype + ", which this OpenBLAS does not offer)", true};
}

BlasStatus kept(const BlasInfo& info, const CpuFeatures& cpu, const std::string& requested) {
  const std::string req = normalize(requested);
  if (req.empty() || req == "auto") return {openblas_head(info) + " (OpenBLAS's own choice)", false};
  if (req != "keep") return {openblas_head(info) + " (DLM_BLAS_KERNELS=" + requested + ", as OpenBLAS chose)", false};
  const BlasChoice better = choose_openblas_core(cpu, info.core, "auto");
  const std::string hint = better.switch_core ? "; this CPU can run " + better.core : "";
  return {openblas_head(info) + " (OpenBLAS's own choice, kept by DLM_BLAS_KERNELS=keep" + hint + ")", false};
}

// Replaces the process with a fresh copy of itself that loads OpenBLAS with OPENBLAS_CORETYPE set.
// Returns only if that fails.
BlasStatus restart_with(const std::string& core, const BlasInfo& info, char** argv) {
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  setenv("DLM_BLAS_REEXEC", (core + ":" + info.core).c_str(), 1);
  std::fflush(stdout);
  std::fflush(stderr);
  execv("/proc/self/exe", argv);
  const std::string reason = std::strerror(errno);
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv("DLM_BLAS_REEXEC");
  return {openblas_head(info) + " (could not restart with OPENBLAS_CORETYPE=" + core + ": " + reason +
              "; set it before starting the program for faster matrix products)",
          true};
}

}  // namespace

CpuFeatures parse_cpu_flags(const std::string& flags_line) {
  const size_t colon = flags_line.find(':');
  std::istringstream words(colon == std::string::npos ? flags_line : flags_line.substr(colon + 1));
  CpuFeatures cpu;
  for (std::string flag; words >> flag;) cpu.flags.insert(flag);
  return cpu;
}

CpuFeatures host_cpu_features() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) == 0) return parse_cpu_flags(line);
  }
  return {};
}

std::string best_openblas_core(const CpuFeatures& cpu) {
  for (const char* name : {"COOPERLAKE", "SKYLAKEX", "HASWELL", "SANDYBRIDGE"}) {
    if (missing_flags(cpu, *find_core(name)).empty()) return name;
  }
  return "";
}

BlasChoice choose_openblas_core(const CpuFeatures& cpu, const std::string& detected_core,
                                const std::string& requested) {
  const std::string req = normalize(requested);
  if (req == "keep") return {};
  if (req.empty() || req == "auto") return choose_auto(cpu, detected_core);
  const CoreSpec& spec = known_core(requested, "auto, keep");
  check_runnable(cpu, spec);
  if (same_core(detected_core, spec.name)) return {};
  return {true, spec.name};
}

BlasInfo detect_blas() {
  BlasInfo info;
  info.cpu_capability = aten_cpu_capability();
  info.onednn = at::hasMKLDNN();
  // A LibTorch built with MKL calls MKL's gemm even if an OpenBLAS is loaded too.
  if (at::hasMKL()) {
    info.library = "MKL";
    info.version = mkl_version();
    return info;
  }
  fill_openblas(info);
  return info;
}

namespace {

// What ensure_blas_kernels() found, for blas_report(): the restarted process has consumed the marker
// that says OPENBLAS_CORETYPE was dlm's choice, not the user's.
std::optional<BlasStatus>& ensured_status() {
  static std::optional<BlasStatus> status;
  return status;
}

BlasStatus ensure_kernels(char** argv) {
  const std::string requested = env("DLM_BLAS_KERNELS");
  // Unknown names are refused on any BLAS, so a typo never goes unnoticed.
  choose_from("DLM_BLAS_KERNELS", CpuFeatures{}, "", requested);
  const BlasInfo info = detect_blas();
  if (info.library != "OpenBLAS") return describe_other(info);
  const std::string marker = env("DLM_BLAS_REEXEC");
  if (!marker.empty()) {
    unsetenv("DLM_BLAS_REEXEC");  // programs this one starts decide for themselves
    return after_restart(info, marker, requested);
  }
  const CpuFeatures cpu = host_cpu_features();
  const std::string coretype = env("OPENBLAS_CORETYPE");
  if (!coretype.empty()) return user_core(info, cpu, coretype, requested);
  const BlasChoice choice = choose_from("DLM_BLAS_KERNELS", cpu, info.core, requested);
  if (!choice.switch_core) return kept(info, cpu, requested);
  return restart_with(choice.core, info, argv);
}

}  // namespace

BlasStatus ensure_blas_kernels(char** argv) {
  ensured_status() = ensure_kernels(argv);
  return *ensured_status();
}

BlasStatus blas_report() {
  if (ensured_status()) return *ensured_status();
  const BlasInfo info = detect_blas();
  if (info.library != "OpenBLAS") return describe_other(info);
  if (!env("OPENBLAS_CORETYPE").empty()) return {openblas_head(info) + " (set by OPENBLAS_CORETYPE)", false};
  const BlasChoice better = choose_openblas_core(host_cpu_features(), info.core, "auto");
  if (!better.switch_core) return {openblas_head(info) + " (OpenBLAS's own choice)", false};
  return {openblas_head(info) + "; this CPU can run " + better.core +
              ", much faster: set OPENBLAS_CORETYPE=" + better.core + " before starting the program",
          true};
}

}  // namespace dlm
