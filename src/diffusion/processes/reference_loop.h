// What the LLaDA and Dream samplers share, private to the masking process (absorbing.cpp's sample
// dispatches on --sampler): rows grouped by their width, each group run as its own batch without
// padding (so a row's result is its single-prompt result), a random stream per row, the model passes
// (full, or over a block with the keys and values of the rest cached), the output head run only at
// the positions a step may reveal, in chunks, and the step report.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "dlm/config.h"
#include "dlm/diffusion/denoise.h"
#include "dlm/model/model.h"

namespace dlm {

// One pass's predictions at the positions each row asked for: hidden states, the head run on request.
class Predictions {
 public:
  Predictions(DenoiserImpl& model, torch::Tensor rows, bool hidden, double cfg_scale, int64_t n);
  // Logits (m, V) float32 on the CPU of the pass's a-th row at its asked positions `idx` (m) (indices
  // into that row's list); with guidance, u + (scale + 1)(c - u).
  torch::Tensor logits(int64_t a, const torch::Tensor& idx) const;
  // Calls each(from, logits) over the row's first `count` asked positions in chunks small enough
  // that no chunk's logits pass a few MiB whatever the vocabulary.
  void each_chunk(int64_t a, int64_t count, const std::function<void(int64_t, const torch::Tensor&)>& each) const;

 private:
  DenoiserImpl& model_;
  torch::Tensor rows_;  ///< (n or 2n guided, K, D) hidden states, or (.., K, V) logits
  bool hidden_;
  double cfg_scale_;
  int64_t n_, vocab_ = 0;
  torch::Tensor head(const torch::Tensor& h) const;
};

// Rows of one width, sampled together; `canvas` is the whole batch's (B, W) result, updated in place.
class ReferenceGroup {
 public:
  ReferenceGroup(DenoiserImpl& model, const DenoiseRows& rows, std::vector<int64_t> members, int64_t width,
                 const SampleConfig& options, const SpecialIds& ids, DenoiseResult& result,
                 const StepCallback& on_step);

  // The members' canvases (G, width) int64 on the CPU; edits go through reveal().
  const torch::Tensor& x() const { return x_; }
  int64_t size() const { return static_cast<int64_t>(members_.size()); }
  int64_t width() const { return width_; }
  // The first generated position of the group's rows (all share it: same width, same --length).
  int64_t prompt_length() const { return prompt_length_; }
  torch::Generator& generator(int64_t g) { return gens_[static_cast<size_t>(g)]; }
  // Member g's masked positions in [begin, end), ascending.
  std::vector<int64_t> masked(int64_t g, int64_t begin, int64_t end) const;

  // One pass for the members `which` predicting, for each, the positions `asked[a]` (ascending, all
  // inside [0, end)); the current block is [begin, end). Without a cache, or when `refresh`, a pass
  // over the whole canvases (storing the cache); else a pass over the block (--kv-cache-mode dual)
  // or the block and the rest (prefix) from the first asked position on, attending to the cache.
  Predictions predict(const std::vector<int64_t>& which, const std::vector<std::vector<int64_t>>& asked, int64_t begin,
                      int64_t end, bool refresh);
  // Reveals x0's ids at `positions` of member g.
  void reveal(int64_t g, const torch::Tensor& positions, const torch::Tensor& x0);
  // Ends a step: the members' steps counted, the canvases reported.
  void end_step(int64_t step, const std::vector<int64_t>& which);
  // The bytes of the group's KV cache (0 without --kv-cache).
  int64_t cache_bytes() const { return dlm::cache_bytes(cache_); }
  // --stop-at-eos: whether member g stopped at an earlier block (its later blocks are not decoded).
  bool stopped(int64_t g) const { return stopped_[static_cast<size_t>(g)]; }
  // Ends the blocks up to `end`: with --stop-at-eos, a member whose generated positions before `end` hold
  // EOS stops, and its positions from `end` on become EOS.
  void end_block(int64_t end);

 private:
  DenoiserImpl& model_;
  TransformerImpl* transformer_ = nullptr;  ///< the model, when it is one (caches need it)
  const SampleConfig& o_;
  std::vector<int64_t> members_;
  int64_t width_ = 0, prompt_length_ = 0, mask_id_ = -1, eos_id_ = -1;
  std::vector<bool> stopped_;
  torch::Tensor x_;
  torch::Tensor given_;  ///< (G, W) bool: what guidance's unconditional rows mask
  std::vector<torch::Generator> gens_;
  KVCache cache_;  ///< rows: the members, then (guided) their unconditional rows
  DenoiseResult& result_;
  const StepCallback& on_step_;

  torch::Tensor pass_ids(const torch::Tensor& idx) const;
  void keep_cache(const KVCache& sub, const torch::Tensor& cache_rows);
  torch::Tensor block_pass(const torch::Tensor& ids, const torch::Tensor& t, const torch::Tensor& cache_rows,
                           const torch::Tensor& out, int64_t lo, int64_t hi);
  void count_pass(const std::vector<int64_t>& which, double share);
};

// Splits rows by their width and runs `run` on each group in turn; fills the result's tokens and stats.
template <class Run>
DenoiseResult run_groups(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options,
                         const SpecialIds& ids, const StepCallback& on_step, Run run);

// The groups' rows: (width, member indices), widths ascending.
std::vector<std::pair<int64_t, std::vector<int64_t>>> rows_by_width(const DenoiseRows& rows);

template <class Run>
DenoiseResult run_groups(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options,
                         const SpecialIds& ids, const StepCallback& on_step, Run run) {
  InferenceScope scope(model);
  torch::NoGradGuard no_grad;
  DenoiseResult result;
  result.tokens = rows.tokens.clone();
  result.rows.resize(static_cast<size_t>(rows.tokens.size(0)));
  if (on_step) on_step({-1, result.tokens, {}});
  for (auto& [width, members] : rows_by_width(rows)) {
    ReferenceGroup group(model, rows, members, width, options, ids, result, on_step);
    run(group);
    result.cache_bytes = std::max(result.cache_bytes, group.cache_bytes());
  }
  return result;
}

// LLaDA's generate() (with Fast-dLLM's threshold): blocks left to right, each revealing its masked
// positions in S / blocks steps; see dlm/diffusion/reference_samplers.h for each rule.
DenoiseResult llada_sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options,
                           const SpecialIds& ids, const StepCallback& on_step);
// Dream's diffusion_generate(): S steps over the timesteps linspace(1, eps, S + 1), or with blocks
// S / blocks steps in each block over its own timesteps.
DenoiseResult dream_sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options,
                           const SpecialIds& ids, const StepCallback& on_step);

}  // namespace dlm
