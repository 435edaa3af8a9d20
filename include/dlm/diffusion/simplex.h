// SSD-LM's simplex diffusion, as pure functions: a token is an almost-one-hot logit vector (+K at its
// id, -K elsewhere), noised with Gaussian noise of scale K under a cosine alpha-bar schedule; the
// model reads softmax of the noisy logits through its embedding matrix and predicts the clean token.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace dlm {

// alpha-bar at t in [0, 1]: f(t) / f(0) with f(t) = cos^2(pi/2 (t + s) / (1 + s)), s = 1e-4
// (1 at t = 0, 0 at t = 1). The signal-to-noise ratio of the noised logits is alpha-bar / (1 - alpha-bar).
double simplex_alpha_bar(double t);

// The almost-one-hot logits (..., V) of ids (...): +k at the id, -k elsewhere.
torch::Tensor simplex_logits(const torch::Tensor& ids, int64_t vocab, double k);

// The forward process at alpha-bar values (broadcastable to (..., 1)): sqrt(abar) w + sqrt(1 - abar) k noise,
// with `noise` (..., V) standard normal draws.
torch::Tensor simplex_noised(const torch::Tensor& w, const torch::Tensor& alpha_bar, const torch::Tensor& noise,
                             double k);

}  // namespace dlm
