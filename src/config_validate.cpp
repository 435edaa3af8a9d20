// Config checks: the rules that join several keys (each key's own range is in its table entry, config.cpp),
// each failure naming its key.
#include <string>

#include "config_keys.h"
#include "config_read.h"
#include "dlm/config.h"
#include "dlm/error.h"

namespace dlm {

using config_read::check;

namespace {

// The rules that join the processes' settings to others; which process takes which setting is the
// process's to say (Process::check_config, when the registry resolves the config).
void validate_process_settings(const Config& c) {
  const auto& d = c.diffusion;
  check(d.time_steps == 0 || d.rate_dist != RateDist::kDiscrete, "diffusion.time_steps", d.time_steps,
        "does not go with rate_dist discrete (both would set the noise levels)");
  check(d.block_length >= 0 && d.block_length < c.data.seq_len, "diffusion.block_length", d.block_length,
        "must be >= 0 and < data.seq_len (" + std::to_string(c.data.seq_len) + ")");
}

}  // namespace

void validate(const Config& c) {
  // Each key's own rule first (its table entry in config.cpp), so that the rules joining keys below see
  // values in range (d_model % n_head needs n_head > 0).
  config_read::check_keys(c);
  check(!c.data.path.empty(), "data.path", "\"\"", "a training file is required");
  check(c.data.kind != DataKind::kPairs || !c.data.separator.empty(), "data.separator", "\"\"",
        "pairs need a separator");
  check(c.data.window_offsets == WindowOffsets::kFixed || c.data.kind == DataKind::kText ||
            c.data.kind == DataKind::kCorpus,
        "data.window_offsets", "\"random\"", "needs data.kind text or corpus (windows of running text)");

  check(c.tokenizer.kind != TokenizerKind::kBpe || !c.tokenizer.path.empty(), "tokenizer.path", "\"\"",
        "a bpe tokenizer needs the folder of its vocabulary files");

  const auto& m = c.model;
  if (m.d_model % m.n_head != 0) {
    throw Error("config: model.d_model (" + std::to_string(m.d_model) + ") must be divisible by model.n_head (" +
                std::to_string(m.n_head) + ")");
  }
  check(m.n_kv_head == 0 || m.n_head % m.n_kv_head == 0, "model.n_kv_head", m.n_kv_head,
        "must divide model.n_head (" + std::to_string(m.n_head) + ")");
  if (m.pos == PosKind::kRotary) {
    check((m.d_model / m.n_head) % 2 == 0, "model.d_model", m.d_model, "rotary positions need an even head size");
  }
  check(m.pos_offset == 0 || m.pos == PosKind::kLearned, "model.pos_offset", m.pos_offset, "needs learned positions");
  check(m.first_norm || (m.norm_order == NormOrder::kPre && m.time_cond != TimeCond::kAdaln), "model.first_norm",
        "false", "needs norm_order pre without adaln (layer 0 then reads the embeddings as they are)");
  check(m.max_len == 0 || m.max_len >= c.data.seq_len, "model.max_len", m.max_len,
        "must be 0 (data.seq_len) or at least data.seq_len (" + std::to_string(c.data.seq_len) + ")");
  check(c.tokenizer.kind != TokenizerKind::kHf || !c.tokenizer.path.empty(), "tokenizer.path", "\"\"",
        "an hf tokenizer needs its tokenizer.json or the folder holding one");
  check(m.norm_order == NormOrder::kPre || m.time_cond != TimeCond::kAdaln, "model.norm_order", "\"post\"",
        "does not go with time_cond adaln (adaLN modulates a pre-norm)");

  const auto& d = c.diffusion;
  check(!d.rates.empty(), "diffusion.rates", "[]", "needs at least one rate");
  check(d.prefix_len >= 0 && d.prefix_len < c.data.seq_len, "diffusion.prefix_len", d.prefix_len,
        "must be >= 0 and < data.seq_len (" + std::to_string(c.data.seq_len) + ")");
  validate_process_settings(c);
}

}  // namespace dlm
