// Activation recomputation (train.recompute): a layer run without keeping its intermediate results for
// the backward pass, which runs it again from its saved input, trading one more forward pass for the
// memory of every activation inside it.
#pragma once

#include <functional>

#include <torch/torch.h>

namespace dlm {

// A layer as a function of its input x and its conditioning cond (undefined: none); the tensors it
// captures otherwise (rotary tables, masks) must not need gradients.
using Layer = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& cond)>;

// layer(x, cond), keeping only x and cond for backward. The backward pass reruns `layer` with gradients
// on, under the default generator's state and the autocast setting the first run saw (so dropout draws
// the same masks), and backpropagates through it: the layer's parameter gradients and those of x and
// cond equal the plain call's, bit for bit, as long as the layer is deterministic.
torch::Tensor recomputed(const Layer& layer, const torch::Tensor& x, const torch::Tensor& cond);

}  // namespace dlm
