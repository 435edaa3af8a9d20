// Sampling's pure parts: token choice (greedy, top-k, nucleus, temperature; categorical draws in
// float64), the reveal order's scores and the reveal rules (scheduled count, confidence threshold,
// entropy bound), and autoregressive decoding for the causal twin. The denoising loop that uses
// them is dlm/diffusion/denoise.h; text in and out is dlm/generate/generate.h.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "dlm/config.h"
#include "dlm/diffusion/denoise.h"
#include "dlm/model/model.h"

namespace dlm {

// Chooses one token per position from logits (..., V). Returns the ids (...) and, in `confidence`,
// the model's probability (temperature 1, before filtering) of each chosen id.
torch::Tensor choose_tokens(const torch::Tensor& logits, const SampleConfig& options, torch::Generator& generator,
                            torch::Tensor* confidence = nullptr);

// The distribution choose_tokens draws from, as probabilities (..., V) float64: softmax(logits /
// temperature) kept to the top k or the nucleus and renormalised; one-hot at the argmax for greedy.
torch::Tensor token_probs(const torch::Tensor& logits, const SampleConfig& options);

// What the reveal rules know of n masked candidates.
struct Candidates {
  torch::Tensor probs;       ///< (n, V) float64 model probabilities (temperature 1)
  torch::Tensor confidence;  ///< (n) probability of each drawn token
  torch::Tensor positions;   ///< (n) int64 canvas positions
};

// Priority of each candidate under `strategy` (higher is revealed first): confidence, margin
// (top-1 minus top-2 probability), entropy (negated), random (uniform draws from `generator`) or
// l2r (negated position). kRemask has no order and throws.
torch::Tensor order_scores(Strategy strategy, const Candidates& c, torch::Generator& generator);

// Shannon entropy (nats) of each row of probs (n, V).
torch::Tensor entropies(const torch::Tensor& probs);

// The candidates to reveal now, as indices into them (int64, ascending by priority order):
//   threshold > 0: those whose confidence is at least the threshold, or else the top one;
//   factor > 0: the first factor_count of them in priority order;
//   entropy_bound > 0: the longest run of the top-priority candidates whose summed entropy minus
//     its largest term is at most the bound (at least one);
//   otherwise `scheduled` of them (may be 0), the top ones, or with order_temperature > 0 drawn
//   without replacement in proportion to softmax(score / order_temperature).
torch::Tensor pick_reveals(const Candidates& c, const torch::Tensor& scores, int64_t scheduled,
                           const SampleConfig& options, torch::Generator& generator);

// The factor rule (after Fast-dLLM's paper): of confidences (n) in reveal order, the largest count n'
// whose j-th (1-based) confidence is at least 1 - factor / (j + 1) for every j <= n'; at least one
// (none of none).
int64_t factor_count(const torch::Tensor& ordered_confidence, double factor);

// How many of n_pending masked positions (of n_region generated ones) to reveal at step `step` of
// `steps` under `schedule`: the schedule's masked share of n_region stays masked. At least one,
// except for the random order, which follows the schedule exactly (MDLM's ancestral sampler), so
// that with more steps than positions some steps reveal nothing.
// With time_steps T > 0 the schedule's shares are rounded to the grid i / T (grid_fraction).
int64_t scheduled_reveals(Schedule schedule, Strategy strategy, int64_t step, int64_t steps, int64_t n_pending,
                          int64_t n_region, int64_t time_steps = 0);

// Classifier-free guidance (LLaDA's form): u + (scale + 1)(c - u) from the conditional logits c and
// the unconditional u. Scale 0 is the conditional logits, up to rounding; the loop skips guidance then.
torch::Tensor guided_logits(const torch::Tensor& conditional, const torch::Tensor& unconditional, double scale);

// Autoregressive sampling from the causal twin: rows start as [BOS] + prefix (B, 1 + P) and grow by
// one token per forward pass for `n_new` tokens, or until every row has produced `eos_id`
// (-1: never stop early). Row r draws from generators[r]. With `use_cache` each pass feeds only the
// newest token and reuses the keys and values of the others; without, it reruns the whole sequence
// (the reference the cache must agree with). Returns the generated tokens (B, n) without BOS and
// prefix, and the passes run.
struct ArResult {
  torch::Tensor tokens;
  int64_t passes = 0;
};
// `on_step` sees each step's sequences so far (B, 1 + P + step + 1), BOS and prefix included, on the
// model's device.
ArResult generate_ar(TransformerImpl& model, const torch::Tensor& start, int64_t n_new, const SampleConfig& options,
                     int64_t eos_id, std::vector<torch::Generator>& generators, bool use_cache = true,
                     const StepCallback& on_step = nullptr);

// How many of a prefix's P tokens count in the model's time input: those training would have
// masked. None for the prompt of a pair or a model trained with random visible prefixes; for
// other data, those beyond diffusion.prefix_len.
int64_t counted_prefix_tokens(const Config& config, int64_t prefix_tokens);

// Ids up to (not including) the first EOS, with padding dropped: what a sample means as text.
std::vector<int64_t> cut_at_eos(const std::vector<int64_t>& ids, int64_t eos_id, int64_t pad_id);

}  // namespace dlm
