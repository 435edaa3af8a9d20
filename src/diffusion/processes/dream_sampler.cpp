// --sampler dream: Dream's diffusion_generate(), a masking sampler of the absorbing process. S steps
// over the timesteps t = linspace(1, eps, S + 1); at step i the masked positions' tokens are chosen
// from the model's (already shifted) logits, and int(n (1 - t[i+1] / t[i])) of them revealed by
// confidence (maskgit_plus, topk_margin, entropy), or each with that probability (origin).
#include <limits>

#include "dlm/diffusion/reference_samplers.h"
#include "reference_loop.h"

namespace dlm {
namespace {

// Tokens from probs (n, V): the argmax, or for T > 0 a draw.
torch::Tensor dream_tokens(const torch::Tensor& probs, double temperature, torch::Generator& gen) {
  if (probs.size(0) == 0 || temperature <= 0.0) return probs.argmax(-1);
  return torch::multinomial(probs, 1, /*replacement=*/false, gen).squeeze(-1);
}

// origin: each masked position revealed with the step's probability, by one uniform draw each.
void origin_step(ReferenceGroup& group, int64_t g, const torch::Tensor& masked, const torch::Tensor& logits, float p,
                 const SampleConfig& o) {
  const int64_t n = masked.size(0);
  const torch::Tensor draws = torch::rand({n}, group.generator(g), torch::kFloat32);  // cpu: the row's stream
  const torch::Tensor chosen = masked.masked_select(draws.lt(p));
  const torch::Tensor probs = dream_probs(logits.index_select(0, chosen), o.temperature, o.top_p, o.top_k);
  torch::Tensor x0 = torch::full({group.width()}, int64_t{0}, torch::kInt64);  // cpu: as the canvas
  x0.index_put_({chosen}, dream_tokens(probs, o.temperature, group.generator(g)));
  group.reveal(g, chosen, x0);
}

// maskgit_plus, topk_margin, entropy: the k most confident masked positions, or k drawn by
// softmax(confidence / alg_temp) without replacement.
void confidence_step(ReferenceGroup& group, int64_t g, const torch::Tensor& masked, const torch::Tensor& logits,
                     int64_t k, const SampleConfig& o) {
  const torch::Tensor probs = dream_probs(logits.index_select(0, masked), o.temperature, o.top_p, o.top_k);
  const torch::Tensor tokens = dream_tokens(probs, o.temperature, group.generator(g));
  if (k <= 0) return;
  const torch::Tensor confidence = dream_confidence(probs, tokens, o.strategy);
  // cpu: (W) -inf where not masked, beside the CPU canvas
  torch::Tensor full = torch::full({group.width()}, -std::numeric_limits<float>::infinity(), confidence.options());
  full.index_put_({masked}, confidence);
  torch::Tensor x0 = torch::full({group.width()}, int64_t{0}, torch::kInt64);  // cpu: as the canvas
  x0.index_put_({masked}, tokens);
  const torch::Tensor picks = o.alg_temp > 0.0 ? torch::multinomial(torch::softmax(full / o.alg_temp, 0), k,
                                                                    /*replacement=*/false, group.generator(g))
                                               : top_confidence(full.to(torch::kFloat64), k);
  group.reveal(g, picks, x0);
}

void run_dream(ReferenceGroup& group, const SampleConfig& o, int64_t mask_id) {
  const std::vector<float> t = dream_timesteps(o.eps, o.steps);
  std::vector<int64_t> all;
  for (int64_t g = 0; g < group.size(); ++g) all.push_back(g);
  for (int64_t i = 0; i < o.steps; ++i) {
    const torch::Tensor logits = group.pass(group.x(), all);  // (G, W, V), shifted by the model
    for (int64_t g = 0; g < group.size(); ++g) {
      const torch::Tensor masked = group.x()[g].eq(mask_id).nonzero().squeeze(-1);  // positions, ascending
      if (o.strategy == Strategy::kOrigin) {
        origin_step(group, g, masked, logits[g], dream_reveal_probability(t, i), o);
      } else {
        confidence_step(group, g, masked, logits[g], dream_reveal_count(masked.size(0), t, i), o);
      }
    }
    group.end_step(i, all);
  }
}

}  // namespace

DenoiseResult dream_sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options, int64_t mask_id,
                           const StepCallback& on_step) {
  return run_groups(model, rows, options, mask_id, on_step,
                    [&](ReferenceGroup& group) { run_dream(group, options, mask_id); });
}

}  // namespace dlm
