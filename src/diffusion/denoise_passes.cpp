// The denoising loop's model passes: full passes (storing the KV cache in block mode), block passes
// over the kept cache, the time input, guidance, and the logits each row keeps between passes.
#include <algorithm>
#include <utility>

#include "denoise_loop.h"
#include "dlm/diffusion/sampler.h"

namespace dlm::detail {

// The time input: the share of a row's generated positions still masked, as in training.
torch::Tensor Loop::time_input(const torch::Tensor& idx) const {
  const torch::Tensor masked = x_.index_select(0, idx).eq(ids_.mask).logical_and(generate_.index_select(0, idx));
  std::vector<double> denom;
  for (int64_t k = 0; k < idx.size(0); ++k) {
    const int64_t i = idx[k].item<int64_t>();
    denom.push_back(std::max<double>(
        1.0, static_cast<double>(state_[static_cast<size_t>(i)].n_gen + counted_fixed_.at(static_cast<size_t>(i)))));
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

namespace {

// Per-row position lists as one (n, K) tensor, K the longest; shorter rows repeat their last entry.
torch::Tensor padded_rows(std::vector<std::vector<int64_t>> rows) {
  size_t K = 0;
  for (const auto& r : rows) K = std::max(K, r.size());
  std::vector<int64_t> flat;
  for (auto& r : rows) {
    r.resize(K, r.back());
    flat.insert(flat.end(), r.begin(), r.end());
  }
  // cpu: positions in the bookkeeping's canvas
  return torch::tensor(flat, torch::kInt64).view({static_cast<int64_t>(rows.size()), static_cast<int64_t>(K)});
}

}  // namespace

// The positions a pass must predict for `rows` (n, K): in block mode the current block of each row,
// else undefined: every position.
torch::Tensor Loop::predicted_positions(const std::vector<int64_t>& rows) const {
  if (o_.block_length == 0) return {};
  std::vector<std::vector<int64_t>> blocks;
  for (int64_t i : rows) blocks.push_back(block_positions(state_[static_cast<size_t>(i)]));
  return padded_rows(std::move(blocks));
}

// The still-masked positions of each row's current block, as indices into the block (n, K) and as
// canvas positions (n, K). A block pass computes the output head only there: the revealed
// positions' predictions are never read again.
std::pair<torch::Tensor, torch::Tensor> Loop::masked_in_block(const std::vector<int64_t>& rows) const {
  std::vector<std::vector<int64_t>> local, canvas;
  for (int64_t i : rows) {
    const RowState& r = state_[static_cast<size_t>(i)];
    const std::vector<int64_t> block = block_positions(r);
    canvas.push_back(pending(r));
    local.emplace_back();
    for (int64_t p : canvas.back())
      local.back().push_back(std::lower_bound(block.begin(), block.end(), p) - block.begin());
  }
  return {padded_rows(std::move(local)), padded_rows(std::move(canvas))};
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
    for (int64_t i : group) {
      // cpu: positions in the bookkeeping's canvas
      pos_rows.push_back(torch::tensor(block_positions(state_[static_cast<size_t>(i)]), torch::kInt64));
    }
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
    const bool every_row = cache_rows.equal(torch::arange(kv_.layers.front().k.size(0)));  // cpu: row indices
    if (!every_row) {
      copy.length = kv_.length;
      const torch::Tensor cache_idx = cache_rows.to(device_);
      for (const auto& layer : kv_.layers)
        copy.layers.push_back({layer.k.index_select(0, cache_idx), layer.v.index_select(0, cache_idx)});
    }
    KVCache& sub = every_row ? kv_ : copy;
    const torch::Tensor key_valid = valid.all().item<bool>() ? torch::Tensor() : valid.to(device_);
    const auto [local, masked] = masked_in_block(group);
    const torch::Tensor out = guided_ ? torch::cat({local, local}) : local;
    const torch::Tensor logits =
        transformer_->forward_block(in.to(device_), where.to(device_), t.to(device_), key_valid, sub, out.to(device_));
    ++forward_calls_;
    store_logits(idx, masked, guide(logits, idx.size(0)));
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

}  // namespace dlm::detail
