// Evaluation, for training's periodic validation and for `dtrain --eval` alike: the loss per masking
// level, MDLM's continuous-time bound for diffusion models and the exact negative log-likelihood for
// the autoregressive twin, over the same scored positions, so the two objectives compare directly.
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
#include "dlm/model/checkpoint.h"
#include "dlm/model/model.h"

namespace dlm {

// Per-position cross-entropy (B, L) in float32, the one every loss and every evaluation uses.
torch::Tensor token_ce(const torch::Tensor& logits, const torch::Tensor& target);

// Calls fn(begin, end) for the consecutive batches [begin, end) of at most `batch_size` of `n` items.
void for_each_batch(int64_t n, int64_t batch_size, const std::function<void(int64_t begin, int64_t end)>& fn);

// Pointers to examples[begin, end), as the collators take them.
std::vector<const Example*> example_group(const std::vector<Example>& examples, int64_t begin, int64_t end);

struct LevelMetrics {
  double rate = 0.0;      ///< masking level (0 for the autoregressive twin)
  double loss = 0.0;      ///< mean cross-entropy over the scored positions
  double accuracy = 0.0;  ///< share of scored positions predicted exactly (argmax)
};

// Loss and accuracy with exactly `levels` of each example's maskable positions masked (the prefix
// of `config` is kept), with masks fixed by `seed`, so numbers are comparable across evaluations.
std::vector<LevelMetrics> evaluate_by_level(DenoiserImpl& model, const std::vector<Example>& examples,
                                            const DiffusionConfig& config, const std::vector<double>& levels,
                                            int64_t mask_id, int64_t batch_size, const torch::Device& device,
                                            uint64_t seed);

struct Likelihood {
  double nats = 0.0;   ///< total negative log-likelihood, or its upper bound, in nats
  int64_t tokens = 0;  ///< scored tokens
  int64_t correct = 0; ///< ar only: scored tokens that are the model's argmax
  double nats_per_token() const { return tokens > 0 ? nats / static_cast<double>(tokens) : 0.0; }
};

// MDLM's bound on -log p(x[first..n_content) | x[0..first)) summed over `blocks`. With absorbing
// masks and alpha_t = 1 - t the continuous-time bound E_t[(1/t) sum_masked CE] equals, after
// integrating t out given the number masked, n * E_{k ~ U{1..n}} [(1/k) sum over k random masked
// positions of CE], where n is a block's scored count. Each block draws `t_samples` values of k,
// stratified (k_s = 1 + floor(n * frac(u + s / S)), one u per block), so S = n visits every k once
// and the estimate is exact; the model's time input is k / n, as in training. `seed` fixes u and
// the masks.
Likelihood diffusion_bound(DenoiserImpl& model, const std::vector<Example>& blocks, int64_t first_scored,
                           int64_t mask_id, int64_t t_samples, uint64_t seed, int64_t batch_size,
                           const torch::Device& device);

// Exact -log p of the same positions under a causal model fed [BOS] + the block (see collate_ar).
Likelihood ar_likelihood(DenoiserImpl& model, const std::vector<Example>& blocks, int64_t first_scored,
                         int64_t bos_id, int64_t batch_size, const torch::Device& device);

// Training's periodic validation of a run: for a diffusion model the loss at each masking level
// (config.diffusion.rates when they are discrete, else ten levels from 100% to 10%); for the twin
// one entry, the next-token loss from diffusion.prefix_len on, the positions --eval scores.
std::vector<LevelMetrics> validate_run(DenoiserImpl& model, const std::vector<Example>& val, const Config& config,
                                       const Tokenizer& tokenizer, const torch::Device& device);

struct EvalReport {
  Objective objective = Objective::kDiffusion;
  int64_t blocks = 0;             ///< validation blocks (or examples) evaluated
  int64_t parameters = 0;
  int64_t step = 0;               ///< training step of the checkpoint
  Likelihood likelihood;
  double bytes_per_token = 0.0;   ///< UTF-8 bytes of validation text per token (0: unknown)
  int64_t t_samples = 0;          ///< diffusion: draws of k per block
  uint64_t seed = 0;
  std::vector<LevelMetrics> levels;  ///< diffusion: loss and accuracy per masking level
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
