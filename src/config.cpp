// The config's keys, one table per section, each key spelled once: the tables read a JSON document
// (strict keys and types), write the config back and check each key's own range.
#include "dlm/config.h"

#include <string>

#include "config_keys.h"
#include "dlm/sample_options.h"

namespace dlm {
namespace config_read {
namespace {

// Every table lists its keys in the order to_json and the unknown-key message give them.
const KeyTable<DataConfig> kDataKeys = {
    key("kind", &DataConfig::kind),
    key("path", &DataConfig::path),
    key("format", &DataConfig::format),
    key("separator", &DataConfig::separator),
    key("seq_len", &DataConfig::seq_len, "must be >= 2", [](auto v) { return v >= 2; }),
    key("val_fraction", &DataConfig::val_fraction, "must be in [0, 1)", [](auto v) { return v >= 0 && v < 1; }),
    key("val_max", &DataConfig::val_max, "must be >= 0", [](auto v) { return v >= 0; }),
    key("shuffle_seed", &DataConfig::shuffle_seed),
    key("val_path", &DataConfig::val_path),
    key("cache_dir", &DataConfig::cache_dir),
    key("window_offsets", &DataConfig::window_offsets),
};

const KeyTable<TokenizerConfig> kTokenizerKeys = {
    key("kind", &TokenizerConfig::kind),
    key("path", &TokenizerConfig::path),
    key("vocab_size", &TokenizerConfig::vocab_size, "must be in [300, 1000000] (byte fallback alone takes 256 pieces)",
        [](auto v) { return v >= 300 && v <= 1000000; }),
    key("model_type", &TokenizerConfig::model_type),
    key("character_coverage", &TokenizerConfig::character_coverage, "must be in (0, 1]",
        [](auto v) { return v > 0 && v <= 1; }),
    key("train_max_bytes", &TokenizerConfig::train_max_bytes, "must be > 0", [](auto v) { return v > 0; }),
};

const KeyTable<ModelConfig> kModelKeys = {
    key("type", &ModelConfig::type),
    key("d_model", &ModelConfig::d_model, "must be > 0", [](auto v) { return v > 0; }),
    key("n_layer", &ModelConfig::n_layer, "must be > 0", [](auto v) { return v > 0; }),
    key("n_head", &ModelConfig::n_head, "must be > 0", [](auto v) { return v > 0; }),
    key("d_ff", &ModelConfig::d_ff, "must be >= 0 (0 means 4 * d_model)", [](auto v) { return v >= 0; }),
    key("dropout", &ModelConfig::dropout, "must be in [0, 1)", [](auto v) { return v >= 0 && v < 1; }),
    key("norm", &ModelConfig::norm),
    key("pos", &ModelConfig::pos),
    key("tie_head", &ModelConfig::tie_head),
    key("time_cond", &ModelConfig::time_cond),
    key("mlp_hidden", &ModelConfig::mlp_hidden, "must be > 0", [](auto v) { return v > 0; }),
    key("attention", &ModelConfig::attention),
    key("activation", &ModelConfig::activation),
    key("norm_weight", &ModelConfig::norm_weight),
    key("emb_norm", &ModelConfig::emb_norm),
    key("qk_norm", &ModelConfig::qk_norm),
    // Before mlp_bias existed, bias covered the MLP too: a config that sets bias alone keeps that meaning.
    key_also_setting("bias", &ModelConfig::bias, &ModelConfig::mlp_bias),
    key("norm_order", &ModelConfig::norm_order),
    key("norm_eps", &ModelConfig::norm_eps, "must be in [0, 1) (0: the norm's default)",
        [](auto v) { return v >= 0 && v < 1; }),
    key("type_vocab", &ModelConfig::type_vocab, "must be >= 0 (0: no token types)", [](auto v) { return v >= 0; }),
    key("pos_offset", &ModelConfig::pos_offset, "must be >= 0", [](auto v) { return v >= 0; }),
    key("head_transform", &ModelConfig::head_transform),
    key("head_activation", &ModelConfig::head_activation, "is not a head activation (gelu, gelu_tanh, relu2)",
        [](Activation a) { return a != Activation::kSwiglu && a != Activation::kGeglu; }),
    key("head_bias", &ModelConfig::head_bias),
    key("vocab_size", &ModelConfig::vocab_size, "must be >= 0 (0: the tokenizer's size)",
        [](auto v) { return v >= 0; }),
    key("max_len", &ModelConfig::max_len),
    key("init_from", &ModelConfig::init_from),
    key("mlp_bias", &ModelConfig::mlp_bias),  // after bias, so that it has the last word when both are given
    key("norm_bias", &ModelConfig::norm_bias),
    key("head_transform_bias", &ModelConfig::head_transform_bias),
    key("first_norm", &ModelConfig::first_norm),
    key("rope_theta", &ModelConfig::rope_theta, "must be > 0", [](auto v) { return v > 0; }),
    key("local_rope_theta", &ModelConfig::local_rope_theta, "must be >= 0 (0: rope_theta)",
        [](auto v) { return v >= 0; }),
    key("local_attention", &ModelConfig::local_attention, "must be >= 0 (0: every layer global)",
        [](auto v) { return v >= 0; }),
    key("global_every", &ModelConfig::global_every, "must be >= 1", [](auto v) { return v >= 1; }),
    key("n_kv_head", &ModelConfig::n_kv_head, "must be >= 0 (0: n_head)", [](auto v) { return v >= 0; }),
    key("out_bias", &ModelConfig::out_bias),
    key("shift", &ModelConfig::shift),
};

const KeyTable<DiffusionConfig> kDiffusionKeys = {
    key("noise", &DiffusionConfig::noise),
    key("time_steps", &DiffusionConfig::time_steps, "must be >= 0 (0: continuous time)", [](auto v) { return v >= 0; }),
    key("simplex_scale", &DiffusionConfig::simplex_scale, "must be > 0", [](auto v) { return v > 0; }),
    key("block_length", &DiffusionConfig::block_length),
    key("rate_dist", &DiffusionConfig::rate_dist),
    each_key("rates", &DiffusionConfig::rates, "must be in (0, 1]", [](auto v) { return v > 0 && v <= 1; }),
    key("eps", &DiffusionConfig::eps, "must be in (0, 1)", [](auto v) { return v > 0 && v < 1; }),
    key("rate_per", &DiffusionConfig::rate_per),
    key("prefix_len", &DiffusionConfig::prefix_len),
    key("prefix_prob", &DiffusionConfig::prefix_prob, "must be in [0, 1]", [](auto v) { return v >= 0 && v <= 1; }),
    key("loss_on", &DiffusionConfig::loss_on),
    key("weighting", &DiffusionConfig::weighting),
    key("mask_pad", &DiffusionConfig::mask_pad),
    key("cfg_dropout", &DiffusionConfig::cfg_dropout, "must be in [0, 1)", [](auto v) { return v >= 0 && v < 1; }),
};

const KeyTable<TrainConfig> kTrainKeys = {
    key("steps", &TrainConfig::steps, "must be >= 1", [](auto v) { return v >= 1; }),
    key("batch_size", &TrainConfig::batch_size, "must be >= 1", [](auto v) { return v >= 1; }),
    key("grad_accum", &TrainConfig::grad_accum, "must be >= 1", [](auto v) { return v >= 1; }),
    key("lr", &TrainConfig::lr, "must be > 0", [](auto v) { return v > 0; }),
    key("min_lr_ratio", &TrainConfig::min_lr_ratio, "must be in [0, 1]", [](auto v) { return v >= 0 && v <= 1; }),
    key("warmup", &TrainConfig::warmup, "must be >= 0", [](auto v) { return v >= 0; }),
    key("weight_decay", &TrainConfig::weight_decay, "must be >= 0", [](auto v) { return v >= 0; }),
    key("beta1", &TrainConfig::beta1, "must be in [0, 1)", [](auto v) { return v >= 0 && v < 1; }),
    key("beta2", &TrainConfig::beta2, "must be in [0, 1)", [](auto v) { return v >= 0 && v < 1; }),
    key("grad_clip", &TrainConfig::grad_clip, "must be >= 0 (0 disables)", [](auto v) { return v >= 0; }),
    key("seed", &TrainConfig::seed),
    key("eval_every", &TrainConfig::eval_every, "must be >= 1", [](auto v) { return v >= 1; }),
    key("log_every", &TrainConfig::log_every, "must be >= 1", [](auto v) { return v >= 1; }),
    key("threads", &TrainConfig::threads, "must be >= 0 (0 means OMP_NUM_THREADS, else the core count)",
        [](auto v) { return v >= 0; }),
    key("device", &TrainConfig::device),
    key("precision", &TrainConfig::precision),
    key("recompute", &TrainConfig::recompute),
    key("time_limit", &TrainConfig::time_limit, "must be >= 0 seconds (0: no limit)", [](auto v) { return v >= 0; }),
    key("dist_backend", &TrainConfig::dist_backend),
    key("dist_timeout", &TrainConfig::dist_timeout, "must be > 0 seconds", [](auto v) { return v > 0; }),
};

const KeyTable<EvalConfig> kEvalKeys = {
    key("t_samples", &EvalConfig::t_samples, "must be >= 1", [](auto v) { return v >= 1; }),
    key("seed", &EvalConfig::seed),
    key("batch_size", &EvalConfig::batch_size, "must be >= 1", [](auto v) { return v >= 1; }),
    each_key("levels", &EvalConfig::levels, "must be in (0, 1]", [](auto v) { return v > 0 && v <= 1; }),
};

// The top level: two keys and the sections. The sampler's settings keep their own table
// (dlm/sample_options.h), which also gives dgen's flags.
const KeyTable<Config> kConfigKeys = {
    key("name", &Config::name),
    key("objective", &Config::objective),
    section("data", &Config::data, kDataKeys),
    section("tokenizer", &Config::tokenizer, kTokenizerKeys),
    section("model", &Config::model, kModelKeys),
    section("diffusion", &Config::diffusion, kDiffusionKeys),
    section("sample", &Config::sample, sample_options(),
            [](const SampleConfig& sample, const std::string&) { check_sample(sample); }),
    section("train", &Config::train, kTrainKeys),
    section("eval", &Config::eval, kEvalKeys),
};

}  // namespace

void check_keys(const Config& config) { check_keys(kConfigKeys, config, ""); }

}  // namespace config_read

nlohmann::json to_json(const Config& config) { return config_read::write_keys(config_read::kConfigKeys, config); }

void apply_json(Config& config, const nlohmann::json& j, const std::string& path) {
  config_read::read_keys(config_read::kConfigKeys, config, j, path);
}

int64_t model_context(const Config& c) { return c.model.max_len > 0 ? c.model.max_len : c.data.seq_len; }

}  // namespace dlm
