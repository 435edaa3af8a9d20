// What every process's evaluation is made of: the one per-position cross-entropy, batching over
// examples, and the figures (loss per noise level, a likelihood or its bound) they report.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "dlm/data/dataset.h"
#include "dlm/diffusion/collator.h"
#include "dlm/model/model.h"

namespace dlm {

// Per-position cross-entropy (B, L) in float32, the one every loss and every evaluation uses.
torch::Tensor token_ce(const torch::Tensor& logits, const torch::Tensor& target);

// Per-position cross-entropy (B, L) of the logits the model's head makes of `hidden`: the one place a
// fused head-and-loss kernel replaces (the processes' losses and bounds call it).
torch::Tensor head_ce(DenoiserImpl& model, const torch::Tensor& hidden, const torch::Tensor& target);

// A batch's training loss from the model's final hidden states (B, L, D): sum(w * ce) / loss_norm over
// the positions of nonzero weight, the only ones that go through the head when it is positionwise
// (with diffusion.loss_on masked, the masked positions: MDLM's loss needs nothing else).
torch::Tensor scored_loss(DenoiserImpl& model, const torch::Tensor& hidden, const Batch& batch);

// Calls fn(begin, end) for the consecutive batches [begin, end) of at most `batch_size` of `n` items.
void for_each_batch(int64_t n, int64_t batch_size, const std::function<void(int64_t begin, int64_t end)>& fn);

// Pointers to examples[begin, end), as the collators take them.
std::vector<const Example*> example_group(const std::vector<Example>& examples, int64_t begin, int64_t end);

// Positions of an example a bound scores: its content from max(prompt, first_scored) on.
int64_t scored_count(const Example& e, int64_t first_scored);

struct LevelMetrics {
  double rate = 0.0;      ///< noise level (0 for the autoregressive twin)
  double loss = 0.0;      ///< mean cross-entropy of the clean token over the scored positions
  double accuracy = 0.0;  ///< share of scored positions predicted exactly (argmax)
};

// What one batch adds to a level's figures.
struct LevelSums {
  double loss = 0.0, correct = 0.0, count = 0.0;
};
// A batch's sums from its per-position loss, argmax and target (B, L) over the `scored` positions.
LevelSums level_sums(const torch::Tensor& loss, const torch::Tensor& predicted, const torch::Tensor& target,
                     const torch::Tensor& scored);

// The per-level table: for each level, the examples in batches of `batch_size`, collated at that
// level with `config` but no random visible prefix and no condition dropped (batch.rate set), each
// scored by `score(batch, group, gen)`, with `gen` seeded by `seed` afresh at every level so that
// figures repeat across evaluations.
using LevelScorer =
    std::function<LevelSums(Batch& batch, const std::vector<const Example*>& group, torch::Generator& gen)>;
std::vector<LevelMetrics> per_level(const std::vector<Example>& examples, const std::vector<double>& levels,
                                    int64_t batch_size, uint64_t seed, const DiffusionConfig& config, int64_t mask_id,
                                    const LevelScorer& score);

struct Likelihood {
  double nats = 0.0;    ///< total negative log-likelihood, or its upper bound, in nats
  int64_t tokens = 0;   ///< scored tokens
  int64_t correct = 0;  ///< ar only: scored tokens that are the model's argmax
  double nats_per_token() const { return tokens > 0 ? nats / static_cast<double>(tokens) : 0.0; }
};

// A bound estimated over rows of (block, draw of the noise level): a uniform u per block is drawn
// first from `seed`'s stream (blocks in order); `draws(u, n, gen)` gives the (rate, weight) of each
// of a block's rows from its u and its n scored positions. The rows, collated in batches of
// `batch_size` at their rates (batch.rate set) with only the positions from `first_scored` on noised
// (padding never, nothing kept visible at random, no condition dropped), count weight * nats[row],
// where `nats(batch, group, gen)` (B) is each row's sum of the process's terms.
using LevelDraws = std::function<std::vector<std::pair<double, double>>(double u, int64_t n, torch::Generator& gen)>;
using RowNats =
    std::function<torch::Tensor(Batch& batch, const std::vector<const Example*>& group, torch::Generator& gen)>;
Likelihood estimate_bound(const std::vector<Example>& blocks, int64_t first_scored, int64_t mask_id, int64_t batch_size,
                          uint64_t seed, const LevelDraws& draws, const RowNats& nats);

}  // namespace dlm
