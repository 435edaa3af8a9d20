// Device settings (names to DeviceChoice and back), device and thread selection, autocast.
#include "dlm/device.h"

#include <cstdlib>
#include <thread>

#include <ATen/autocast_mode.h>
#include <torch/version.h>

// LibTorch 2.4 replaced the per-backend autocast functions with per-device ones.
#define DLM_PER_DEVICE_AUTOCAST (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))

#ifdef __GLIBC__
#include <malloc.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "dlm/error.h"

namespace dlm {

DeviceChoice parse_device(const std::string& name) {
  if (name == "auto") return {DeviceChoice::Kind::kAuto, -1};
  if (name == "cpu") return {DeviceChoice::Kind::kCpu, -1};
  if (name == "cuda") return {DeviceChoice::Kind::kCuda, -1};
  const std::string digits = name.rfind("cuda:", 0) == 0 ? name.substr(5) : "";
  if (!digits.empty() && digits.size() <= 4 && digits.find_first_not_of("0123456789") == std::string::npos) {
    return {DeviceChoice::Kind::kCuda, std::stoi(digits)};
  }
  throw Error("unknown device '" + name + "' (valid: auto, cpu, cuda, cuda:N)");
}

std::string device_name(const DeviceChoice& d) {
  switch (d.kind) {
    case DeviceChoice::Kind::kAuto:
      return "auto";
    case DeviceChoice::Kind::kCpu:
      return "cpu";
    case DeviceChoice::Kind::kCuda:
      break;
  }
  return d.index < 0 ? "cuda" : "cuda:" + std::to_string(d.index);
}

torch::Device resolve_device(const DeviceChoice& choice) {
  switch (choice.kind) {
    case DeviceChoice::Kind::kAuto:
      return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
    case DeviceChoice::Kind::kCpu:
      return torch::Device(torch::kCPU);
    case DeviceChoice::Kind::kCuda:
      break;
  }
  const std::string name = device_name(choice);
  if (!torch::cuda::is_available()) {
    throw Error("device '" + name +
                "' requested but CUDA is not available in this build or machine (use --device cpu)");
  }
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (choice.index >= count) {
    throw Error("device '" + name + "': this machine has " + std::to_string(count) + " CUDA device(s)");
  }
  return choice.index < 0 ? torch::Device(torch::kCUDA)
                          : torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(choice.index));
}

int64_t default_threads() {
  // OMP_NUM_THREADS as OpenMP reads it: a positive count; anything else leaves the choice to dlm.
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n > 0 && n <= 4096) return n;
  }
  return std::max<int64_t>(1, std::thread::hardware_concurrency());
}

int64_t set_threads(int64_t threads) {
  if (threads < 0) {
    throw Error("threads must be >= 0 (0 means OMP_NUM_THREADS, else the core count), got " + std::to_string(threads));
  }
  if (threads == 0) threads = default_threads();
  torch::set_num_threads(static_cast<int>(threads));
  return threads;
}

namespace {

bool autocast_enabled(torch::DeviceType type) {
#if DLM_PER_DEVICE_AUTOCAST
  return at::autocast::is_autocast_enabled(type);
#else
  return type == torch::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

torch::ScalarType autocast_dtype(torch::DeviceType type) {
#if DLM_PER_DEVICE_AUTOCAST
  return at::autocast::get_autocast_dtype(type);
#else
  return type == torch::kCPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
#endif
}

void set_autocast(torch::DeviceType type, bool enabled, torch::ScalarType dtype) {
#if DLM_PER_DEVICE_AUTOCAST
  at::autocast::set_autocast_enabled(type, enabled);
  at::autocast::set_autocast_dtype(type, dtype);
#else
  if (type == torch::kCPU) {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  } else {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  }
#endif
}

}  // namespace

AutocastGuard::AutocastGuard(const torch::Device& device, torch::ScalarType dtype) : type_(device.type()) {
  if (type_ != torch::kCPU && type_ != torch::kCUDA) return;
  active_ = true;
  was_enabled_ = autocast_enabled(type_);
  was_dtype_ = autocast_dtype(type_);
  set_autocast(type_, true, dtype);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // Casts are cached while autocast is on; the outermost guard drops them.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(type_, was_enabled_, was_dtype_);
}

bool autocast_active(const torch::Device& device) { return autocast_enabled(device.type()); }

torch::ScalarType active_autocast_dtype(const torch::Device& device) { return autocast_dtype(device.type()); }

#if defined(__x86_64__) || defined(__i386__)
namespace {

// AMX-BF16 from CPUID (clang's __builtin_cpu_supports has no name for it), usable only where the OS
// saves the tile registers (XCR0 bits 17 and 18).
bool cpu_has_amx_bf16() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || ((d >> 22) & 1u) == 0) return false;
  if (!__get_cpuid(1, &a, &b, &c, &d) || ((c >> 27) & 1u) == 0) return false;  // OSXSAVE: XGETBV exists
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & (3u << 17)) == (3u << 17);
}

}  // namespace
#endif

bool cpu_has_bf16_dot() {
  // Asked at every autocast scope (each training step): the CPU's answer is read once.
  static const bool has = [] {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") || cpu_has_amx_bf16();
#else
    return false;  // other CPUs' bf16 instructions are not detected: fp32 is the safe choice
#endif
  }();
  return has;
}

Precision precision_for(Precision requested, const torch::Device& device, bool cpu_bf16_dot) {
  if (requested == Precision::kBf16 && device.is_cpu() && !cpu_bf16_dot) return Precision::kFp32;
  return requested;
}

std::string precision_notice(Precision requested, const torch::Device& device, bool cpu_bf16_dot) {
  if (requested != Precision::kBf16 || !device.is_cpu()) return "";
  if (!cpu_bf16_dot) {
    return "train.precision bf16: this CPU has no bf16 dot products (AVX512-BF16 or AMX), where bf16 runs slower "
           "than fp32; computing in fp32";
  }
  return "train.precision bf16: matrix products in bf16 on this CPU's bf16 dot products (AVX512-BF16 or AMX)";
}

std::unique_ptr<AutocastGuard> autocast_for(Precision precision, const torch::Device& device) {
  if (precision_for(precision, device, cpu_has_bf16_dot()) == Precision::kFp32) return nullptr;
  return std::make_unique<AutocastGuard>(device, torch::kBFloat16);
}

void tune_allocator() {
#ifdef __GLIBC__
  // LibTorch frees and reallocates the same multi-megabyte activations every step; glibc would hand
  // each one back to the kernel (mmap/munmap), and the page faults cost half the time of a small
  // model's step. Keep freed memory in the heap instead.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
#endif
}

}  // namespace dlm
