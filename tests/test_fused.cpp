// The fused operations against the compositions of ATen operations they replace (RMSNorm, relu^2,
// rotary with and without QK-norm, the head's cross-entropy; AdamW's step against LibTorch's AdamW):
// values and gradients within 1e-5 in fp32, over odd shapes, on every instruction set of dlm's CPU
// kernels this CPU runs.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dlm/model/checkpoint.h"
#include "dlm/model/fused.h"
#include "dlm/model/layers.h"
#include "dlm/model/model.h"
#include "dlm/train/optimizer.h"
#include "test_util.h"

namespace {

// Runs fn once per kernel instruction set this CPU has (always "default"), then restores the widest.
template <typename Fn>
void for_each_isa(Fn fn) {
  std::vector<std::string> ran;
  for (const std::string isa : {"default", "avx2", "avx512"}) {
    dlm::limit_cpu_kernels(isa);
    if (dlm::cpu_kernel_isa() != isa) continue;  // this CPU lacks it
    SCOPED_TRACE("kernels " + isa);
    fn();
    ran.push_back(isa);
  }
  dlm::limit_cpu_kernels("auto");
  ASSERT_FALSE(ran.empty());
  EXPECT_EQ(ran.front(), "default");
}

void expect_close(const torch::Tensor& got, const torch::Tensor& want, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const double err = (got - want).abs().max().item<double>();
  EXPECT_LE(err, 1e-5 * std::max(1.0, want.abs().max().item<double>())) << what;
}

// fused(x) against composed(x) on leaves cloned from x0: the values, then the gradients at x0 of the
// sum of y * dy.
void expect_matches(const std::function<torch::Tensor(const torch::Tensor&)>& fused,
                    const std::function<torch::Tensor(const torch::Tensor&)>& composed, const torch::Tensor& x0,
                    const torch::Tensor& dy) {
  torch::Tensor x = x0.clone().requires_grad_(), xr = x0.clone().requires_grad_();
  const torch::Tensor y = fused(x), yr = composed(xr);
  expect_close(y, yr, "values");
  (y * dy).sum().backward();
  (yr * dy).sum().backward();
  expect_close(x.grad(), xr.grad(), "input gradient");
}

TEST(Fused, RmsNormMatchesTheCompositionWithAndWithoutWeight) {
  torch::manual_seed(4);
  const std::vector<std::vector<int64_t>> shapes = {{1, 1},   {3, 7},    {5, 33},    {2, 3, 17},
                                                    {4, 389}, {130, 64}, {2, 70, 48}};
  for_each_isa([&] {
    for (const auto& shape : shapes) {
      for (const bool weighted : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "shape " << torch::IntArrayRef(shape) << (weighted ? ", weighted" : ""));
        const int64_t dim = shape.back();
        const torch::Tensor x0 = torch::randn(shape) * 3.0;
        const torch::Tensor w0 = weighted ? torch::randn({dim}) : torch::Tensor();
        const torch::Tensor dy = torch::randn(shape);
        torch::Tensor x = x0.clone().requires_grad_(), xr = x0.clone().requires_grad_();
        torch::Tensor w = weighted ? w0.clone().requires_grad_() : torch::Tensor();
        torch::Tensor wr = weighted ? w0.clone().requires_grad_() : torch::Tensor();
        const torch::Tensor y = dlm::fused_rms_norm(x, w, 1e-5);
        const torch::Tensor yr = weighted ? dlm::rms_norm(xr, 1e-5) * wr : dlm::rms_norm(xr, 1e-5);
        expect_close(y, yr, "values");
        (y * dy).sum().backward();
        (yr * dy).sum().backward();
        expect_close(x.grad(), xr.grad(), "input gradient");
        if (weighted) expect_close(w.grad(), wr.grad(), "weight gradient");
      }
    }
  });
}

TEST(Fused, RmsNormTakesStridedInputAndItsWeightGradientIgnoresTheThreadCount) {
  torch::manual_seed(5);
  const torch::Tensor x0 = torch::randn({3, 200, 40}).transpose(0, 1);  // not contiguous
  const torch::Tensor w0 = torch::randn({40});
  const torch::Tensor dy = torch::randn({200, 3, 40});
  std::vector<torch::Tensor> grads;
  const int threads = at::get_num_threads();
  for (const int n : {1, 2}) {
    at::set_num_threads(n);
    torch::Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_();
    const torch::Tensor y = dlm::fused_rms_norm(x, w, 1e-6);
    expect_close(y, dlm::rms_norm(x0, 1e-6) * w0, "values");
    (y * dy).sum().backward();
    grads.push_back(w.grad());
  }
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(grads[0], grads[1]));
}

TEST(Fused, Relu2MatchesTheComposition) {
  torch::manual_seed(6);
  for_each_isa([&] {
    for (const int64_t n : {1L, 15L, 16L, 33L, 70001L}) {
      SCOPED_TRACE(::testing::Message() << n << " elements");
      torch::Tensor x0 = torch::randn({n});
      if (n > 2) x0[1] = 0.0;  // relu's kink: both sides give 0 there
      expect_matches([](const torch::Tensor& x) { return dlm::fused_relu2(x); },
                     [](const torch::Tensor& x) { return torch::relu(x).square(); }, x0, torch::randn({n}));
    }
  });
}

TEST(Fused, SwigluMatchesTheComposition) {
  torch::manual_seed(9);
  const std::vector<std::vector<int64_t>> shapes = {{1, 2}, {3, 14}, {2, 5, 34}, {7, 778}, {40, 130}};
  for_each_isa([&] {
    for (const auto& shape : shapes) {
      SCOPED_TRACE(::testing::Message() << "shape " << torch::IntArrayRef(shape));
      std::vector<int64_t> out = shape;
      out.back() /= 2;
      expect_matches([](const torch::Tensor& h) { return dlm::fused_swiglu(h); },
                     [](const torch::Tensor& h) {
                       const auto parts = h.chunk(2, -1);
                       return torch::silu(parts[0]) * parts[1];
                     },
                     torch::randn(shape) * 4.0, torch::randn(out));  // out to where the sigmoid saturates
    }
  });
}

TEST(Fused, RotaryWithAndWithoutQkNormMatchesTheComposition) {
  torch::manual_seed(7);
  for_each_isa([&] {
    for (const int64_t dh : {2L, 10L, 64L, 130L}) {
      for (const bool per_row : {false, true}) {
        for (const bool norm : {false, true}) {
          SCOPED_TRACE(::testing::Message()
                       << "head width " << dh << (per_row ? ", tables per row" : "") << (norm ? ", qk norm" : ""));
          const int64_t B = 3, H = 2, L = 5;
          // q as the attention slices it from the fused projection: (B, L, 3H, Dh) seen as (B, H, L, Dh).
          const torch::Tensor qkv = torch::randn({B, L, 3 * H, dh}).transpose(1, 2);
          const torch::Tensor angles =
              torch::rand(per_row ? std::vector<int64_t>{B, 1, L, dh / 2} : std::vector<int64_t>{L, dh / 2}) * 6.0;
          const torch::Tensor cos = torch::cat({angles.cos(), angles.cos()}, -1);
          const torch::Tensor sin = torch::cat({angles.sin(), angles.sin()}, -1);
          const auto fused = [&](const torch::Tensor& leaf) {
            return dlm::fused_rotary(leaf.slice(1, H, 2 * H), cos, sin, norm, 1e-6);
          };
          const auto composed = [&](const torch::Tensor& leaf) {
            const torch::Tensor y = dlm::rotate(leaf.slice(1, H, 2 * H), cos, sin);
            return norm ? dlm::rms_norm(y, 1e-6) : y;
          };
          expect_matches(fused, composed, qkv, torch::randn({B, H, L, dh}));
        }
      }
    }
  });
}

// FusedAdamW on `kernel` against LibTorch's AdamW over five steps.
void expect_adamw_follows_libtorch(dlm::AdamWKernel kernel) {
  torch::manual_seed(8);
  // Two groups as dlm makes them (decay on matrices only), a parameter without gradient, an odd size.
  const std::vector<torch::Tensor> start = {torch::randn({37, 5}), torch::randn({9}), torch::randn({4, 4})};
  std::vector<torch::Tensor> fused_params, reference_params;
  for (const auto& t : start) {
    fused_params.push_back(t.clone().requires_grad_());
    reference_params.push_back(t.clone().requires_grad_());
  }
  const auto groups = [](const std::vector<torch::Tensor>& p) {
    std::vector<torch::optim::OptimizerParamGroup> g;
    g.emplace_back(std::vector<torch::Tensor>{p[0], p[2]},
                   std::make_unique<torch::optim::AdamWOptions>(
                       torch::optim::AdamWOptions(3e-3).betas({0.9, 0.95}).weight_decay(0.1).eps(1e-8)));
    g.emplace_back(std::vector<torch::Tensor>{p[1]},
                   std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(3e-3).weight_decay(0.0)));
    return g;
  };
  dlm::FusedAdamW fused(groups(fused_params));
  fused.force_kernel(kernel);
  torch::optim::AdamW reference(groups(reference_params));
  for (int step = 0; step < 5; ++step) {
    for (size_t i = 0; i < 2; ++i) {  // the last parameter never gets a gradient
      const torch::Tensor g = torch::randn(start[i].sizes());
      fused_params[i].mutable_grad() = g.clone();
      reference_params[i].mutable_grad() = g.clone();
    }
    fused.step();
    reference.step();
  }
  for (size_t i = 0; i < start.size(); ++i) {
    expect_close(fused_params[i].detach(), reference_params[i].detach(), "parameter " + std::to_string(i));
    const auto* s = dlm::adamw_state(fused, fused_params[i]);
    const auto* r = dlm::adamw_state(reference, reference_params[i]);
    ASSERT_EQ(s == nullptr, r == nullptr) << "parameter " << i;
    if (!s) continue;
    EXPECT_EQ(s->step(), r->step());
    expect_close(s->exp_avg(), r->exp_avg(), "first moment " + std::to_string(i));
    expect_close(s->exp_avg_sq(), r->exp_avg_sq(), "second moment " + std::to_string(i));
  }
  EXPECT_FALSE(torch::equal(fused_params[0], start[0]));
}

TEST(Fused, AdamWStepFollowsLibTorchsAdamW) { expect_adamw_follows_libtorch(dlm::AdamWKernel::kDlm); }

// dlm's AdamW kernel writes the weights through raw pointers; an inference pass after its step (whose
// transposed weights are cached by the weights' version) must see the new weights, as a fresh model
// holding them does. (Without the version bump, validation during training ran on stale weights.)
TEST(Fused, AnInferencePassAfterTheAdamWStepSeesTheNewWeights) {
  torch::manual_seed(3);
  const dlm::ModelConfig c = dlm_test::tiny_model(2, 2, 0.0);
  auto model = dlm::make_model(c, 20, 8);
  dlm::FusedAdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-2));
  optimizer.force_kernel(dlm::AdamWKernel::kDlm);
  const torch::Tensor ids = torch::randint(0, 20, {2, 8}), t = torch::full({2}, 0.5);
  const auto infer = [&](dlm::DenoiserImpl& m) {
    const dlm::InferenceScope scope(m);
    return m.forward(ids, t);
  };
  const torch::Tensor before = infer(*model);  // fills the transposed-weight cache
  const int64_t version = model->parameters()[0]._version();
  model->forward(ids, t).square().mean().backward();
  optimizer.step();
  EXPECT_GT(model->parameters()[0]._version(), version);
  const torch::Tensor after = infer(*model);
  auto fresh = dlm::make_model(c, 20, 8);
  {
    torch::NoGradGuard no_grad;
    const auto from = model->parameters(), to = fresh->parameters();
    for (size_t i = 0; i < from.size(); ++i) to[i].copy_(from[i]);
  }
  EXPECT_TRUE(torch::equal(after, infer(*fresh)));
  EXPECT_FALSE(torch::allclose(after, before));
}

#if TORCH_VERSION_MAJOR >= 2
// ATen's fused AdamW, which FusedAdamW runs on CUDA, checked here on its CPU kernel.
TEST(Fused, AtensFusedAdamWFollowsLibTorchsAdamW) { expect_adamw_follows_libtorch(dlm::AdamWKernel::kAten); }
#endif

TEST(Fused, HeadCrossEntropyMatchesTheComposition) {
  torch::manual_seed(9);
  namespace F = torch::nn::functional;
  for (const int64_t vocab : {69L, 1000L}) {
    for (const bool with_bias : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "vocabulary " << vocab << (with_bias ? ", bias" : ""));
      const int64_t N = 37, D = 24;
      const torch::Tensor f0 = torch::randn({N, D}), w0 = torch::randn({vocab, D}) * 0.3;
      const torch::Tensor b0 = with_bias ? torch::randn({vocab}) : torch::Tensor();
      const torch::Tensor target = torch::randint(0, vocab, {N}), dce = torch::rand({N});
      torch::Tensor f = f0.clone().requires_grad_(), w = w0.clone().requires_grad_();
      torch::Tensor fr = f0.clone().requires_grad_(), wr = w0.clone().requires_grad_();
      torch::Tensor b = with_bias ? b0.clone().requires_grad_() : torch::Tensor();
      torch::Tensor br = with_bias ? b0.clone().requires_grad_() : torch::Tensor();
      ASSERT_TRUE(dlm::fused_head_ce_takes(f, w));
      const torch::Tensor ce = dlm::fused_head_ce(f, w, b, target);
      const torch::Tensor ce_r =
          F::cross_entropy(F::linear(fr, wr, br), target, F::CrossEntropyFuncOptions().reduction(torch::kNone));
      expect_close(ce, ce_r, "values");
      (ce * dce).sum().backward({}, /*retain_graph=*/true);
      (ce_r * dce).sum().backward();
      expect_close(f.grad(), fr.grad(), "feature gradient");
      expect_close(w.grad(), wr.grad(), "weight gradient");
      if (with_bias) expect_close(b.grad(), br.grad(), "bias gradient");
      // Backward reuses the logits' buffer: a second pass is refused, not computed from the wrong numbers.
      EXPECT_THROW((ce * dce).sum().backward(), c10::Error);
    }
  }
}

}  // namespace
