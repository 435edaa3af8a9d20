// Models. `forward(ids, t)` maps a (B, L) canvas and the masking rate t (B) to logits (B, L, V) and
// does nothing else: the loss, masking and sampling live elsewhere.
// Transformer: pre-norm encoder (learned or rotary positions, LayerNorm or RMSNorm, optional
// conditioning on t), or post-norm with an MLM head transform for BERT and RoBERTa; bidirectional for diffusion, causal for the autoregressive twin, which also
// runs incrementally over a KV cache. MlpDenoiser: seed 001's toy (embed, flatten, concat t, one hidden layer).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "dlm/config.h"

namespace dlm {

class DenoiserImpl : public torch::nn::Module {
 public:
  // ids: (B, L) int64 with L <= max_len(); t: (B) float in [0, 1], the fraction of positions masked.
  virtual torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& t) = 0;
  // The same for a batch of rows of different lengths, padded to L: key_valid (B, L) bool is false on
  // a row's padding, which no position attends to, so a row's logits do not depend on its batch.
  // `out` (B, K) int64, if defined, asks for the logits at those positions only (B, K, V), so a
  // sampler that needs a few of them skips the output head elsewhere. This default runs forward():
  // a model without attention sees the padding as pad ids.
  virtual torch::Tensor forward_rows(const torch::Tensor& ids, const torch::Tensor& t, const torch::Tensor& key_valid,
                                     const torch::Tensor& out = {}) {
    (void)key_valid;
    const torch::Tensor logits = forward(ids, t);
    return out.defined() ? logits.gather(1, out.unsqueeze(-1).expand({-1, -1, logits.size(-1)})) : logits;
  }
  virtual int64_t max_len() const = 0;
};

// x / rms(x) over the last dimension, computed in fp32 and returned in x's type.
torch::Tensor rms_norm(const torch::Tensor& x, double eps = 1e-6);

// The MLP's nonlinearity on the first projection's output h: gelu(h) (exact or tanh's), relu(h)^2, or for swiglu
// silu(gate) * value with h = [gate, value] (h is twice the MLP width then).
torch::Tensor activate(const torch::Tensor& h, Activation activation);

// RMSNorm: x / rms(x) * weight, or without `weight` no parameter at all (LibTorch 1.13 has no module for it).
class RMSNormImpl : public torch::nn::Module {
 public:
  explicit RMSNormImpl(int64_t dim, double eps = 1e-6, bool with_weight = true);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  ///< undefined when weightless

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// LayerNorm or RMSNorm behind one interface, picked by ModelConfig::norm.
class NormImpl : public torch::nn::Module {
 public:
  // eps 0: the kind's default (1e-5 for LayerNorm, 1e-6 for RMSNorm).
  NormImpl(NormKind kind, int64_t dim, bool affine = true, double eps = 0.0);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::LayerNorm layer_norm_{nullptr};
  RMSNorm rms_norm_{nullptr};
};
TORCH_MODULE(Norm);

// Keys and values of the positions already seen, per layer, for incremental causal decoding.
struct LayerCache {
  torch::Tensor k, v;  ///< (B, H, T, Dh), undefined while empty
};
struct KVCache {
  std::vector<LayerCache> layers;
  int64_t length = 0;  ///< positions held
};

// How a pass uses a layer's cache: none; append its keys and values (causal decoding); store them
// for the whole canvas (a bidirectional block cache's refresh); or overwrite the cached ones at
// `positions` and attend to all (a pass over one block of a cached canvas).
enum class CacheMode { kNone, kAppend, kStore, kUpdate };
struct LayerPass {
  LayerCache* cache = nullptr;
  CacheMode mode = CacheMode::kNone;
  torch::Tensor positions;  ///< (B, L) int64, kUpdate only: where the pass's rows sit in the canvas
  torch::Tensor key_valid;  ///< (B, T) bool keys that may be attended; undefined: all
};

// A linear layer's weight W, transposed into a contiguous copy for inference on the CPU, where
// OpenBLAS packs a non-transposed operand faster: passes of 1 to 64 rows (an AR decode step, a
// block of generation) run their projections 5-30% faster, and a 1-row 320 -> 1280 one 5x
// (bench/linear_layout.py); from 256 rows on the two are within 6% either way. Every pass takes the
// same path, whatever its size, so a row computes the same alone and in a batch.
// `project` remakes the copy whenever the weight changed (an optimizer step, a load, a move), which
// the weight's storage and version counter tell; holding the storage keeps its address from being
// reused by a new weight.
struct TransposedWeight {
  torch::Tensor wt;
  c10::Storage of;
  int64_t version = -1;
};
// x W^T + b through `lin`; in eval mode without autograd, for float32 on the CPU, via `cache`.
torch::Tensor project(torch::nn::Linear& lin, TransposedWeight& cache, const torch::Tensor& x, bool training);

// How attention is computed. kFused is LibTorch 2.x's scaled_dot_product_attention (flash and
// memory-efficient kernels); kExplicit is matmul, mask, softmax, matmul, which every version has.
enum class AttentionKernel { kFused, kExplicit };
// The kernel of a model.attention setting: auto is fused where LibTorch has it. Throws dlm::Error for
// fused on 1.x.
AttentionKernel attention_kernel(AttentionKind attention);

// Attention of q (B, H, L, Dh) over k, v (B, H, T, Dh), T >= L. With `causal`, query i sits at
// position T - L + i and sees keys 0 .. T - L + i (a KV cache holds the first T - L positions).
// `dropout` applies to the attention weights. key_valid (B, T) bool, if defined, hides the keys that
// are false (not with `causal`).
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, bool causal, double dropout,
                     AttentionKernel kernel, const torch::Tensor& key_valid = {});

class AttentionImpl : public torch::nn::Module {
 public:
  // Reads d_model, n_head, dropout, pos (rotary), attention (the kernel), qk_norm and bias.
  AttentionImpl(const ModelConfig& config, bool causal);
  // x: (B, L, D); cos/sin: the rotary tables of x's positions, (L, d_head) or (B, 1, L, d_head), or
  // undefined. `pass` says how the layer's cache is used and which keys may be attended.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const LayerPass& pass = {});

 private:
  int64_t n_head_;
  double dropout_;
  bool rotary_;
  bool causal_;
  bool qk_norm_;
  AttentionKernel kernel_;
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr};
  TransposedWeight qkv_t_, proj_t_;
};
TORCH_MODULE(Attention);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const ModelConfig& config, bool causal);
  // cond: (B, D) conditioning vector for adaLN, or undefined.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& cond, const LayerPass& pass = {});

 private:
  Norm norm1_{nullptr}, norm2_{nullptr};
  Attention attn_{nullptr};
  torch::nn::Linear fc_{nullptr}, fc_out_{nullptr};
  TransposedWeight fc_t_, fc_out_t_;
  torch::nn::Dropout drop_{nullptr};
  torch::nn::Linear ada_{nullptr};  // adaLN: cond -> (shift, scale, gate) x 2
  Activation activation_;
  bool post_norm_ = false;
  torch::Tensor mlp(const torch::Tensor& x);
};
TORCH_MODULE(Block);

class TransformerImpl : public DenoiserImpl {
 public:
  TransformerImpl(const ModelConfig& config, int64_t vocab_size, int64_t max_len, bool causal = false);
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& t) override;
  torch::Tensor forward_rows(const torch::Tensor& ids, const torch::Tensor& t, const torch::Tensor& key_valid,
                             const torch::Tensor& out = {}) override;
  int64_t max_len() const override { return max_len_; }
  bool causal() const { return causal_; }
  int64_t n_layer() const { return static_cast<int64_t>(blocks_->size()); }
  // The last hidden state (B, L, D) of ids (B, L): after the final norm of a pre-norm stack, before the
  // head (Hugging Face's last_hidden_state).
  torch::Tensor hidden(const torch::Tensor& ids, const torch::Tensor& t);
  // Causal models only: logits (B, L, V) of ids (B, L) placed after the cache's positions; their
  // keys and values are appended, so a sampler feeds each new token once.
  torch::Tensor forward_cached(const torch::Tensor& ids, KVCache& cache);
  // Bidirectional block cache. forward_store: forward_rows over the whole canvas (B, T), keeping
  // every layer's keys and values in `cache`; logits at `out` only when given. forward_block:
  // logits (B, L, V) of ids (B, L) at `positions` (B, L) of that canvas (only at the indices `out`
  // (B, K) into L when given); their keys and values replace the cached ones there and they attend
  // to the whole cached canvas. The other positions' keys and values are those of the last
  // forward_store: exact when nothing else changed since, an approximation once it has (Fast-dLLM).
  torch::Tensor forward_store(const torch::Tensor& ids, const torch::Tensor& t, const torch::Tensor& key_valid, KVCache& cache,
                              const torch::Tensor& out = {});
  torch::Tensor forward_block(const torch::Tensor& ids, const torch::Tensor& positions, const torch::Tensor& t,
                              const torch::Tensor& key_valid, KVCache& cache, const torch::Tensor& out = {});

 private:
  // The shared pass: ids at `positions` (B, L) or at offset .. offset + L - 1, through every block
  // with `mode` on the cache's layers and the final norm; at `out` (B, K) only, when given. (B, L|K, D)
  torch::Tensor trunk(const torch::Tensor& ids, const torch::Tensor& t, int64_t offset, const torch::Tensor& positions,
                      const torch::Tensor& key_valid, KVCache* cache, CacheMode mode, const torch::Tensor& out = {});
  // Hidden states to logits: the head transform, if any, the output projection and the logit bias.
  torch::Tensor head(const torch::Tensor& hidden);
  torch::Tensor embed(const torch::Tensor& ids, int64_t offset, const torch::Tensor& positions);
  ModelConfig config_;
  int64_t max_len_;
  bool causal_;
  torch::nn::Embedding tok_emb_{nullptr}, pos_emb_{nullptr}, type_emb_{nullptr};
  Norm emb_norm_{nullptr};
  torch::nn::Sequential time_mlp_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  Norm norm_f_{nullptr}, head_norm_{nullptr};
  torch::nn::Linear head_dense_{nullptr}, head_{nullptr};
  torch::Tensor head_bias_;
  torch::nn::Dropout drop_{nullptr};
  torch::Tensor rope_cos_, rope_sin_;
};
TORCH_MODULE(Transformer);

class MlpDenoiserImpl : public DenoiserImpl {
 public:
  MlpDenoiserImpl(const ModelConfig& config, int64_t vocab_size, int64_t max_len);
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& t) override;
  int64_t max_len() const override { return max_len_; }

 private:
  int64_t vocab_size_, max_len_;
  torch::nn::Embedding tok_emb_{nullptr};
  torch::nn::Linear hidden_{nullptr}, out_{nullptr};
};
TORCH_MODULE(MlpDenoiser);

// Builds the model named by config.type for a vocabulary and context length; `causal` gives the
// autoregressive twin (transformer only).
std::shared_ptr<DenoiserImpl> make_model(const ModelConfig& config, int64_t vocab_size, int64_t max_len,
                                         bool causal = false);

int64_t count_parameters(const torch::nn::Module& module);

// The device of a module's parameters (the CPU for a module without any).
torch::Device module_device(const torch::nn::Module& module);

// Eval mode without gradients for the scope's lifetime; the module's train/eval mode is restored after.
class InferenceScope {
 public:
  explicit InferenceScope(torch::nn::Module& module) : module_(module), was_training_(module.is_training()) { module_.eval(); }
  ~InferenceScope() { module_.train(was_training_); }
  InferenceScope(const InferenceScope&) = delete;
  InferenceScope& operator=(const InferenceScope&) = delete;

 private:
  torch::nn::Module& module_;
  bool was_training_;
  torch::NoGradGuard no_grad_;
};

}  // namespace dlm
