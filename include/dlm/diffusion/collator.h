// The masking collator, the heart of training: picks a masking rate t per sample (or per batch),
// masks exactly round(t * n) of each example's maskable positions, never the protected ones
// (prompt, fixed prefix, and padding unless diffusion.mask_pad), and builds the loss weights.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "dlm/config.h"
#include "dlm/data/dataset.h"

namespace dlm {

struct Batch {
  torch::Tensor input;        ///< (B, L) int64, masked positions hold the mask id
  torch::Tensor target;       ///< (B, L) int64, the original ids
  torch::Tensor masked;       ///< (B, L) bool, positions replaced by the mask id
  torch::Tensor maskable;     ///< (B, L) bool, positions the collator was allowed to mask
  torch::Tensor loss_weight;  ///< (B, L) float, per-position weight; loss = sum(w * ce) / loss_norm
  torch::Tensor t;            ///< (B) float, the noise level given to the model (masking: the share masked)
  torch::Tensor rate;         ///< (B) float64, the drawn noise level
  torch::Tensor noise;        ///< (B, L, V) float32 Gaussian draws of the simplex process; else undefined
  torch::Tensor visible;      ///< (B, L) bool, positions the model sees (simplex blocks); undefined: all
  double loss_norm = 1.0;
  double norm_count = 0.0;  ///< loss_norm before its floor of 1: the shares of a global batch add up
};

// Positions of `example` that may be masked.
std::vector<bool> maskable_positions(const Example& example, const DiffusionConfig& config);

// Draws B masking rates from the configured distribution.
torch::Tensor sample_rates(int64_t batch_size, const DiffusionConfig& config, torch::Generator& generator);

// Masks a batch at rates drawn from the configured distribution.
Batch collate(const std::vector<const Example*>& examples, const DiffusionConfig& config, int64_t mask_id,
              torch::Generator& generator);

// The autoregressive twin's batch: input is [BOS] + ids[:-1], target is ids, so position j predicts
// token j from tokens before it, the first one included. Scored: content positions from
// max(prompt, first_scored) on (the prompt of a pair and padding are not scored).
Batch collate_ar(const std::vector<const Example*>& examples, int64_t bos_id, int64_t first_scored = 0);

// Masks a batch at the given per-sample rates (validation per masking level uses a fixed rate).
Batch collate_at_rates(const std::vector<const Example*>& examples, const torch::Tensor& rates,
                       const DiffusionConfig& config, int64_t mask_id, torch::Generator& generator);

// Training's batches: rows [begin, begin + share.size()) of micro-batch `micro`'s global batch of
// `global_size` examples. The rates are drawn for the whole global batch from (seed, micro) and each
// example's masks from its own stream (seed, its place in the run), so a global batch split across
// ranks is masked exactly as one process masks it. loss_norm is the share's own; sum norm_count
// over the shares for the global one.
Batch collate_share(const std::vector<const Example*>& share, int64_t begin, int64_t global_size,
                    const DiffusionConfig& config, int64_t mask_id, uint64_t seed, int64_t micro);

}  // namespace dlm
