// blas_matmul: matrix-product speed (1024 x 1024 @ 1024 x 1024, torch::matmul) on one thread and on all
// cores, with the BLAS and kernel set it ran on; fp32, or bf16 operands with `--dtype bf16` (the
// product LibTorch runs for bf16: oneDNN's on 2.x). Restarts itself like dtrain and dgen, so
// DLM_BLAS_KERNELS=keep measures OpenBLAS's own kernel choice and the default measures dlm's.
// `blas_matmul --kernels` prints only the OpenBLAS kernel set in use.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "dlm/blas.h"
#include "dlm/device.h"
#include "dlm/error.h"
#include "median.h"

namespace {

constexpr int64_t kN = 1024;
constexpr int kWarmup = 3;    // untimed: the first products allocate and start the thread pool
constexpr int kRepeats = 10;  // timed; the median is the figure, the best shows the spread

struct Timing {
  int64_t threads = 0;
  double median_gflops = 0;
  double best_gflops = 0;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// `threads` = 0 uses every core.
Timing time_matmul(int64_t threads, torch::ScalarType dtype) {
  Timing t;
  t.threads = dlm::set_threads(threads);
  at::Generator gen = at::detail::createCPUGenerator(1);
  const torch::Tensor a = torch::randn({kN, kN}, gen).to(dtype), b = torch::randn({kN, kN}, gen).to(dtype);
  for (int i = 0; i < kWarmup; ++i) torch::matmul(a, b);
  std::vector<double> seconds;
  for (int i = 0; i < kRepeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    torch::matmul(a, b);
    seconds.push_back(seconds_since(start));
  }
  const double gflop = 2.0 * kN * kN * kN / 1e9;
  t.median_gflops = gflop / median(seconds);
  t.best_gflops = gflop / *std::min_element(seconds.begin(), seconds.end());
  return t;
}

// What ran the products: OpenBLAS's kernel set, or for MKL and others ATen's CPU capability.
std::string kernels(const dlm::BlasInfo& info) {
  if (info.library == "OpenBLAS") return info.core;
  return info.cpu_capability.empty() ? "unknown" : "ATen " + info.cpu_capability;
}

void print_results(const dlm::BlasInfo& info, const std::string& dtype, const std::vector<Timing>& timings) {
  std::printf("%s matmul %ldx%ld @ %ldx%ld, GFLOP/s over %d runs after %d warm-up runs, kernels %s\n", dtype.c_str(),
              static_cast<long>(kN), static_cast<long>(kN), static_cast<long>(kN), static_cast<long>(kN), kRepeats,
              kWarmup, kernels(info).c_str());
  std::printf("%8s %10s %10s\n", "threads", "median", "best");
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const Timing& t : timings) {
    std::printf("%8ld %10.1f %10.1f\n", static_cast<long>(t.threads), t.median_gflops, t.best_gflops);
    rows.push_back({{"threads", t.threads}, {"gflops_median", t.median_gflops}, {"gflops_best", t.best_gflops}});
  }
  const nlohmann::ordered_json line = {
      {"bench", "blas_matmul"},  {"n", kN},
      {"dtype", dtype},          {"blas", info.library.empty() ? "unknown" : info.library},
      {"version", info.version}, {"kernels", kernels(info)},
      {"repeats", kRepeats},     {"results", rows}};
  std::printf("%s\n", line.dump().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  return dlm::run_tool("blas_matmul", [&] {
    const dlm::BlasStatus status = dlm::ensure_blas_kernels(argv);  // may restart the program once
    // --kernels: only the OpenBLAS kernel set dlm runs on (empty for other BLAS), for scripts that
    // give a reference program the same one through OPENBLAS_CORETYPE.
    if (argc > 1 && std::string(argv[1]) == "--kernels") {
      const dlm::BlasInfo info = dlm::detect_blas();
      std::printf("%s\n", info.library == "OpenBLAS" ? info.core.c_str() : "");
      return 0;
    }
    const std::string dtype = argc == 3 && std::string(argv[1]) == "--dtype" ? argv[2] : argc == 1 ? "fp32" : "";
    if (dtype != "fp32" && dtype != "bf16") throw dlm::Error("usage: blas_matmul [--kernels | --dtype fp32|bf16]");
    std::printf("%s\n", status.line.c_str());
    const torch::ScalarType type = dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
    const std::vector<Timing> timings = {time_matmul(1, type), time_matmul(0, type)};
    print_results(dlm::detect_blas(), dtype, timings);
    return 0;
  });
}
