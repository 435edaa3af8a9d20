// Uniform noise's arithmetic, as pure functions over a support of N states (the content tokens, EOS
// and padding): at level t a token is kept with probability alpha_t = 1 - t and otherwise replaced
// by a state drawn uniformly from the support (D3PM's uniform transitions; Duo, SEDD-Uniform). All
// take probability vectors x0 (..., N) (a one-hot clean token, or a model's prediction, which gives
// p_theta), states as int64 indices into the support, and alphas broadcastable to the positions.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace dlm {

// q(x_t | x_0) = alpha x0 + (1 - alpha) / N, (..., N).
torch::Tensor uniform_marginal(const torch::Tensor& x0, const torch::Tensor& alpha);

// q(x_s | x_t = z, x_0) (..., N) for alpha_s >= alpha_t: Bayes' rule with the transition from s to t
// (keep with probability alpha_t / alpha_s). With x0 a model's prediction this is D3PM's
// x0-parameterised reverse step p_theta(x_s | x_t).
torch::Tensor uniform_posterior(const torch::Tensor& x0, const torch::Tensor& z, const torch::Tensor& alpha_s,
                                const torch::Tensor& alpha_t);

// The continuous-time bound's integrand at level t (alpha = 1 - t) for clean states k, noisy states z
// and predictions p (..., N): the limit of KL(q(x_s | z, k) || p_theta(x_s | z)) / (t - s) as s -> t,
// so that the bound is the integral over t in (0, 1] of its expectation, summed over positions (the
// prior term is 0: at t = 1 every state is uniform).
// In closed form, with xbar = N alpha x0 + 1 - alpha (the same with p for xbar_theta) and i = z:
//   1/(N alpha) * sum_{j != i} [ (xbar_j / xbar_i) log((xbar_j xbar_theta_i) / (xbar_i xbar_theta_j))
//                                - xbar_j / xbar_i + xbar_theta_j / xbar_theta_i ],
// computed from four per-position sums so that it stays exact as alpha -> 0. float64, (...).
torch::Tensor uniform_bound_rate(const torch::Tensor& p, const torch::Tensor& z, const torch::Tensor& k,
                                 const torch::Tensor& alpha);

// One discrete step's term: KL(q(x_s | z, k) || p_theta(x_s | z)) for alpha_s > alpha_t; at
// alpha_s = 1 (the last step) this is -log p_theta(x_0 = k | z). float64, (...). With T steps at
// t_i = i / T the bound is sum_i of its expectation, which tends to the continuous one as T grows.
torch::Tensor uniform_step_kl(const torch::Tensor& p, const torch::Tensor& z, const torch::Tensor& k,
                              const torch::Tensor& alpha_s, const torch::Tensor& alpha_t);

}  // namespace dlm
