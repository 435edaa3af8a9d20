// Denoising models: the bidirectional transformer encoder and seed 001's MLP toy.
#include "dlm/model/model.h"

#include <cmath>
#include <limits>

#include <torch/version.h>

#include "dlm/error.h"

namespace dlm {
namespace {

namespace F = torch::nn::functional;

// Rotates pairs (x1, x2) -> (-x2, x1) over the two halves of the last dimension.
torch::Tensor rotate_half(const torch::Tensor& x) {
  const auto halves = x.chunk(2, -1);
  return torch::cat({-halves[1], halves[0]}, -1);
}

}  // namespace

torch::Tensor rms_norm(const torch::Tensor& x, double eps) {
  const torch::Tensor xf = x.to(torch::kFloat32);
  return (xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps)).to(x.scalar_type());
}

torch::Tensor activate(const torch::Tensor& h, Activation activation) {
  switch (activation) {
    case Activation::kGelu: return torch::gelu(h);
    case Activation::kGeluTanh: return torch::gelu(h, "tanh");
    case Activation::kRelu2: return torch::relu(h).square();
    case Activation::kSwiglu: {
      const auto parts = h.chunk(2, -1);
      return torch::silu(parts[0]) * parts[1];
    }
  }
  throw Error("unknown activation");
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, bool with_weight) : eps_(eps) {
  if (with_weight) weight = register_parameter("weight", torch::ones({dim}));  // cpu: parameters move with Module::to
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  const torch::Tensor y = rms_norm(x, eps_);
  return weight.defined() ? y * weight : y;
}

NormImpl::NormImpl(NormKind kind, int64_t dim, bool affine, double eps) {
  if (kind == NormKind::kRmsNorm) {
    rms_norm_ = register_module("rms_norm", RMSNorm(dim, eps > 0.0 ? eps : 1e-6, affine));
  } else {
    layer_norm_ = register_module(
        "layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).elementwise_affine(affine).eps(eps > 0.0 ? eps : 1e-5)));
  }
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
  return layer_norm_ ? layer_norm_->forward(x) : rms_norm_->forward(x);
}

torch::Tensor project(torch::nn::Linear& lin, TransposedWeight& cache, const torch::Tensor& x, bool training) {
  const torch::Tensor& w = lin->weight;
  if (training || torch::GradMode::is_enabled() || !w.device().is_cpu() || w.scalar_type() != torch::kFloat32 ||
      x.scalar_type() != torch::kFloat32) {
    return lin->forward(x);
  }
  if (cache.of.unsafeGetStorageImpl() != w.storage().unsafeGetStorageImpl() || cache.version != static_cast<int64_t>(w._version())) {
    cache.wt = w.t().contiguous();
    cache.of = w.storage();
    cache.version = static_cast<int64_t>(w._version());
  }
  torch::Tensor y = torch::matmul(x, cache.wt);
  return lin->bias.defined() ? y.add_(lin->bias) : y;
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

torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, bool causal, double dropout,
                     AttentionKernel kernel, const torch::Tensor& key_valid) {
  // L = queries, T = keys; one new query sees every key, so it needs no mask.
  const int64_t L = q.size(2), T = k.size(2);
  const bool need_mask = causal && L > 1;
  TORCH_CHECK(!(causal && key_valid.defined()), "attend: key_valid is for bidirectional attention");
  // (B, 1, 1, T): true where a key may be attended.
  const torch::Tensor visible = key_valid.defined() ? key_valid.view({key_valid.size(0), 1, 1, T}) : torch::Tensor();
#if TORCH_VERSION_MAJOR >= 2
  if (kernel == AttentionKernel::kFused) {
    if (visible.defined()) return at::scaled_dot_product_attention(q, k, v, visible, dropout, false);
    if (!need_mask || T == L) return at::scaled_dot_product_attention(q, k, v, {}, dropout, need_mask);
    // Chunked prefill after a cache: SDPA's is_causal aligns the diagonal to the top-left, so the
    // offset diagonal needs an explicit mask.
    const torch::Tensor allowed = torch::ones({L, T}, q.options().dtype(torch::kBool)).tril(T - L);
    return at::scaled_dot_product_attention(q, k, v, allowed, dropout, false);
  }
#else
  TORCH_CHECK(kernel == AttentionKernel::kExplicit, "fused attention needs LibTorch 2.x");
#endif
  torch::Tensor att = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));  // (B, H, L, T)
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (need_mask) att = att.masked_fill(torch::ones({L, T}, q.options().dtype(torch::kBool)).triu(T - L + 1), neg_inf);
  if (visible.defined()) att = att.masked_fill(visible.logical_not(), neg_inf);
  att = torch::softmax(att, -1);
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
  qkv_ = register_module("qkv", torch::nn::Linear(torch::nn::LinearOptions(c.d_model, 3 * c.d_model).bias(c.bias)));
  proj_ = register_module("proj", torch::nn::Linear(torch::nn::LinearOptions(c.d_model, c.d_model).bias(c.bias)));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                    const LayerPass& pass) {
  // B = batch, L = positions of this pass, D = d_model, H = heads, Dh = D / H
  const int64_t B = x.size(0), L = x.size(1), D = x.size(2), H = n_head_, Dh = D / H;
  const torch::Tensor qkv = project(qkv_, qkv_t_, x, is_training()).view({B, L, 3, H, Dh}).permute({2, 0, 3, 1, 4});  // (3, B, H, L, Dh)
  torch::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
  if (rotary_) {
    q = q * cos + rotate_half(q) * sin;
    k = k * cos + rotate_half(k) * sin;
  }
  if (qk_norm_) {
    // Unit-RMS queries and keys: the attention logits stay bounded however the weights grow.
    q = rms_norm(q);
    k = rms_norm(k);
  }
  LayerCache* cache = pass.cache;
  switch (pass.mode) {
    case CacheMode::kNone: break;
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
      const torch::Tensor where = pass.positions.view({B, 1, L, 1}).expand({B, H, L, Dh});
      cache->k.scatter_(2, where, k);
      cache->v.scatter_(2, where, v);
      k = cache->k;
      v = cache->v;
      break;
    }
  }
  const torch::Tensor y = attend(q, k, v, causal_, is_training() ? dropout_ : 0.0, kernel_, pass.key_valid);
  return project(proj_, proj_t_, y.transpose(1, 2).contiguous().view({B, L, D}), is_training());
}

BlockImpl::BlockImpl(const ModelConfig& c, bool causal) {
  const int64_t d_ff = c.d_ff > 0 ? c.d_ff : 4 * c.d_model;
  const bool adaln = c.time_cond == TimeCond::kAdaln;
  activation_ = c.activation;
  post_norm_ = c.norm_order == NormOrder::kPost;
  // With adaLN the norms carry no affine parameters: shift and scale come from t.
  norm1_ = register_module("norm1", Norm(c.norm, c.d_model, !adaln && c.norm_weight, c.norm_eps));
  attn_ = register_module("attn", Attention(c, causal));
  norm2_ = register_module("norm2", Norm(c.norm, c.d_model, !adaln && c.norm_weight, c.norm_eps));
  // SwiGLU's first projection gives the gate and the value side by side.
  const int64_t d_in = c.activation == Activation::kSwiglu ? 2 * d_ff : d_ff;
  fc_ = register_module("fc", torch::nn::Linear(torch::nn::LinearOptions(c.d_model, d_in).bias(c.bias)));
  fc_out_ = register_module("fc_out", torch::nn::Linear(torch::nn::LinearOptions(d_ff, c.d_model).bias(c.bias)));
  drop_ = register_module("drop", torch::nn::Dropout(c.dropout));
  if (adaln) {
    ada_ = register_module("ada", torch::nn::Linear(c.d_model, 6 * c.d_model));
    torch::NoGradGuard no_grad;
    ada_->weight.zero_();  // adaLN-Zero: every block starts as the identity
    ada_->bias.zero_();
  }
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                 const torch::Tensor& cond, const LayerPass& pass) {
  if (post_norm_) {
    const torch::Tensor h = norm1_->forward(x + drop_->forward(attn_->forward(x, cos, sin, pass)));
    return norm2_->forward(h + drop_->forward(mlp(h)));
  }
  if (!ada_) {
    torch::Tensor h = x + drop_->forward(attn_->forward(norm1_->forward(x), cos, sin, pass));
    return h + drop_->forward(mlp(norm2_->forward(h)));
  }
  const auto mod = ada_->forward(cond).unsqueeze(1).chunk(6, -1);  // 6 x (B, 1, D)
  torch::Tensor a = norm1_->forward(x) * (1 + mod[1]) + mod[0];
  torch::Tensor h = x + mod[2] * drop_->forward(attn_->forward(a, cos, sin, pass));
  torch::Tensor m = norm2_->forward(h) * (1 + mod[4]) + mod[3];
  return h + mod[5] * drop_->forward(mlp(m));
}

torch::Tensor BlockImpl::mlp(const torch::Tensor& x) {
  const bool training = is_training();
  return project(fc_out_, fc_out_t_, activate(project(fc_, fc_t_, x, training), activation_), training);
}

TransformerImpl::TransformerImpl(const ModelConfig& c, int64_t vocab_size, int64_t max_len, bool causal)
    : config_(c), max_len_(max_len), causal_(causal) {
  if (c.d_model % c.n_head != 0) {
    throw Error("model.d_model (" + std::to_string(c.d_model) + ") must be divisible by model.n_head (" +
                std::to_string(c.n_head) + ")");
  }
  if (c.vocab_size > 0 && c.vocab_size < vocab_size) {
    throw Error("model.vocab_size (" + std::to_string(c.vocab_size) + ") is smaller than the tokenizer's " +
                std::to_string(vocab_size) + " ids");
  }
  if (c.vocab_size > 0) vocab_size = c.vocab_size;
  tok_emb_ = register_module("tok_emb", torch::nn::Embedding(vocab_size, c.d_model));
  if (c.type_vocab > 0) type_emb_ = register_module("type_emb", torch::nn::Embedding(c.type_vocab, c.d_model));
  if (c.emb_norm) emb_norm_ = register_module("emb_norm", Norm(c.norm, c.d_model, c.norm_weight, c.norm_eps));
  if (c.pos == PosKind::kLearned) {
    pos_emb_ = register_module("pos_emb", torch::nn::Embedding(max_len + c.pos_offset, c.d_model));
  } else {
    const int64_t half = c.d_model / c.n_head / 2;
    // cpu: the tables are buffers, which move with Module::to
    const torch::Tensor inv_freq = torch::pow(10000.0, -torch::arange(half, torch::kFloat32) / static_cast<double>(half));
    const torch::Tensor angles = torch::outer(torch::arange(max_len, torch::kFloat32), inv_freq);  // cpu: (L, Dh/2)
    rope_cos_ = register_buffer("rope_cos", angles.cos());
    rope_sin_ = register_buffer("rope_sin", angles.sin());
  }
  if (c.time_cond != TimeCond::kNone) {
    time_mlp_ = register_module("time_mlp", torch::nn::Sequential(torch::nn::Linear(1, c.d_model), torch::nn::SiLU(),
                                                                  torch::nn::Linear(c.d_model, c.d_model)));
  }
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.n_layer; ++i) blocks_->push_back(Block(c, causal));
  // A post-norm stack ends normalised; a pre-norm one needs a final norm.
  if (c.norm_order == NormOrder::kPre) norm_f_ = register_module("norm_f", Norm(c.norm, c.d_model, c.norm_weight, c.norm_eps));
  if (c.head_transform) {
    head_dense_ = register_module("head_dense", torch::nn::Linear(c.d_model, c.d_model));
    head_norm_ = register_module("head_norm", Norm(c.norm, c.d_model, c.norm_weight, c.norm_eps));
  }
  if (!c.tie_head) head_ = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(c.d_model, vocab_size).bias(false)));
  if (c.head_bias) head_bias_ = register_parameter("head_bias", torch::zeros({vocab_size}));  // cpu: moves with Module::to
  drop_ = register_module("drop", torch::nn::Dropout(c.dropout));

  // GPT-2 style initialisation; residual projections scaled down with depth.
  torch::NoGradGuard no_grad;
  tok_emb_->weight.normal_(0.0, 0.02);
  if (pos_emb_) pos_emb_->weight.normal_(0.0, 0.02);
  if (type_emb_) type_emb_->weight.normal_(0.0, 0.02);
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* lin = m->as<torch::nn::Linear>()) {
      if (lin->weight.abs().sum().item<double>() == 0.0) continue;  // adaLN-Zero stays zero
      lin->weight.normal_(0.0, 0.02);
      if (lin->bias.defined()) lin->bias.zero_();
    }
  }
  for (auto& p : named_parameters()) {
    if (p.key().find("proj.weight") != std::string::npos || p.key().find("fc_out.weight") != std::string::npos) {
      p.value().normal_(0.0, 0.02 / std::sqrt(2.0 * static_cast<double>(c.n_layer)));
    }
  }
}

torch::Tensor TransformerImpl::embed(const torch::Tensor& ids, int64_t offset, const torch::Tensor& positions) {
  const int64_t L = ids.size(1);
  TORCH_CHECK(offset + L <= max_len_, "sequence of ", offset + L, " tokens exceeds the model's context of ", max_len_);
  torch::Tensor x = tok_emb_->forward(ids);  // (B, L, D)
  if (pos_emb_) {
    const torch::Tensor at = positions.defined() ? positions : torch::arange(offset, offset + L, ids.options());
    x = x + pos_emb_->forward(config_.pos_offset > 0 ? at + config_.pos_offset : at);
  }
  if (type_emb_) x = x + type_emb_->weight[0];  // every position is of type 0
  return emb_norm_ ? emb_norm_->forward(x) : x;
}

torch::Tensor TransformerImpl::trunk(const torch::Tensor& ids, const torch::Tensor& t, int64_t offset,
                                   const torch::Tensor& positions, const torch::Tensor& key_valid, KVCache* cache,
                                   CacheMode mode, const torch::Tensor& out) {
  // B = batch, L = length, D = d_model
  const int64_t B = ids.size(0), L = ids.size(1);
  torch::Tensor x = embed(ids, offset, positions);
  torch::Tensor cond;
  if (time_mlp_) {
    cond = time_mlp_->forward(t.to(x.dtype()).view({-1, 1}));  // (B, D)
    if (config_.time_cond == TimeCond::kAdd) x = x + cond.unsqueeze(1);
  }
  x = drop_->forward(x);
  // The rotary tables of this pass's positions, once for every layer: (L, Dh), or (B, 1, L, Dh) when
  // each row has its own positions.
  torch::Tensor cos, sin;
  if (rope_cos_.defined()) {
    if (positions.defined()) {
      const torch::Tensor flat = positions.reshape({-1});
      cos = rope_cos_.index_select(0, flat).view({B, 1, L, -1});
      sin = rope_sin_.index_select(0, flat).view({B, 1, L, -1});
    } else {
      cos = rope_cos_.slice(0, offset, offset + L);
      sin = rope_sin_.slice(0, offset, offset + L);
    }
    cos = torch::cat({cos, cos}, -1);
    sin = torch::cat({sin, sin}, -1);
  }
  if (cache && cache->layers.empty()) cache->layers.resize(blocks_->size());
  const torch::Tensor block_cond = config_.time_cond == TimeCond::kAdaln ? cond : torch::Tensor();
  for (size_t i = 0; i < blocks_->size(); ++i) {
    LayerPass pass;
    pass.cache = cache ? &cache->layers[i] : nullptr;
    pass.mode = mode;
    pass.positions = positions;
    pass.key_valid = key_valid;
    x = blocks_[i]->as<Block>()->forward(x, cos, sin, block_cond, pass);
  }
  if (out.defined()) x = x.gather(1, out.unsqueeze(-1).expand({-1, -1, x.size(-1)}));
  return norm_f_ ? norm_f_->forward(x) : x;
}

torch::Tensor TransformerImpl::head(const torch::Tensor& hidden) {
  torch::Tensor x = hidden;
  if (head_dense_) x = head_norm_->forward(activate(head_dense_->forward(x), config_.head_activation));
  x = head_ ? head_->forward(x) : torch::matmul(x, tok_emb_->weight.t());  // (B, L, V)
  return head_bias_.defined() ? x + head_bias_ : x;
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& ids, const torch::Tensor& t) {
  return head(trunk(ids, t, 0, {}, {}, nullptr, CacheMode::kNone));
}

torch::Tensor TransformerImpl::hidden(const torch::Tensor& ids, const torch::Tensor& t) {
  return trunk(ids, t, 0, {}, {}, nullptr, CacheMode::kNone);
}

torch::Tensor TransformerImpl::forward_rows(const torch::Tensor& ids, const torch::Tensor& t, const torch::Tensor& key_valid,
                                            const torch::Tensor& out) {
  TORCH_CHECK(!causal_ || !key_valid.defined(), "forward_rows with key_valid needs a bidirectional model");
  return head(trunk(ids, t, 0, {}, key_valid, nullptr, CacheMode::kNone, out));
}

torch::Tensor TransformerImpl::forward_cached(const torch::Tensor& ids, KVCache& cache) {
  TORCH_CHECK(causal_, "forward_cached needs a causal model");
  TORCH_CHECK(config_.time_cond == TimeCond::kNone, "forward_cached needs a model without time conditioning");
  const int64_t offset = cache.length;
  const torch::Tensor logits = head(trunk(ids, {}, offset, {}, {}, &cache, CacheMode::kAppend));
  cache.length = offset + ids.size(1);
  return logits;
}

torch::Tensor TransformerImpl::forward_store(const torch::Tensor& ids, const torch::Tensor& t, const torch::Tensor& key_valid,
                                             KVCache& cache, const torch::Tensor& out) {
  TORCH_CHECK(!causal_, "forward_store needs a bidirectional model");
  cache.layers.clear();
  const torch::Tensor logits = head(trunk(ids, t, 0, {}, key_valid, &cache, CacheMode::kStore, out));
  cache.length = ids.size(1);
  return logits;
}

torch::Tensor TransformerImpl::forward_block(const torch::Tensor& ids, const torch::Tensor& positions, const torch::Tensor& t,
                                             const torch::Tensor& key_valid, KVCache& cache, const torch::Tensor& out) {
  TORCH_CHECK(!causal_ && cache.length > 0, "forward_block needs a bidirectional model and a stored cache");
  return head(trunk(ids, t, 0, positions, key_valid, &cache, CacheMode::kUpdate, out));
}

MlpDenoiserImpl::MlpDenoiserImpl(const ModelConfig& c, int64_t vocab_size, int64_t max_len)
    : vocab_size_(vocab_size), max_len_(max_len) {
  tok_emb_ = register_module("tok_emb", torch::nn::Embedding(vocab_size, c.d_model));
  hidden_ = register_module("hidden", torch::nn::Linear(max_len * c.d_model + 1, c.mlp_hidden));
  out_ = register_module("out", torch::nn::Linear(c.mlp_hidden, max_len * vocab_size));
}

torch::Tensor MlpDenoiserImpl::forward(const torch::Tensor& ids, const torch::Tensor& t) {
  // The MLP sees a fixed-size canvas: shorter inputs are padded with id 0 (pad) and cut back after.
  const int64_t B = ids.size(0), L = ids.size(1);
  TORCH_CHECK(L <= max_len_, "sequence of ", L, " tokens exceeds the model's context of ", max_len_);
  torch::Tensor full = L < max_len_ ? F::pad(ids, F::PadFuncOptions({0, max_len_ - L})) : ids;
  torch::Tensor x = tok_emb_->forward(full).reshape({B, -1});                     // (B, L*D)
  x = torch::cat({x, t.to(x.dtype()).view({B, 1})}, 1);                           // (B, L*D + 1)
  x = out_->forward(torch::relu(hidden_->forward(x)));                           // (B, L*V)
  return x.view({B, max_len_, vocab_size_}).slice(1, 0, L);                      // (B, L, V)
}

std::shared_ptr<DenoiserImpl> make_model(const ModelConfig& c, int64_t vocab_size, int64_t max_len, bool causal) {
  if (c.type == ModelType::kTransformer) return std::make_shared<TransformerImpl>(c, vocab_size, max_len, causal);
  if (causal) throw Error("model.type '" + enum_name(c.type) + "' has no causal form (the ar objective needs a transformer)");
  return std::make_shared<MlpDenoiserImpl>(c, vocab_size, max_len);
}

torch::Device module_device(const torch::nn::Module& module) {
  const auto params = module.parameters();
  return params.empty() ? torch::Device(torch::kCPU) : params.front().device();
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

}  // namespace dlm
