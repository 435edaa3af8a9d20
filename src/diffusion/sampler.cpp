// Token choice, reveal orders and rules, and autoregressive decoding.
#include "dlm/diffusion/sampler.h"

#include <algorithm>
#include <cmath>

#include "dlm/diffusion/noise_schedule.h"
#include "dlm/error.h"

namespace dlm {

torch::Tensor choose_tokens(const torch::Tensor& logits, const SampleConfig& o, torch::Generator& gen,
                            torch::Tensor* confidence) {
  // N = positions, V = vocabulary. The draw itself is in float64 (float32 categorical draws over a
  // large vocabulary measurably lower diversity), but only over the tokens it can pick: top-k draws
  // among k values, so the full (N, V) logits are read once for the top k and once for the
  // normaliser, in their own precision.
  const int64_t V = logits.size(-1);
  const torch::Tensor flat = logits.reshape({-1, V}).to(torch::kFloat32);
  torch::Tensor ids;  // (N, 1)
  if (o.sampling == Sampling::kGreedy) {
    ids = flat.argmax(-1, /*keepdim=*/true);
  } else if (o.sampling == Sampling::kTopK) {
    const auto top = flat.topk(std::min(o.top_k, V), -1);
    const torch::Tensor probs = torch::softmax(std::get<0>(top).to(torch::kFloat64) / o.temperature, -1);
    ids = std::get<1>(top).gather(1, torch::multinomial(probs, 1, /*replacement=*/false, gen));
  } else {
    // Nucleus: keep the smallest set of most likely tokens whose mass reaches top_p (at least one).
    const auto sorted = (flat.to(torch::kFloat64) / o.temperature).sort(-1, /*descending=*/true);
    const torch::Tensor p = torch::softmax(std::get<0>(sorted), -1);
    const torch::Tensor kept = p.masked_fill(p.cumsum(-1) - p >= o.top_p, 0.0);
    ids = std::get<1>(sorted).gather(1, torch::multinomial(kept, 1, /*replacement=*/false, gen));
  }
  if (confidence) {
    const torch::Tensor logp = flat.gather(1, ids) - flat.logsumexp(-1, /*keepdim=*/true);
    *confidence = logp.exp().to(torch::kFloat64).view(logits.sizes().slice(0, logits.dim() - 1));
  }
  return ids.view(logits.sizes().slice(0, logits.dim() - 1));
}

torch::Tensor token_probs(const torch::Tensor& logits, const SampleConfig& o) {
  const torch::Tensor lg = logits.to(torch::kFloat64);
  if (o.sampling == Sampling::kGreedy) return torch::zeros_like(lg).scatter_(-1, lg.argmax(-1, /*keepdim=*/true), 1.0);
  const torch::Tensor p = torch::softmax(lg / o.temperature, -1);
  torch::Tensor kept;
  if (o.sampling == Sampling::kTopK) {
    const int64_t k = std::min(o.top_k, lg.size(-1));
    const torch::Tensor top = std::get<1>(lg.topk(k, -1));
    kept = torch::zeros_like(p).scatter_(-1, top, p.gather(-1, top));
  } else {
    const auto sorted = p.sort(-1, /*descending=*/true);
    const torch::Tensor ps = std::get<0>(sorted);
    kept = torch::zeros_like(p).scatter_(-1, std::get<1>(sorted), ps.masked_fill(ps.cumsum(-1) - ps >= o.top_p, 0.0));
  }
  return kept / kept.sum(-1, /*keepdim=*/true);
}

torch::Tensor entropies(const torch::Tensor& probs) {
  // 0 * log 0 counts as 0: banned tokens have probability exactly 0.
  return -(probs * torch::log(probs.clamp_min(1e-300))).sum(-1);
}

torch::Tensor order_scores(Strategy strategy, const Candidates& c, torch::Generator& gen) {
  const int64_t n = c.confidence.size(0);
  switch (strategy) {
    case Strategy::kConfidence:
      return c.confidence;
    case Strategy::kMargin: {
      if (c.probs.size(-1) < 2) return c.confidence;
      const torch::Tensor top = std::get<0>(c.probs.topk(2, -1));
      return top.select(-1, 0) - top.select(-1, 1);
    }
    case Strategy::kEntropy:
      return -entropies(c.probs);
    case Strategy::kRandom:
      return torch::rand({n}, gen, torch::TensorOptions().dtype(torch::kFloat64));
    case Strategy::kL2R:
      return -c.positions.to(torch::kFloat64);
    case Strategy::kRemask:
    case Strategy::kOrigin:  // refused by check_sample outside --sampler dream
      break;
  }
  throw Error("the " + enum_name(strategy) + " strategy has no reveal order");
}

torch::Tensor pick_reveals(const Candidates& c, const torch::Tensor& scores, int64_t scheduled, const SampleConfig& o,
                           torch::Generator& gen) {
  const int64_t n = scores.size(0);
  const torch::Tensor order = scores.argsort(0, /*descending=*/true);
  if (n == 0) return order;
  if (o.threshold > 0.0) {
    const torch::Tensor sure = c.confidence.index_select(0, order).ge(o.threshold);
    return sure.any().item<bool>() ? order.masked_select(sure) : order.narrow(0, 0, 1);
  }
  if (o.factor > 0.0) return order.narrow(0, 0, factor_count(c.confidence.index_select(0, order), o.factor));
  if (o.entropy_bound > 0.0) {
    // The excess (sum minus largest term) only grows along the order, so the allowed set is a prefix.
    const torch::Tensor h = entropies(c.probs).index_select(0, order);
    const torch::Tensor excess = h.cumsum(0) - std::get<0>(h.cummax(0));
    const int64_t count = std::max<int64_t>(1, excess.le(o.entropy_bound).sum().item<int64_t>());
    return order.narrow(0, 0, count);
  }
  const int64_t k = std::clamp<int64_t>(scheduled, 0, n);
  if (o.order_temperature > 0.0 && k > 0) {
    const torch::Tensor weights = torch::softmax(scores / o.order_temperature, 0);
    return torch::multinomial(weights, k, /*replacement=*/false, gen);
  }
  return order.narrow(0, 0, k);
}

int64_t factor_count(const torch::Tensor& ordered_confidence, double factor) {
  const int64_t n = ordered_confidence.size(0);
  if (n == 0) return 0;
  const torch::Tensor rank = torch::arange(1, n + 1, ordered_confidence.options().dtype(torch::kFloat64));
  const torch::Tensor sure = ordered_confidence.to(torch::kFloat64).ge(1.0 - factor / (rank + 1.0));
  // The longest run of sure ones from the first: cumprod stays 1 until the first that is not.
  return std::max<int64_t>(1, sure.to(torch::kInt64).cumprod(0).sum().item<int64_t>());
}

torch::Tensor guided_logits(const torch::Tensor& c, const torch::Tensor& u, double scale) {
  return u + (scale + 1.0) * (c - u);
}

int64_t scheduled_reveals(Schedule schedule, Strategy strategy, int64_t step, int64_t steps, int64_t n_pending,
                          int64_t n_region, int64_t time_steps) {
  if (n_pending <= 0) return 0;
  const double r_next =
      step + 1 < steps ? grid_fraction(schedule, static_cast<double>(step + 1) / static_cast<double>(steps), time_steps)
                       : 0.0;
  const int64_t keep = std::min(n_pending, static_cast<int64_t>(std::floor(r_next * static_cast<double>(n_region))));
  const int64_t k = n_pending - keep;
  return strategy == Strategy::kRandom ? k : std::max<int64_t>(k, 1);
}

ArResult generate_ar(TransformerImpl& model, const torch::Tensor& start, int64_t n_new, const SampleConfig& o,
                     int64_t eos_id, std::vector<torch::Generator>& gens, bool use_cache, const StepCallback& on_step) {
  const InferenceScope scope(model);
  if (!model.causal()) throw Error("autoregressive sampling needs a model trained with objective \"ar\"");
  if (start.size(1) < 1) throw Error("autoregressive sampling needs at least the BOS token to start from");
  if (start.size(1) + n_new - 1 > model.max_len()) {
    throw Error("prompt (" + std::to_string(start.size(1) - 1) + " tokens) + " + std::to_string(n_new) +
                " new tokens exceed the model's context of " + std::to_string(model.max_len()) + " tokens");
  }
  const int64_t B = start.size(0);
  TORCH_CHECK(static_cast<int64_t>(gens.size()) == B, "generate_ar: one generator per row");
  const torch::Device device = start.device();
  KVCache cache;
  const int64_t n_start = start.size(1);
  torch::Tensor seq = start.clone();  // (B, T) everything fed so far; generated tokens from n_start on
  std::vector<bool> done(static_cast<size_t>(B), false);
  ArResult result;
  for (int64_t i = 0; i < n_new; ++i) {
    torch::Tensor logits;
    if (use_cache) {
      // The first pass fills the cache with the whole start; later ones feed the newest token.
      const torch::Tensor feed = i == 0 ? seq : seq.narrow(1, seq.size(1) - 1, 1);
      logits = model.forward_cached(feed, cache);
    } else {
      logits = model.forward(seq, torch::zeros({B}, torch::TensorOptions().device(device)));
    }
    ++result.passes;
    // cpu: token draws happen on the CPU generators, one stream per row.
    const torch::Tensor last = logits.select(1, logits.size(1) - 1).to(torch::kCPU, torch::kFloat32);  // (B, V)
    std::vector<int64_t> next(static_cast<size_t>(B));
    for (int64_t r = 0; r < B; ++r) {
      // Rows that already ended keep emitting EOS, so the batch stays rectangular.
      const int64_t id = choose_tokens(last[r], o, gens[static_cast<size_t>(r)]).item<int64_t>();
      next[static_cast<size_t>(r)] = done[static_cast<size_t>(r)] ? eos_id : id;
      if (eos_id >= 0 && id == eos_id) done[static_cast<size_t>(r)] = true;
    }
    seq = torch::cat({seq, torch::tensor(next, torch::kInt64).view({B, 1}).to(device)}, 1);
    if (on_step) on_step({i, seq, {}});
    if (eos_id >= 0 && std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
  }
  result.tokens = seq.narrow(1, n_start, seq.size(1) - n_start);
  return result;
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
