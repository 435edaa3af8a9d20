// The transformer's building blocks: norms, the MLP's nonlinearity, and the projections' CPU fast path.
#include "dlm/model/layers.h"

#include "dlm/error.h"
#include "dlm/model/fused.h"

namespace dlm {

torch::Tensor rms_norm(const torch::Tensor& x, double eps) {
  const torch::Tensor xf = x.to(torch::kFloat32);
  return (xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps)).to(x.scalar_type());
}

namespace {

// Rotates pairs (x1, x2) -> (-x2, x1) over the two halves of the last dimension.
torch::Tensor rotate_half(const torch::Tensor& x) {
  const auto halves = x.chunk(2, -1);
  return torch::cat({-halves[1], halves[0]}, -1);
}

}  // namespace

torch::Tensor rotate(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  if (x.scalar_type() == torch::kFloat32) return x * cos + rotate_half(x) * sin;
  const torch::Tensor xf = x.to(torch::kFloat32);
  return (xf * cos.to(torch::kFloat32) + rotate_half(xf) * sin.to(torch::kFloat32)).to(x.scalar_type());
}

torch::Tensor activate(const torch::Tensor& h, Activation activation) {
  switch (activation) {
    case Activation::kGelu:
      return torch::gelu(h);
    case Activation::kGeluTanh:
      return torch::gelu(h, "tanh");
    case Activation::kRelu2:
      return fused_relu2(h);
    case Activation::kSwiglu:
      return fused_swiglu(h);
    case Activation::kGeglu: {
      const auto parts = h.chunk(2, -1);
      return torch::gelu(parts[0]) * parts[1];
    }
  }
  throw Error("unknown activation");
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, bool with_weight) : eps_(eps) {
  if (with_weight) weight = register_parameter("weight", torch::ones({dim}));  // cpu: parameters move with Module::to
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) { return fused_rms_norm(x, weight, eps_); }

WeightedLayerNormImpl::WeightedLayerNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));  // cpu: parameters move with Module::to
}

torch::Tensor WeightedLayerNormImpl::forward(const torch::Tensor& x) {
  return torch::layer_norm(x, {weight.size(0)}, weight, {}, eps_);
}

NormImpl::NormImpl(NormKind kind, int64_t dim, bool affine, double eps, bool bias) {
  if (kind == NormKind::kRmsNorm) {
    rms_norm_ = register_module("rms_norm", RMSNorm(dim, eps > 0.0 ? eps : 1e-6, affine));
  } else if (affine && !bias) {
    weighted_ = register_module("layer_norm", WeightedLayerNorm(dim, eps > 0.0 ? eps : 1e-5));
  } else {
    layer_norm_ = register_module(
        "layer_norm", torch::nn::LayerNorm(
                          torch::nn::LayerNormOptions({dim}).elementwise_affine(affine).eps(eps > 0.0 ? eps : 1e-5)));
  }
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
  if (layer_norm_) return layer_norm_->forward(x);
  return weighted_ ? weighted_->forward(x) : rms_norm_->forward(x);
}

torch::Tensor project(torch::nn::Linear& lin, TransposedWeight& cache, const torch::Tensor& x, bool training) {
  const torch::Tensor& w = lin->weight;
  if (training || torch::GradMode::is_enabled() || !w.device().is_cpu() || w.scalar_type() != torch::kFloat32 ||
      x.scalar_type() != torch::kFloat32) {
    return lin->forward(x);
  }
  if (cache.of.unsafeGetStorageImpl() != w.storage().unsafeGetStorageImpl() ||
      cache.version != static_cast<int64_t>(w._version())) {
    cache.wt = w.t().contiguous();
    cache.of = w.storage();
    cache.version = static_cast<int64_t>(w._version());
  }
  torch::Tensor y = torch::matmul(x, cache.wt);
  return lin->bias.defined() ? y.add_(lin->bias) : y;
}

}  // namespace dlm
