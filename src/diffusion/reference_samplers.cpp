// The LLaDA and Dream samplers' arithmetic: reveal counts, Dream's timesteps, the token and
// confidence rules, and the pick of the positions to reveal.
#include "dlm/diffusion/reference_samplers.h"

#include <cmath>
#include <limits>

#include "dlm/diffusion/sampler.h"
#include "dlm/error.h"

namespace dlm {

std::vector<int64_t> llada_reveal_counts(int64_t masked, int64_t steps) {
  if (steps < 1) throw Error("llada_reveal_counts: steps must be >= 1, got " + std::to_string(steps));
  std::vector<int64_t> counts(static_cast<size_t>(steps), masked / steps);
  for (int64_t i = 0; i < masked % steps; ++i) ++counts[static_cast<size_t>(i)];
  return counts;
}

std::pair<torch::Tensor, torch::Tensor> llada_choose(const torch::Tensor& logits, double temperature,
                                                     torch::Generator& generator) {
  const torch::Tensor l = logits.to(torch::kFloat64);  // (L, V)
  torch::Tensor x0;
  if (temperature > 0.0) {
    // Gumbel-max in float64: argmax of exp(l) / (-log r)^T, one uniform r per logit.
    const torch::Tensor r = torch::rand(l.sizes(), generator, l.options());
    x0 = (l.exp() / (-r.log()).pow(temperature)).argmax(-1);
  } else {
    x0 = logits.argmax(-1);
  }
  return {x0, torch::softmax(l, -1).gather(-1, x0.unsqueeze(-1)).squeeze(-1)};
}

torch::Tensor top_confidence(const torch::Tensor& confidence, int64_t k, double threshold, double factor) {
  // Descending, ties by position (stable), -inf last; only finite entries are candidates.
  const torch::Tensor order = std::get<1>(confidence.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const int64_t candidates = torch::isfinite(confidence).sum().item<int64_t>();
  if (factor > 0.0) {
    const torch::Tensor best = order.narrow(0, 0, candidates);
    return best.narrow(0, 0, factor_count(confidence.index_select(0, best), factor));
  }
  if (threshold > 0.0) {
    if (candidates == 0) return order.narrow(0, 0, 0);
    const int64_t sure = confidence.index_select(0, order).narrow(0, 0, candidates).ge(threshold).sum().item<int64_t>();
    return order.narrow(0, 0, std::max<int64_t>(1, sure));
  }
  return order.narrow(0, 0, std::clamp<int64_t>(k, 0, candidates));
}

std::vector<float> dream_timesteps(double eps, int64_t steps) {
  // torch's CPU linspace: step = (end - start) / (n - 1) in float; the first half start + step * i,
  // the second end - step * (n - 1 - i), each a fused multiply-add (one rounding), as its build computes.
  const int64_t n = steps + 1;
  const float start = 1.0f, end = static_cast<float>(eps);
  const float step = (end - start) / static_cast<float>(n - 1);
  std::vector<float> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    t[static_cast<size_t>(i)] =
        i < n / 2 ? std::fma(step, static_cast<float>(i), start) : std::fma(-step, static_cast<float>(n - 1 - i), end);
  }
  return t;
}

float dream_reveal_probability(const std::vector<float>& t, int64_t step) {
  const int64_t steps = static_cast<int64_t>(t.size()) - 1;
  if (step >= steps - 1) return 1.0f;
  const float ratio = t[static_cast<size_t>(step + 1)] / t[static_cast<size_t>(step)];
  return 1.0f - ratio;
}

int64_t dream_reveal_count(int64_t masked, const std::vector<float>& t, int64_t step) {
  const int64_t steps = static_cast<int64_t>(t.size()) - 1;
  if (step >= steps - 1) return masked;
  const float share = dream_reveal_probability(t, step);
  const float product = static_cast<float>(masked) * share;  // float32, as the reference's tensors
  return static_cast<int64_t>(product);
}

torch::Tensor dream_probs(const torch::Tensor& logits, double temperature, double top_p, int64_t top_k) {
  torch::Tensor l = temperature > 0.0 ? logits / temperature : logits;
  const double lowest = l.scalar_type() == torch::kFloat64 ? std::numeric_limits<double>::lowest()
                                                           : static_cast<double>(std::numeric_limits<float>::lowest());
  if (top_p < 1.0 && l.size(0) > 0) {
    // Keep the likeliest tokens until their cumulative probability passes top_p, that one included.
    const auto [sorted, index] = l.sort(-1, /*descending=*/true);
    const torch::Tensor cumulative = torch::softmax(sorted, -1).cumsum(-1);
    torch::Tensor remove = cumulative.gt(top_p);
    remove = torch::cat({torch::zeros_like(remove.narrow(-1, 0, 1)), remove.narrow(-1, 0, remove.size(-1) - 1)}, -1);
    l = l.masked_fill(torch::zeros_like(remove).scatter(-1, index, remove), lowest);
  }
  if (top_k > 0 && l.size(0) > 0) {
    const int64_t k = std::min<int64_t>(top_k, l.size(-1));
    const torch::Tensor kth = std::get<0>(l.topk(k, -1)).narrow(-1, k - 1, 1);
    l = l.masked_fill(l.lt(kth), lowest);
  }
  return torch::softmax(l, -1);
}

torch::Tensor dream_confidence(const torch::Tensor& probs, const torch::Tensor& x0, Strategy strategy) {
  switch (strategy) {
    case Strategy::kConfidence:
      return probs.gather(-1, x0.unsqueeze(-1)).squeeze(-1);
    case Strategy::kMargin: {
      const torch::Tensor top = std::get<0>(probs.topk(std::min<int64_t>(2, probs.size(-1)), -1));
      return top.size(-1) < 2 ? top.select(-1, 0) : top.select(-1, 0) - top.select(-1, 1);
    }
    case Strategy::kEntropy:
      return (probs * (probs + 1e-10).log()).sum(-1);
    default:
      break;
  }
  throw Error("dream has no confidence rule '" + enum_name(strategy) + "'");
}

torch::Tensor dream_sure_positions(const torch::Tensor& confidence, const torch::Tensor& probability, double threshold,
                                   double factor) {
  const torch::Tensor order = std::get<1>(confidence.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const torch::Tensor best = order.narrow(0, 0, torch::isfinite(confidence).sum().item<int64_t>());
  if (best.size(0) == 0) return best;
  const torch::Tensor p = probability.index_select(0, best);
  if (factor > 0.0) return best.narrow(0, 0, factor_count(p, factor));
  torch::Tensor sure = p.ge(threshold);
  sure[0] = true;  // the first in the sampler's order, sure or not
  return best.masked_select(sure);
}

}  // namespace dlm
