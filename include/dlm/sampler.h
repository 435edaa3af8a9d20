// Sampling: token choice (greedy, top-k, nucleus, temperature; categorical draws in float64) and the
// iterative denoising loop with three unmasking strategies (random re-masking as in seeds 002/003,
// confidence as in LLaDA's low-confidence remasking, left-to-right as in seed 000).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <torch/torch.h>

#include "dlm/config.h"
#include "dlm/model.h"
#include "dlm/noise_schedule.h"

namespace dlm {

enum class Strategy { kRandom, kConfidence, kL2R };
enum class Sampling { kGreedy, kTopK, kNucleus };

Strategy parse_strategy(const std::string& name);  // throws dlm::Error listing valid names
Sampling parse_sampling(const std::string& name);  // throws dlm::Error listing valid names

struct SamplerOptions {
  int64_t steps = 10;
  Schedule schedule = Schedule::kCosine;
  Strategy strategy = Strategy::kConfidence;
  Sampling sampling = Sampling::kTopK;
  double temperature = 1.0;
  int64_t top_k = 10;
  double top_p = 0.9;
  /// Fixed positions that training could have masked (a prefix typed into a document model), so
  /// they count in the time input t = masked / (generated + counted_fixed), as they did in training.
  int64_t counted_fixed = 0;
};

// Validates and converts the `sample` section of a config (names checked, ranges checked).
SamplerOptions sampler_options(const SampleConfig& config);

// Chooses one token per position from logits (B, L, V). Returns the ids (B, L) and, in `confidence`,
// the model's probability (temperature 1, before filtering) of each chosen id.
torch::Tensor choose_tokens(const torch::Tensor& logits, const SamplerOptions& options,
                            torch::Generator& generator, torch::Tensor* confidence = nullptr);

// Called after each step with the step index (0-based) and the canvas (B, L).
using StepCallback = std::function<void(int64_t step, const torch::Tensor& canvas)>;

struct GenerateResult {
  torch::Tensor tokens;        ///< (B, L) final canvas
  int64_t steps = 0;           ///< denoising steps run
  int64_t forward_passes = 0;  ///< model evaluations
};

// Denoises `canvas` (B, L): positions equal to mask_id and not `fixed` are generated; `fixed` (B, L)
// bool positions (prefix, padding) are never changed. The model is run in eval mode without grad.
GenerateResult generate(DenoiserImpl& model, const torch::Tensor& canvas, const torch::Tensor& fixed,
                        const SamplerOptions& options, int64_t mask_id, torch::Generator& generator,
                        const StepCallback& on_step = nullptr);

// Autoregressive sampling from the causal twin: rows start as [BOS] + prefix (B, 1 + P) and grow by
// one token per forward pass for `n_new` tokens, or until every row has produced `eos_id`
// (-1: never stop early). With `use_cache` each pass feeds only the newest token and reuses the
// keys and values of the others; without, it reruns the whole sequence (the reference the cache
// must agree with). Token choice as for diffusion (greedy, top-k, nucleus, temperature). Returns
// the generated tokens (B, n) without BOS and prefix; steps = forward_passes = tokens generated.
GenerateResult generate_ar(TransformerImpl& model, const torch::Tensor& start, int64_t n_new,
                           const SamplerOptions& options, int64_t eos_id, torch::Generator& generator,
                           bool use_cache = true, const StepCallback& on_step = nullptr);

// A batch to denoise: `num_samples` rows of the prefix (fixed) followed by `length` masks.
struct Canvas {
  torch::Tensor tokens;  ///< (N, P + length) int64
  torch::Tensor fixed;   ///< (N, P + length) bool, true on the prefix
};
Canvas prefix_canvas(const std::vector<int64_t>& prefix_ids, int64_t length, int64_t num_samples, int64_t mask_id,
                     const torch::Device& device);

// How many of a prefix's P tokens count in the model's time input: those training would have
// masked. None for the prompt of a pair or a model trained with random visible prefixes; for
// other data, those beyond diffusion.prefix_len.
int64_t counted_prefix_tokens(const Config& config, int64_t prefix_tokens);

// Ids up to (not including) the first EOS, with padding dropped: what a sample means as text.
std::vector<int64_t> cut_at_eos(const std::vector<int64_t>& ids, int64_t eos_id, int64_t pad_id);

}  // namespace dlm
