// Denoising models: the bidirectional transformer encoder and seed 001's MLP toy.
#include "dlm/model/model.h"

#include <cmath>
#include <limits>

#include <torch/version.h>

#include "dlm/error.h"
#include "dlm/model/recompute.h"

namespace dlm {
namespace {

namespace F = torch::nn::functional;

// cos and sin of the rotary angles of positions 0 .. max_len - 1 with base `theta`, (max_len, d_head / 2)
// each: frequency i of a head of width d is theta^(-2i / d).
std::pair<torch::Tensor, torch::Tensor> rope_tables(int64_t max_len, int64_t half, double theta) {
  const torch::Tensor inv_freq = torch::pow(
      theta, -torch::arange(half, torch::kFloat32) / static_cast<double>(half));  // cpu: buffers move with Module::to
  const torch::Tensor angles = torch::outer(torch::arange(max_len, torch::kFloat32), inv_freq);  // cpu: (L, Dh/2)
  return {angles.cos(), angles.sin()};
}

// The rows of a rotary table for a pass, doubled to the head width: (L, Dh) for positions offset ..
// offset + L - 1, or (B, 1, L, Dh) when each row has its own `positions` (B, L).
torch::Tensor rope_rows(const torch::Tensor& table, int64_t offset, const torch::Tensor& positions, int64_t B,
                        int64_t L) {
  const torch::Tensor rows = positions.defined() ? table.index_select(0, positions.reshape({-1})).view({B, 1, L, -1})
                                                 : table.slice(0, offset, offset + L);
  return torch::cat({rows, rows}, -1);
}

}  // namespace

BlockImpl::BlockImpl(const ModelConfig& c, bool causal, int64_t index) {
  const int64_t d_ff = c.d_ff > 0 ? c.d_ff : 4 * c.d_model;
  const bool adaln = c.time_cond == TimeCond::kAdaln;
  activation_ = c.activation;
  post_norm_ = c.norm_order == NormOrder::kPost;
  // With adaLN the norms carry no affine parameters: shift and scale come from t.
  const bool affine = !adaln && c.norm_weight;
  if (index > 0 || c.first_norm)
    norm1_ = register_module("norm1", Norm(c.norm, c.d_model, affine, c.norm_eps, c.norm_bias));
  attn_ = register_module("attn", Attention(c, causal));
  norm2_ = register_module("norm2", Norm(c.norm, c.d_model, affine, c.norm_eps, c.norm_bias));
  // SwiGLU's and GeGLU's first projection gives the gate and the value side by side.
  const bool gated = c.activation == Activation::kSwiglu || c.activation == Activation::kGeglu;
  const int64_t d_in = gated ? 2 * d_ff : d_ff;
  fc_ = register_module("fc", torch::nn::Linear(torch::nn::LinearOptions(c.d_model, d_in).bias(c.mlp_bias)));
  fc_out_ = register_module("fc_out", torch::nn::Linear(torch::nn::LinearOptions(d_ff, c.d_model).bias(c.mlp_bias)));
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
    // Without norm1 (ModernBERT's first layer) attention reads the normalised embeddings as they are.
    torch::Tensor h = x + drop_->forward(attn_->forward(norm1_ ? norm1_->forward(x) : x, cos, sin, pass));
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
  if (c.emb_norm)
    emb_norm_ = register_module("emb_norm", Norm(c.norm, c.d_model, c.norm_weight, c.norm_eps, c.norm_bias));
  if (c.pos == PosKind::kLearned) {
    pos_emb_ = register_module("pos_emb", torch::nn::Embedding(max_len + c.pos_offset, c.d_model));
  } else {
    // The tables are buffers, which move with Module::to; local layers may have their own base.
    const int64_t half = c.d_model / c.n_head / 2;
    const auto [cos, sin] = rope_tables(max_len, half, c.rope_theta);
    rope_cos_ = register_buffer("rope_cos", cos);
    rope_sin_ = register_buffer("rope_sin", sin);
    if (c.local_attention > 0 && c.local_rope_theta > 0.0 && c.local_rope_theta != c.rope_theta) {
      const auto [local_cos, local_sin] = rope_tables(max_len, half, c.local_rope_theta);
      rope_cos_local_ = register_buffer("rope_cos_local", local_cos);
      rope_sin_local_ = register_buffer("rope_sin_local", local_sin);
    }
  }
  if (c.time_cond != TimeCond::kNone) {
    time_mlp_ = register_module("time_mlp", torch::nn::Sequential(torch::nn::Linear(1, c.d_model), torch::nn::SiLU(),
                                                                  torch::nn::Linear(c.d_model, c.d_model)));
  }
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.n_layer; ++i) blocks_->push_back(Block(c, causal, i));
  // A post-norm stack ends normalised; a pre-norm one needs a final norm.
  if (c.norm_order == NormOrder::kPre) {
    norm_f_ = register_module("norm_f", Norm(c.norm, c.d_model, c.norm_weight, c.norm_eps, c.norm_bias));
  }
  if (c.head_transform) {
    head_dense_ = register_module(
        "head_dense", torch::nn::Linear(torch::nn::LinearOptions(c.d_model, c.d_model).bias(c.head_transform_bias)));
    head_norm_ = register_module("head_norm", Norm(c.norm, c.d_model, c.norm_weight, c.norm_eps, c.norm_bias));
  }
  if (!c.tie_head)
    head_ = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(c.d_model, vocab_size).bias(false)));
  if (c.head_bias)
    head_bias_ = register_parameter("head_bias", torch::zeros({vocab_size}));  // cpu: moves with Module::to
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

bool TransformerImpl::is_local(int64_t layer) const {
  return config_.local_attention > 0 && layer % config_.global_every != 0;
}

torch::Tensor TransformerImpl::embed(const torch::Tensor& ids, int64_t offset, const torch::Tensor& positions) {
  const int64_t L = ids.size(1);
  TORCH_CHECK(offset + L <= max_len_, "sequence of ", offset + L, " tokens exceeds the model's context of ", max_len_);
  // Ids (B, L) look their rows up; probability vectors (B, L, V) (the simplex) mix them.
  torch::Tensor x =
      ids.dim() == 3 ? torch::matmul(ids.to(tok_emb_->weight.dtype()), tok_emb_->weight) : tok_emb_->forward(ids);
  if (pos_emb_) {
    const torch::Tensor at =
        positions.defined() ? positions : torch::arange(offset, offset + L, ids.options().dtype(torch::kInt64));
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
  // The rotary tables of this pass's positions, once for every layer (and once more for the local
  // layers' base), and the local layers' window.
  torch::Tensor cos, sin, local_cos, local_sin, window;
  if (rope_cos_.defined()) {
    cos = rope_rows(rope_cos_, offset, positions, B, L);
    sin = rope_rows(rope_sin_, offset, positions, B, L);
    local_cos = rope_cos_local_.defined() ? rope_rows(rope_cos_local_, offset, positions, B, L) : cos;
    local_sin = rope_sin_local_.defined() ? rope_rows(rope_sin_local_, offset, positions, B, L) : sin;
  }
  if (config_.local_attention > 0) {
    // Keys: the cached canvas (a block pass), else the cache's positions and this pass's.
    const int64_t T = mode == CacheMode::kUpdate ? cache->length : offset + L;
    const torch::Tensor q_at = positions.defined()
                                   ? positions
                                   : torch::arange(offset, offset + L, ids.options().dtype(torch::kInt64)).view({1, L});
    const torch::Tensor distance =
        (q_at.unsqueeze(-1) - torch::arange(T, ids.options().dtype(torch::kInt64))).abs();  // (B or 1, L, T)
    window = (distance <= config_.local_attention / 2).unsqueeze(1);
  }
  if (cache && cache->layers.empty()) cache->layers.resize(blocks_->size());
  const torch::Tensor block_cond = config_.time_cond == TimeCond::kAdaln ? cond : torch::Tensor();
  const bool recompute = recompute_ && is_training() && torch::GradMode::is_enabled() && !cache;
  for (size_t i = 0; i < blocks_->size(); ++i) {
    const bool local = is_local(static_cast<int64_t>(i));
    LayerPass pass;
    pass.cache = cache ? &cache->layers[i] : nullptr;
    pass.mode = mode;
    pass.positions = positions;
    pass.key_valid = key_valid;
    if (local) pass.window = window;
    const std::shared_ptr<BlockImpl> block = blocks_->ptr<BlockImpl>(i);
    const torch::Tensor c = local ? local_cos : cos, s = local ? local_sin : sin;
    // The last layer's backward pass comes right after the forward pass: rerunning it would save nothing.
    if (recompute && i + 1 < blocks_->size()) {
      // The layer holds the block and the tables it reads until its backward pass has run.
      x = recomputed([block, c, s, pass](const torch::Tensor& h,
                                         const torch::Tensor& k) { return block->forward(h, c, s, k, pass); },
                     x, block_cond);
    } else {
      x = block->forward(x, c, s, block_cond, pass);
    }
  }
  if (config_.shift) {
    // Dream's predictions: position i reads the output at i - 1 (a causal LM's layout kept by a
    // bidirectional model); position 0, which has none before it, keeps its own. A block pass shifts
    // along its rows (consecutive positions, forward_block says).
    TORCH_CHECK(mode != CacheMode::kAppend, "model.shift has no incremental pass");
    x = torch::cat({x.slice(1, 0, 1), x.slice(1, 0, L - 1)}, 1);
  }
  if (out.defined()) x = x.gather(1, out.unsqueeze(-1).expand({-1, -1, x.size(-1)}));
  return norm_f_ ? norm_f_->forward(x) : x;
}

torch::Tensor TransformerImpl::head_features(const torch::Tensor& hidden) {
  return head_dense_ ? head_norm_->forward(activate(head_dense_->forward(hidden), config_.head_activation)) : hidden;
}

DenoiserImpl::OutputProjection TransformerImpl::output_projection() {
  return {head_ ? head_->weight : tok_emb_->weight, head_bias_};
}

torch::Tensor TransformerImpl::head(const torch::Tensor& hidden) {
  torch::Tensor x = head_features(hidden);
  x = head_ ? head_->forward(x) : torch::matmul(x, tok_emb_->weight.t());  // (B, L, V)
  return head_bias_.defined() ? x + head_bias_ : x;
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& ids, const torch::Tensor& t) {
  return head(trunk(ids, t, 0, {}, {}, nullptr, CacheMode::kNone));
}

torch::Tensor TransformerImpl::hidden(const torch::Tensor& ids, const torch::Tensor& t, const torch::Tensor& key_valid,
                                      const torch::Tensor& out) {
  TORCH_CHECK(!causal_ || !key_valid.defined(), "hidden with key_valid needs a bidirectional model");
  return trunk(ids, t, 0, {}, key_valid, nullptr, CacheMode::kNone, out);
}

torch::Tensor TransformerImpl::forward_rows(const torch::Tensor& ids, const torch::Tensor& t,
                                            const torch::Tensor& key_valid, const torch::Tensor& out) {
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

torch::Tensor TransformerImpl::hidden_store(const torch::Tensor& ids, const torch::Tensor& t,
                                            const torch::Tensor& key_valid, KVCache& cache, const torch::Tensor& out) {
  TORCH_CHECK(!causal_, "forward_store needs a bidirectional model");
  cache.layers.clear();
  const torch::Tensor h = trunk(ids, t, 0, {}, key_valid, &cache, CacheMode::kStore, out);
  cache.length = ids.size(1);
  return h;
}

torch::Tensor TransformerImpl::hidden_block(const torch::Tensor& ids, const torch::Tensor& positions,
                                            const torch::Tensor& t, const torch::Tensor& key_valid, KVCache& cache,
                                            const torch::Tensor& out) {
  TORCH_CHECK(!causal_ && cache.length > 0, "forward_block needs a bidirectional model and a stored cache");
  return trunk(ids, t, 0, positions, key_valid, &cache, CacheMode::kUpdate, out);
}

torch::Tensor TransformerImpl::forward_store(const torch::Tensor& ids, const torch::Tensor& t,
                                             const torch::Tensor& key_valid, KVCache& cache, const torch::Tensor& out) {
  return head(hidden_store(ids, t, key_valid, cache, out));
}

torch::Tensor TransformerImpl::forward_block(const torch::Tensor& ids, const torch::Tensor& positions,
                                             const torch::Tensor& t, const torch::Tensor& key_valid, KVCache& cache,
                                             const torch::Tensor& out) {
  return head(hidden_block(ids, positions, t, key_valid, cache, out));
}

MlpDenoiserImpl::MlpDenoiserImpl(const ModelConfig& c, int64_t vocab_size, int64_t max_len)
    : vocab_size_(vocab_size), max_len_(max_len) {
  tok_emb_ = register_module("tok_emb", torch::nn::Embedding(vocab_size, c.d_model));
  hidden_ = register_module("hidden", torch::nn::Linear(max_len * c.d_model + 1, c.mlp_hidden));
  out_ = register_module("out", torch::nn::Linear(c.mlp_hidden, max_len * vocab_size));
}

torch::Tensor MlpDenoiserImpl::forward(const torch::Tensor& ids, const torch::Tensor& t) {
  return head(hidden(ids, t));
}

torch::Tensor MlpDenoiserImpl::hidden(const torch::Tensor& ids, const torch::Tensor& t, const torch::Tensor&,
                                      const torch::Tensor& out) {
  TORCH_CHECK(!out.defined(), "the MLP denoiser's head maps whole rows: no hidden states at chosen positions");
  // The MLP sees a fixed-size canvas: shorter inputs are padded with id 0 (pad) and cut back by the head.
  const int64_t B = ids.size(0), L = ids.size(1);
  TORCH_CHECK(L <= max_len_, "sequence of ", L, " tokens exceeds the model's context of ", max_len_);
  torch::Tensor full = L < max_len_ ? F::pad(ids, F::PadFuncOptions({0, max_len_ - L})) : ids;
  torch::Tensor x = tok_emb_->forward(full).reshape({B, -1});  // (B, L*D)
  x = torch::cat({x, t.to(x.dtype()).view({B, 1})}, 1);        // (B, L*D + 1)
  x = torch::relu(hidden_->forward(x));                        // (B, H)
  return x.unsqueeze(1).expand({B, L, x.size(1)});             // (B, L, H), a view
}

torch::Tensor MlpDenoiserImpl::head(const torch::Tensor& hidden) {
  const int64_t B = hidden.size(0), L = hidden.size(1);
  const torch::Tensor x = out_->forward(hidden.select(1, 0));  // (B, L*V)
  return x.view({B, max_len_, vocab_size_}).slice(1, 0, L);    // (B, L, V)
}

std::shared_ptr<DenoiserImpl> make_model(const ModelConfig& c, int64_t vocab_size, int64_t max_len, bool causal) {
  if (c.type == ModelType::kTransformer) return std::make_shared<TransformerImpl>(c, vocab_size, max_len, causal);
  if (causal)
    throw Error("model.type '" + enum_name(c.type) + "' has no causal form (the ar objective needs a transformer)");
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
