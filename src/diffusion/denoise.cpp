// The denoising loop over rows with their own streams: blocks, ends and reveals (the model passes
// are in denoise_passes.cpp).
#include "dlm/diffusion/denoise.h"

#include <algorithm>
#include <cmath>

#include "denoise_loop.h"
#include "dlm/diffusion/noise_schedule.h"
#include "dlm/diffusion/sampler.h"
#include "dlm/error.h"
#include "dlm/random.h"

namespace dlm {
namespace detail {

Loop::Loop(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& o, const SpecialIds& ids,
           int64_t time_steps)
    : model_(model),
      transformer_(dynamic_cast<TransformerImpl*>(&model)),
      o_(o),
      ids_(ids),
      device_(module_device(model)),
      B_(rows.tokens.size(0)),
      W_(rows.tokens.size(1)),
      guided_(o.cfg_scale > 0.0),
      time_steps_(time_steps) {
  if (o_.kv_cache && !transformer_) throw Error("sample.kv_cache needs a transformer model");
  // cpu: the loop's bookkeeping; only the passes run on the model's device. A copy: the caller's
  // canvases stay as they were.
  x_ = rows.tokens.to(torch::kCPU, torch::kInt64).clone(torch::MemoryFormat::Contiguous);
  generate_ = rows.generate.to(torch::kCPU, torch::kBool).contiguous();
  valid_ = rows.valid.to(torch::kCPU, torch::kBool).contiguous();
  span_ = rows.span.to(torch::kCPU, torch::kBool).contiguous();
  prompt_ = rows.prompt.to(torch::kCPU, torch::kBool).contiguous();
  counted_fixed_ = rows.counted_fixed;
  const torch::Tensor& gen = generate_;
  const torch::Tensor& valid = valid_;
  for (int64_t i = 0; i < B_; ++i) {
    RowState r;
    for (int64_t p = 0; p < W_; ++p) {
      if (gen[i][p].item<bool>()) r.gen.push_back(p);
    }
    r.padded.assign(static_cast<size_t>(W_), false);
    r.width = valid[i].sum().item<int64_t>();
    r.n_gen = static_cast<int64_t>(r.gen.size());
    r.rng = cpu_generator(rows.seeds.at(static_cast<size_t>(i)));
    state_.push_back(std::move(r));
  }
}

int64_t Loop::n_blocks(const RowState& r) const {
  const int64_t n = static_cast<int64_t>(r.gen.size());
  return o_.block_length > 0 ? std::max<int64_t>(1, (n + o_.block_length - 1) / o_.block_length) : 1;
}

std::vector<int64_t> Loop::block_positions(const RowState& r) const {
  if (o_.block_length == 0) return r.gen;
  const size_t lo = static_cast<size_t>(r.block * o_.block_length);
  const size_t hi = std::min(r.gen.size(), lo + static_cast<size_t>(o_.block_length));
  return std::vector<int64_t>(r.gen.begin() + static_cast<std::ptrdiff_t>(lo),
                              r.gen.begin() + static_cast<std::ptrdiff_t>(hi));
}

std::vector<int64_t> Loop::pending(const RowState& r) const {
  std::vector<int64_t> out;
  const int64_t row = &r - state_.data();
  const auto x = x_.accessor<int64_t, 2>();
  for (int64_t p : block_positions(r)) {
    if (x[row][p] == ids_.mask) out.push_back(p);
  }
  return out;
}

// Moves row i to the next block that has masked positions; false once the row is finished.
bool Loop::advance(int64_t i, const StopCheck& stop) {
  RowState& r = state_[static_cast<size_t>(i)];
  while (!r.done) {
    if (r.block >= 0 && !pending(r).empty()) return true;
    if (r.block >= 0 && stop && r.block + 1 < n_blocks(r)) {
      const int64_t end = block_positions(r).back() + 1;
      const std::vector<int64_t> ids(x_[i].data_ptr<int64_t>(), x_[i].data_ptr<int64_t>() + end);
      if (stop(i, ids)) pad_from(i, static_cast<size_t>((r.block + 1) * o_.block_length));
    }
    if (r.block + 1 >= n_blocks(r)) {
      r.done = true;
      break;
    }
    ++r.block;
    r.block_step = 0;
    r.stored = false;
    r.stale = true;  // the last pass predicted the previous block only
    r.block_steps = std::max<int64_t>(1, (o_.steps + n_blocks(r) - 1) / n_blocks(r));
  }
  return false;
}

// Generated positions from r.gen[first] on become padding: never predicted again.
void Loop::pad_from(int64_t i, size_t first) {
  RowState& r = state_[static_cast<size_t>(i)];
  auto x = x_.accessor<int64_t, 2>();
  for (size_t g = first; g < r.gen.size(); ++g) {
    const int64_t p = r.gen[g];
    if (r.padded[static_cast<size_t>(p)]) continue;
    x[i][p] = ids_.pad;
    r.padded[static_cast<size_t>(p)] = true;
    --r.n_gen;
  }
}

void Loop::pad_after_eos(int64_t i) {
  if (ids_.eos < 0 || ids_.pad < 0) return;
  const RowState& r = state_[static_cast<size_t>(i)];
  const auto x = x_.accessor<int64_t, 2>();
  const auto span = span_.accessor<bool, 2>();
  for (size_t g = 0; g < r.gen.size(); ++g) {
    const int64_t p = r.gen[g];
    if (x[i][p] == ids_.eos && !span[i][p]) return pad_from(i, g + 1);
  }
}

// Float32 logits at `positions` of row i, with the tokens a position may not take banned: [MASK]
// everywhere, ids past the tokenizer's, the other specials inside infill spans.
torch::Tensor Loop::drawable_logits(int64_t i, const std::vector<int64_t>& positions) const {
  const torch::Tensor where = torch::tensor(positions, torch::kInt64);  // cpu: indexes the CPU canvas
  torch::Tensor lg = last_[i].index_select(0, where.to(device_)).to(torch::kCPU, torch::kFloat32);  // cpu: draws
  lg.select(1, ids_.mask).fill_(kNegInf);
  if (ids_.vocab > 0 && ids_.vocab < lg.size(1)) lg.slice(1, ids_.vocab).fill_(kNegInf);
  const torch::Tensor in_span = span_[i].index_select(0, where);
  if (in_span.any().item<bool>()) {
    for (int64_t banned : {ids_.eos, ids_.pad, ids_.bos, ids_.sep}) {
      if (banned >= 0) lg.select(1, banned).masked_fill_(in_span, kNegInf);
    }
  }
  return lg;
}

void Loop::reveal(int64_t i) {
  RowState& r = state_[static_cast<size_t>(i)];
  const std::vector<int64_t> m = pending(r);
  const torch::Tensor lg = drawable_logits(i, m);
  Candidates c;
  const torch::Tensor ids = choose_tokens(lg, o_, r.rng, &c.confidence);
  c.positions = torch::tensor(m, torch::kInt64);  // cpu: scores are computed on the CPU
  const bool need_probs =
      o_.strategy == Strategy::kMargin || o_.strategy == Strategy::kEntropy || o_.entropy_bound > 0.0;
  if (need_probs) c.probs = torch::softmax(lg.to(torch::kFloat64), -1);
  const torch::Tensor scores = order_scores(o_.strategy, c, r.rng);
  int64_t region = 0;
  for (int64_t p : block_positions(r)) region += r.padded[static_cast<size_t>(p)] ? 0 : 1;
  const int64_t k = scheduled_reveals(o_.schedule, o_.strategy, r.block_step, r.block_steps,
                                      static_cast<int64_t>(m.size()), region, time_steps_);
  const torch::Tensor pick = pick_reveals(c, scores, k, o_, r.rng);
  auto x = x_.accessor<int64_t, 2>();
  for (int64_t j = 0; j < pick.size(0); ++j) {
    const int64_t which = pick[j].item<int64_t>();
    x[i][m[static_cast<size_t>(which)]] = ids[which].item<int64_t>();
  }
  if (pick.size(0) > 0) {
    pad_after_eos(i);
    r.stale = true;
  }
}

// Seeds 002/003: every masked position gets a token, then a random share of all generated
// positions (revealed ones too) is masked again, as the schedule says.
void Loop::reveal_remask(int64_t i) {
  RowState& r = state_[static_cast<size_t>(i)];
  const std::vector<int64_t> m = pending(r);
  const torch::Tensor ids = choose_tokens(drawable_logits(i, m), o_, r.rng);
  auto x = x_.accessor<int64_t, 2>();
  for (size_t j = 0; j < m.size(); ++j) x[i][m[j]] = ids[static_cast<int64_t>(j)].item<int64_t>();
  const int64_t next = r.block_step + 1;
  const double r_next =
      next < r.block_steps
          ? grid_fraction(o_.schedule, static_cast<double>(next) / static_cast<double>(r.block_steps), time_steps_)
          : 0.0;
  const int64_t keep = static_cast<int64_t>(std::floor(r_next * static_cast<double>(r.n_gen)));
  const int64_t n = static_cast<int64_t>(r.gen.size());
  // cpu: drawn from the row's CPU stream
  const torch::Tensor score = torch::rand({n}, r.rng, torch::TensorOptions().dtype(torch::kFloat64));
  const torch::Tensor order = score.argsort(0, /*descending=*/true);
  for (int64_t j = 0; j < keep; ++j) x[i][r.gen[static_cast<size_t>(order[j].item<int64_t>())]] = ids_.mask;
  r.stale = true;
}

DenoiseResult Loop::run(const StepCallback& on_step, const StopCheck& stop) {
  const InferenceScope scope(model_);
  int64_t step = 0;
  while (true) {
    std::vector<int64_t> active;
    for (int64_t i = 0; i < B_; ++i) {
      if (advance(i, stop)) active.push_back(i);
    }
    if (active.empty()) break;
    pass(active);
    for (int64_t i : active) {
      RowState& r = state_[static_cast<size_t>(i)];
      o_.strategy == Strategy::kRemask ? reveal_remask(i) : reveal(i);
      ++r.block_step;
      ++r.stats.steps;
    }
    if (on_step) on_step({step, x_, {}});
    ++step;
  }
  DenoiseResult result;
  result.tokens = x_;
  for (const auto& r : state_) result.rows.push_back(r.stats);
  result.forward_calls = forward_calls_;
  result.cache_bytes = cache_bytes(kv_);
  return result;
}

}  // namespace detail

DenoiseResult denoise(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options, const SpecialIds& ids,
                      const StepCallback& on_step, const StopCheck& stop, int64_t time_steps) {
  return detail::Loop(model, rows, options, ids, time_steps).run(on_step, stop);
}

}  // namespace dlm
