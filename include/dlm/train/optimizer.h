// The optimizer: AdamW with warm-up then cosine decay, weight decay on matrices only, and its state
// restored from a checkpoint alike on both LibTorch flavours.
#pragma once

#include <cstdint>
#include <memory>

#include <torch/torch.h>

#include "dlm/config.h"
#include "dlm/model/checkpoint.h"
#include "dlm/model/model.h"

namespace dlm {

// Learning rate at `step` (0-based): linear warm-up to lr, then cosine decay to lr * min_lr_ratio.
double learning_rate(const TrainConfig& config, int64_t step);

// The step FusedAdamW runs: dlm's kernel (model/fused.h; contiguous fp32 CPU parameters), ATen's fused
// AdamW (`_fused_adamw_`, LibTorch 2.x: one kernel over each group's list on CUDA), or LibTorch's AdamW.
enum class AdamWKernel { kAuto, kDlm, kAten, kLibTorch };

// LibTorch's AdamW whose step runs one fused pass per parameter instead of several; its state and
// checkpoints are AdamW's own. kAuto picks dlm's kernel when every parameter with a gradient is a
// contiguous fp32 CPU tensor, ATen's on 2.x when every one is on CUDA, and LibTorch's step otherwise
// (mixed devices, amsgrad).
class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;
  // Runs `kernel` whatever the parameters (tests compare the kernels on the CPU); kAuto chooses.
  void force_kernel(AdamWKernel kernel) { kernel_ = kernel; }

 private:
  AdamWKernel kernel_ = AdamWKernel::kAuto;
  AdamWKernel choose();
  void step_aten();
};

// AdamW over the model's parameters in two groups (weight decay on matrices only), with the
// hyperparameters of `config` at step 0.
std::unique_ptr<torch::optim::AdamW> make_optimizer(DenoiserImpl& model, const TrainConfig& config);

// Sets every group's learning rate (for `step`), betas and weight decay from `config`.
void set_hyperparameters(torch::optim::AdamW& optimizer, const TrainConfig& config, int64_t step);

// Loads the optimizer state of `reader` (moments onto the parameters' devices) and re-applies
// `config`'s hyperparameters at the checkpoint's step, so both LibTorch flavours resume alike.
void restore_optimizer(CheckpointReader& reader, torch::optim::AdamW& optimizer, DenoiserImpl& model,
                       const TrainConfig& config);

}  // namespace dlm
