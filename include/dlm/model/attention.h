// Multi-head self-attention: the kernel (fused or explicit), the masks (causal, padding, a local window),
// rotary positions, and the per-layer key/value caches of incremental and block decoding.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "dlm/config.h"
#include "dlm/model/layers.h"

namespace dlm {

// Keys and values of the positions already seen, per layer, for incremental causal decoding.
struct LayerCache {
  torch::Tensor k, v;  ///< (B, Hkv, T, Dh): the key/value heads; undefined while empty
};
struct KVCache {
  std::vector<LayerCache> layers;
  int64_t length = 0;  ///< positions held
};
// The bytes a cache's keys and values occupy.
int64_t cache_bytes(const KVCache& cache);

// How a pass uses a layer's cache: none; append its keys and values (causal decoding); store them
// for the whole canvas (a bidirectional block cache's refresh); or overwrite the cached ones at
// `positions` and attend to all (a pass over one block of a cached canvas).
enum class CacheMode { kNone, kAppend, kStore, kUpdate };
struct LayerPass {
  LayerCache* cache = nullptr;
  CacheMode mode = CacheMode::kNone;
  torch::Tensor positions;  ///< (B, L) int64, kUpdate only: where the pass's rows sit in the canvas
  torch::Tensor key_valid;  ///< (B, T) bool keys that may be attended; undefined: all
  torch::Tensor window;     ///< (B or 1, 1, L, T) bool: the keys a local layer's queries may see; undefined: all
};

// How attention is computed. kFused is LibTorch 2.x's scaled_dot_product_attention (flash and
// memory-efficient kernels); kExplicit is matmul, mask, softmax, matmul, which every version has.
enum class AttentionKernel { kFused, kExplicit };
// The kernel of a model.attention setting: auto is fused where LibTorch has it. Throws dlm::Error for
// fused on 1.x.
AttentionKernel attention_kernel(AttentionKind attention);

// Attention of q (B, H, L, Dh) over k, v (B, H, T, Dh), T >= L. With `causal`, query i sits at
// position T - L + i and sees keys 0 .. T - L + i (a KV cache holds the first T - L positions).
// `dropout` applies to the attention weights. key_valid (B, T) bool, if defined, hides the keys that
// are false (not with `causal`); `allowed`, broadcastable to (B, H, L, T) bool, hides more (a local window).
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, bool causal,
                     double dropout, AttentionKernel kernel, const torch::Tensor& key_valid = {},
                     const torch::Tensor& allowed = {});

class AttentionImpl : public torch::nn::Module {
 public:
  // Reads d_model, n_head, n_kv_head, dropout, pos (rotary), attention (the kernel), qk_norm, bias and out_bias.
  AttentionImpl(const ModelConfig& config, bool causal);
  // x: (B, L, D); cos/sin: the rotary tables of x's positions, (L, d_head) or (B, 1, L, d_head), or
  // undefined. `pass` says how the layer's cache is used and which keys may be attended.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const LayerPass& pass = {});

 private:
  int64_t n_head_, n_kv_head_;
  double dropout_;
  bool rotary_;
  bool causal_;
  bool qk_norm_;
  AttentionKernel kernel_;
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr};
  TransposedWeight qkv_t_, proj_t_;
};
TORCH_MODULE(Attention);

}  // namespace dlm
