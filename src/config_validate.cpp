// Config checks: the range and the combination rules of every field, each failure naming its key.
#include <string>

#include "config_read.h"
#include "dlm/config.h"
#include "dlm/error.h"
#include "dlm/sample_options.h"

namespace dlm {

using config_read::check;

namespace {

// The ranges of the processes' settings; which process takes which is the process's to say
// (Process::check_config, when the process registry resolves the config).
void validate_process_settings(const Config& c) {
  const auto& d = c.diffusion;
  check(d.time_steps >= 0, "diffusion.time_steps", d.time_steps, "must be >= 0 (0: continuous time)");
  check(d.time_steps == 0 || d.rate_dist != RateDist::kDiscrete, "diffusion.time_steps", d.time_steps,
        "does not go with rate_dist discrete (both would set the noise levels)");
  check(d.simplex_scale > 0.0, "diffusion.simplex_scale", d.simplex_scale, "must be > 0");
  check(d.block_length >= 0 && d.block_length < c.data.seq_len, "diffusion.block_length", d.block_length,
        "must be >= 0 and < data.seq_len (" + std::to_string(c.data.seq_len) + ")");
}

}  // namespace

void validate(const Config& c) {
  check(!c.data.path.empty(), "data.path", "\"\"", "a training file is required");
  check(c.data.seq_len >= 2, "data.seq_len", c.data.seq_len, "must be >= 2");
  check(c.data.val_fraction >= 0.0 && c.data.val_fraction < 1.0, "data.val_fraction", c.data.val_fraction,
        "must be in [0, 1)");
  check(c.data.val_max >= 0, "data.val_max", c.data.val_max, "must be >= 0");
  check(c.data.kind != DataKind::kPairs || !c.data.separator.empty(), "data.separator", "\"\"", "pairs need a separator");

  check(c.tokenizer.kind != TokenizerKind::kBpe || !c.tokenizer.path.empty(), "tokenizer.path", "\"\"",
        "a bpe tokenizer needs the folder of its vocabulary files");
  check(c.tokenizer.vocab_size >= 300 && c.tokenizer.vocab_size <= 1000000, "tokenizer.vocab_size",
        c.tokenizer.vocab_size, "must be in [300, 1000000] (byte fallback alone takes 256 pieces)");
  check(c.tokenizer.character_coverage > 0.0 && c.tokenizer.character_coverage <= 1.0,
        "tokenizer.character_coverage", c.tokenizer.character_coverage, "must be in (0, 1]");
  check(c.tokenizer.train_max_bytes > 0, "tokenizer.train_max_bytes", c.tokenizer.train_max_bytes, "must be > 0");
  check(c.eval.t_samples >= 1, "eval.t_samples", c.eval.t_samples, "must be >= 1");
  check(c.eval.batch_size >= 1, "eval.batch_size", c.eval.batch_size, "must be >= 1");
  for (size_t i = 0; i < c.eval.levels.size(); ++i) {
    check(c.eval.levels[i] > 0.0 && c.eval.levels[i] <= 1.0, "eval.levels[" + std::to_string(i) + "]",
          c.eval.levels[i], "must be in (0, 1]");
  }

  const auto& m = c.model;
  check(m.d_model > 0, "model.d_model", m.d_model, "must be > 0");
  check(m.n_layer > 0, "model.n_layer", m.n_layer, "must be > 0");
  check(m.n_head > 0, "model.n_head", m.n_head, "must be > 0");
  if (m.d_model % m.n_head != 0) {
    throw Error("config: model.d_model (" + std::to_string(m.d_model) + ") must be divisible by model.n_head (" +
                std::to_string(m.n_head) + ")");
  }
  check(m.d_ff >= 0, "model.d_ff", m.d_ff, "must be >= 0 (0 means 4 * d_model)");
  check(m.dropout >= 0.0 && m.dropout < 1.0, "model.dropout", m.dropout, "must be in [0, 1)");
  if (m.pos == PosKind::kRotary) {
    check((m.d_model / m.n_head) % 2 == 0, "model.d_model", m.d_model, "rotary positions need an even head size");
  }
  check(m.mlp_hidden > 0, "model.mlp_hidden", m.mlp_hidden, "must be > 0");
  check(m.norm_eps >= 0.0 && m.norm_eps < 1.0, "model.norm_eps", m.norm_eps, "must be in [0, 1) (0: the norm's default)");
  check(m.type_vocab >= 0, "model.type_vocab", m.type_vocab, "must be >= 0 (0: no token types)");
  check(m.pos_offset >= 0, "model.pos_offset", m.pos_offset, "must be >= 0");
  check(m.pos_offset == 0 || m.pos == PosKind::kLearned, "model.pos_offset", m.pos_offset, "needs learned positions");
  check(m.head_activation != Activation::kSwiglu && m.head_activation != Activation::kGeglu, "model.head_activation",
        "\"" + enum_name(m.head_activation) + "\"", "is not a head activation (gelu, gelu_tanh, relu2)");
  check(m.vocab_size >= 0, "model.vocab_size", m.vocab_size, "must be >= 0 (0: the tokenizer's size)");
  check(m.rope_theta > 0.0, "model.rope_theta", m.rope_theta, "must be > 0");
  check(m.local_rope_theta >= 0.0, "model.local_rope_theta", m.local_rope_theta, "must be >= 0 (0: rope_theta)");
  check(m.local_attention >= 0, "model.local_attention", m.local_attention, "must be >= 0 (0: every layer global)");
  check(m.global_every >= 1, "model.global_every", m.global_every, "must be >= 1");
  check(m.first_norm || (m.norm_order == NormOrder::kPre && m.time_cond != TimeCond::kAdaln), "model.first_norm", "false",
        "needs norm_order pre without adaln (layer 0 then reads the embeddings as they are)");
  check(m.max_len == 0 || m.max_len >= c.data.seq_len, "model.max_len", m.max_len,
        "must be 0 (data.seq_len) or at least data.seq_len (" + std::to_string(c.data.seq_len) + ")");
  check(c.tokenizer.kind != TokenizerKind::kHf || !c.tokenizer.path.empty(), "tokenizer.path", "\"\"",
        "an hf tokenizer needs its tokenizer.json or the folder holding one");
  check(m.norm_order == NormOrder::kPre || m.time_cond != TimeCond::kAdaln, "model.norm_order", "\"post\"",
        "does not go with time_cond adaln (adaLN modulates a pre-norm)");

  const auto& d = c.diffusion;
  check(!d.rates.empty(), "diffusion.rates", "[]", "needs at least one rate");
  for (size_t i = 0; i < d.rates.size(); ++i) {
    check(d.rates[i] > 0.0 && d.rates[i] <= 1.0, "diffusion.rates[" + std::to_string(i) + "]", d.rates[i],
          "must be in (0, 1]");
  }
  check(d.eps > 0.0 && d.eps < 1.0, "diffusion.eps", d.eps, "must be in (0, 1)");
  check(d.prefix_len >= 0 && d.prefix_len < c.data.seq_len, "diffusion.prefix_len", d.prefix_len,
        "must be >= 0 and < data.seq_len (" + std::to_string(c.data.seq_len) + ")");
  check(d.prefix_prob >= 0.0 && d.prefix_prob <= 1.0, "diffusion.prefix_prob", d.prefix_prob, "must be in [0, 1]");
  check(d.cfg_dropout >= 0.0 && d.cfg_dropout < 1.0, "diffusion.cfg_dropout", d.cfg_dropout, "must be in [0, 1)");
  validate_process_settings(c);

  check_sample(c.sample);

  const auto& t = c.train;
  check(t.steps >= 1, "train.steps", t.steps, "must be >= 1");
  check(t.batch_size >= 1, "train.batch_size", t.batch_size, "must be >= 1");
  check(t.grad_accum >= 1, "train.grad_accum", t.grad_accum, "must be >= 1");
  check(t.lr > 0.0, "train.lr", t.lr, "must be > 0");
  check(t.min_lr_ratio >= 0.0 && t.min_lr_ratio <= 1.0, "train.min_lr_ratio", t.min_lr_ratio, "must be in [0, 1]");
  check(t.warmup >= 0, "train.warmup", t.warmup, "must be >= 0");
  check(t.weight_decay >= 0.0, "train.weight_decay", t.weight_decay, "must be >= 0");
  check(t.beta1 >= 0.0 && t.beta1 < 1.0, "train.beta1", t.beta1, "must be in [0, 1)");
  check(t.beta2 >= 0.0 && t.beta2 < 1.0, "train.beta2", t.beta2, "must be in [0, 1)");
  check(t.grad_clip >= 0.0, "train.grad_clip", t.grad_clip, "must be >= 0 (0 disables)");
  check(t.time_limit >= 0.0, "train.time_limit", t.time_limit, "must be >= 0 seconds (0: no limit)");
  check(t.dist_timeout > 0.0, "train.dist_timeout", t.dist_timeout, "must be > 0 seconds");
  check(t.eval_every >= 1, "train.eval_every", t.eval_every, "must be >= 1");
  check(t.log_every >= 1, "train.log_every", t.log_every, "must be >= 1");
  check(t.threads >= 0, "train.threads", t.threads, "must be >= 0 (0 means OMP_NUM_THREADS, else the core count)");
}

}  // namespace dlm
