// Evaluation, for training's periodic validation and for `dtrain --eval` alike: the loss per noise
// level and the bound of a diffusion model's process (dlm/diffusion/process.h), and the exact negative
// log-likelihood of the autoregressive twin, over the same scored positions, so they compare directly.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "dlm/config.h"
#include "dlm/data/dataset.h"
#include "dlm/data/tokenizer.h"
#include "dlm/diffusion/collator.h"
#include "dlm/diffusion/likelihood.h"
#include "dlm/model/checkpoint.h"
#include "dlm/model/model.h"

namespace dlm {

// Training's periodic validation of a run: its process's per-level table at config.diffusion.rates
// when they are discrete, else at ten levels from 100% to 10% (the twin: one entry, the next-token
// loss from diffusion.prefix_len on, the positions --eval scores).
std::vector<LevelMetrics> validate_run(DenoiserImpl& model, const std::vector<Example>& val, const Config& config,
                                       const Tokenizer& tokenizer, const torch::Device& device);

struct EvalReport {
  std::string objective;     ///< the config's
  std::string process;       ///< the process's name
  std::string model_kind;    ///< "diffusion" or "autoregressive"
  int64_t time_steps = 0;    ///< a bound's discrete time steps (0: continuous)
  bool has_bound = true;     ///< false for the simplex: no likelihood figures, the levels alone
  bool exact = false;        ///< the likelihood is exact (the twin), not a bound
  std::string bound_method;  ///< how the bound was estimated ("" when exact)
  int64_t blocks = 0;        ///< validation blocks (or examples) evaluated
  int64_t parameters = 0;
  int64_t step = 0;  ///< training step of the checkpoint
  Likelihood likelihood;
  double bytes_per_token = 0.0;  ///< UTF-8 bytes of validation text per token (0: unknown)
  int64_t t_samples = 0;         ///< a bound's draws of the level per block
  uint64_t seed = 0;
  std::vector<LevelMetrics> levels;  ///< loss and accuracy per noise level (none for the twin)
  double seconds = 0.0;
  double bits_per_byte() const;
  double perplexity() const;
};

// Evaluates a loaded checkpoint on its run's validation data (the corpus's validation blocks, or
// the held-out examples), with the settings in config.eval. `run_dir` locates the token cache.
EvalReport evaluate_checkpoint(const LoadedModel& loaded, const std::string& run_dir, const torch::Device& device);

// The report as a plain-text table, the per-level losses included.
std::string format_report(const EvalReport& report);

nlohmann::json to_json(const EvalReport& report);

}  // namespace dlm
