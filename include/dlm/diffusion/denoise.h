// The denoising loop: a batch of canvases (rows of their own lengths, prompts and infill spans) is
// revealed step by step under the sampling settings, each row with its own random stream, its own
// blocks and its own end, so a row's output does not depend on the batch it shares.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "dlm/config.h"
#include "dlm/model/model.h"

namespace dlm {

struct DenoiseRows {
  torch::Tensor tokens;                ///< (B, W) int64: fixed ids, and the mask id where generated
  torch::Tensor generate;              ///< (B, W) bool: positions to generate
  torch::Tensor valid;                 ///< (B, W) bool: the row's own positions (false: padding to the batch width)
  torch::Tensor span;                  ///< (B, W) bool: infill positions, which never get EOS or padding
  torch::Tensor prompt;                ///< (B, W) bool: the conditioning that guidance's unconditional pass masks
  std::vector<int64_t> counted_fixed;  ///< per row: fixed positions that count in the time input
  std::vector<uint64_t> seeds;         ///< per row: the seed of its random stream
  uint64_t seed = 0;                   ///< the run's seed (--rng torch: every row's torch.manual_seed)
};

// The tokenizer's special ids (-1: none). Infill spans never take EOS, padding, BOS or SEP.
struct SpecialIds {
  int64_t mask = -1, eos = -1, pad = -1, bos = -1, sep = -1;
  // The tokenizer's size: logits of ids from here on (rows a pretrained config has beyond its tokenizer)
  // are never drawn. -1: every id is a token.
  int64_t vocab = -1;
};

struct RowStats {
  int64_t steps = 0;   ///< steps the row took part in
  int64_t passes = 0;  ///< model evaluations it took part in (a guided pass counts once here)
  double equivalents =
      0.0;  ///< the same in full-canvas passes: a block of b of L positions counts b / L, guidance twice
};

struct DenoiseResult {
  torch::Tensor tokens;        ///< (B, W) final canvases (cpu)
  std::vector<RowStats> rows;  ///< per row
  int64_t forward_calls = 0;   ///< batched model calls
  int64_t cache_bytes = 0;     ///< the KV cache held (--kv-cache: every layer's keys and values), 0: none
};

// A sampler's step as its watcher sees it; every sampler (each process's, the autoregressive loop)
// reports through this one type, and generate_text turns it into the timeline's rows.
struct SamplerStep {
  int64_t step = -1;          ///< -1: the starting canvases; then 0, 1, ... after each step
  torch::Tensor canvas;       ///< (B, W) int64 on the CPU
  torch::Tensor probability;  ///< (B, W) float64: the probability the model gave each token now placed,
                              ///< where the process has one (undefined otherwise); the timeline shades by it
};
using StepCallback = std::function<void(const SamplerStep& step)>;
// Asked when a row completes a block, with the row's ids up to the block's end: true ends the row
// there (a stop string appeared), and the rest becomes padding.
using StopCheck = std::function<bool(int64_t row, const std::vector<int64_t>& ids)>;

// Denoises `rows` on the model's device in eval mode without gradients. With time_steps T > 0 the
// schedule's masked shares are rounded to the grid i / T. Throws dlm::Error for settings the model
// cannot serve (a KV cache without a transformer).
DenoiseResult denoise(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options, const SpecialIds& ids,
                      const StepCallback& on_step = nullptr, const StopCheck& stop = nullptr, int64_t time_steps = 0);

// The same algorithm written plainly, as the reference the loop above is tested against: one row at a
// time (at the batch's width, its padding hidden as in a batch), a full model pass at every step (no
// reuse of predictions, no blocks, no KV cache), then the reveal rules. Returns the final canvases (B, W). Stop strings
// are not handled (the loop checks them between blocks); throws dlm::Error when asked for blocks or a KV cache.
torch::Tensor denoise_reference(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options,
                                const SpecialIds& ids);

}  // namespace dlm
