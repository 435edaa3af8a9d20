// The arithmetic of the LLaDA and Dream reference samplers (--sampler llada | dream), as pure functions
// of counts, timesteps and logits, so tests check each rule alone. The loops that use them live with
// the masking process (src/diffusion/processes/llada_sampler.cpp, dream_sampler.cpp). Unlike dlm's
// own samplers they cover the whole row's vocabulary, the mask id included, and pad nothing at EOS.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "dlm/config.h"

namespace dlm {

// LLaDA: how many of a block's `masked` positions each of its `steps` steps reveals: floor(n/s) + 1 in
// the first n mod s steps, floor(n/s) after.
std::vector<int64_t> llada_reveal_counts(int64_t masked, int64_t steps);

// LLaDA: the tokens and their confidence at positions with logits (L, V). x0 is the argmax of the
// logits, or for temperature > 0 of exp(l) / (-log r)^T with r uniform per logit in float64 from
// `generator`; confidence is softmax(l) at x0 in float64. Rows are independent, so a loop may call it
// on chunks of positions. (--remasking random's confidence is one float32 draw per canvas position,
// torch.rand's order, drawn by the loop after the tokens.) Returns {x0 (L) int64, confidence (L) float64}.
std::pair<torch::Tensor, torch::Tensor> llada_choose(const torch::Tensor& logits, double temperature,
                                                     torch::Generator& generator);

// The positions to reveal: the `k` highest of `confidence` (n) (-inf where not a candidate), ties in
// torch.topk's order; with `threshold` > 0 (Fast-dLLM) instead every candidate at or above it, and
// at least the best one; with `factor` > 0 the best factor_count (sampler.h) of them. Returns
// positions (int64), best first.
torch::Tensor top_confidence(const torch::Tensor& confidence, int64_t k, double threshold = 0.0, double factor = 0.0);

// Dream: the timesteps torch.linspace(1, eps, steps + 1) in float32, filled as torch's CPU kernel does
// (the first half from 1, the second from eps, each as one fused multiply-add).
std::vector<float> dream_timesteps(double eps, int64_t steps);

// Dream: the reveals of step i for `masked` positions: int(n * (1 - t[i+1] / t[i])) in float32, or all
// of them at the last step.
int64_t dream_reveal_count(int64_t masked, const std::vector<float>& t, int64_t step);

// Dream's origin rule: the probability 1 - t[i+1] / t[i] (float32) that a masked position is revealed
// at step i; 1 at the last step.
float dream_reveal_probability(const std::vector<float>& t, int64_t step);

// Dream: the token distributions of logits (n, V) in their dtype: softmax of l (/ T when T > 0) after
// top-p (p < 1) and top-k (k > 0) filtering, removed logits set to the dtype's lowest value.
torch::Tensor dream_probs(const torch::Tensor& logits, double temperature, double top_p, int64_t top_k);

// Dream: the confidence of each row of probs (n, V) whose token is x0 (n): x0's probability
// (kConfidence, maskgit_plus), top-1 minus top-2 (kMargin, topk_margin) or sum p log(p + 1e-10)
// (kEntropy).
torch::Tensor dream_confidence(const torch::Tensor& probs, const torch::Tensor& x0, Strategy strategy);

// Dream with --threshold or --factor: the positions (int64) to reveal, from each candidate's confidence
// under --alg and its chosen token's probability (both (W); confidence -inf where not a candidate).
// threshold: the first in confidence order and every candidate whose probability reaches it; factor:
// the first factor_count (sampler.h) in confidence order, counted on their probabilities.
torch::Tensor dream_sure_positions(const torch::Tensor& confidence, const torch::Tensor& probability, double threshold,
                                   double factor);

}  // namespace dlm
