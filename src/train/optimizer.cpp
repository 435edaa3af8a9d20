// AdamW's parameter groups, its hyperparameters at a step, and the learning-rate schedule.
#include "dlm/train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <tuple>
#include <vector>

#include <torch/version.h>

#include "dlm/error.h"
#include "dlm/model/fused.h"

namespace dlm {

AdamWKernel FusedAdamW::choose() {
  if (kernel_ != AdamWKernel::kAuto) return kernel_;
  bool dlm = true, cuda = true;
  for (const auto& group : param_groups()) {
    if (static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad()) return AdamWKernel::kLibTorch;
    for (const auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      dlm &= fused_adamw_takes(p, p.grad());
      cuda &= p.is_cuda();
    }
  }
  if (dlm) return AdamWKernel::kDlm;
  return TORCH_VERSION_MAJOR >= 2 && cuda ? AdamWKernel::kAten : AdamWKernel::kLibTorch;
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  const AdamWKernel kernel = choose();
  if (kernel == AdamWKernel::kLibTorch) return torch::optim::AdamW::step(closure);
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode grad_mode(true);
    loss = closure();
  }
  if (kernel == AdamWKernel::kAten) {
    step_aten();
    return loss;
  }
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      torch::optim::AdamWParamState& s = adamw_state_or_new(*this, p);
      s.step(s.step() + 1);
      fused_adamw_step(p, p.grad(), s.exp_avg(), s.exp_avg_sq(), s.step(), o.lr(), std::get<0>(o.betas()),
                       std::get<1>(o.betas()), o.eps(), o.weight_decay());
    }
  }
  return loss;
}

void FusedAdamW::step_aten() {
#if TORCH_VERSION_MAJOR >= 2
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      torch::optim::AdamWParamState& s = adamw_state_or_new(*this, p);
      s.step(s.step() + 1);
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avgs.push_back(s.exp_avg());
      exp_avg_sqs.push_back(s.exp_avg_sq());
      // ATen reads each parameter's step as a float tensor on its device (PyTorch keeps them so).
      steps.push_back(torch::full({}, static_cast<double>(s.step()), p.options().dtype(torch::kFloat32)));
    }
    if (params.empty()) continue;
    at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, {}, steps, o.lr(), std::get<0>(o.betas()),
                      std::get<1>(o.betas()), o.weight_decay(), o.eps(), /*amsgrad=*/false, /*maximize=*/false);
  }
#else
  throw Error("ATen's fused AdamW needs LibTorch 2 (this is " TORCH_VERSION ")");
#endif
}

std::unique_ptr<torch::optim::AdamW> make_optimizer(DenoiserImpl& model, const TrainConfig& tc) {
  // Two groups: no weight decay on biases and norm weights.
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model.named_parameters()) (p.value().dim() >= 2 ? decay : no_decay).push_back(p.value());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(tc.lr));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(tc.lr));
  auto optimizer = std::make_unique<FusedAdamW>(std::move(groups));
  set_hyperparameters(*optimizer, tc, 0);
  return optimizer;
}

void set_hyperparameters(torch::optim::AdamW& optimizer, const TrainConfig& tc, int64_t step) {
  auto& groups = optimizer.param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    auto& o = static_cast<torch::optim::AdamWOptions&>(groups[i].options());
    o.lr(learning_rate(tc, step)).betas({tc.beta1, tc.beta2}).weight_decay(i == 0 ? tc.weight_decay : 0.0);
  }
}

void restore_optimizer(CheckpointReader& reader, torch::optim::AdamW& optimizer, DenoiserImpl& model,
                       const TrainConfig& tc) {
  reader.load_optimizer(optimizer, model);
  // LibTorch >= 2.4 also restores each group's options; 1.13 keeps the constructor's. The config
  // decides on both, so a resumed run has the same hyperparameters whichever LibTorch wrote or reads it.
  set_hyperparameters(optimizer, tc, reader.state().step);
}

double learning_rate(const TrainConfig& c, int64_t step) {
  if (c.warmup > 0 && step < c.warmup) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup);
  const double span = static_cast<double>(std::max<int64_t>(1, c.steps - c.warmup));
  const double progress = std::min(1.0, static_cast<double>(step - c.warmup) / span);
  const double floor = c.lr * c.min_lr_ratio;
  return floor + (c.lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace dlm
