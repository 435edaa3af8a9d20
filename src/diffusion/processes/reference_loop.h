// What the LLaDA and Dream samplers share, private to the masking process (absorbing.cpp's sample
// dispatches on --sampler): rows grouped by their width, each group run as its own batch without
// padding (so a row's result is its single-prompt result), a random stream per row, the model pass
// and the step report.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "dlm/config.h"
#include "dlm/diffusion/denoise.h"
#include "dlm/model/model.h"

namespace dlm {

// Rows of one width, sampled together; `canvas` is the whole batch's (B, W) result, updated in place.
class ReferenceGroup {
 public:
  ReferenceGroup(DenoiserImpl& model, const DenoiseRows& rows, std::vector<int64_t> members, int64_t width,
                 const SampleConfig& options, int64_t mask_id, DenoiseResult& result, const StepCallback& on_step);

  // The members' canvases (G, width) int64 on the CPU; edits go through set().
  const torch::Tensor& x() const { return x_; }
  int64_t size() const { return static_cast<int64_t>(members_.size()); }
  int64_t width() const { return width_; }
  // The first generated position of the group's rows (all share it: same width, same --length).
  int64_t prompt_length() const { return prompt_length_; }
  torch::Generator& generator(int64_t g) { return gens_[static_cast<size_t>(g)]; }

  // Logits (n, width, V) on the CPU of the members `which` (g indices) from one pass over `ids`
  // (n, width); counts a pass for each of them.
  torch::Tensor pass(const torch::Tensor& ids, const std::vector<int64_t>& which);
  // Reveals x0's ids at `positions` of member g.
  void reveal(int64_t g, const torch::Tensor& positions, const torch::Tensor& x0);
  // Ends a step: the members' steps counted, the canvases reported.
  void end_step(int64_t step, const std::vector<int64_t>& which);

 private:
  DenoiserImpl& model_;
  std::vector<int64_t> members_;
  int64_t width_ = 0, prompt_length_ = 0, mask_id_ = -1;
  torch::Tensor x_;
  std::vector<torch::Generator> gens_;
  DenoiseResult& result_;
  const StepCallback& on_step_;
};

// Splits rows by their width and runs `run` on each group in turn; fills the result's tokens and stats.
template <class Run>
DenoiseResult run_groups(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options, int64_t mask_id,
                         const StepCallback& on_step, Run run);

// The groups' rows: (width, member indices), widths ascending.
std::vector<std::pair<int64_t, std::vector<int64_t>>> rows_by_width(const DenoiseRows& rows);

template <class Run>
DenoiseResult run_groups(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options, int64_t mask_id,
                         const StepCallback& on_step, Run run) {
  InferenceScope scope(model);
  torch::NoGradGuard no_grad;
  DenoiseResult result;
  result.tokens = rows.tokens.clone();
  result.rows.resize(static_cast<size_t>(rows.tokens.size(0)));
  if (on_step) on_step({-1, result.tokens, {}});
  for (auto& [width, members] : rows_by_width(rows)) {
    ReferenceGroup group(model, rows, members, width, options, mask_id, result, on_step);
    run(group);
  }
  return result;
}

// LLaDA's generate() (with Fast-dLLM's threshold): blocks left to right, each revealing its masked
// positions in S / blocks steps; see dlm/diffusion/reference_samplers.h for each rule.
DenoiseResult llada_sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options, int64_t mask_id,
                           const StepCallback& on_step);
// Dream's diffusion_generate(): S steps over the timesteps linspace(1, eps, S + 1).
DenoiseResult dream_sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options, int64_t mask_id,
                           const StepCallback& on_step);

}  // namespace dlm
