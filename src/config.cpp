// The config's keys: reading a JSON document into a config (strict keys and types) and writing it back.
#include "dlm/config.h"

#include <string>
#include <vector>

#include "config_read.h"
#include "dlm/sample_options.h"

namespace dlm {

namespace {

using nlohmann::json;
using namespace config_read;

void apply_data(DataConfig& c, const json& j, const std::string& p) {
  ObjectReader(j, p, {"kind", "path", "format", "separator", "seq_len", "val_fraction", "val_max", "shuffle_seed",
                      "val_path", "cache_dir"})
      .field("kind", c.kind).field("path", c.path).field("format", c.format).field("separator", c.separator)
      .field("seq_len", c.seq_len).field("val_fraction", c.val_fraction).field("val_max", c.val_max)
      .field("shuffle_seed", c.shuffle_seed).field("val_path", c.val_path).field("cache_dir", c.cache_dir);
}
void apply_tokenizer(TokenizerConfig& c, const json& j, const std::string& p) {
  ObjectReader(j, p, {"kind", "path", "vocab_size", "model_type", "character_coverage", "train_max_bytes"})
      .field("kind", c.kind).field("path", c.path).field("vocab_size", c.vocab_size).field("model_type", c.model_type)
      .field("character_coverage", c.character_coverage).field("train_max_bytes", c.train_max_bytes);
}
void apply_eval(EvalConfig& c, const json& j, const std::string& p) {
  ObjectReader(j, p, {"t_samples", "seed", "batch_size", "levels"})
      .field("t_samples", c.t_samples).field("seed", c.seed).field("batch_size", c.batch_size).field("levels", c.levels);
}
void apply_model(ModelConfig& c, const json& j, const std::string& p) {
  ObjectReader(j, p, {"type", "d_model", "n_layer", "n_head", "d_ff", "dropout", "norm", "pos", "tie_head",
                      "time_cond", "mlp_hidden", "attention", "activation", "norm_weight", "emb_norm", "qk_norm",
                      "bias", "norm_order", "norm_eps", "type_vocab", "pos_offset", "head_transform", "head_activation",
                      "head_bias", "vocab_size", "max_len", "init_from", "mlp_bias", "norm_bias", "head_transform_bias",
                      "first_norm", "rope_theta", "local_rope_theta", "local_attention", "global_every"})
      .field("type", c.type).field("d_model", c.d_model).field("n_layer", c.n_layer).field("n_head", c.n_head)
      .field("d_ff", c.d_ff).field("dropout", c.dropout).field("norm", c.norm).field("pos", c.pos)
      .field("tie_head", c.tie_head).field("time_cond", c.time_cond).field("mlp_hidden", c.mlp_hidden)
      .field("attention", c.attention).field("activation", c.activation).field("norm_weight", c.norm_weight)
      .field("emb_norm", c.emb_norm).field("qk_norm", c.qk_norm).field("bias", c.bias)
      .field("norm_order", c.norm_order).field("norm_eps", c.norm_eps).field("type_vocab", c.type_vocab)
      .field("pos_offset", c.pos_offset).field("head_transform", c.head_transform)
      .field("head_activation", c.head_activation).field("head_bias", c.head_bias).field("vocab_size", c.vocab_size)
      .field("max_len", c.max_len).field("init_from", c.init_from).field("mlp_bias", c.mlp_bias)
      .field("norm_bias", c.norm_bias).field("head_transform_bias", c.head_transform_bias).field("first_norm", c.first_norm)
      .field("rope_theta", c.rope_theta).field("local_rope_theta", c.local_rope_theta)
      .field("local_attention", c.local_attention).field("global_every", c.global_every);
  // Before mlp_bias existed, bias covered the MLP too: a config that sets bias alone keeps that meaning.
  if (j.contains("bias") && !j.contains("mlp_bias")) c.mlp_bias = c.bias;
}
void apply_diffusion(DiffusionConfig& c, const json& j, const std::string& p) {
  ObjectReader(j, p, {"noise", "time_steps", "simplex_scale", "block_length", "rate_dist", "rates", "eps", "rate_per",
                      "prefix_len", "prefix_prob", "loss_on", "weighting", "mask_pad", "cfg_dropout"})
      .field("noise", c.noise).field("time_steps", c.time_steps).field("simplex_scale", c.simplex_scale)
      .field("block_length", c.block_length).field("rate_dist", c.rate_dist).field("rates", c.rates).field("eps", c.eps).field("rate_per", c.rate_per)
      .field("prefix_len", c.prefix_len).field("prefix_prob", c.prefix_prob).field("loss_on", c.loss_on).field("weighting", c.weighting)
      .field("mask_pad", c.mask_pad).field("cfg_dropout", c.cfg_dropout);
}
void apply_sample(SampleConfig& c, const json& j, const std::string& p) {
  std::vector<std::string> keys;
  for (const auto& o : sample_options()) keys.push_back(o.key);
  ObjectReader reader(j, p, keys);
  for (const auto& o : sample_options()) {
    if (const json* v = reader.child(o.key.c_str())) o.read(c, *v, join_path(p, o.key));
  }
}
void apply_train(TrainConfig& c, const json& j, const std::string& p) {
  ObjectReader(j, p, {"steps", "batch_size", "grad_accum", "lr", "min_lr_ratio", "warmup", "weight_decay", "beta1",
                      "beta2", "grad_clip", "seed", "eval_every", "log_every", "threads", "device",
                      "precision", "time_limit", "dist_backend", "dist_timeout"})
      .field("steps", c.steps).field("batch_size", c.batch_size).field("grad_accum", c.grad_accum)
      .field("lr", c.lr).field("min_lr_ratio", c.min_lr_ratio).field("warmup", c.warmup)
      .field("weight_decay", c.weight_decay).field("beta1", c.beta1).field("beta2", c.beta2)
      .field("grad_clip", c.grad_clip).field("seed", c.seed).field("eval_every", c.eval_every)
      .field("log_every", c.log_every).field("threads", c.threads).field("device", c.device)
      .field("precision", c.precision).field("time_limit", c.time_limit)
      .field("dist_backend", c.dist_backend).field("dist_timeout", c.dist_timeout);
}

}  // namespace

json to_json(const Config& c) {
  return {
      {"name", c.name},
      {"objective", enum_name(c.objective)},
      {"data",
       {{"kind", enum_name(c.data.kind)}, {"path", c.data.path}, {"format", enum_name(c.data.format)}, {"separator", c.data.separator},
        {"seq_len", c.data.seq_len}, {"val_fraction", c.data.val_fraction}, {"val_max", c.data.val_max},
        {"shuffle_seed", c.data.shuffle_seed}, {"val_path", c.data.val_path}, {"cache_dir", c.data.cache_dir}}},
      {"tokenizer",
       {{"kind", enum_name(c.tokenizer.kind)}, {"path", c.tokenizer.path}, {"vocab_size", c.tokenizer.vocab_size},
        {"model_type", enum_name(c.tokenizer.model_type)}, {"character_coverage", c.tokenizer.character_coverage},
        {"train_max_bytes", c.tokenizer.train_max_bytes}}},
      {"model",
       {{"type", enum_name(c.model.type)}, {"d_model", c.model.d_model}, {"n_layer", c.model.n_layer},
        {"n_head", c.model.n_head}, {"d_ff", c.model.d_ff}, {"dropout", c.model.dropout}, {"norm", enum_name(c.model.norm)},
        {"pos", enum_name(c.model.pos)}, {"tie_head", c.model.tie_head}, {"time_cond", enum_name(c.model.time_cond)}, {"attention", enum_name(c.model.attention)},
        {"activation", enum_name(c.model.activation)}, {"norm_weight", c.model.norm_weight},
        {"emb_norm", c.model.emb_norm}, {"qk_norm", c.model.qk_norm}, {"bias", c.model.bias},
        {"mlp_hidden", c.model.mlp_hidden}, {"norm_order", enum_name(c.model.norm_order)}, {"norm_eps", c.model.norm_eps},
        {"type_vocab", c.model.type_vocab}, {"pos_offset", c.model.pos_offset}, {"head_transform", c.model.head_transform},
        {"head_activation", enum_name(c.model.head_activation)}, {"head_bias", c.model.head_bias},
        {"vocab_size", c.model.vocab_size}, {"max_len", c.model.max_len}, {"init_from", c.model.init_from},
        {"mlp_bias", c.model.mlp_bias}, {"norm_bias", c.model.norm_bias}, {"head_transform_bias", c.model.head_transform_bias},
        {"first_norm", c.model.first_norm}, {"rope_theta", c.model.rope_theta}, {"local_rope_theta", c.model.local_rope_theta},
        {"local_attention", c.model.local_attention}, {"global_every", c.model.global_every}}},
      {"diffusion",
       {{"noise", enum_name(c.diffusion.noise)}, {"time_steps", c.diffusion.time_steps},
        {"simplex_scale", c.diffusion.simplex_scale}, {"block_length", c.diffusion.block_length},
        {"rate_dist", enum_name(c.diffusion.rate_dist)}, {"rates", c.diffusion.rates}, {"eps", c.diffusion.eps},
        {"rate_per", enum_name(c.diffusion.rate_per)}, {"prefix_len", c.diffusion.prefix_len},
        {"prefix_prob", c.diffusion.prefix_prob},
        {"loss_on", enum_name(c.diffusion.loss_on)}, {"weighting", enum_name(c.diffusion.weighting)},
        {"mask_pad", c.diffusion.mask_pad}, {"cfg_dropout", c.diffusion.cfg_dropout}}},
      {"sample", sample_json(c.sample)},
      {"train",
       {{"steps", c.train.steps}, {"batch_size", c.train.batch_size}, {"grad_accum", c.train.grad_accum},
        {"lr", c.train.lr}, {"min_lr_ratio", c.train.min_lr_ratio}, {"warmup", c.train.warmup},
        {"weight_decay", c.train.weight_decay}, {"beta1", c.train.beta1}, {"beta2", c.train.beta2},
        {"grad_clip", c.train.grad_clip}, {"seed", c.train.seed}, {"eval_every", c.train.eval_every},
        {"log_every", c.train.log_every}, {"threads", c.train.threads}, {"device", device_name(c.train.device)},
        {"precision", enum_name(c.train.precision)}, {"time_limit", c.train.time_limit},
        {"dist_backend", enum_name(c.train.dist_backend)}, {"dist_timeout", c.train.dist_timeout}}},
      {"eval",
       {{"t_samples", c.eval.t_samples}, {"seed", c.eval.seed}, {"batch_size", c.eval.batch_size},
        {"levels", c.eval.levels}}},
  };
}

void apply_json(Config& c, const json& j, const std::string& path) {
  ObjectReader top(j, path, {"name", "objective", "data", "tokenizer", "model", "diffusion", "sample", "train", "eval"});
  top.field("name", c.name).field("objective", c.objective);
  if (const json* s = top.child("data")) apply_data(c.data, *s, join_path(path, "data"));
  if (const json* s = top.child("tokenizer")) apply_tokenizer(c.tokenizer, *s, join_path(path, "tokenizer"));
  if (const json* s = top.child("model")) apply_model(c.model, *s, join_path(path, "model"));
  if (const json* s = top.child("diffusion")) apply_diffusion(c.diffusion, *s, join_path(path, "diffusion"));
  if (const json* s = top.child("sample")) apply_sample(c.sample, *s, join_path(path, "sample"));
  if (const json* s = top.child("train")) apply_train(c.train, *s, join_path(path, "train"));
  if (const json* s = top.child("eval")) apply_eval(c.eval, *s, join_path(path, "eval"));
}

int64_t model_context(const Config& c) { return c.model.max_len > 0 ? c.model.max_len : c.data.seq_len; }

}  // namespace dlm
