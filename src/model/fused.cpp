// The fused operations' autograd functions: they split rows over threads, call the CPU kernels
// (src/model/kernels/) and keep for backward only what the kernels need.
#include "dlm/model/fused.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "dlm/model/layers.h"
#include "model/kernels/cpu_kernels.h"

namespace dlm {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per task: parameter gradients are summed per block of rows, then over blocks in order, so that
// they do not depend on the number of threads.
constexpr int64_t kRowBlock = 64;
// Elements per task of an elementwise kernel.
constexpr int64_t kElementGrain = 32768;

// Rows of width f per task, about kElementGrain elements each.
int64_t rows_per_task(int64_t f) { return std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, f)); }

bool cpu_fp32(const torch::Tensor& x) { return x.device().is_cpu() && x.scalar_type() == torch::kFloat32; }

// The rows of `blocks` (n, dim) summed in order, whatever the thread count.
torch::Tensor sum_blocks(const torch::Tensor& blocks) {
  const int64_t n = blocks.size(0), dim = blocks.size(1);
  if (n == 0) return torch::zeros({dim}, blocks.options());
  torch::Tensor total = blocks[0].clone();
  float* t = total.data_ptr<float>();
  const float* b = blocks.data_ptr<float>();
  for (int64_t r = 1; r < n; ++r) {
    for (int64_t i = 0; i < dim; ++i) t[i] += b[r * dim + i];
  }
  return total;
}

// RMSNorm; an empty `weight` means none.
class RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input, const torch::Tensor& weight,
                               double eps) {
    const torch::Tensor x = input.contiguous();
    const int64_t dim = x.size(-1), rows = dim == 0 ? 0 : x.numel() / dim;
    torch::Tensor y = torch::empty_like(x);
    torch::Tensor rstd = torch::empty({rows}, x.options());
    const float* w = weight.numel() > 0 ? weight.data_ptr<float>() : nullptr;
    const auto& k = kernels::cpu_kernels();
    at::parallel_for(0, rows, kRowBlock, [&](int64_t begin, int64_t end) {
      k.rms_norm(x.data_ptr<float>() + begin * dim, w, y.data_ptr<float>() + begin * dim,
                 rstd.data_ptr<float>() + begin, end - begin, dim, static_cast<float>(eps));
    });
    ctx->save_for_backward({x, weight, rstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &weight = saved[1], &rstd = saved[2];
    const torch::Tensor dy = grads[0].contiguous();
    const int64_t dim = x.size(-1), rows = rstd.size(0);
    const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
    torch::Tensor dx = torch::empty_like(x);
    // One partial weight gradient per block of rows, summed in block order below.
    const float* w = weight.numel() > 0 ? weight.data_ptr<float>() : nullptr;
    torch::Tensor dw_blocks = w ? torch::zeros({blocks, dim}, x.options()) : torch::Tensor();
    const auto& k = kernels::cpu_kernels();
    at::parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b) {
        const int64_t begin = b * kRowBlock, end = std::min(rows, begin + kRowBlock);
        k.rms_norm_backward(dy.data_ptr<float>() + begin * dim, x.data_ptr<float>() + begin * dim, w,
                            rstd.data_ptr<float>() + begin, dx.data_ptr<float>() + begin * dim,
                            w ? dw_blocks.data_ptr<float>() + b * dim : nullptr, end - begin, dim);
      }
    });
    return {dx, w ? sum_blocks(dw_blocks) : torch::Tensor(), torch::Tensor()};
  }
};

class Relu2Function : public torch::autograd::Function<Relu2Function> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input) {
    const torch::Tensor x = input.contiguous();
    torch::Tensor y = torch::empty_like(x);
    const auto& k = kernels::cpu_kernels();
    at::parallel_for(0, x.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
      k.relu2(x.data_ptr<float>() + begin, y.data_ptr<float>() + begin, end - begin);
    });
    ctx->save_for_backward({x});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor x = ctx->get_saved_variables()[0];
    const torch::Tensor dy = grads[0].contiguous();
    torch::Tensor dx = torch::empty_like(x);
    const auto& k = kernels::cpu_kernels();
    at::parallel_for(0, x.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
      k.relu2_backward(x.data_ptr<float>() + begin, dy.data_ptr<float>() + begin, dx.data_ptr<float>() + begin,
                       end - begin);
    });
    return {dx};
  }
};

// SwiGLU on h = [gate, value] (last dimension), keeping only h for backward.
class SwigluFunction : public torch::autograd::Function<SwigluFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input) {
    const torch::Tensor h = input.contiguous();
    const int64_t f = h.size(-1) / 2, rows = f == 0 ? 0 : h.numel() / (2 * f);
    std::vector<int64_t> shape = h.sizes().vec();
    shape.back() = f;
    torch::Tensor y = torch::empty(shape, h.options());
    const auto& k = kernels::cpu_kernels();
    at::parallel_for(0, rows, rows_per_task(f), [&](int64_t begin, int64_t end) {
      k.swiglu(h.data_ptr<float>() + begin * 2 * f, y.data_ptr<float>() + begin * f, end - begin, f);
    });
    ctx->save_for_backward({h});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor h = ctx->get_saved_variables()[0];
    const torch::Tensor dy = grads[0].contiguous();
    const int64_t f = h.size(-1) / 2, rows = f == 0 ? 0 : h.numel() / (2 * f);
    torch::Tensor dh = torch::empty_like(h);
    const auto& k = kernels::cpu_kernels();
    at::parallel_for(0, rows, rows_per_task(f), [&](int64_t begin, int64_t end) {
      k.swiglu_backward(h.data_ptr<float>() + begin * 2 * f, dy.data_ptr<float>() + begin * f,
                        dh.data_ptr<float>() + begin * 2 * f, end - begin, f);
    });
    return {dh};
  }
};

// The rotary tables' rows for batch row b: (L, Dh) tables are shared, (B, 1, L, Dh) ones are per row.
const float* table_rows(const torch::Tensor& table, int64_t b) {
  const int64_t rows = table.size(-2), dim = table.size(-1);
  return table.data_ptr<float>() + (table.dim() == 4 ? b * rows * dim : 0);
}

// Runs fn(b, h) over every (batch row, head) pair of x (B, H, L, Dh) on the thread pool.
template <typename Fn>
void for_each_head(const torch::Tensor& x, const Fn& fn) {
  const int64_t H = x.size(1);
  at::parallel_for(0, x.size(0) * H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) fn(i / H, i % H);
  });
}

class RotaryFunction : public torch::autograd::Function<RotaryFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& cos,
                               const torch::Tensor& sin, bool norm, double eps) {
    const int64_t B = x.size(0), H = x.size(1), L = x.size(2), Dh = x.size(3);
    torch::Tensor y = torch::empty({B, H, L, Dh}, x.options());
    torch::Tensor rstd = norm ? torch::empty({B, H, L}, x.options()) : torch::Tensor();
    const auto& k = kernels::cpu_kernels();
    for_each_head(x, [&](int64_t b, int64_t h) {
      k.rotary_norm(x.data_ptr<float>() + b * x.stride(0) + h * x.stride(1), x.stride(2), table_rows(cos, b),
                    table_rows(sin, b), y.data_ptr<float>() + (b * H + h) * L * Dh,
                    norm ? rstd.data_ptr<float>() + (b * H + h) * L : nullptr, L, Dh, static_cast<float>(eps));
    });
    ctx->save_for_backward({x, cos, sin, rstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &cos = saved[1], &sin = saved[2], &rstd = saved[3];
    const int64_t H = x.size(1), L = x.size(2), Dh = x.size(3);
    const torch::Tensor dy = grads[0].contiguous();
    torch::Tensor dx = torch::empty(x.sizes(), x.options());
    const auto& k = kernels::cpu_kernels();
    for_each_head(x, [&](int64_t b, int64_t h) {
      const int64_t head = (b * H + h) * L;
      k.rotary_norm_backward(x.data_ptr<float>() + b * x.stride(0) + h * x.stride(1), x.stride(2), table_rows(cos, b),
                             table_rows(sin, b), rstd.defined() ? rstd.data_ptr<float>() + head : nullptr,
                             dy.data_ptr<float>() + head * Dh, dx.data_ptr<float>() + head * Dh, L, Dh);
    });
    return {dx, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// Whether fused_rotary's kernel takes these: fp32 on the CPU, rows of x contiguous, tables of whole
// contiguous rows as the model makes them, a head width the kernel's buffers hold.
bool rotary_kernel_takes(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  if (x.dim() != 4 || !cpu_fp32(x) || !cpu_fp32(cos) || !cpu_fp32(sin) || x.stride(3) != 1) return false;
  const int64_t B = x.size(0), L = x.size(2), Dh = x.size(3);
  if (Dh % 2 != 0 || Dh > kernels::kMaxRotaryDim || cos.sizes() != sin.sizes()) return false;
  if (!cos.is_contiguous() || !sin.is_contiguous() || cos.requires_grad() || sin.requires_grad()) return false;
  return cos.sizes() == torch::IntArrayRef({L, Dh}) || cos.sizes() == torch::IntArrayRef({B, 1, L, Dh});
}

// The head's cross-entropy; an empty `bias` means none.
class HeadCeFunction : public torch::autograd::Function<HeadCeFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& features, const torch::Tensor& weight,
                               const torch::Tensor& bias, const torch::Tensor& target) {
    torch::Tensor logits =
        bias.numel() > 0 ? torch::addmm(bias, features, weight.t()) : torch::mm(features, weight.t());
    const torch::Tensor lse = logits.logsumexp(1);                                    // (N)
    const torch::Tensor ce = lse - logits.gather(1, target.unsqueeze(1)).squeeze(1);  // (N)
    ctx->save_for_backward({features, weight, bias, target, logits, lse});
    return ce;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // Unpacking checks each saved tensor's version: a second backward pass over the same forward,
    // after the logits were overwritten below, fails there with LibTorch's own message.
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &features = saved[0], &weight = saved[1], &bias = saved[2], &target = saved[3];
    torch::Tensor logits = saved[4];
    const torch::Tensor dce = grads[0].unsqueeze(1);  // (N, 1)
    // d ce / d logits = softmax - onehot(target), scaled by each row's incoming gradient: in place.
    logits.sub_(saved[5].unsqueeze(1)).exp_().mul_(dce);
    logits.scatter_add_(1, target.unsqueeze(1), -dce);
    return {torch::mm(logits, weight), torch::mm(logits.t(), features),
            bias.numel() > 0 ? logits.sum(0) : torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

bool fused_head_ce_takes(const torch::Tensor& features, const torch::Tensor& weight) {
  return features.dim() == 2 && cpu_fp32(features) && cpu_fp32(weight);
}

torch::Tensor fused_head_ce(const torch::Tensor& features, const torch::Tensor& weight, const torch::Tensor& bias,
                            const torch::Tensor& target) {
  TORCH_CHECK(fused_head_ce_takes(features, weight) && (!bias.defined() || cpu_fp32(bias)),
              "fused_head_ce: fp32 CPU tensors, features (N, D)");
  return HeadCeFunction::apply(features, weight, bias.defined() ? bias : torch::empty({0}, features.options()), target);
}

torch::Tensor fused_relu2(const torch::Tensor& x) {
  if (!cpu_fp32(x)) return torch::relu(x).square();
  return Relu2Function::apply(x);
}

torch::Tensor fused_swiglu(const torch::Tensor& h) {
  TORCH_CHECK(h.dim() >= 1 && h.size(-1) % 2 == 0,
              "fused_swiglu: the last dimension holds gate and value, so it is even");
  if (!cpu_fp32(h)) {
    const auto parts = h.chunk(2, -1);
    return torch::silu(parts[0]) * parts[1];
  }
  return SwigluFunction::apply(h);
}

torch::Tensor fused_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, bool norm,
                           double eps) {
  if (!rotary_kernel_takes(x, cos, sin)) {
    const torch::Tensor y = rotate(x, cos, sin);
    return norm ? rms_norm(y, eps) : y;
  }
  return RotaryFunction::apply(x, cos, sin, norm, eps);
}

torch::Tensor fused_rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  if (!cpu_fp32(x) || (weight.defined() && !cpu_fp32(weight))) {
    const torch::Tensor y = rms_norm(x, eps);
    return weight.defined() ? y * weight : y;
  }
  // LibTorch 1.13's autograd functions take no undefined input: no weight is an empty one.
  return RmsNormFunction::apply(x, weight.defined() ? weight : torch::empty({0}, x.options()), eps);
}

bool fused_adamw_takes(const torch::Tensor& param, const torch::Tensor& grad) {
  return cpu_fp32(param) && cpu_fp32(grad) && param.is_contiguous() && grad.is_contiguous() && !grad.is_sparse();
}

void fused_adamw_step(const torch::Tensor& param, const torch::Tensor& grad, const torch::Tensor& exp_avg,
                      const torch::Tensor& exp_avg_sq, int64_t step, double lr, double beta1, double beta2, double eps,
                      double weight_decay) {
  TORCH_CHECK(fused_adamw_takes(param, grad) && exp_avg.is_contiguous() && exp_avg_sq.is_contiguous(),
              "fused_adamw_step: contiguous fp32 CPU tensors only");
  const double t = static_cast<double>(step);
  const kernels::AdamWStep s{static_cast<float>(1.0 - lr * weight_decay),
                             static_cast<float>(beta1),
                             static_cast<float>(beta2),
                             static_cast<float>(lr / (1.0 - std::pow(beta1, t))),
                             static_cast<float>(std::sqrt(1.0 - std::pow(beta2, t))),
                             static_cast<float>(eps)};
  const auto& k = kernels::cpu_kernels();
  at::parallel_for(0, param.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    k.adamw(param.data_ptr<float>() + begin, grad.data_ptr<float>() + begin, exp_avg.data_ptr<float>() + begin,
            exp_avg_sq.data_ptr<float>() + begin, end - begin, s);
  });
  // The kernel writes through raw pointers, which LibTorch's version counters do not see. Bump them as
  // an in-place op would: caches keyed on a weight's version (the inference pass's transposed weights,
  // layers.cpp) would otherwise keep serving the weights they were made from.
  for (const torch::Tensor* t : {&param, &exp_avg, &exp_avg_sq}) t->unsafeGetTensorImpl()->bump_version();
}

std::string cpu_kernel_isa() { return kernels::cpu_kernels().isa; }

void limit_cpu_kernels(const std::string& isa) { kernels::set_cpu_kernel_limit(isa); }

}  // namespace dlm
