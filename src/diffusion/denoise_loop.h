// The denoising loop's state, shared by its two halves: denoise.cpp (blocks, ends, reveals) and
// denoise_passes.cpp (the model passes, the KV cache and the logits kept between passes). Private
// to src/.
#pragma once

#include <limits>
#include <utility>
#include <vector>

#include "dlm/diffusion/denoise.h"
#include "dlm/model/model.h"

namespace dlm::detail {

inline constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// One row's progress through its blocks.
struct RowState {
  std::vector<int64_t> gen;  // positions to generate, ascending
  std::vector<bool> padded;  // (W) generated positions turned into padding (after EOS or a stop)
  int64_t width = 0;         // the row's own length
  int64_t n_gen = 0;         // generated positions not turned into padding
  int64_t block = -1;        // current block; -1 before the first
  int64_t block_step = 0, block_steps = 1;
  bool done = false;
  bool stale = true;    // the canvas changed since the row's last pass
  bool stored = false;  // kv_cache: the cache holds this block's refresh
  torch::Generator rng;
  RowStats stats;
};

class Loop {
 public:
  Loop(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& o, const SpecialIds& ids, int64_t time_steps);
  DenoiseResult run(const StepCallback& on_step, const StopCheck& stop);

 private:
  int64_t n_blocks(const RowState& r) const;
  std::vector<int64_t> block_positions(const RowState& r) const;
  std::vector<int64_t> pending(const RowState& r) const;
  bool advance(int64_t i, const StopCheck& stop);
  void pad_from(int64_t i, size_t first_gen_index);
  void pad_after_eos(int64_t i);
  void pass(const std::vector<int64_t>& active);
  torch::Tensor predicted_positions(const std::vector<int64_t>& rows) const;
  std::pair<torch::Tensor, torch::Tensor> masked_in_block(const std::vector<int64_t>& rows) const;
  void full_pass(const std::vector<int64_t>& rows);
  void block_pass(const std::vector<int64_t>& rows);
  torch::Tensor time_input(const torch::Tensor& idx) const;
  torch::Tensor guide(const torch::Tensor& logits, int64_t n) const;
  void keep_cache(const KVCache& sub, const torch::Tensor& cache_rows);
  void store_logits(const torch::Tensor& idx, const torch::Tensor& positions, const torch::Tensor& logits);
  torch::Tensor drawable_logits(int64_t i, const std::vector<int64_t>& positions) const;
  void reveal(int64_t i);
  void reveal_remask(int64_t i);

  DenoiserImpl& model_;
  TransformerImpl* transformer_;
  SampleConfig o_;
  SpecialIds ids_;
  torch::Device device_;
  int64_t B_, W_;
  bool guided_;
  int64_t time_steps_;                              // D3PM's grid of the schedule's shares (0: none)
  torch::Tensor x_;                                 // (B, W) int64 cpu: the canvases
  torch::Tensor generate_, valid_, span_, prompt_;  // (B, W) bool cpu: the rows' layout
  std::vector<int64_t> counted_fixed_;
  torch::Tensor last_;  // (B, W, V) float32 on the device: each row's latest logits
  KVCache kv_;          // kv_cache: rows 0..B-1, and B..2B-1 for guidance's unconditional rows
  std::vector<RowState> state_;
  int64_t forward_calls_ = 0;
};

}  // namespace dlm::detail
