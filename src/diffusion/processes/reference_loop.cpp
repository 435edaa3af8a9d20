// The LLaDA and Dream samplers' shared loop parts: groups of rows of one width, a stream per row
// (dlm's, or torch.manual_seed(--seed)'s under --rng torch), the model passes with their cache, the
// head in chunks of positions, and the step report.
#include "reference_loop.h"

#include <algorithm>
#include <map>

#include "dlm/diffusion/sampler.h"
#include "dlm/error.h"
#include "dlm/random.h"

namespace dlm {
namespace {

// Logits per chunk of positions: 4 Mi floats (16 MiB; LLaDA's 126,464 ids: 33 positions).
constexpr int64_t kChunkLogits = int64_t{1} << 22;

// Per-row position lists as one (n, K) tensor, K the longest (at least 1); shorter rows repeat their
// last entry, an empty one `fill`.
torch::Tensor padded_rows(const std::vector<std::vector<int64_t>>& rows, int64_t fill) {
  size_t K = 1;
  for (const auto& r : rows) K = std::max(K, r.size());
  std::vector<int64_t> flat;
  for (const auto& r : rows) {
    flat.insert(flat.end(), r.begin(), r.end());
    flat.insert(flat.end(), K - r.size(), r.empty() ? fill : r.back());
  }
  // cpu: positions in the CPU canvases
  return torch::tensor(flat, torch::kInt64).view({static_cast<int64_t>(rows.size()), static_cast<int64_t>(K)});
}

}  // namespace

Predictions::Predictions(DenoiserImpl& model, torch::Tensor rows, bool hidden, double cfg_scale, int64_t n)
    : model_(model), rows_(std::move(rows)), hidden_(hidden), cfg_scale_(cfg_scale), n_(n) {
  const torch::Tensor weight = hidden_ ? model_.output_projection().weight : torch::Tensor();
  vocab_ = weight.defined() ? weight.size(0) : rows_.size(-1);
}

torch::Tensor Predictions::head(const torch::Tensor& h) const { return (hidden_ ? model_.head(h) : h).to(torch::kCPU); }

torch::Tensor Predictions::logits(int64_t a, const torch::Tensor& idx) const {
  const torch::Tensor at = idx.to(rows_.device());
  const torch::Tensor conditional = head(rows_[a].index_select(0, at));
  if (cfg_scale_ <= 0.0) return conditional;
  return guided_logits(conditional, head(rows_[n_ + a].index_select(0, at)), cfg_scale_);
}

void Predictions::each_chunk(int64_t a, int64_t count,
                             const std::function<void(int64_t, const torch::Tensor&)>& each) const {
  const int64_t step = std::max<int64_t>(1, kChunkLogits / vocab_);
  for (int64_t from = 0; from < count; from += step) {
    each(from, logits(a, torch::arange(from, std::min(count, from + step))));  // cpu: indices into the row's list
  }
}

std::vector<std::pair<int64_t, std::vector<int64_t>>> rows_by_width(const DenoiseRows& rows) {
  std::map<int64_t, std::vector<int64_t>> groups;
  const torch::Tensor widths = rows.valid.sum(1);  // (B)
  for (int64_t r = 0; r < rows.tokens.size(0); ++r) groups[widths[r].item<int64_t>()].push_back(r);
  return {groups.begin(), groups.end()};
}

ReferenceGroup::ReferenceGroup(DenoiserImpl& model, const DenoiseRows& rows, std::vector<int64_t> members,
                               int64_t width, const SampleConfig& options, const SpecialIds& ids, DenoiseResult& result,
                               const StepCallback& on_step)
    : model_(model),
      transformer_(dynamic_cast<TransformerImpl*>(&model)),
      o_(options),
      members_(std::move(members)),
      width_(width),
      mask_id_(ids.mask),
      eos_id_(ids.eos),
      stopped_(members_.size(), false),
      result_(result),
      on_step_(on_step) {
  if (o_.kv_cache && !transformer_) throw Error("--kv-cache needs a transformer");
  const torch::Tensor index = torch::tensor(members_, torch::kInt64);  // cpu: row indices of the CPU canvases
  x_ = rows.tokens.index_select(0, index).narrow(1, 0, width).clone();
  given_ = x_.ne(mask_id_);
  // Canvases are laid out as the prompt's ids, then the generated positions: the first generated one.
  const torch::Tensor generated = rows.generate[members_[0]].narrow(0, 0, width).nonzero();
  prompt_length_ = generated.size(0) > 0 ? generated[0][0].item<int64_t>() : width;
  for (int64_t r : members_) {
    const uint64_t seed = options.rng == Rng::kTorch ? rows.seed : rows.seeds[static_cast<size_t>(r)];
    gens_.push_back(cpu_generator(seed));
  }
}

std::vector<int64_t> ReferenceGroup::masked(int64_t g, int64_t begin, int64_t end) const {
  const int64_t* row = x_.data_ptr<int64_t>() + g * width_;
  std::vector<int64_t> out;
  for (int64_t p = begin; p < end; ++p) {
    if (row[p] == mask_id_) out.push_back(p);
  }
  return out;
}

// The canvases of rows idx, with guidance followed by the same with their given positions masked.
torch::Tensor ReferenceGroup::pass_ids(const torch::Tensor& idx) const {
  const torch::Tensor x = x_.index_select(0, idx);
  if (o_.cfg_scale <= 0.0) return x;
  return torch::cat({x, x.masked_fill(given_.index_select(0, idx), mask_id_)});
}

void ReferenceGroup::keep_cache(const KVCache& sub, const torch::Tensor& cache_rows) {
  if (cache_.layers.empty()) {
    const int64_t rows = (o_.cfg_scale > 0.0 ? 2 : 1) * size();
    for (const auto& layer : sub.layers) {
      std::vector<int64_t> shape = layer.k.sizes().vec();
      shape[0] = rows;
      cache_.layers.push_back({torch::zeros(shape, layer.k.options()), torch::zeros(shape, layer.v.options())});
    }
    cache_.length = width_;
  }
  const torch::Tensor where = cache_rows.to(module_device(model_));
  for (size_t l = 0; l < sub.layers.size(); ++l) {
    cache_.layers[l].k.index_copy_(0, where, sub.layers[l].k);
    cache_.layers[l].v.index_copy_(0, where, sub.layers[l].v);
  }
}

// The pass over positions [lo, hi) of the canvases `ids`, attending to the cache; `out` (n, K) canvas
// positions.
torch::Tensor ReferenceGroup::block_pass(const torch::Tensor& ids, const torch::Tensor& t,
                                         const torch::Tensor& cache_rows, const torch::Tensor& out, int64_t lo,
                                         int64_t hi) {
  const torch::Device device = module_device(model_);
  const int64_t rows = ids.size(0);
  const torch::Tensor positions = torch::arange(lo, hi, torch::kInt64).expand({rows, hi - lo});  // cpu: as ids
  // A pass rewrites its rows' keys and values before attending, so over every cached row it may work
  // in the cache itself; over some, in a copy of theirs.
  KVCache copy;
  const bool every_row = rows == cache_.layers.front().k.size(0);
  if (!every_row) {
    copy.length = cache_.length;
    const torch::Tensor at = cache_rows.to(device);
    for (const auto& layer : cache_.layers)
      copy.layers.push_back({layer.k.index_select(0, at), layer.v.index_select(0, at)});
  }
  return transformer_->hidden_block(ids.narrow(1, lo, hi - lo).to(device), positions.to(device), t.to(device), {},
                                    every_row ? cache_ : copy, (out - lo).to(device));
}

void ReferenceGroup::count_pass(const std::vector<int64_t>& which, double share) {
  ++result_.forward_calls;
  for (int64_t g : which) {
    RowStats& s = result_.rows[static_cast<size_t>(members_[static_cast<size_t>(g)])];
    s.passes += 1;
    s.equivalents += share * (o_.cfg_scale > 0.0 ? 2.0 : 1.0);
  }
}

Predictions ReferenceGroup::predict(const std::vector<int64_t>& which, const std::vector<std::vector<int64_t>>& asked,
                                    int64_t begin, int64_t end, bool refresh) {
  const torch::Device device = module_device(model_);
  const bool guided = o_.cfg_scale > 0.0;
  const torch::Tensor idx = torch::tensor(which, torch::kInt64);  // cpu: row indices of the CPU canvases
  const torch::Tensor ids = pass_ids(idx);
  // The time input (models without time conditioning ignore it): the share of each row still masked.
  const torch::Tensor t = ids.eq(mask_id_).to(torch::kFloat32).mean(1);
  torch::Tensor out = padded_rows(asked, begin);
  const torch::Tensor cache_rows = guided ? torch::cat({idx, idx + size()}) : idx;
  if (guided) out = torch::cat({out, out});
  torch::Tensor h;
  bool hidden = true;
  double share = 1.0;
  if (o_.kv_cache && !refresh && !cache_.layers.empty()) {
    // From the first asked position (one earlier for a shifted model, whose outputs move a row down)
    // to the block's end (dual) or the canvas's (prefix).
    int64_t first = begin;
    for (const auto& a : asked) first = a.empty() ? first : std::min(first, a.front());
    const int64_t lo = std::max<int64_t>(0, first - (transformer_->shifted() ? 1 : 0));
    const int64_t hi = o_.kv_cache_mode == KvCacheMode::kDual ? end : width_;
    h = block_pass(ids, t, cache_rows, out, lo, hi);
    share = static_cast<double>(hi - lo) / static_cast<double>(width_);
  } else if (o_.kv_cache) {
    KVCache sub;
    h = transformer_->hidden_store(ids.to(device), t.to(device), {}, sub, out.to(device));
    keep_cache(sub, cache_rows);
  } else if (model_.positionwise_head()) {
    h = model_.hidden(ids.to(device), t.to(device), {}, out.to(device));
  } else {  // a head over whole rows: every position's logits, then the asked ones
    const torch::Tensor logits = model_.forward(ids.to(device), t.to(device));
    h = logits.gather(1, out.to(device).unsqueeze(-1).expand({-1, -1, logits.size(-1)}));
    hidden = false;
  }
  count_pass(which, share);
  return Predictions(model_, h, hidden, o_.cfg_scale, static_cast<int64_t>(which.size()));
}

void ReferenceGroup::reveal(int64_t g, const torch::Tensor& positions, const torch::Tensor& x0) {
  if (positions.numel() == 0) return;
  torch::Tensor row = x_[g];
  row.index_put_({positions}, x0.index_select(0, positions));
}

void ReferenceGroup::end_block(int64_t end) {
  if (!o_.stop_at_eos || eos_id_ < 0) return;
  for (int64_t g = 0; g < size(); ++g) {
    if (stopped(g) || !x_[g].narrow(0, prompt_length_, end - prompt_length_).eq(eos_id_).any().item<bool>()) continue;
    stopped_[static_cast<size_t>(g)] = true;
    x_[g].narrow(0, end, width_ - end).fill_(eos_id_);
    result_.tokens[members_[static_cast<size_t>(g)]].narrow(0, 0, width_).copy_(x_[g]);
  }
}

void ReferenceGroup::end_step(int64_t step, const std::vector<int64_t>& which) {
  for (int64_t g : which) {
    const int64_t r = members_[static_cast<size_t>(g)];
    result_.rows[static_cast<size_t>(r)].steps += 1;
    result_.tokens[r].narrow(0, 0, width_).copy_(x_[g]);
  }
  if (on_step_) on_step_({step, result_.tokens, {}});
}

}  // namespace dlm
