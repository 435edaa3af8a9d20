// Training: one step (gradient clipping and accumulation, data-parallel ranks) and the run as
// a pipeline (run directory, data, model and optimizer, steps, validate-and-checkpoint).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "dlm/config.h"
#include "dlm/data/dataset.h"
#include "dlm/data/tokenizer.h"
#include "dlm/diffusion/collator.h"
#include "dlm/diffusion/process.h"
#include "dlm/model/checkpoint.h"
#include "dlm/model/model.h"
#include "dlm/train/distributed.h"
#include "dlm/train/evaluate.h"
#include "dlm/train/optimizer.h"
#include "dlm/train/run_data.h"

namespace dlm {

struct TrainOptions {
  std::string run_dir;  ///< where config, tokenizer, checkpoints and metrics go
  bool resume = false;  ///< continue from run_dir/last.pt (from step 0 when there is none yet)
  int progress = -1;    ///< 1: progress bar, 0: plain lines, -1: bar when stderr is a terminal
  /// Set (e.g. by a SIGINT handler) to stop after the current step with a checkpoint.
  const std::atomic<bool>* stop_requested = nullptr;
  int64_t stop_at_step = 0;  ///< stop the same way once this step is done (0: never)
  DistEnv dist;              ///< this process's place in a data-parallel world (read_dist_env)
};

struct TrainSummary {
  int64_t steps = 0;
  double final_train_loss = 0.0;
  double final_val_loss = 0.0;
  double best_val_loss = 0.0;
  std::string run_dir;
  bool interrupted = false;  ///< stopped early by stop_requested or stop_at_step; last.pt holds the state
};

// The micro-batches of a run, or of one rank of a data-parallel run: rank r of W takes rows
// [r B / W, (r + 1) B / W) of each global batch of B = train.batch_size. Epoch e visits the training
// examples in a fixed permutation seeded by (seed, e); with data.window_offsets random each row's
// window of the running text starts where (seed, its place in training) draws instead. Each example is
// masked from its place (collate_share), so a batch is a function of the step, a resumed run sees the
// same ones, and W ranks train on exactly what one process would.
class TrainingBatches {
 public:
  TrainingBatches(const RunData& data, const Config& config, const Tokenizer& tokenizer, int64_t rank = 0,
                  int64_t ranks = 1);
  // This rank's share of micro-batch `micro`, noised by the config's process.
  Batch at(int64_t micro);
  // The process that noises them.
  const Process& process() const { return *process_; }
  // The training examples (indices into the run's data) of that share (window_offsets fixed).
  std::vector<int64_t> example_indices(int64_t micro);
  // The starts of that share's windows in the training text (window_offsets random).
  std::vector<int64_t> window_starts(int64_t micro) const;

 private:
  const RunData& data_;
  const Config& config_;
  std::unique_ptr<Process> process_;
  int64_t begin_, end_;  ///< this rank's rows of each global batch
  int64_t pad_id_;
  std::vector<int64_t> order_;
  int64_t epoch_ = -1;
};

struct StepStats {
  double loss = 0.0;       ///< the step's training loss (mean over its micro-batches)
  double grad_norm = 0.0;  ///< global gradient norm before clipping
};

// One optimizer step at `step` (0-based): train.grad_accum micro-batches from `batch_at(micro)`,
// forward under train.precision's autocast, backward, clipping at train.grad_clip, AdamW. Dropout
// is seeded from (train.seed, micro-batch index, rank) on `device`. Throws when the loss or the
// gradient norm is not finite, before the parameters change. With a `world`, batch_at gives this
// rank's share of each global micro-batch; every micro-batch's loss is divided by the count of
// scored tokens summed over the ranks and the gradients are summed over the ranks, so the step is
// the one a single (operating-system) process takes on the global batch. The loss is `process`'s:
// its hidden states of the model on the batch, then its loss from them and the model's head.
StepStats train_step(DenoiserImpl& model, torch::optim::AdamW& optimizer, const TrainConfig& config, int64_t step,
                     const torch::Device& device, const std::function<Batch(int64_t micro)>& batch_at,
                     const Process& process, World* world = nullptr);

// Trains `config` in options.run_dir (default runs/<name>), or continues it with options.resume: from
// its last checkpoint, or from step 0 when it was stopped before its first one.
TrainSummary train(const Config& config, const TrainOptions& options);

}  // namespace dlm
