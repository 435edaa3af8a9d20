// Token choice and the iterative denoising loop.
#include "dlm/sampler.h"

#include <cmath>
#include <limits>

#include "dlm/error.h"

namespace dlm {

Strategy parse_strategy(const std::string& name) {
  if (name == "random") return Strategy::kRandom;
  if (name == "confidence") return Strategy::kConfidence;
  if (name == "l2r") return Strategy::kL2R;
  throw Error("unknown strategy '" + name + "' (valid: random, confidence, l2r)");
}

Sampling parse_sampling(const std::string& name) {
  if (name == "greedy") return Sampling::kGreedy;
  if (name == "topk") return Sampling::kTopK;
  if (name == "nucleus") return Sampling::kNucleus;
  throw Error("unknown sampling '" + name + "' (valid: greedy, topk, nucleus)");
}

SamplerOptions sampler_options(const SampleConfig& c) {
  SamplerOptions o;
  if (c.steps < 1) throw Error("steps must be >= 1, got " + std::to_string(c.steps));
  if (!(c.temperature > 0.0)) throw Error("temperature must be > 0, got " + std::to_string(c.temperature));
  if (c.top_k < 1) throw Error("top-k must be >= 1, got " + std::to_string(c.top_k));
  if (!(c.top_p > 0.0 && c.top_p <= 1.0)) throw Error("top-p must be in (0, 1], got " + std::to_string(c.top_p));
  o.steps = c.steps;
  o.schedule = parse_schedule(c.schedule);
  o.strategy = parse_strategy(c.strategy);
  o.sampling = parse_sampling(c.sampling);
  o.temperature = c.temperature;
  o.top_k = c.top_k;
  o.top_p = c.top_p;
  return o;
}

torch::Tensor choose_tokens(const torch::Tensor& logits, const SamplerOptions& o, torch::Generator& gen,
                            torch::Tensor* confidence) {
  // B = batch, L = length, V = vocabulary. Everything in float64: float32 categorical draws
  // measurably lower diversity.
  const torch::Tensor l64 = logits.to(torch::kFloat64);
  const int64_t V = l64.size(-1);
  torch::Tensor ids;
  if (o.sampling == Sampling::kGreedy) {
    ids = l64.argmax(-1);
  } else {
    const double neg_inf = -std::numeric_limits<double>::infinity();
    torch::Tensor l = l64 / o.temperature;
    if (o.sampling == Sampling::kTopK) {
      const int64_t k = std::min(o.top_k, V);
      const torch::Tensor kth = std::get<0>(l.topk(k, -1)).narrow(-1, k - 1, 1);  // (B, L, 1)
      l = l.masked_fill(l < kth, neg_inf);
    } else {
      // Nucleus: keep the smallest set of most likely tokens whose mass reaches top_p (at least one).
      const auto sorted = l.sort(-1, /*descending=*/true);
      const torch::Tensor sorted_logits = std::get<0>(sorted), order = std::get<1>(sorted);
      const torch::Tensor p = torch::softmax(sorted_logits, -1);
      const torch::Tensor mass_before = p.cumsum(-1) - p;
      const torch::Tensor drop_sorted = mass_before >= o.top_p;
      const torch::Tensor drop = torch::zeros_like(drop_sorted).scatter(-1, order, drop_sorted);
      l = l.masked_fill(drop, neg_inf);
    }
    const torch::Tensor probs = torch::softmax(l, -1).reshape({-1, V});
    ids = torch::multinomial(probs, 1, /*replacement=*/false, gen).view(l64.sizes().slice(0, l64.dim() - 1));
  }
  if (confidence) *confidence = torch::softmax(l64, -1).gather(-1, ids.unsqueeze(-1)).squeeze(-1);
  return ids;
}

GenerateResult generate(DenoiserImpl& model, const torch::Tensor& canvas, const torch::Tensor& fixed,
                        const SamplerOptions& o, int64_t mask_id, torch::Generator& gen, const StepCallback& on_step) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  // B = batch, L = length
  const int64_t B = canvas.size(0), L = canvas.size(1);
  const torch::Device device = canvas.device();
  const double neg_inf = -std::numeric_limits<double>::infinity();
  torch::Tensor x = canvas.clone();
  const torch::Tensor generated = fixed.logical_not();                       // (B, L)
  const torch::Tensor n_gen = generated.sum(1).to(torch::kFloat64);          // (B)
  const torch::Tensor n_time = n_gen + static_cast<double>(o.counted_fixed);  // denominator of t
  const torch::Tensor position = torch::arange(L, torch::TensorOptions().dtype(torch::kFloat64).device(device))
                                     .unsqueeze(0).expand({B, L});
  const std::vector<double> schedule = mask_schedule(o.schedule, o.steps);

  GenerateResult result;
  for (int64_t step = 0; step < o.steps; ++step) {
    const torch::Tensor masked = x.eq(mask_id).logical_and(generated);     // (B, L)
    const torch::Tensor n_masked = masked.sum(1).to(torch::kFloat64);      // (B)
    if (n_masked.max().item<double>() == 0.0) break;
    // The time input means what it meant in training: the fraction of generated positions masked.
    const torch::Tensor t = (n_masked / torch::clamp_min(n_time, 1.0)).to(torch::kFloat32);
    torch::Tensor logits = model.forward(x, t).to(torch::kFloat64);        // (B, L, V)
    ++result.forward_passes;
    logits.select(-1, mask_id).fill_(neg_inf);  // the model never predicts [MASK]
    // Draws happen on the generator's device (a CPU generator cannot drive CUDA kernels).
    if (gen.device() != logits.device()) logits = logits.to(gen.device());
    torch::Tensor conf;
    const torch::Tensor ids = choose_tokens(logits, o, gen, &conf).to(torch::kInt64).to(device);
    conf = conf.to(device);
    const torch::Tensor filled = torch::where(masked, ids, x);

    // How many generated positions stay masked after this step.
    const double r_next = step + 1 < o.steps ? schedule[step + 1] : 0.0;
    torch::Tensor keep_masked = torch::floor(r_next * n_gen);              // (B)
    torch::Tensor score;  // higher = re-masked first; -inf = never
    if (o.strategy == Strategy::kRandom) {
      // Seeds 002/003: predict every masked position, then re-mask the scheduled share at random.
      score = torch::rand({B, L}, gen, torch::TensorOptions().dtype(torch::kFloat64)).to(device);
      score = score.masked_fill(generated.logical_not(), neg_inf);
    } else {
      // Reveal at least one position per step; keep the rest of the just-predicted ones masked.
      keep_masked = torch::minimum(keep_masked, torch::clamp_min(n_masked - 1.0, 0.0));
      score = o.strategy == Strategy::kConfidence ? -conf : position;  // low confidence / rightmost first
      score = score.masked_fill(masked.logical_not(), neg_inf);
    }
    const torch::Tensor rank = score.argsort(1, /*descending=*/true).argsort(1, false).to(torch::kFloat64);
    const torch::Tensor remask = rank.lt(keep_masked.unsqueeze(1)).logical_and(score.isfinite());
    x = filled.masked_fill(remask, mask_id);
    ++result.steps;
    if (on_step) on_step(step, x);
  }
  if (was_training) model.train();
  result.tokens = x;
  return result;
}

GenerateResult generate_ar(TransformerImpl& model, const torch::Tensor& start, int64_t n_new,
                           const SamplerOptions& o, int64_t eos_id, torch::Generator& gen, bool use_cache,
                           const StepCallback& on_step) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  if (!model.causal()) throw Error("autoregressive sampling needs a model trained with objective \"ar\"");
  if (start.size(1) < 1) throw Error("autoregressive sampling needs at least the BOS token to start from");
  if (start.size(1) + n_new - 1 > model.max_len()) {
    throw Error("prompt (" + std::to_string(start.size(1) - 1) + " tokens) + " + std::to_string(n_new) +
                " new tokens exceed the model's context of " + std::to_string(model.max_len()) + " tokens");
  }
  const int64_t B = start.size(0);
  const torch::Device device = start.device();
  KVCache cache;
  const int64_t n_start = start.size(1);
  torch::Tensor seq = start.clone();  // (B, T) everything fed so far; generated tokens from n_start on
  torch::Tensor done = torch::zeros({B}, torch::TensorOptions().dtype(torch::kBool).device(device));
  GenerateResult result;
  for (int64_t i = 0; i < n_new; ++i) {
    torch::Tensor logits;
    if (use_cache) {
      // The first pass fills the cache with the whole start; later ones feed the newest token.
      const torch::Tensor feed = i == 0 ? seq : seq.narrow(1, seq.size(1) - 1, 1);
      logits = model.forward_cached(feed, cache);
    } else {
      logits = model.forward(seq, torch::zeros({B}, torch::TensorOptions().device(device)));
    }
    ++result.forward_passes;
    torch::Tensor last = logits.select(1, logits.size(1) - 1).to(torch::kFloat64).unsqueeze(1);  // (B, 1, V)
    if (gen.device() != last.device()) last = last.to(gen.device());
    torch::Tensor next = choose_tokens(last, o, gen).to(torch::kInt64).to(device).view({B, 1});
    // Rows that already ended keep emitting EOS, so the batch stays rectangular.
    if (eos_id >= 0) next = torch::where(done.unsqueeze(1), torch::full_like(next, eos_id), next);
    seq = torch::cat({seq, next}, 1);
    ++result.steps;
    if (on_step) on_step(i, seq.narrow(1, n_start, i + 1));
    if (eos_id >= 0) {
      done = done.logical_or(next.view({B}).eq(eos_id));
      if (done.all().item<bool>()) break;
    }
  }
  if (was_training) model.train();
  result.tokens = seq.narrow(1, n_start, seq.size(1) - n_start);
  return result;
}

Canvas prefix_canvas(const std::vector<int64_t>& prefix_ids, int64_t length, int64_t num_samples, int64_t mask_id,
                     const torch::Device& device) {
  const int64_t P = static_cast<int64_t>(prefix_ids.size());
  Canvas c;  // cpu: built here, moved to `device` below
  c.tokens = torch::full({num_samples, P + length}, mask_id, torch::kInt64);
  c.fixed = torch::zeros({num_samples, P + length}, torch::kBool);  // cpu: moved below
  if (P > 0) {
    // cpu: copied into the CPU canvas
    c.tokens.narrow(1, 0, P).copy_(torch::tensor(prefix_ids, torch::kInt64).expand({num_samples, P}));
    c.fixed.narrow(1, 0, P).fill_(true);
  }
  c.tokens = c.tokens.to(device);
  c.fixed = c.fixed.to(device);
  return c;
}

int64_t counted_prefix_tokens(const Config& config, int64_t prefix_tokens) {
  const bool conditioning = config.data.kind == DataKind::kPairs || config.diffusion.prefix_prob > 0.0;
  return conditioning ? 0 : prefix_tokens - std::min(prefix_tokens, config.diffusion.prefix_len);
}

std::vector<int64_t> cut_at_eos(const std::vector<int64_t>& ids, int64_t eos_id, int64_t pad_id) {
  std::vector<int64_t> out;
  for (int64_t id : ids) {
    if (id == eos_id) break;
    if (id != pad_id) out.push_back(id);
  }
  return out;
}

}  // namespace dlm
