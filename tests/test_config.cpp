// Config layering and strict validation: unknown keys and wrong types name their full path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "dlm/config.h"
#include "dlm/error.h"
#include "dlm/json.h"
#include "dlm/sample_options.h"
#include "test_util.h"

namespace {

using dlm_test::error_of;

// Member counting by brace initialisation (the technique Boost.PFR uses): T{m, m, ...} with values of
// AnyMember, which converts to any type, compiles for at most as many initialisers as the aggregate T
// has members, so the largest count that compiles is the number of members.
struct AnyMember {
  template <class T>
  operator T() const;  // declared only: it is used in unevaluated contexts
};

template <class T, class... Members>
constexpr auto brace_initialisable(int) -> decltype(T{std::declval<Members>()...}, true) {
  return true;
}
template <class T, class... Members>
constexpr bool brace_initialisable(...) {
  return false;
}

template <class T, class... Members>
constexpr size_t field_count() {
  if constexpr (brace_initialisable<T, Members..., AnyMember>(0)) {
    return field_count<T, Members..., AnyMember>();
  } else {
    return sizeof...(Members);
  }
}

struct ThreeMembers {
  int64_t a = 1;
  std::string b = "b";
  std::vector<double> c = {1.0};
};
static_assert(field_count<ThreeMembers>() == 3, "field_count counts the members of an aggregate");

TEST(Config, FileOverridesDefaultsAndFlagsOverrideFile) {
  dlm::Config c;
  dlm::apply_json(c, nlohmann::json::parse(R"({"model": {"d_model": 64, "n_head": 2}, "train": {"lr": 0.01}})"));
  EXPECT_EQ(c.model.d_model, 64);
  EXPECT_EQ(c.model.n_layer, 4);  // untouched default
  dlm::apply_override(c, "model.d_model=256");
  dlm::apply_override(c, "sample.schedule=linear");
  dlm::apply_override(c, "diffusion.rates=[0.5, 0.25]");
  dlm::apply_override(c, "model.tie_head=false");
  EXPECT_EQ(c.model.d_model, 256);
  EXPECT_EQ(c.sample.schedule, dlm::Schedule::kLinear);
  EXPECT_EQ(c.diffusion.rates, (std::vector<double>{0.5, 0.25}));
  EXPECT_FALSE(c.model.tie_head);
  EXPECT_DOUBLE_EQ(c.train.lr, 0.01);
}

TEST(Config, UnknownKeyNamesItsFullPath) {
  dlm::Config c;
  const std::string msg = error_of([&] { dlm::apply_json(c, nlohmann::json::parse(R"({"model": {"d_modle": 3}})")); });
  EXPECT_NE(msg.find("model.d_modle"), std::string::npos) << msg;
  EXPECT_NE(msg.find("d_model"), std::string::npos) << "should list the valid keys: " << msg;
  const std::string top = error_of([&] { dlm::apply_json(c, nlohmann::json::parse(R"({"modle": {}})")); });
  EXPECT_NE(top.find("'modle'"), std::string::npos) << top;
  const std::string flag = error_of([&] { dlm::apply_override(c, "train.nope=1"); });
  EXPECT_NE(flag.find("train.nope"), std::string::npos) << flag;
}

TEST(Config, WrongTypeNamesPathAndExpectedType) {
  dlm::Config c;
  const std::string msg = error_of([&] { dlm::apply_json(c, nlohmann::json::parse(R"({"model": {"n_head": "8"}})")); });
  EXPECT_NE(msg.find("model.n_head"), std::string::npos) << msg;
  EXPECT_NE(msg.find("integer"), std::string::npos) << msg;
  const std::string arr =
      error_of([&] { dlm::apply_json(c, nlohmann::json::parse(R"({"diffusion": {"rates": [1, "x"]}})")); });
  EXPECT_NE(arr.find("diffusion.rates[1]"), std::string::npos) << arr;
}

TEST(Config, ValidationRejectsOutOfRangeValuesWithTheValue) {
  dlm::Config c;
  c.data.path = "x.txt";
  EXPECT_NO_THROW(dlm::validate(c));
  c.model.d_model = 300;
  c.model.n_head = 8;
  const std::string msg = error_of([&] { dlm::validate(c); });
  EXPECT_NE(msg.find("300"), std::string::npos) << msg;
  EXPECT_NE(msg.find("divisible"), std::string::npos) << msg;
  c = dlm::Config();
  c.data.path = "x.txt";
  c.diffusion.rates = {0.5, 1.5};
  EXPECT_NE(error_of([&] { dlm::validate(c); }).find("diffusion.rates[1]"), std::string::npos);
  c = dlm::Config();
  c.data.path = "x.txt";
  c.data.window_offsets = dlm::WindowOffsets::kRandom;  // data.kind lines has no running text
  const std::string windows = error_of([&] { dlm::validate(c); });
  EXPECT_NE(windows.find("data.window_offsets"), std::string::npos) << windows;
  EXPECT_NE(windows.find("text or corpus"), std::string::npos) << windows;
  c.data.kind = dlm::DataKind::kText;
  EXPECT_NO_THROW(dlm::validate(c));
  c = dlm::Config();
  c.data.path = "x.txt";
  const std::string names = error_of([&] { dlm::apply_override(c, "sample.schedule=wavy"); });
  EXPECT_NE(names.find("linear, cosine, exponential, loglinear"), std::string::npos) << names;
}

TEST(Config, MalformedJsonFileIsOneClearError) {
  const std::string path = testing::TempDir() + "/bad.json";
  std::ofstream(path) << "{\"model\": {\"d_model\": 64,}}";
  const std::string msg = error_of([&] { dlm::load_config_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("malformed JSON"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { dlm::load_config_file(path + ".missing"); }).find("no such file"), std::string::npos);
}

TEST(Config, NameDefaultsToFileStemAndDataPathResolvesAgainstTheFile) {
  const std::string dir = testing::TempDir() + "/cfgdir";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/demo.json") << R"({"data": {"path": "corpus.txt"}})";
  const dlm::Config c = dlm::load_config_file(dir + "/demo.json");
  EXPECT_EQ(c.name, "demo");
  EXPECT_EQ(std::filesystem::path(c.data.path), std::filesystem::path(dir) / "corpus.txt");
}

// Found by fuzz_config: an override with invalid UTF-8, and a number too large for a double,
// escaped as exceptions other than dlm::Error.
TEST(Config, FuzzRegressionsInvalidUtf8AndNumberOverflow) {
  dlm::Config c;
  EXPECT_NE(error_of([&] { dlm::apply_override(c, "model.d_model=25\xb2\xa0"); }).find("UTF-8"), std::string::npos);
  EXPECT_NE(error_of([&] { dlm::parse_json("V555E555", "x.json"); }).find("malformed JSON"), std::string::npos);
  EXPECT_NE(error_of([&] { dlm::parse_json("{\"a\": 1e999}", "x.json"); }).find("x.json"), std::string::npos);
}

// Every key of every section, each with a value that is not its default: read into a config and
// written back, the document must come out unchanged. A key the reader drops is refused as unknown, a
// key the writer drops is missing, and a key read into the wrong field comes back as its default.
TEST(Config, EveryKeyRoundTripsThroughJson) {
  const nlohmann::json doc = nlohmann::json::parse(R"({
    "name": "every-key", "objective": "ar",
    "data": {"kind": "pairs", "path": "d.txt", "format": "tsv", "separator": "|", "seq_len": 48,
             "val_fraction": 0.25, "val_max": 7, "shuffle_seed": 9, "val_path": "v.txt", "cache_dir": "cache",
             "window_offsets": "random"},
    "tokenizer": {"kind": "sentencepiece", "path": "t.model", "vocab_size": 500, "model_type": "bpe",
                  "character_coverage": 0.5, "train_max_bytes": 1000},
    "model": {"type": "mlp", "d_model": 96, "n_layer": 3, "n_head": 6, "d_ff": 200, "dropout": 0.25,
              "norm": "rmsnorm", "pos": "rotary", "tie_head": false, "time_cond": "adaln", "mlp_hidden": 64,
              "attention": "explicit", "activation": "swiglu", "norm_weight": false, "emb_norm": true,
              "qk_norm": true, "bias": false, "norm_order": "post", "norm_eps": 1e-7, "type_vocab": 2, "pos_offset": 2,
              "head_transform": true, "head_activation": "gelu_tanh", "head_bias": true, "vocab_size": 300,
              "max_len": 64, "init_from": "some/folder", "mlp_bias": false, "norm_bias": false,
              "head_transform_bias": false, "first_norm": false, "rope_theta": 500.0, "local_rope_theta": 250.0,
              "local_attention": 8, "global_every": 2, "n_kv_head": 3, "out_bias": false, "shift": true},
    "diffusion": {"noise": "uniform", "time_steps": 100, "simplex_scale": 2.5, "block_length": 6,
                  "rate_dist": "antithetic", "rates": [0.5, 0.25], "eps": 0.125, "rate_per": "batch",
                  "prefix_len": 4, "prefix_prob": 0.5, "loss_on": "all", "weighting": "elbo", "mask_pad": false,
                  "cfg_dropout": 0.125},
    "sample": {"steps": 12, "schedule": "loglinear", "strategy": "margin", "sampling": "nucleus",
               "temperature": 0.5, "top_k": 3, "top_p": 0.75, "length": 9, "threshold": 0.5,
               "entropy_bound": 0.25, "factor": 0.75, "order_temperature": 0.5, "block_length": 8, "kv_cache": true, "kv_cache_mode": "prefix", "stop_at_eos": true,
               "cache": false, "cfg_scale": 1.5, "stop": ["END", "\n\n"], "sampler": "dream", "alg_temp": 0.5,
               "eps": 0.25, "rng": "torch"},
    "train": {"steps": 77, "batch_size": 5, "grad_accum": 2, "lr": 0.0625, "min_lr_ratio": 0.5, "warmup": 3,
              "weight_decay": 0.125, "beta1": 0.5, "beta2": 0.75, "grad_clip": 2.0, "seed": 11, "eval_every": 13,
              "log_every": 17, "threads": 1, "device": "cuda:1", "precision": "bf16", "recompute": true, "time_limit": 60.0,
              "dist_backend": "gloo", "dist_timeout": 30.0},
    "eval": {"t_samples": 3, "seed": 5, "batch_size": 4, "levels": [0.5]}
  })");
  const nlohmann::json defaults = dlm::to_json(dlm::Config{});
  ASSERT_EQ(doc.size(), defaults.size());
  for (const auto& [section, value] : defaults.items()) {
    ASSERT_TRUE(doc.contains(section)) << section;
    if (!value.is_object()) {
      EXPECT_NE(doc[section], value) << section << " must differ from its default";
      continue;
    }
    EXPECT_EQ(doc[section].size(), value.size()) << section << ": the document must name every key";
    for (const auto& [key, v] : value.items()) {
      ASSERT_TRUE(doc[section].contains(key)) << section << "." << key;
      EXPECT_NE(doc[section][key], v) << section << "." << key << " must differ from its default";
    }
  }
  dlm::Config c;
  dlm::apply_json(c, doc);
  EXPECT_EQ(dlm::to_json(c), doc);
  EXPECT_EQ(c.train.device, (dlm::DeviceChoice{dlm::DeviceChoice::Kind::kCuda, 1}));
  EXPECT_EQ(c.model.attention, dlm::AttentionKind::kExplicit);
}

// A member added to a config struct but not to its section's key table (src/config.cpp) would be
// neither read nor written nor checkpointed. to_json writes one key per table entry, so each section's
// key count must equal its struct's member count (field_count above).
TEST(Config, EveryStructMemberHasATableEntry) {
  const nlohmann::json defaults = dlm::to_json(dlm::Config{});
  EXPECT_EQ(defaults.size(), field_count<dlm::Config>()) << "the top level: name, objective and the sections";
  EXPECT_EQ(defaults["data"].size(), field_count<dlm::DataConfig>()) << "data";
  EXPECT_EQ(defaults["tokenizer"].size(), field_count<dlm::TokenizerConfig>()) << "tokenizer";
  EXPECT_EQ(defaults["model"].size(), field_count<dlm::ModelConfig>()) << "model";
  EXPECT_EQ(defaults["diffusion"].size(), field_count<dlm::DiffusionConfig>()) << "diffusion";
  EXPECT_EQ(defaults["sample"].size(), field_count<dlm::SampleConfig>()) << "sample (aliases are not written)";
  const auto& options = dlm::sample_options();
  EXPECT_EQ(std::count_if(options.begin(), options.end(), [](const auto& o) { return !o.alias; }),
            static_cast<std::ptrdiff_t>(field_count<dlm::SampleConfig>()))
      << "one table row per sample member besides the aliases";
  EXPECT_EQ(defaults["train"].size(), field_count<dlm::TrainConfig>()) << "train";
  EXPECT_EQ(defaults["eval"].size(), field_count<dlm::EvalConfig>()) << "eval";
}

// The unknown-key message lists the section's keys in table order.
TEST(Config, UnknownKeyListsTheSectionsKeysInOrder) {
  dlm::Config c;
  EXPECT_EQ(error_of([&] { dlm::apply_override(c, "eval.nope=1"); }),
            "unknown config key 'eval.nope' (valid keys in 'eval': t_samples, seed, batch_size, levels)");
  EXPECT_EQ(error_of([&] { dlm::apply_override(c, "nope=1"); }),
            "unknown config key 'nope' (valid keys: name, objective, data, tokenizer, model, diffusion, sample, "
            "train, eval)");
  const std::string model = error_of([&] { dlm::apply_override(c, "model.d_modle=1"); });
  EXPECT_EQ(model.rfind("unknown config key 'model.d_modle' (valid keys in 'model': type, d_model, n_layer, ", 0), 0u)
      << model;
  EXPECT_NE(model.find(", local_attention, global_every, n_kv_head, out_bias, shift)"), std::string::npos) << model;
}

// A key's own rule lives in its table entry; the message still names the key and shows the value.
TEST(Config, KeyRulesNameTheKeyAndTheValue) {
  dlm::Config c;
  c.data.path = "x.txt";
  c.model.head_activation = dlm::Activation::kSwiglu;
  EXPECT_EQ(error_of([&] { dlm::validate(c); }),
            "config key 'model.head_activation' = \"swiglu\": is not a head activation (gelu, gelu_tanh, relu2)");
  c = dlm::Config();
  c.data.path = "x.txt";
  c.eval.levels = {0.5, 0.0};
  EXPECT_EQ(error_of([&] { dlm::validate(c); }), "config key 'eval.levels[1]' = 0: must be in (0, 1]");
  c = dlm::Config();
  c.data.path = "x.txt";
  c.train.dist_timeout = -2.5;
  EXPECT_EQ(error_of([&] { dlm::validate(c); }), "config key 'train.dist_timeout' = -2.5: must be > 0 seconds");
}

}  // namespace

namespace {

TEST(Config, EnumSettingsAreParsedOnceAndRoundTrip) {
  dlm::Config c;
  dlm::apply_override(c, "model.activation=relu2");
  EXPECT_EQ(c.model.activation, dlm::Activation::kRelu2);
  EXPECT_EQ(dlm::to_json(c)["model"]["activation"], "relu2");
  dlm::Config back;
  dlm::apply_json(back, dlm::to_json(c));
  EXPECT_EQ(back.model.activation, dlm::Activation::kRelu2);
  const std::string msg = dlm_test::error_of([&] { dlm::apply_override(c, "model.activation=tanh"); });
  EXPECT_NE(msg.find("model.activation"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gelu, gelu_tanh, relu2, swiglu"), std::string::npos) << msg;
  EXPECT_NE(dlm_test::error_of([&] { dlm::apply_override(c, "model.activation=3"); }).find("expected a string"),
            std::string::npos);
}

}  // namespace
