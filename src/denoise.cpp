// The denoising loop over rows with their own streams, blocks and ends.
#include "dlm/denoise.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "dlm/error.h"
#include "dlm/noise_schedule.h"
#include "dlm/random.h"
#include "dlm/sampler.h"

namespace dlm {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// One row's progress through its blocks.
struct RowState {
  std::vector<int64_t> gen;   // positions to generate, ascending
  std::vector<bool> padded;   // (W) generated positions turned into padding (after EOS or a stop)
  int64_t width = 0;          // the row's own length
  int64_t n_gen = 0;          // generated positions not turned into padding
  int64_t block = -1;         // current block; -1 before the first
  int64_t block_step = 0, block_steps = 1;
  bool done = false;
  bool stale = true;   // the canvas changed since the row's last pass
  bool stored = false; // kv_cache: the cache holds this block's refresh
  torch::Generator rng;
  RowStats stats;
};

class Loop {
 public:
  Loop(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& o, const SpecialIds& ids);
  DenoiseResult run(const CanvasCallback& on_step, const StopCheck& stop);

 private:
  int64_t n_blocks(const RowState& r) const;
  std::vector<int64_t> block_positions(const RowState& r) const;
  std::vector<int64_t> pending(const RowState& r) const;
  bool advance(int64_t i, const StopCheck& stop);
  void pad_from(int64_t i, size_t first_gen_index);
  void pad_after_eos(int64_t i);
  void pass(const std::vector<int64_t>& active);
  torch::Tensor predicted_positions(const std::vector<int64_t>& rows) const;
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
  torch::Tensor x_;     // (B, W) int64 cpu: the canvases
  torch::Tensor generate_, valid_, span_, prompt_;  // (B, W) bool cpu: the rows' layout
  std::vector<int64_t> counted_fixed_;
  torch::Tensor last_;  // (B, W, V) float32 on the device: each row's latest logits
  KVCache kv_;          // kv_cache: rows 0..B-1, and B..2B-1 for guidance's unconditional rows
  std::vector<RowState> state_;
  int64_t forward_calls_ = 0;
};

Loop::Loop(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& o, const SpecialIds& ids)
    : model_(model),
      transformer_(dynamic_cast<TransformerImpl*>(&model)),
      o_(o),
      ids_(ids),
      device_(module_device(model)),
      B_(rows.tokens.size(0)),
      W_(rows.tokens.size(1)),
      guided_(o.cfg_scale > 0.0) {
  if (o_.kv_cache && !transformer_) throw Error("sample.kv_cache needs a transformer model");
  // cpu: the loop's bookkeeping; only the passes run on the model's device
  x_ = rows.tokens.to(torch::kCPU, torch::kInt64).contiguous();
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
  return std::vector<int64_t>(r.gen.begin() + static_cast<std::ptrdiff_t>(lo), r.gen.begin() + static_cast<std::ptrdiff_t>(hi));
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

// The time input: the share of a row's generated positions still masked, as in training.
torch::Tensor Loop::time_input(const torch::Tensor& idx) const {
  const torch::Tensor masked = x_.index_select(0, idx).eq(ids_.mask).logical_and(generate_.index_select(0, idx));
  std::vector<double> denom;
  for (int64_t k = 0; k < idx.size(0); ++k) {
    const int64_t i = idx[k].item<int64_t>();
    denom.push_back(std::max<double>(1.0, static_cast<double>(state_[static_cast<size_t>(i)].n_gen +
                                                              counted_fixed_.at(static_cast<size_t>(i)))));
  }
  // cpu: the bookkeeping's tensor; the pass moves t to the device
  return (masked.sum(1).to(torch::kFloat64) / torch::tensor(denom, torch::kFloat64)).to(torch::kFloat32);
}

// Guidance: the pass ran rows [conditional; unconditional].
torch::Tensor Loop::guide(const torch::Tensor& logits, int64_t n) const {
  return guided_ ? guided_logits(logits.narrow(0, 0, n), logits.narrow(0, n, n), o_.cfg_scale) : logits;
}

void Loop::keep_cache(const KVCache& sub, const torch::Tensor& cache_rows) {
  if (kv_.layers.empty()) {
    for (const auto& layer : sub.layers) {
      std::vector<int64_t> shape = layer.k.sizes().vec();
      shape[0] = guided_ ? 2 * B_ : B_;
      kv_.layers.push_back({torch::zeros(shape, layer.k.options()), torch::zeros(shape, layer.v.options())});
    }
    kv_.length = W_;
  }
  const torch::Tensor where = cache_rows.to(device_);
  for (size_t l = 0; l < sub.layers.size(); ++l) {
    kv_.layers[l].k.index_copy_(0, where, sub.layers[l].k);
    kv_.layers[l].v.index_copy_(0, where, sub.layers[l].v);
  }
}

// Keeps the logits of rows idx at `positions` (n, b), or of whole rows when positions is undefined.
void Loop::store_logits(const torch::Tensor& idx, const torch::Tensor& positions, const torch::Tensor& logits) {
  if (!last_.defined()) {
    last_ = torch::zeros({B_, W_, logits.size(-1)}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
  }
  const torch::Tensor rows = idx.to(device_);
  if (!positions.defined()) {
    last_.index_copy_(0, rows, logits.to(torch::kFloat32));
    return;
  }
  last_.index_put_({rows.unsqueeze(1), positions.to(device_)}, logits.to(torch::kFloat32));
}

// The positions a pass must predict for `rows` (n, K): in block mode the current block of each row
// (shorter blocks repeat their last position), else undefined: every position.
torch::Tensor Loop::predicted_positions(const std::vector<int64_t>& rows) const {
  if (o_.block_length == 0) return {};
  std::vector<std::vector<int64_t>> blocks;
  size_t K = 0;
  for (int64_t i : rows) {
    blocks.push_back(block_positions(state_[static_cast<size_t>(i)]));
    K = std::max(K, blocks.back().size());
  }
  std::vector<int64_t> flat;
  for (auto& b : blocks) {
    b.resize(K, b.back());
    flat.insert(flat.end(), b.begin(), b.end());
  }
  // cpu: positions in the bookkeeping's canvas
  return torch::tensor(flat, torch::kInt64).view({static_cast<int64_t>(rows.size()), static_cast<int64_t>(K)});
}

void Loop::full_pass(const std::vector<int64_t>& rows) {
  const torch::Tensor idx = torch::tensor(rows, torch::kInt64);  // cpu: row indices of the bookkeeping
  torch::Tensor in = x_.index_select(0, idx), valid = valid_.index_select(0, idx), t = time_input(idx);
  const torch::Tensor out = predicted_positions(rows);
  torch::Tensor out_pass = out;
  if (guided_) {
    in = torch::cat({in, in.masked_fill(prompt_.index_select(0, idx), ids_.mask)});
    valid = torch::cat({valid, valid});
    t = torch::cat({t, t});
    if (out.defined()) out_pass = torch::cat({out, out});
  }
  // Rows that fill the batch width need no key mask (and keep the fused attention's fast path).
  const torch::Tensor key_valid = valid.all().item<bool>() ? torch::Tensor() : valid.to(device_);
  const torch::Tensor where = out_pass.defined() ? out_pass.to(device_) : torch::Tensor();
  torch::Tensor logits;
  if (o_.kv_cache) {
    KVCache sub;
    logits = transformer_->forward_store(in.to(device_), t.to(device_), key_valid, sub, where);
    keep_cache(sub, guided_ ? torch::cat({idx, idx + B_}) : idx);
  } else {
    logits = model_.forward_rows(in.to(device_), t.to(device_), key_valid, where);
  }
  ++forward_calls_;
  store_logits(idx, out, guide(logits, idx.size(0)));
  for (int64_t i : rows) {
    RowState& r = state_[static_cast<size_t>(i)];
    ++r.stats.passes;
    r.stats.equivalents += guided_ ? 2.0 : 1.0;
    r.stored = o_.kv_cache;
  }
}

// Passes over the current block of rows whose cache holds the rest of the canvas, grouped by block size.
void Loop::block_pass(const std::vector<int64_t>& rows) {
  std::vector<std::vector<int64_t>> groups;
  std::vector<size_t> sizes;
  for (int64_t i : rows) {
    const size_t b = block_positions(state_[static_cast<size_t>(i)]).size();
    const auto it = std::find(sizes.begin(), sizes.end(), b);
    if (it == sizes.end()) {
      sizes.push_back(b);
      groups.push_back({i});
    } else {
      groups[static_cast<size_t>(it - sizes.begin())].push_back(i);
    }
  }
  for (const auto& group : groups) {
    const torch::Tensor idx = torch::tensor(group, torch::kInt64);  // cpu: row indices of the bookkeeping
    std::vector<torch::Tensor> pos_rows;
    // cpu: positions in the bookkeeping's canvas
    for (int64_t i : group) pos_rows.push_back(torch::tensor(block_positions(state_[static_cast<size_t>(i)]), torch::kInt64));
    const torch::Tensor pos = torch::stack(pos_rows);  // (n, b)
    torch::Tensor in = x_.index_select(0, idx).gather(1, pos), valid = valid_.index_select(0, idx), t = time_input(idx);
    torch::Tensor where = pos, cache_rows = idx;
    if (guided_) {  // a block holds generated positions only, so the unconditional rows feed the same ids
      in = torch::cat({in, in});
      valid = torch::cat({valid, valid});
      t = torch::cat({t, t});
      where = torch::cat({pos, pos});
      cache_rows = torch::cat({idx, idx + B_});
    }
    // A pass rewrites its block's keys and values before attending, so when it covers every cached
    // row it may work in the kept cache itself instead of a copy of it.
    KVCache copy;
    const bool every_row = cache_rows.equal(torch::arange(kv_.layers.front().k.size(0)));
    if (!every_row) {
      copy.length = kv_.length;
      const torch::Tensor cache_idx = cache_rows.to(device_);
      for (const auto& layer : kv_.layers) copy.layers.push_back({layer.k.index_select(0, cache_idx), layer.v.index_select(0, cache_idx)});
    }
    KVCache& sub = every_row ? kv_ : copy;
    const torch::Tensor key_valid = valid.all().item<bool>() ? torch::Tensor() : valid.to(device_);
    const torch::Tensor logits = transformer_->forward_block(in.to(device_), where.to(device_), t.to(device_), key_valid, sub);
    ++forward_calls_;
    store_logits(idx, pos, guide(logits, idx.size(0)));
    for (int64_t i : group) {
      RowState& r = state_[static_cast<size_t>(i)];
      ++r.stats.passes;
      r.stats.equivalents += (guided_ ? 2.0 : 1.0) * static_cast<double>(pos.size(1)) / static_cast<double>(r.width);
    }
  }
}

void Loop::pass(const std::vector<int64_t>& active) {
  std::vector<int64_t> full, block;
  for (int64_t i : active) {
    RowState& r = state_[static_cast<size_t>(i)];
    if (o_.cache && !r.stale) continue;  // its canvas is unchanged: the last prediction stands
    (o_.kv_cache && r.stored ? block : full).push_back(i);
    r.stale = false;
  }
  if (!full.empty()) full_pass(full);
  if (!block.empty()) block_pass(block);
}

// Float32 logits at `positions` of row i, with the tokens a position may not take banned: [MASK]
// everywhere, the other specials inside infill spans.
torch::Tensor Loop::drawable_logits(int64_t i, const std::vector<int64_t>& positions) const {
  const torch::Tensor where = torch::tensor(positions, torch::kInt64);  // cpu: indexes the CPU canvas
  torch::Tensor lg = last_[i].index_select(0, where.to(device_)).to(torch::kCPU, torch::kFloat32);  // cpu: draws
  lg.select(1, ids_.mask).fill_(kNegInf);
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
  const bool need_probs = o_.strategy == Strategy::kMargin || o_.strategy == Strategy::kEntropy || o_.entropy_bound > 0.0;
  if (need_probs) c.probs = torch::softmax(lg.to(torch::kFloat64), -1);
  const torch::Tensor scores = order_scores(o_.strategy, c, r.rng);
  int64_t region = 0;
  for (int64_t p : block_positions(r)) region += r.padded[static_cast<size_t>(p)] ? 0 : 1;
  const int64_t k = scheduled_reveals(o_.schedule, o_.strategy, r.block_step, r.block_steps, static_cast<int64_t>(m.size()), region);
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
  const double r_next = next < r.block_steps ? masked_fraction(o_.schedule, static_cast<double>(next) / static_cast<double>(r.block_steps)) : 0.0;
  const int64_t keep = static_cast<int64_t>(std::floor(r_next * static_cast<double>(r.n_gen)));
  // cpu: drawn from the row's CPU stream
  const torch::Tensor score = torch::rand({static_cast<int64_t>(r.gen.size())}, r.rng, torch::TensorOptions().dtype(torch::kFloat64));
  const torch::Tensor order = score.argsort(0, /*descending=*/true);
  for (int64_t j = 0; j < keep; ++j) x[i][r.gen[static_cast<size_t>(order[j].item<int64_t>())]] = ids_.mask;
  r.stale = true;
}

DenoiseResult Loop::run(const CanvasCallback& on_step, const StopCheck& stop) {
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
    if (on_step) on_step(step, x_);
    ++step;
  }
  DenoiseResult result;
  result.tokens = x_;
  for (const auto& r : state_) result.rows.push_back(r.stats);
  result.forward_calls = forward_calls_;
  return result;
}

}  // namespace

DenoiseResult denoise(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options, const SpecialIds& ids,
                      const CanvasCallback& on_step, const StopCheck& stop) {
  return Loop(model, rows, options, ids).run(on_step, stop);
}

}  // namespace dlm
