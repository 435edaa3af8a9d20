// fused_ops: each fused operation (include/dlm/model/fused.h) against the composition of ATen
// operations it replaces, forward and backward at the shapes of configs/char6x384.json's training step
// (batch 16 x 256 positions, width 384, MLP 1536, 6 heads of 64), on each instruction set of dlm's CPU kernels
// this CPU runs, and AdamW's step (LibTorch's against dlm's). Prints milliseconds per forward+backward
// or step (median of 20 after 3 untimed) and a JSON line.
//   fused_ops [--threads N]   (default 2)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "dlm/blas.h"
#include "dlm/device.h"
#include "dlm/error.h"
#include "dlm/model/fused.h"
#include "dlm/model/layers.h"
#include "dlm/train/optimizer.h"
#include "median.h"

namespace {

constexpr int kWarmup = 3, kRepeats = 20;

// Median milliseconds of fn(), which runs one forward and backward pass.
double median_ms(const std::function<void()>& fn) {
  for (int i = 0; i < kWarmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < kRepeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return median(ms);
}

struct Op {
  std::string name;
  std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)> fused, composed;
  std::vector<int64_t> shape;
  bool weighted;
};

// One forward and backward pass of `f` on leaves made from x0 and w0.
void pass(const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& f, const torch::Tensor& x0,
          const torch::Tensor& w0, const torch::Tensor& dy) {
  const torch::Tensor x = x0.detach().requires_grad_();
  const torch::Tensor w = w0.defined() ? w0.detach().requires_grad_() : torch::Tensor();
  f(x, w).backward(dy);
}

// A function that runs one step of a fresh optimizer of type `Optimizer` over two MLP-sized matrices
// with gradients (the optimizer and tensors live as long as the function).
template <typename Optimizer>
std::function<void()> adamw_step() {
  std::vector<torch::Tensor> params = {torch::randn({384, 1536}).requires_grad_(),
                                       torch::randn({1536, 384}).requires_grad_()};
  for (auto& p : params) p.mutable_grad() = torch::randn(p.sizes());
  auto optimizer = std::make_shared<Optimizer>(params, torch::optim::AdamWOptions(1e-3).weight_decay(0.1));
  return [optimizer] { optimizer->step(); };
}

// Prints one table row and adds it to `rows`.
void report(nlohmann::ordered_json& rows, const std::string& op, const std::string& kernels, const std::string& shape,
            double composed, double fused) {
  std::printf("%-20s %-8s %20s %12.2f %12.2f %7.2fx\n", op.c_str(), kernels.c_str(), shape.c_str(), composed, fused,
              composed / fused);
  rows.push_back({{"op", op}, {"kernels", kernels}, {"shape", shape}, {"composed_ms", composed}, {"fused_ms", fused}});
}

// The elementwise operations at char6x384's shapes, on one kernel set.
void time_elementwise(nlohmann::ordered_json& rows, const std::string& isa) {
  const auto rms = [](const torch::Tensor& x, const torch::Tensor& w) { return dlm::fused_rms_norm(x, w, 1e-6); };
  const auto rms_composed = [](const torch::Tensor& x, const torch::Tensor& w) {
    return w.defined() ? dlm::rms_norm(x, 1e-6) * w : dlm::rms_norm(x, 1e-6);
  };
  const auto relu2 = [](const torch::Tensor& x, const torch::Tensor&) { return dlm::fused_relu2(x); };
  const auto relu2_composed = [](const torch::Tensor& x, const torch::Tensor&) { return torch::relu(x).square(); };
  const torch::Tensor angles = torch::rand({256, 32}) * 6.0;
  const torch::Tensor cos = torch::cat({angles.cos(), angles.cos()}, -1);
  const torch::Tensor sin = torch::cat({angles.sin(), angles.sin()}, -1);
  const auto rotary = [&](const torch::Tensor& x, const torch::Tensor&) {
    return dlm::fused_rotary(x, cos, sin, true, 1e-6);
  };
  const auto rotary_composed = [&](const torch::Tensor& x, const torch::Tensor&) {
    return dlm::rms_norm(dlm::rotate(x, cos, sin), 1e-6);
  };
  const auto swiglu = [](const torch::Tensor& h, const torch::Tensor&) { return dlm::fused_swiglu(h); };
  const auto swiglu_composed = [](const torch::Tensor& h, const torch::Tensor&) {
    const auto parts = h.chunk(2, -1);
    return torch::silu(parts[0]) * parts[1];
  };
  const std::vector<Op> ops = {{"rms_norm", rms, rms_composed, {16, 256, 384}, false},
                               {"rms_norm weighted", rms, rms_composed, {16, 256, 384}, true},
                               {"relu2", relu2, relu2_composed, {16, 256, 1536}, false},
                               {"swiglu", swiglu, swiglu_composed, {16, 256, 2 * 1024}, false},
                               {"rotary + qk norm", rotary, rotary_composed, {16, 6, 256, 64}, false}};
  for (const Op& op : ops) {
    const torch::Tensor x = torch::randn(op.shape);
    const torch::Tensor w = op.weighted ? torch::randn({op.shape.back()}) : torch::Tensor();
    const torch::Tensor dy = torch::randn(op.fused(x, w).sizes());  // a gated unit halves the width
    const double composed = median_ms([&] { pass(op.composed, x, w, dy); });
    const double fused = median_ms([&] { pass(op.fused, x, w, dy); });
    report(rows, op.name, isa, c10::str(torch::IntArrayRef(op.shape)), composed, fused);
  }
}

// The head's cross-entropy with half of a 16 x 256 batch masked, width 384, an 8,000-piece vocabulary
// (its GEMMs and ATen's reductions: no kernel of dlm's).
void time_head_ce(nlohmann::ordered_json& rows) {
  namespace F = torch::nn::functional;
  const torch::Tensor f = torch::randn({2048, 384}), w = torch::randn({8000, 384}) * 0.05;
  const torch::Tensor target = torch::randint(0, 8000, {2048});
  const auto ce_pass = [&](bool fused) {
    const torch::Tensor fl = f.detach().requires_grad_(), wl = w.detach().requires_grad_();
    const torch::Tensor ce =
        fused ? dlm::fused_head_ce(fl, wl, {}, target)
              : F::cross_entropy(F::linear(fl, wl), target, F::CrossEntropyFuncOptions().reduction(torch::kNone));
    ce.sum().backward();
  };
  const double composed = median_ms([&] { ce_pass(false); });
  const double fused = median_ms([&] { ce_pass(true); });
  report(rows, "head cross-entropy", "aten", "[2048, 384] x 8000", composed, fused);
}

}  // namespace

int main(int argc, char** argv) {
  return dlm::run_tool("fused_ops", [&] {
    const dlm::BlasStatus status = dlm::ensure_blas_kernels(argv);  // may restart the program once
    int64_t threads = 2;
    if (argc == 3 && std::string(argv[1]) == "--threads")
      threads = std::stoll(argv[2]);
    else if (argc != 1)
      throw dlm::Error("usage: fused_ops [--threads N]");
    threads = dlm::set_threads(threads);
    std::printf("%s\n", status.line.c_str());
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    std::printf("%-20s %-8s %20s %12s %12s %8s\n", "op", "kernels", "shape", "composed ms", "fused ms", "speedup");
    for (const std::string isa : {"default", "avx2", "avx512"}) {
      dlm::limit_cpu_kernels(isa);
      if (dlm::cpu_kernel_isa() != isa) continue;
      time_elementwise(rows, isa);
      // AdamW over one block's MLP matrices, LibTorch's step against dlm's.
      report(rows, "adamw step", isa, "2 x [384, 1536]", median_ms(adamw_step<torch::optim::AdamW>()),
             median_ms(adamw_step<dlm::FusedAdamW>()));
    }
    dlm::limit_cpu_kernels("auto");
    time_head_ce(rows);
    const nlohmann::ordered_json line = {{"bench", "fused_ops"},
                                         {"threads", threads},
                                         {"repeats", kRepeats},
                                         {"torch", TORCH_VERSION},
                                         {"results", rows}};
    std::printf("%s\n", line.dump().c_str());
    return 0;
  });
}
