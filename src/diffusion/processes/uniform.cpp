// Uniform noise (D3PM's uniform transitions; Duo): a token is kept with probability 1 - t and
// otherwise replaced by a state drawn uniformly from the support (content tokens, EOS, padding;
// never MASK, BOS or SEP). Forward: that replacement. Loss and bound: the continuous-time bound (or
// D3PM's discrete one), which scores every noised position. Reverse: the exact ancestral step
// x_s ~ q(x_s | x_t, x0 = the model's prediction), which may change any generated position.
#include "dlm/diffusion/uniform.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "dlm/diffusion/noise_schedule.h"
#include "dlm/diffusion/sampler.h"
#include "dlm/error.h"
#include "dlm/random.h"
#include "processes.h"

namespace dlm {

torch::Tensor uniform_marginal(const torch::Tensor& x0, const torch::Tensor& alpha) {
  const torch::Tensor a = alpha.to(x0.dtype()).unsqueeze(-1);
  return a * x0 + (1.0 - a) / static_cast<double>(x0.size(-1));
}

torch::Tensor uniform_posterior(const torch::Tensor& x0, const torch::Tensor& z, const torch::Tensor& alpha_s,
                                const torch::Tensor& alpha_t) {
  const double n = static_cast<double>(x0.size(-1));
  const torch::Tensor as = alpha_s.to(x0.dtype()).unsqueeze(-1), at = alpha_t.to(x0.dtype()).unsqueeze(-1);
  const torch::Tensor keep = at / as;  // the transition s -> t keeps a token with this probability
  const torch::Tensor to_z = torch::zeros_like(x0).scatter_(-1, z.unsqueeze(-1), 1.0);
  const torch::Tensor unnorm = (keep * to_z + (1.0 - keep) / n) * (as * x0 + (1.0 - as) / n);
  return unnorm / unnorm.sum(-1, /*keepdim=*/true);
}

namespace {

torch::Tensor at_state(const torch::Tensor& p, const torch::Tensor& state) {
  return p.gather(-1, state.unsqueeze(-1)).squeeze(-1).to(torch::kFloat64);
}

}  // namespace

torch::Tensor uniform_bound_rate(const torch::Tensor& p, const torch::Tensor& z, const torch::Tensor& k,
                                 const torch::Tensor& alpha) {
  const double n = static_cast<double>(p.size(-1));
  const torch::Tensor a = alpha.to(torch::kFloat64).expand(z.sizes());
  // xbar_theta_j = 1 + u_j. Their logs are summed as log1p, in float64: the sum is O(alpha^2) as alpha -> 0.
  const torch::Tensor u = a.to(p.dtype()).unsqueeze(-1) * (n * p - 1.0);
  const torch::Tensor S = torch::log1p(u).sum(-1, /*keepdim=*/false, torch::kFloat64);
  const torch::Tensor uk = a * (n * at_state(p, k) - 1.0), ui = a * (n * at_state(p, z) - 1.0);
  const torch::Tensor Lk = torch::log1p(uk), Li = torch::log1p(ui);
  const torch::Tensor xk = 1.0 + (n - 1.0) * a;  // xbar at the clean token; 1 - alpha elsewhere
  // z = k: every other state has xbar_j / xbar_i = (1 - alpha) / xk.
  const torch::Tensor rho = (1.0 - a) / xk;
  const torch::Tensor same = -n / xk + n / (1.0 + uk) + rho * ((n - 1.0) * torch::log(rho) - S + n * Lk);
  // z != k: the clean token has ratio xk / (1 - alpha), every other state 1.
  const torch::Tensor R = xk / (1.0 - a);
  const torch::Tensor other = -n / (1.0 - a) + n / (1.0 + ui) + R * (torch::log(R) - Lk + Li) - S + Lk + (n - 1.0) * Li;
  return torch::where(z.eq(k), same, other) / (n * a);
}

torch::Tensor uniform_step_kl(const torch::Tensor& p, const torch::Tensor& z, const torch::Tensor& k,
                              const torch::Tensor& alpha_s, const torch::Tensor& alpha_t) {
  // q_j and p_theta_j are both A_j B_j / Z with A_j = c0 + c1 [j = z] (the step s -> t) and B_j the
  // level-s marginal (of the clean token, or of the prediction): A_j cancels inside the logarithm,
  // leaving sums over the support that are taken once per position.
  const double n = static_cast<double>(p.size(-1));
  const torch::Tensor as = alpha_s.to(torch::kFloat64).expand(z.sizes()),
                      at = alpha_t.to(torch::kFloat64).expand(z.sizes());
  const torch::Tensor c1 = at / as, c0 = (1.0 - c1) / n, b0 = (1.0 - as) / n;
  const torch::Tensor same = z.eq(k).to(torch::kFloat64);
  const torch::Tensor sum_m = torch::log(as.to(p.dtype()).unsqueeze(-1) * p + b0.to(p.dtype()).unsqueeze(-1))
                                  .sum(-1, /*keepdim=*/false, torch::kFloat64);
  const torch::Tensor pz = at_state(p, z);
  const torch::Tensor mk = torch::log(as * at_state(p, k) + b0), mz = torch::log(as * pz + b0);
  const torch::Tensor bz = as * same + b0;
  const torch::Tensor zq = c0 + c1 * bz, zm = c0 + c1 * (as * pz + b0);
  const torch::Tensor zero = torch::zeros_like(zq);
  const torch::Tensor q_log_q =
      c0 * (torch::xlogy(as + b0, as + b0) + (n - 1.0) * torch::xlogy(b0, b0)) + c1 * torch::xlogy(bz, bz);
  // 0 * log 0 terms (no noise left at s, a state the clean token cannot reach) are dropped, not multiplied.
  const torch::Tensor q_log_m = torch::where(c0 > 0, c0 * (as * mk + torch::where(b0 > 0, b0 * sum_m, zero)), zero) +
                                torch::where(bz > 0, c1 * bz * mz, zero);
  return torch::log(zm / zq) + (q_log_q - q_log_m) / zq;
}

namespace {

// The support: the tokenizer's ids less MASK, BOS and SEP, and each id's index in it (-1 outside).
struct Support {
  torch::Tensor ids;    ///< (N) int64
  torch::Tensor index;  ///< (V) int64
  int64_t size() const { return ids.size(0); }
};

Support make_support(const SpecialIds& ids, int64_t vocab) {
  vocab = std::max<int64_t>(vocab, 0);  // none known yet: an empty support, enough to check settings
  std::vector<int64_t> in;
  std::vector<int64_t> index(static_cast<size_t>(vocab), -1);
  for (int64_t id = 0; id < vocab; ++id) {
    if (id == ids.mask || id == ids.bos || id == ids.sep) continue;
    index[static_cast<size_t>(id)] = static_cast<int64_t>(in.size());
    in.push_back(id);
  }
  // cpu: lookup tables, moved where they are used
  return {torch::tensor(in, torch::kInt64), torch::tensor(index, torch::kInt64)};
}

class UniformProcess : public Process {
 public:
  UniformProcess(const Config& c, const SpecialIds& ids)
      : c_(c.diffusion), ids_(ids), support_(make_support(ids, ids.vocab)) {}
  std::string name() const override { return "uniform noise"; }

  Batch noise(const std::vector<const Example*>& share, int64_t begin, int64_t global_size, uint64_t seed,
              int64_t micro) const override {
    // The maskable positions and the levels are the masking collator's; the replacements are drawn here.
    Batch b = collate_share(share, begin, global_size, c_, ids_.mask, seed, micro);
    std::vector<torch::Generator> gens =
        noise_streams(seed, micro * global_size + begin, static_cast<int64_t>(share.size()));
    apply_noise(b, gens);
    return b;
  }

  torch::Tensor loss(const torch::Tensor& hidden, DenoiserImpl& model, const Batch& batch) const override {
    const torch::Tensor per_position = terms(model.head(hidden), batch);
    return (per_position * batch.loss_weight.to(hidden.device(), torch::kFloat64)).sum() / batch.loss_norm;
  }

  std::string bound_method(int64_t t_samples, uint64_t seed) const override {
    return nelbo_method(name(), c_.time_steps, t_samples, seed);
  }

  Likelihood bound(DenoiserImpl& model, const std::vector<Example>& blocks, int64_t first_scored, int64_t t_samples,
                   uint64_t seed, int64_t batch_size, const torch::Device& device) const override;
  std::vector<LevelMetrics> by_level(DenoiserImpl& model, const std::vector<Example>& examples,
                                     const std::vector<double>& levels, int64_t batch_size, const torch::Device& device,
                                     uint64_t seed) const override;
  DenoiseResult sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options,
                       const StepCallback& on_step, const StopCheck& stop) const override;
  int64_t planned_steps(const SampleConfig& o, const DenoiseRows&) const override {
    return static_cast<int64_t>(noise_levels(o.schedule, o.steps, c_.time_steps).size()) - 1;
  }

 protected:
  std::vector<std::string> refused_settings() const override {
    return {"diffusion.loss_on", "diffusion.weighting", "diffusion.cfg_dropout", "diffusion.block_length"};
  }
  std::vector<std::string> unused_settings() const override {
    return {"sampler",           "strategy",     "threshold", "entropy_bound", "factor",
            "order_temperature", "block_length", "kv_cache",  "cfg_scale"};
  }

 private:
  DiffusionConfig c_;
  SpecialIds ids_;
  Support support_;

  // Replaces each maskable position of b with probability b.rate by a uniform draw from the support
  // (row i draws from gens[i]); every maskable position is scored, with equal weight.
  void apply_noise(Batch& b, std::vector<torch::Generator>& gens) const {
    const int64_t B = b.target.size(0), L = b.target.size(1), N = support_.size();
    if (N < 2) throw Error("uniform noise needs at least two tokens besides [MASK], BOS and SEP");
    const torch::Tensor k = support_.index.index_select(0, b.target.reshape({-1})).view({B, L});
    if (k.lt(0).logical_and(b.maskable).any().item<bool>()) {
      throw Error("uniform noise: a noised position holds [MASK], BOS or SEP, which are outside its support");
    }
    std::vector<torch::Tensor> flips, draws;
    const auto f64 = torch::TensorOptions().dtype(torch::kFloat64), i64 = torch::TensorOptions().dtype(torch::kInt64);
    for (int64_t i = 0; i < B; ++i) {
      // cpu: the collator's batches are built on the CPU
      flips.push_back(torch::rand({L}, gens[static_cast<size_t>(i)], f64));
      // cpu: as above
      draws.push_back(torch::randint(0, N, {L}, gens[static_cast<size_t>(i)], i64));
    }
    const torch::Tensor flip = torch::stack(flips).lt(b.rate.to(torch::kFloat64).view({B, 1})).logical_and(b.maskable);
    const torch::Tensor drawn = support_.ids.index_select(0, torch::stack(draws).reshape({-1})).view({B, L});
    b.input = torch::where(flip, drawn, b.target);
    b.masked = flip;
    b.t = b.rate.to(torch::kFloat32);
    b.loss_weight = b.maskable.to(torch::kFloat32);
    b.norm_count = b.maskable.sum().item<double>();
    b.loss_norm = std::max(1.0, b.norm_count);
  }

  // The model's prediction of the clean token as probabilities over the support (B, L, N), float32.
  torch::Tensor support_probs(const torch::Tensor& logits) const {
    return torch::softmax(logits.to(torch::kFloat32).index_select(-1, support_.ids.to(logits.device())), -1);
  }

  // Each position's term of the bound (B, L) float64 from the model's logits on batch b: the continuous
  // integrand at the batch's levels, or T times the discrete step's KL at t = i / T, s = (i - 1) / T.
  // Unscored positions give 0.
  torch::Tensor terms(const torch::Tensor& logits, const Batch& b) const {
    const torch::Device device = logits.device();
    const torch::Tensor p = support_probs(logits);
    const torch::Tensor index = support_.index.to(device);
    const int64_t B = b.target.size(0), L = b.target.size(1);
    const torch::Tensor z = index.index_select(0, b.input.to(device).reshape({-1})).view({B, L}).clamp_min(0);
    const torch::Tensor k = index.index_select(0, b.target.to(device).reshape({-1})).view({B, L}).clamp_min(0);
    const torch::Tensor t = b.rate.to(device, torch::kFloat64).view({B, 1});
    torch::Tensor out;
    if (c_.time_steps == 0) {
      out = uniform_bound_rate(p, z, k, 1.0 - t);
    } else {
      const double T = static_cast<double>(c_.time_steps);
      out = T * uniform_step_kl(p, z, k, 1.0 - (t - 1.0 / T).clamp_min(0.0), 1.0 - t);
    }
    return torch::where(b.maskable.to(device), out, torch::zeros_like(out));
  }
};

// The levels of a block's draws and each one's weight in the bound, from one uniform u per block.
// Continuous time: half the draws stratified uniformly on [eps, 1), half log-uniformly (t = eps^(1-f)),
// with eps = 1e-6, weighted by the balance heuristic 1 / (n_u g_u(t) + n_l g_l(t)). The integrand
// grows like log(1/t) near 0, and a state changed at small t (probability ~t) weighs ~1/t: uniform
// draws alone leave that tail to rare, heavy rows, and a larger eps cuts it off. Discrete time: i / T
// stratified over the steps, weight 1 / S (terms() already counts T times the step's KL).
std::vector<std::pair<double, double>> bound_levels(double u, int64_t draws, int64_t time_steps) {
  std::vector<std::pair<double, double>> out;
  const auto frac = [&](int64_t j, int64_t n) {
    return std::fmod(u + static_cast<double>(j) / static_cast<double>(n), 1.0);
  };
  if (time_steps > 0) {
    const double T = static_cast<double>(time_steps);
    for (int64_t j = 0; j < draws; ++j) {
      out.emplace_back(std::min(T, 1.0 + std::floor(frac(j, draws) * T)) / T, 1.0 / static_cast<double>(draws));
    }
    return out;
  }
  constexpr double eps = 1e-6;
  const double log_span = -std::log(eps);
  const int64_t n_uniform = (draws + 1) / 2, n_log = draws - n_uniform;
  const auto weight = [&](double t) {
    return 1.0 / (static_cast<double>(n_uniform) / (1.0 - eps) + static_cast<double>(n_log) / (t * log_span));
  };
  for (int64_t j = 0; j < n_uniform; ++j) {
    const double t = eps + (1.0 - eps) * frac(j, n_uniform);
    out.emplace_back(t, weight(t));
  }
  for (int64_t j = 0; j < n_log; ++j) {
    const double t = std::pow(eps, 1.0 - frac(j, n_log));
    out.emplace_back(t, weight(t));
  }
  return out;
}

// Rows: one per (block, draw of t) (bound_levels), every scored position replaced with probability t;
// each row's summed terms count with its draw's weight.
Likelihood UniformProcess::bound(DenoiserImpl& model, const std::vector<Example>& blocks, int64_t first_scored,
                                 int64_t t_samples, uint64_t seed, int64_t batch_size,
                                 const torch::Device& device) const {
  if (t_samples < 1) throw Error("eval.t_samples must be >= 1, got " + std::to_string(t_samples));
  InferenceScope scope(model);
  return estimate_bound(
      blocks, first_scored, ids_.mask, batch_size, seed,
      [&](double u, int64_t, torch::Generator&) { return bound_levels(u, t_samples, c_.time_steps); },
      [&](Batch& batch, const std::vector<const Example*>& group, torch::Generator& gen) {
        std::vector<torch::Generator> gens(group.size(), gen);
        apply_noise(batch, gens);
        return terms(model.forward(batch.input.to(device), batch.t.to(device)), batch).sum(1);
      });
}

std::vector<LevelMetrics> UniformProcess::by_level(DenoiserImpl& model, const std::vector<Example>& examples,
                                                   const std::vector<double>& levels, int64_t batch_size,
                                                   const torch::Device& device, uint64_t seed) const {
  InferenceScope scope(model);
  return per_level(
      examples, levels, batch_size, seed, c_, ids_.mask,
      [&](Batch& batch, const std::vector<const Example*>& group, torch::Generator& gen) {
        std::vector<torch::Generator> gens(group.size(), gen);
        apply_noise(batch, gens);
        const torch::Tensor p = support_probs(model.forward(batch.input.to(device), batch.t.to(device)));
        const torch::Tensor k =
            support_.index.to(device).index_select(0, batch.target.to(device).reshape({-1})).view(batch.target.sizes());
        const torch::Tensor nll = -torch::log(at_state(p, k.clamp_min(0)).clamp_min(1e-30));
        return level_sums(nll, p.argmax(-1), k, batch.maskable.to(device));
      });
}

// Ancestral sampling: generated positions start as uniform draws; at each pair of levels t > s of
// noise_levels every generated position draws x_s from q(x_s | x_t, x0 = the filtered prediction),
// so a token already placed can change until the last step (s = 0). Infill spans never get EOS or
// padding. Stop strings cut the text afterwards: with no blocks, nothing ends early.
DenoiseResult UniformProcess::sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& o,
                                     const StepCallback& on_step, const StopCheck& stop) const {
  (void)stop;
  const InferenceScope scope(model);
  const torch::Device device = module_device(model);
  // cpu: the canvases and every draw stay on the CPU; the model's passes run on its device
  torch::Tensor x = rows.tokens.to(torch::kCPU, torch::kInt64).clone();
  const int64_t B = x.size(0), W = x.size(1), N = support_.size();
  if (N < 2) throw Error("uniform noise needs at least two tokens besides [MASK], BOS and SEP");
  const torch::Tensor valid = rows.valid.to(device, torch::kBool);
  std::vector<torch::Generator> rng;
  std::vector<torch::Tensor> where, banned;  // per row: generated positions; their banned states (spans)
  torch::Tensor ban_states = torch::full({N}, false, torch::kBool);  // cpu: a lookup
  for (int64_t id : {ids_.eos, ids_.pad}) {
    if (id >= 0 && support_.index[id].item<int64_t>() >= 0) ban_states[support_.index[id].item<int64_t>()] = true;
  }
  for (int64_t i = 0; i < B; ++i) {
    rng.push_back(cpu_generator(rows.seeds.at(static_cast<size_t>(i))));
    where.push_back(rows.generate[i].to(torch::kCPU).nonzero().view({-1}));
    banned.push_back(rows.span[i].to(torch::kCPU).index_select(0, where.back()).unsqueeze(1).logical_and(ban_states));
    const int64_t n_gen = where.back().size(0);
    // cpu: drawn from the row's CPU stream
    const torch::Tensor start = torch::randint(0, N, {n_gen}, rng.back(), torch::TensorOptions().dtype(torch::kInt64));
    x[i].index_put_({where.back()}, support_.ids.index_select(0, start));
  }
  if (on_step) on_step({-1, x, torch::zeros({B, W}, torch::kFloat64)});  // cpu: no prediction yet
  const std::vector<double> levels = noise_levels(o.schedule, o.steps, c_.time_steps);
  const int64_t steps = static_cast<int64_t>(levels.size()) - 1;
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  for (int64_t step = 0; step < steps; ++step) {
    const double t = levels[static_cast<size_t>(step)], s = levels[static_cast<size_t>(step) + 1];
    const torch::Tensor level = torch::full({B}, t, torch::kFloat32);  // cpu: moved with the canvas
    const torch::Tensor logits = model.forward_rows(x.to(device), level.to(device), valid)
                                     .index_select(-1, support_.ids.to(device))
                                     .to(torch::kCPU, torch::kFloat32);  // (B, W, N)
    torch::Tensor confidence;                                            // for the timeline, only when someone watches
    if (on_step) confidence = torch::zeros({B, W}, f64);                 // cpu: as the canvas
    for (int64_t i = 0; i < B; ++i) {
      const torch::Tensor& pos = where[static_cast<size_t>(i)];
      if (pos.size(0) == 0) continue;
      const torch::Tensor lg = logits[i].index_select(0, pos).masked_fill(banned[static_cast<size_t>(i)], -INFINITY);
      const torch::Tensor p = token_probs(lg, o);  // (n, N)
      const torch::Tensor z = support_.index.index_select(0, x[i].index_select(0, pos));
      const int64_t n = pos.size(0);
      // cpu: the draws are on the CPU
      const torch::Tensor alpha_s = torch::full({n}, 1.0 - s, f64), alpha_t = torch::full({n}, 1.0 - t, f64);
      const torch::Tensor post = uniform_posterior(p, z, alpha_s, alpha_t);
      const torch::Tensor drawn = torch::multinomial(post, 1, /*replacement=*/false, rng[static_cast<size_t>(i)]);
      x[i].index_put_({pos}, support_.ids.index_select(0, drawn.view({-1})));
      if (on_step) confidence[i].index_put_({pos}, p.gather(1, drawn).view({-1}));
    }
    if (on_step) on_step({step, x, confidence});
  }
  DenoiseResult result;
  result.tokens = x;
  result.rows.assign(static_cast<size_t>(B), RowStats{steps, steps, static_cast<double>(steps)});
  result.forward_calls = steps;
  return result;
}

}  // namespace

std::unique_ptr<Process> make_uniform_process(const Config& config, const SpecialIds& ids) {
  return std::make_unique<UniformProcess>(config, ids);
}

}  // namespace dlm
