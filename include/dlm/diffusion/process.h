// A diffusion process as three functions side by side: the forward noising of a training batch, the
// loss training minimises (with the bound `dtrain --eval` reports), and the reverse step that samples.
// One file per process in src/diffusion/: absorbing.cpp (masking: MDLM, LLaDA), uniform.cpp (D3PM's
// uniform transitions, Duo), simplex.cpp (SSD-LM's simplex); a fourth process is one more file and
// one line in make_process.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "dlm/config.h"
#include "dlm/data/dataset.h"
#include "dlm/data/tokenizer.h"
#include "dlm/diffusion/collator.h"
#include "dlm/diffusion/denoise.h"
#include "dlm/diffusion/likelihood.h"
#include "dlm/model/model.h"

namespace dlm {

// Called with the starting canvases (step -1) and after each step with the canvases (B, W) on the
// CPU and, where the process has them, the probability (B, W) float64 the model gave each token now
// placed (undefined otherwise): the timeline shades tokens by it.
using SampleCallback = std::function<void(int64_t step, const torch::Tensor& canvas, const torch::Tensor& confidence)>;

class Process {
 public:
  virtual ~Process() = default;
  // How messages name it: "absorbing noise", "uniform noise", "the simplex process".
  virtual std::string name() const = 0;

  // Forward: rows [begin, begin + share.size()) of micro-batch `micro`'s global batch of
  // `global_size`, noised from streams of (seed, micro, place) alone (collate_share's contract), so
  // a resumed or data-parallel run sees the same batches.
  virtual Batch noise(const std::vector<const Example*>& share, int64_t begin, int64_t global_size, uint64_t seed,
                      int64_t micro) const = 0;
  // The model on a noised batch and the training loss: the sum of per-position terms / loss_norm.
  virtual torch::Tensor loss(DenoiserImpl& model, const Batch& batch, const torch::Device& device) const = 0;

  // Whether bound() gives an upper bound on the negative log-likelihood (the simplex has none).
  virtual bool has_bound() const { return true; }
  // The bound on -log p(x[first..n_content) | x[0..first)) summed over `blocks`, with `t_samples`
  // stratified noise levels per block; `seed` fixes every draw, so figures repeat exactly.
  virtual Likelihood bound(DenoiserImpl& model, const std::vector<Example>& blocks, int64_t first_scored,
                           int64_t t_samples, uint64_t seed, int64_t batch_size, const torch::Device& device) const = 0;
  // Loss and accuracy of the clean token at each noise level in `levels` (validation's table).
  virtual std::vector<LevelMetrics> by_level(DenoiserImpl& model, const std::vector<Example>& examples,
                                             const std::vector<double>& levels, int64_t batch_size,
                                             const torch::Device& device, uint64_t seed) const = 0;

  // Reverse: denoises `rows`, whose generated positions hold the mask id on input.
  virtual DenoiseResult sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options,
                               const SampleCallback& on_step = nullptr, const StopCheck& stop = nullptr) const = 0;
  // Whether it fills infill templates' spans (the simplex decodes left to right only).
  virtual bool infills() const { return true; }
  // Throws dlm::Error naming the first sample.* setting that is away from its default and that this
  // process does not use (reveal orders for uniform noise, say).
  void check_sample(const SampleConfig& options) const;

 protected:
  // The sample.* keys this process ignores.
  virtual std::vector<std::string> unused_settings() const { return {}; }
};

// A tokenizer's special ids, as the processes and samplers take them.
SpecialIds special_ids(const Tokenizer& tok);

// The process of a diffusion or simplex config (the autoregressive twin has none: throws dlm::Error).
std::unique_ptr<Process> make_process(const Config& config, const SpecialIds& ids);

}  // namespace dlm
