// The simplex process (SSD-LM). Forward: each noised token's almost-one-hot logits plus Gaussian
// noise under the cosine alpha-bar; with diffusion.block_length, a block after a random visible
// context is noised and the positions after it are hidden, as SSD-LM trains. Loss: cross-entropy of
// the clean token. No likelihood bound. Reverse: block by block after the prefix, from Gaussian
// logits, each step projecting the model's top-p choice back to almost-one-hot logits and noising
// them to the next level.
#include "dlm/diffusion/simplex.h"

#include <algorithm>
#include <cmath>

#include "dlm/diffusion/noise_schedule.h"
#include "dlm/diffusion/sampler.h"
#include "dlm/error.h"
#include "dlm/random.h"
#include "processes.h"

namespace dlm {

double simplex_alpha_bar(double t) {
  constexpr double kPi = 3.14159265358979323846, s = 1e-4;
  const auto f = [&](double x) {
    const double c = std::cos(kPi / 2 * (x + s) / (1 + s));
    return c * c;
  };
  return std::clamp(f(std::clamp(t, 0.0, 1.0)) / f(0.0), 0.0, 1.0);
}

torch::Tensor simplex_logits(const torch::Tensor& ids, int64_t vocab, double k) {
  std::vector<int64_t> shape = ids.sizes().vec();
  shape.push_back(vocab);
  const torch::Tensor one_hot =
      torch::zeros(shape, ids.options().dtype(torch::kFloat32)).scatter_(-1, ids.unsqueeze(-1), 1.0);
  return k * (2.0 * one_hot - 1.0);
}

torch::Tensor simplex_noised(const torch::Tensor& w, const torch::Tensor& alpha_bar, const torch::Tensor& noise,
                             double k) {
  const torch::Tensor a = alpha_bar.to(w.dtype());
  return torch::sqrt(a) * w + torch::sqrt(1.0 - a) * k * noise;
}

namespace {

// One row's progress through its blocks.
struct SimplexRow {
  std::vector<int64_t> gen;  // positions to generate, ascending
  torch::Generator rng;
  bool done = false;
  RowStats stats;
};
struct SimplexBlock;  // one block of the rows being decoded (below)

torch::Tensor alpha_bars(const torch::Tensor& t) {
  std::vector<double> out;
  const torch::Tensor tc = t.to(torch::kCPU, torch::kFloat64).contiguous();
  for (int64_t i = 0; i < tc.size(0); ++i) out.push_back(simplex_alpha_bar(tc[i].item<double>()));
  return torch::tensor(out, torch::kFloat64);  // cpu: moved where it is used
}

class SimplexProcess : public Process {
 public:
  SimplexProcess(const Config& c, const SpecialIds& ids) : c_(c.diffusion), ids_(ids) {}
  std::string name() const override { return "the simplex process"; }
  bool has_bound() const override { return false; }
  bool infills() const override { return false; }

  Batch noise(const std::vector<const Example*>& share, int64_t begin, int64_t global_size, uint64_t seed,
              int64_t micro) const override {
    Batch b = collate_share(share, begin, global_size, c_, ids_.mask, seed, micro);
    std::vector<torch::Generator> gens =
        noise_streams(seed, micro * global_size + begin, static_cast<int64_t>(share.size()));
    lay_out(b, share, gens);
    return b;
  }

  torch::Tensor hidden(DenoiserImpl& model, const Batch& batch, const torch::Device& device) const override {
    return model.hidden(noisy_input(batch, device), batch.t.to(device), batch.visible.to(device));
  }

  torch::Tensor loss(const torch::Tensor& hidden, DenoiserImpl& model, const Batch& batch) const override {
    return scored_loss(model, hidden, batch);
  }

  Likelihood bound(DenoiserImpl&, const std::vector<Example>&, int64_t, int64_t, uint64_t, int64_t,
                   const torch::Device&) const override {
    throw Error("the simplex process has no likelihood bound");
  }

  std::vector<LevelMetrics> by_level(DenoiserImpl& model, const std::vector<Example>& examples,
                                     const std::vector<double>& levels, int64_t batch_size, const torch::Device& device,
                                     uint64_t seed) const override;
  DenoiseResult sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options,
                       const StepCallback& on_step, const StopCheck& stop) const override;
  // The blocks decide as they go: none announced.
  int64_t planned_steps(const SampleConfig&, const DenoiseRows&) const override { return 0; }

 protected:
  std::vector<std::string> refused_settings() const override {
    return {"diffusion.loss_on", "diffusion.weighting", "diffusion.cfg_dropout", "model.init_from"};
  }
  void check_rules(const Config& c) const override {
    if (c.model.type != ModelType::kTransformer) {
      throw Error("config key 'model.type' = \"" + enum_name(c.model.type) + "\": " + name() +
                  " needs a transformer (it reads probability vectors through the embedding)");
    }
    if (c.model.vocab_size != 0) {
      throw Error("config key 'model.vocab_size' = " + std::to_string(c.model.vocab_size) + ": must be 0 (the " +
                  "tokenizer's) for " + name() + ", whose vectors span the tokenizer's ids");
    }
  }
  std::vector<std::string> unused_settings() const override {
    return {"sampler", "strategy",          "threshold", "entropy_bound",
            "factor",  "order_temperature", "kv_cache",  "cfg_scale"};
  }

 private:
  DiffusionConfig c_;
  SpecialIds ids_;

  void denoise_block(DenoiserImpl& model, torch::Tensor& x, std::vector<SimplexRow>& state, const SimplexBlock& blk,
                     const std::vector<double>& levels, const SampleConfig& o, const StepCallback& on_step,
                     int64_t& shown, DenoiseResult& result) const;

  // After row i's block ending at position `last`: an EOS in it, or a stop string in the text so
  // far, ends the row, and its later generated positions become padding.
  void end_block(torch::Tensor& x, SimplexRow& r, int64_t i, int64_t last, const StopCheck& stop) const {
    auto xi = x.accessor<int64_t, 2>();
    size_t cut = r.gen.size();
    for (size_t g = 0; g < r.gen.size() && r.gen[g] <= last; ++g) {
      if (xi[i][r.gen[g]] == ids_.eos) {
        cut = g + 1;
        break;
      }
    }
    if (cut == r.gen.size() && stop && r.gen.back() > last) {
      const std::vector<int64_t> so_far(x[i].data_ptr<int64_t>(), x[i].data_ptr<int64_t>() + last + 1);
      if (stop(i, so_far))
        cut = static_cast<size_t>(std::upper_bound(r.gen.begin(), r.gen.end(), last) - r.gen.begin());
    }
    if (cut == r.gen.size()) return;
    for (size_t g = cut; g < r.gen.size(); ++g) xi[i][r.gen[g]] = ids_.pad;
    r.done = true;
  }

  // The noised positions of each row (its maskable ones, or with block_length a block after a random
  // context, the positions after it hidden), its Gaussian draws (row i from gens[i]) and its weights.
  void lay_out(Batch& b, const std::vector<const Example*>& rows, std::vector<torch::Generator>& gens) const {
    const int64_t B = b.target.size(0), L = b.target.size(1);
    const int64_t V = std::max<int64_t>(ids_.vocab, 1);
    std::vector<torch::Tensor> noise;
    torch::Tensor visible = torch::ones({B, L}, torch::kBool);  // cpu: as the batch
    for (int64_t i = 0; i < B; ++i) {
      torch::Generator& g = gens[static_cast<size_t>(i)];
      // cpu: the row's stream is a CPU generator; the noise moves to the device in predict()
      const double u = torch::rand({1}, g, torch::TensorOptions().dtype(torch::kFloat64)).item<double>();
      // cpu: as above
      noise.push_back(torch::randn({L, V}, g, torch::TensorOptions().dtype(torch::kFloat32)));
      if (c_.block_length == 0) continue;
      const torch::Tensor where = b.maskable[i].nonzero().view({-1});
      const Example& e = *rows[static_cast<size_t>(i)];
      const int64_t first = where.size(0) > 0 ? where[0].item<int64_t>() : L;
      const int64_t last = std::max(first + 1, std::min(L, e.n_content));  // a context ends before the text does
      const int64_t start = first + static_cast<int64_t>(u * static_cast<double>(last - first));
      const int64_t end = std::min(L, start + c_.block_length);
      b.maskable[i].slice(0, 0, start).fill_(false);
      b.maskable[i].slice(0, end).fill_(false);
      visible[i].slice(0, end).fill_(false);
    }
    b.noise = torch::stack(noise);
    b.visible = visible;
    b.masked = b.maskable;
    b.input = b.target;
    b.t = b.rate.to(torch::kFloat32);
    b.loss_weight = b.maskable.to(torch::kFloat32);
    b.norm_count = b.maskable.sum().item<double>();
    b.loss_norm = std::max(1.0, b.norm_count);
  }

  // The model's logits (B, L, V) on the noised batch: softmax of the noisy logits at noised positions,
  // one-hot vectors elsewhere.
  torch::Tensor predict(DenoiserImpl& model, const Batch& b, const torch::Device& device) const {
    return model.forward_rows(noisy_input(b, device), b.t.to(device), b.visible.to(device));
  }

  // What the model reads of the noised batch (B, L, V): softmax of the noisy logits at noised
  // positions, one-hot vectors elsewhere.
  torch::Tensor noisy_input(const Batch& b, const torch::Device& device) const {
    const int64_t V = b.noise.size(-1);
    const torch::Tensor target = b.target.to(device);
    const torch::Tensor clean = simplex_logits(target, V, c_.simplex_scale);
    const torch::Tensor abar = alpha_bars(b.rate).to(device, torch::kFloat32).view({-1, 1, 1});
    const torch::Tensor noisy = torch::softmax(simplex_noised(clean, abar, b.noise.to(device), c_.simplex_scale), -1);
    const torch::Tensor one_hot = torch::zeros_like(noisy).scatter_(-1, target.unsqueeze(-1), 1.0);
    return torch::where(b.maskable.to(device).unsqueeze(-1), noisy, one_hot);
  }
};

std::vector<LevelMetrics> SimplexProcess::by_level(DenoiserImpl& model, const std::vector<Example>& examples,
                                                   const std::vector<double>& levels, int64_t batch_size,
                                                   const torch::Device& device, uint64_t seed) const {
  InferenceScope scope(model);
  return per_level(examples, levels, batch_size, seed, c_, ids_.mask,
                   [&](Batch& batch, const std::vector<const Example*>& group, torch::Generator& gen) {
                     std::vector<torch::Generator> gens(group.size(), gen);
                     lay_out(batch, group, gens);
                     const torch::Tensor logits = predict(model, batch, device);
                     const torch::Tensor target = batch.target.to(device);
                     return level_sums(token_ce(logits, target), logits.argmax(-1), target, batch.maskable.to(device));
                   });
}

// The ids a sample may take at generated positions: not MASK, BOS or SEP, nor ids past the tokenizer's.
torch::Tensor drawable(const torch::Tensor& logits, const SpecialIds& ids) {
  torch::Tensor lg = logits.to(torch::kCPU, torch::kFloat32).clone();  // cpu: drawn on the CPU
  for (int64_t banned : {ids.mask, ids.bos, ids.sep}) {
    if (banned >= 0 && banned < lg.size(-1)) lg.select(-1, banned).fill_(-INFINITY);
  }
  if (ids.vocab > 0 && ids.vocab < lg.size(-1)) lg.slice(-1, ids.vocab).fill_(-INFINITY);
  return lg;
}

// The rows that have a block `blk` (of `block` generated positions; 0: all of them), the block's
// positions in each, and what the model sees: everything but the generated positions after the block
// (and a row's padding).
struct SimplexBlock {
  std::vector<int64_t> active;
  std::vector<std::vector<int64_t>> at;
  torch::Tensor visible;  ///< (A, W) bool
};
SimplexBlock next_block(const std::vector<SimplexRow>& state, const torch::Tensor& valid, int64_t block, int64_t blk) {
  SimplexBlock out;
  torch::Tensor visible = valid.clone();
  for (size_t i = 0; i < state.size(); ++i) {
    const SimplexRow& r = state[i];
    const size_t n = r.gen.size(), lo = block > 0 ? static_cast<size_t>(blk * block) : 0;
    if (r.done || lo >= n || (block == 0 && blk > 0)) continue;
    const size_t hi = block > 0 ? std::min(n, lo + static_cast<size_t>(block)) : n;
    out.active.push_back(static_cast<int64_t>(i));
    out.at.emplace_back(r.gen.begin() + static_cast<std::ptrdiff_t>(lo),
                        r.gen.begin() + static_cast<std::ptrdiff_t>(hi));
    for (size_t g = hi; g < n; ++g) visible[static_cast<int64_t>(i)][r.gen[g]] = false;
  }
  // cpu: indexes the CPU canvases
  if (!out.active.empty()) out.visible = visible.index_select(0, torch::tensor(out.active, torch::kInt64));
  return out;
}

// One block of the active rows, from Gaussian logits through every level to tokens: each step shows
// the model softmax of the block's noisy logits, draws its choice (top-p, SSD-LM's projection), and
// noises that choice's +-K logits to the next level; the last step places the choice.
void SimplexProcess::denoise_block(DenoiserImpl& model, torch::Tensor& x, std::vector<SimplexRow>& state,
                                   const SimplexBlock& blk, const std::vector<double>& levels, const SampleConfig& o,
                                   const StepCallback& on_step, int64_t& shown, DenoiseResult& result) const {
  const torch::Device device = module_device(model);
  const double K = c_.simplex_scale;
  const int64_t V = ids_.vocab;  // the model's rows (a simplex model's vocabulary is its tokenizer's)
  const int64_t A = static_cast<int64_t>(blk.active.size()), B = x.size(0), W = x.size(1);
  const torch::Tensor rows_at = torch::tensor(blk.active, torch::kInt64);  // cpu: indexes the canvases
  const torch::Tensor seen = blk.visible.to(device);
  std::vector<torch::Tensor> w, pos;  // per active row: its block's noisy logits (n, V) and positions
  for (int64_t a = 0; a < A; ++a) {
    pos.push_back(torch::tensor(blk.at[static_cast<size_t>(a)], torch::kInt64));  // cpu: an index
    torch::Generator& rng = state[static_cast<size_t>(blk.active[static_cast<size_t>(a)])].rng;
    // cpu: drawn from the row's CPU stream, as every sampler draw
    w.push_back(K * torch::randn({pos.back().size(0), V}, rng));
  }
  for (size_t j = 0; j + 1 < levels.size(); ++j) {
    const double t = levels[j], s = levels[j + 1];
    torch::Tensor input = torch::zeros({A, W, V}, torch::kFloat32);  // cpu: built here, moved below
    input.scatter_(-1, x.index_select(0, rows_at).clamp(0, V - 1).unsqueeze(-1), 1.0);
    for (int64_t a = 0; a < A; ++a)
      input[a].index_put_({pos[static_cast<size_t>(a)]}, torch::softmax(w[static_cast<size_t>(a)], -1));
    const torch::Tensor logits =
        model.forward_rows(input.to(device), torch::full({A}, t, torch::kFloat32).to(device), seen);
    ++result.forward_calls;
    // The timeline's view (the argmax and its probability), built only when someone watches.
    torch::Tensor shown_x, confidence;
    if (on_step) {
      shown_x = x.clone();
      confidence = torch::zeros({B, W}, torch::kFloat64);  // cpu: for the timeline
    }
    for (int64_t a = 0; a < A; ++a) {
      const int64_t i = blk.active[static_cast<size_t>(a)];
      SimplexRow& r = state[static_cast<size_t>(i)];
      const torch::Tensor& p = pos[static_cast<size_t>(a)];
      const torch::Tensor lg = drawable(logits[a].index_select(0, p.to(device)), ids_);
      const torch::Tensor y = choose_tokens(lg, o, r.rng);
      if (on_step) {
        const auto best = torch::softmax(lg.to(torch::kFloat64), -1).max(-1);
        shown_x[i].index_put_({p}, std::get<1>(best));
        confidence[i].index_put_({p}, std::get<0>(best));
      }
      if (s > 0.0) {
        const double ab = simplex_alpha_bar(s);
        // cpu: drawn from the row's CPU stream
        const torch::Tensor noise = torch::randn({p.size(0), V}, r.rng);
        w[static_cast<size_t>(a)] = std::sqrt(ab) * simplex_logits(y, V, K) + std::sqrt(1.0 - ab) * K * noise;
      } else {
        x[i].index_put_({p}, y);
      }
      ++r.stats.steps;
      ++r.stats.passes;
      r.stats.equivalents += 1.0;
    }
    if (on_step) on_step({shown++, s > 0.0 ? shown_x : x, confidence});
  }
}

DenoiseResult SimplexProcess::sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& o,
                                     const StepCallback& on_step, const StopCheck& stop) const {
  const InferenceScope scope(model);
  // cpu: the canvases and every draw stay on the CPU; the model's passes run on its device
  torch::Tensor x = rows.tokens.to(torch::kCPU, torch::kInt64).clone();
  const torch::Tensor valid = rows.valid.to(torch::kCPU, torch::kBool);
  const int64_t block = o.block_length > 0 ? o.block_length : c_.block_length;
  std::vector<SimplexRow> state;
  for (int64_t i = 0; i < x.size(0); ++i) {
    SimplexRow r;
    const torch::Tensor g = rows.generate[i].to(torch::kCPU).nonzero().view({-1});
    r.gen.assign(g.data_ptr<int64_t>(), g.data_ptr<int64_t>() + g.size(0));
    r.rng = cpu_generator(rows.seeds.at(static_cast<size_t>(i)));
    state.push_back(std::move(r));
  }
  if (on_step) on_step({-1, x, {}});
  const std::vector<double> levels = noise_levels(o.schedule, o.steps, c_.time_steps);
  DenoiseResult result;
  int64_t shown = 0;
  for (int64_t b = 0;; ++b) {
    const SimplexBlock blk = next_block(state, valid, block, b);
    if (blk.active.empty()) break;
    denoise_block(model, x, state, blk, levels, o, on_step, shown, result);
    for (size_t a = 0; a < blk.active.size(); ++a) {
      end_block(x, state[static_cast<size_t>(blk.active[a])], blk.active[a], blk.at[a].back(), stop);
    }
  }
  result.tokens = x;
  for (const auto& r : state) result.rows.push_back(r.stats);
  return result;
}

}  // namespace

std::unique_ptr<Process> make_simplex_process(const Config& config, const SpecialIds& ids) {
  return std::make_unique<SimplexProcess>(config, ids);
}

}  // namespace dlm
