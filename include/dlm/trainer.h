// Training: AdamW with warm-up then cosine decay, gradient clipping and accumulation, and the run as
// a pipeline (run directory, data, model and optimizer, steps, validate-and-checkpoint).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "dlm/checkpoint.h"
#include "dlm/collator.h"
#include "dlm/config.h"
#include "dlm/dataset.h"
#include "dlm/evaluate.h"
#include "dlm/model.h"

namespace dlm {

struct TrainOptions {
  std::string run_dir;    ///< where config, tokenizer, checkpoints and metrics go
  bool resume = false;    ///< continue from run_dir/last.pt (from step 0 when there is none yet)
  int progress = -1;      ///< 1: progress bar, 0: plain lines, -1: bar when stderr is a terminal
  /// Set (e.g. by a SIGINT handler) to stop after the current step with a checkpoint.
  const std::atomic<bool>* stop_requested = nullptr;
  int64_t stop_at_step = 0;  ///< stop the same way once this step is done (0: never)
};

struct TrainSummary {
  int64_t steps = 0;
  double final_train_loss = 0.0;
  double final_val_loss = 0.0;
  double best_val_loss = 0.0;
  std::string run_dir;
  bool interrupted = false;  ///< stopped early by stop_requested or stop_at_step; last.pt holds the state
};

// Learning rate at `step` (0-based): linear warm-up to lr, then cosine decay to lr * min_lr_ratio.
double learning_rate(const TrainConfig& config, int64_t step);

// AdamW over the model's parameters in two groups (weight decay on matrices only), with the
// hyperparameters of `config` at step 0.
torch::optim::AdamW make_optimizer(DenoiserImpl& model, const TrainConfig& config);

// Sets every group's learning rate (for `step`), betas and weight decay from `config`.
void set_hyperparameters(torch::optim::AdamW& optimizer, const TrainConfig& config, int64_t step);

// Loads the optimizer state of `reader` (moments onto the parameters' devices) and re-applies
// `config`'s hyperparameters at the checkpoint's step, so both LibTorch flavours resume alike.
void restore_optimizer(CheckpointReader& reader, torch::optim::AdamW& optimizer, DenoiserImpl& model,
                       const TrainConfig& config);

// Loss of one batch: sum(w * ce) / loss_norm.
torch::Tensor batch_loss(const torch::Tensor& logits, const Batch& batch);

struct StepStats {
  double loss = 0.0;       ///< the step's training loss (mean over its micro-batches)
  double grad_norm = 0.0;  ///< global gradient norm before clipping
};

// One optimizer step at `step` (0-based): train.grad_accum micro-batches from `batch_at(micro)`,
// forward under train.precision's autocast, backward, clipping at train.grad_clip, AdamW. Dropout
// is seeded from (train.seed, micro-batch index) on `device`. Throws when the loss or the gradient
// norm is not finite, before the parameters change.
StepStats train_step(DenoiserImpl& model, torch::optim::AdamW& optimizer, const TrainConfig& config, int64_t step,
                     const torch::Device& device, const std::function<Batch(int64_t micro)>& batch_at);

// Trains `config` in options.run_dir (default runs/<name>), or continues it with options.resume: from
// its last checkpoint, or from step 0 when it was stopped before its first one.
TrainSummary train(const Config& config, const TrainOptions& options);

}  // namespace dlm
