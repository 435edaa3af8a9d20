// Attention: the kernels (fused or explicit), masks, rotary positions and the layer caches.
#include "dlm/model/attention.h"

#include <cmath>
#include <limits>

#include <torch/version.h>

#include "dlm/error.h"
#include "dlm/model/fused.h"

namespace dlm {

int64_t cache_bytes(const KVCache& cache) {
  int64_t bytes = 0;
  for (const auto& l : cache.layers) {
    for (const auto* t : {&l.k, &l.v}) bytes += t->defined() ? t->numel() * static_cast<int64_t>(t->element_size()) : 0;
  }
  return bytes;
}

AttentionKernel attention_kernel(AttentionKind attention) {
  if (attention == AttentionKind::kExplicit) return AttentionKernel::kExplicit;
#if TORCH_VERSION_MAJOR >= 2
  return AttentionKernel::kFused;
#else
  if (attention == AttentionKind::kFused) {
    throw Error("model.attention 'fused' needs LibTorch 2.x (this build has " TORCH_VERSION "); use auto or explicit");
  }
  return AttentionKernel::kExplicit;
#endif
}

torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, bool causal,
                     double dropout, AttentionKernel kernel, const torch::Tensor& key_valid,
                     const torch::Tensor& allowed) {
  // L = queries, T = keys; one new query sees every key, so it needs no mask.
  const int64_t L = q.size(2), T = k.size(2);
  const bool need_causal = causal && L > 1;
  TORCH_CHECK(!(causal && key_valid.defined()), "attend: key_valid is for bidirectional attention");
  // Broadcastable to (B, H, L, T): true where a key may be attended.
  torch::Tensor visible = key_valid.defined() ? key_valid.view({key_valid.size(0), 1, 1, T}) : torch::Tensor();
  if (allowed.defined()) visible = visible.defined() ? visible.logical_and(allowed) : allowed;
#if TORCH_VERSION_MAJOR >= 2
  if (kernel == AttentionKernel::kFused) {
    if (!visible.defined() && (!need_causal || T == L))
      return at::scaled_dot_product_attention(q, k, v, {}, dropout, need_causal);
    // SDPA's is_causal aligns the diagonal to the top-left: a chunk after a cache, or a causal mask
    // beside another one, needs it written out.
    if (need_causal) {
      const torch::Tensor tri = torch::ones({L, T}, q.options().dtype(torch::kBool)).tril(T - L);
      visible = visible.defined() ? visible.logical_and(tri) : tri;
    }
    return at::scaled_dot_product_attention(q, k, v, visible, dropout, false);
  }
#else
  TORCH_CHECK(kernel == AttentionKernel::kExplicit, "fused attention needs LibTorch 2.x");
#endif
  torch::Tensor att =
      torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));  // (B, H, L, T)
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (need_causal) att = att.masked_fill(torch::ones({L, T}, q.options().dtype(torch::kBool)).triu(T - L + 1), neg_inf);
  if (visible.defined()) att = att.masked_fill(visible.logical_not(), neg_inf);
  // In fp32 whatever the model's type, as transformers' eager attention does.
  att = q.scalar_type() == torch::kFloat32 ? torch::softmax(att, -1)
                                           : torch::softmax(att, -1, torch::kFloat32).to(q.scalar_type());
  if (dropout > 0.0) att = torch::dropout(att, dropout, true);
  return torch::matmul(att, v);  // (B, H, L, Dh)
}

AttentionImpl::AttentionImpl(const ModelConfig& c, bool causal)
    : n_head_(c.n_head),
      dropout_(c.dropout),
      rotary_(c.pos == PosKind::kRotary),
      causal_(causal),
      qk_norm_(c.qk_norm),
      kernel_(attention_kernel(c.attention)) {
  n_kv_head_ = c.n_kv_head > 0 ? c.n_kv_head : c.n_head;
  TORCH_CHECK(n_head_ % n_kv_head_ == 0, "model.n_kv_head must divide model.n_head");
  // One projection gives the H query heads, then the Hkv key heads, then the Hkv value heads.
  const int64_t d_head = c.d_model / c.n_head, d_qkv = (n_head_ + 2 * n_kv_head_) * d_head;
  qkv_ = register_module("qkv", torch::nn::Linear(torch::nn::LinearOptions(c.d_model, d_qkv).bias(c.bias)));
  proj_ = register_module("proj",
                          torch::nn::Linear(torch::nn::LinearOptions(c.d_model, c.d_model).bias(c.bias && c.out_bias)));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                     const LayerPass& pass) {
  // B = batch, L = positions of this pass, D = d_model, H = heads, Hkv = key/value heads, Dh = D / H
  const int64_t B = x.size(0), L = x.size(1), D = x.size(2), H = n_head_, Hkv = n_kv_head_, Dh = D / H;
  const torch::Tensor qkv = project(qkv_, qkv_t_, x, is_training()).view({B, L, H + 2 * Hkv, Dh}).transpose(1, 2);
  torch::Tensor q = qkv.slice(1, 0, H), k = qkv.slice(1, H, H + Hkv), v = qkv.slice(1, H + Hkv);  // (B, H|Hkv, L, Dh)
  // Rotary positions, then unit-RMS queries and keys (the attention logits stay bounded however the
  // weights grow), in one pass where both apply.
  if (rotary_) {
    q = fused_rotary(q, cos, sin, qk_norm_, 1e-6);
    k = fused_rotary(k, cos, sin, qk_norm_, 1e-6);
  } else if (qk_norm_) {
    q = fused_rms_norm(q, {}, 1e-6);
    k = fused_rms_norm(k, {}, 1e-6);
  }
  LayerCache* cache = pass.cache;
  switch (pass.mode) {
    case CacheMode::kNone:
      break;
    case CacheMode::kAppend:
      if (cache->k.defined()) {
        k = torch::cat({cache->k, k}, 2);
        v = torch::cat({cache->v, v}, 2);
      }
      cache->k = k;
      cache->v = v;
      break;
    case CacheMode::kStore:
      cache->k = k;
      cache->v = v;
      break;
    case CacheMode::kUpdate: {
      const torch::Tensor where = pass.positions.view({B, 1, L, 1}).expand({B, Hkv, L, Dh});
      cache->k.scatter_(2, where, k);
      cache->v.scatter_(2, where, v);
      k = cache->k;
      v = cache->v;
      break;
    }
  }
  if (Hkv < H) {
    // Grouped-query attention: query head h reads key/value head h / (H / Hkv); the cache keeps Hkv heads.
    k = k.unsqueeze(2).expand({B, Hkv, H / Hkv, k.size(2), Dh}).reshape({B, H, k.size(2), Dh});
    v = v.unsqueeze(2).expand({B, Hkv, H / Hkv, v.size(2), Dh}).reshape({B, H, v.size(2), Dh});
  }
  const torch::Tensor y =
      attend(q, k, v, causal_, is_training() ? dropout_ : 0.0, kernel_, pass.key_valid, pass.window);
  return project(proj_, proj_t_, y.transpose(1, 2).contiguous().view({B, L, D}), is_training());
}

}  // namespace dlm
