// Models. `forward(ids, t)` maps a (B, L) canvas and the masking rate t (B) to logits (B, L, V) and
// does nothing else: the loss, masking and sampling live elsewhere.
// Transformer: pre-norm encoder (learned or rotary positions, LayerNorm or RMSNorm, optional
// conditioning on t, local and global layers as in ModernBERT), or post-norm with an MLM head transform
// for BERT and RoBERTa; bidirectional for diffusion, causal for the autoregressive twin, which also
// runs incrementally over a KV cache. MlpDenoiser: seed 001's toy (embed, flatten, concat t, one hidden layer).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "dlm/config.h"
#include "dlm/model/attention.h"

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
  // forward() split in two, so a loss can take the output head's GEMM into its own kernel: the final
  // hidden states (the transformer's (B, L, D) after the final norm; key_valid as in forward_rows) and
  // the head that maps them to logits. head(hidden(ids, t)) is forward(ids, t), bit for bit. This
  // default is for a model without a separate head: its hidden states are its logits.
  // `out` (B, K), if defined, keeps the hidden states at those positions only, as in forward_rows.
  virtual torch::Tensor hidden(const torch::Tensor& ids, const torch::Tensor& t, const torch::Tensor& key_valid = {},
                               const torch::Tensor& out = {}) {
    return key_valid.defined() || out.defined() ? forward_rows(ids, t, key_valid, out) : forward(ids, t);
  }
  virtual torch::Tensor head(const torch::Tensor& hidden) { return hidden; }
  // The head split before its output projection, for a loss that runs the projection itself (the fused
  // head-and-loss kernel): head(h) = head_features(h) · weightᵀ + bias (bias may be undefined). An
  // undefined weight: the head has no such split.
  struct OutputProjection {
    torch::Tensor weight, bias;
  };
  virtual OutputProjection output_projection() { return {}; }
  virtual torch::Tensor head_features(const torch::Tensor& hidden) { return hidden; }
  // Whether head() maps each position's hidden vector on its own (any leading shape, e.g. (N, D) of
  // gathered positions), so that a loss may run it only where it scores.
  virtual bool positionwise_head() const { return true; }
  // train.recompute: while training with gradients, each layer keeps only its input for the backward
  // pass, which reruns it (dlm/model/recompute.h). A model without layers ignores it.
  virtual void set_recompute(bool on) { (void)on; }
};

class BlockImpl : public torch::nn::Module {
 public:
  // `index`: the block's place in the stack (layer 0 may go without its attention norm, model.first_norm).
  BlockImpl(const ModelConfig& config, bool causal, int64_t index);
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
  // forward and forward_rows also take probability vectors (B, L, V) for ids, each position's input
  // then being their mix of the token embeddings (the simplex process).
  int64_t max_len() const override { return max_len_; }
  bool causal() const { return causal_; }
  bool shifted() const { return config_.shift; }  ///< model.shift: position i predicted from the output at i - 1
  int64_t n_layer() const { return static_cast<int64_t>(blocks_->size()); }
  void set_recompute(bool on) override { recompute_ = on; }
  // The last hidden state (B, L, D) of ids (B, L): after the final norm of a pre-norm stack, before the
  // head (Hugging Face's last_hidden_state).
  torch::Tensor hidden(const torch::Tensor& ids, const torch::Tensor& t, const torch::Tensor& key_valid = {},
                       const torch::Tensor& out = {}) override;
  // Hidden states to logits: the head transform, if any, the output projection and the logit bias.
  torch::Tensor head(const torch::Tensor& hidden) override;
  OutputProjection output_projection() override;
  torch::Tensor head_features(const torch::Tensor& hidden) override;  // the head transform, if any
  // Causal models only: logits (B, L, V) of ids (B, L) placed after the cache's positions; their
  // keys and values are appended, so a sampler feeds each new token once.
  torch::Tensor forward_cached(const torch::Tensor& ids, KVCache& cache);
  // Bidirectional block cache. forward_store: forward_rows over the whole canvas (B, T), keeping
  // every layer's keys and values in `cache`; logits at `out` only when given. forward_block:
  // logits (B, L, V) of ids (B, L) at `positions` (B, L) of that canvas (only at the indices `out`
  // (B, K) into L when given); their keys and values replace the cached ones there and they attend
  // to the whole cached canvas. The other positions' keys and values are those of the last
  // forward_store: exact when nothing else changed since, an approximation once it has (Fast-dLLM).
  // A shifted model (model.shift) shifts a block pass's outputs along its rows, so that pass must run
  // consecutive positions starting one before the first it predicts.
  torch::Tensor forward_store(const torch::Tensor& ids, const torch::Tensor& t, const torch::Tensor& key_valid,
                              KVCache& cache, const torch::Tensor& out = {});
  torch::Tensor forward_block(const torch::Tensor& ids, const torch::Tensor& positions, const torch::Tensor& t,
                              const torch::Tensor& key_valid, KVCache& cache, const torch::Tensor& out = {});
  // The same two passes up to the hidden states (before the head), for a sampler that runs the head
  // itself in chunks of positions.
  torch::Tensor hidden_store(const torch::Tensor& ids, const torch::Tensor& t, const torch::Tensor& key_valid,
                             KVCache& cache, const torch::Tensor& out = {});
  torch::Tensor hidden_block(const torch::Tensor& ids, const torch::Tensor& positions, const torch::Tensor& t,
                             const torch::Tensor& key_valid, KVCache& cache, const torch::Tensor& out = {});

 private:
  // The shared pass: ids at `positions` (B, L) or at offset .. offset + L - 1, through every block
  // with `mode` on the cache's layers and the final norm; at `out` (B, K) only, when given. (B, L|K, D)
  torch::Tensor trunk(const torch::Tensor& ids, const torch::Tensor& t, int64_t offset, const torch::Tensor& positions,
                      const torch::Tensor& key_valid, KVCache* cache, CacheMode mode, const torch::Tensor& out = {});
  torch::Tensor embed(const torch::Tensor& ids, int64_t offset, const torch::Tensor& positions);
  ModelConfig config_;
  int64_t max_len_;
  bool causal_;
  bool recompute_ = false;
  torch::nn::Embedding tok_emb_{nullptr}, pos_emb_{nullptr}, type_emb_{nullptr};
  Norm emb_norm_{nullptr};
  torch::nn::Sequential time_mlp_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  Norm norm_f_{nullptr}, head_norm_{nullptr};
  torch::nn::Linear head_dense_{nullptr}, head_{nullptr};
  torch::Tensor head_bias_;
  torch::nn::Dropout drop_{nullptr};
  torch::Tensor rope_cos_, rope_sin_;
  torch::Tensor rope_cos_local_, rope_sin_local_;  ///< local layers' tables when their base differs
  // True when layer `layer` attends within model.local_attention only.
  bool is_local(int64_t layer) const;
};
TORCH_MODULE(Transformer);

class MlpDenoiserImpl : public DenoiserImpl {
 public:
  MlpDenoiserImpl(const ModelConfig& config, int64_t vocab_size, int64_t max_len);
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& t) override;
  // The one hidden vector of each row, seen at each of its L positions (B, L, H) (an expanded view),
  // so that the head knows L; key_valid is ignored, as in forward_rows.
  // `out` must be undefined: the head maps whole rows.
  torch::Tensor hidden(const torch::Tensor& ids, const torch::Tensor& t, const torch::Tensor& key_valid = {},
                       const torch::Tensor& out = {}) override;
  torch::Tensor head(const torch::Tensor& hidden) override;
  bool positionwise_head() const override { return false; }  // one output layer maps the whole row
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
  explicit InferenceScope(torch::nn::Module& module) : module_(module), was_training_(module.is_training()) {
    module_.eval();
  }
  ~InferenceScope() { module_.train(was_training_); }
  InferenceScope(const InferenceScope&) = delete;
  InferenceScope& operator=(const InferenceScope&) = delete;

 private:
  torch::nn::Module& module_;
  bool was_training_;
  torch::NoGradGuard no_grad_;
};

}  // namespace dlm
