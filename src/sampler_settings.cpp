// Each sampler's defaults, a Dream folder's generation_config.json, the flags over a saved `sample`
// section, and the rules that depend on the sampler.
#include "dlm/sampler_settings.h"

#include <algorithm>
#include <filesystem>
#include <tuple>

#include "config_keys.h"
#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/json.h"
#include "dlm/sample_options.h"

namespace dlm {
namespace {

using nlohmann::json;

std::string sampler_flag(Sampler s) { return "--sampler " + enum_name(s); }

const SampleOption& option_named(const std::string& key) {
  for (const auto& o : sample_options()) {
    if (o.key == key) return o;
  }
  throw Error("no sample setting '" + key + "'");  // a programming error: the callers name table keys
}

// The flags a sampler reads, for the message refusing one it does not.
std::string flags_read_by(Sampler s) {
  std::string list;
  for (const auto& o : sample_options()) {
    if (reads(o, s) && o.key != "sampler") list += (list.empty() ? "" : ", ") + flag_name(o);
  }
  return list;
}

// llada and dream: blocks of equal length, sharing the steps equally.
void check_block_layout(const SampleConfig& c) {
  const int64_t n = c.length, b = c.block_length > 0 ? c.block_length : c.length;
  if (n % b != 0 || c.steps % (n / b) != 0) {
    throw Error("indivisible " + enum_name(c.sampler) + " layout: --length " + std::to_string(n) +
                " must be a multiple of --block-length " + std::to_string(b) + " and --steps " +
                std::to_string(c.steps) + " of the " + std::to_string(n / std::max<int64_t>(b, 1)) + " blocks");
  }
}

void check_strategy(const SampleConfig& c, const std::vector<Strategy>& valid, const std::string& names) {
  if (std::find(valid.begin(), valid.end(), c.strategy) != valid.end()) return;
  throw Error("config key 'sample.strategy' = \"" + enum_name(c.strategy) + "\": " + sampler_flag(c.sampler) +
              " takes " + names);
}

}  // namespace

bool reads(const SampleOption& o, Sampler s) {
  return o.samplers.empty() || std::find(o.samplers.begin(), o.samplers.end(), s) != o.samplers.end();
}

SampleConfig sampler_defaults(Sampler sampler) {
  SampleConfig c;
  c.sampler = sampler;
  if (sampler == Sampler::kLlada) {
    c.steps = 128;
    c.length = 128;
    c.block_length = 0;  // one block: the whole length
    c.temperature = 0.0;
    c.strategy = Strategy::kConfidence;
  }
  if (sampler == Sampler::kDream) {
    c.steps = 512;
    c.length = 512;
    c.strategy = Strategy::kEntropy;
    c.temperature = 0.2;
    c.top_p = 0.95;
    c.top_k = 0;  // off
    c.alg_temp = 0.0;
    c.eps = 1e-3;
  }
  return c;
}

SampleConfig folder_sample_config(Sampler sampler, const std::string& folder) {
  SampleConfig c = sampler_defaults(sampler);
  const std::string path = (std::filesystem::path(folder) / "generation_config.json").string();
  if (sampler != Sampler::kDream || !std::filesystem::exists(path)) return c;
  const json g = parse_json(read_file(path), path);
  // generation_config.json's name, the setting's key, and its value when null (off).
  static const std::vector<std::tuple<std::string, std::string, json>> keys = {{"max_new_tokens", "length", json()},
                                                                               {"steps", "steps", json()},
                                                                               {"temperature", "temperature", 0.0},
                                                                               {"top_p", "top_p", 1.0},
                                                                               {"top_k", "top_k", 0},
                                                                               {"alg", "alg", json()},
                                                                               {"alg_temp", "alg_temp", 0.0},
                                                                               {"eps", "eps", json()}};
  json sample = json::object();
  for (const auto& [name, key, off] : keys) {
    if (!g.is_object() || !g.contains(name)) continue;
    const json& v = g.at(name);
    if (!v.is_null()) {
      sample[key] = v;
    } else if (!off.is_null()) {
      sample[key] = off;
    }
  }
  config_read::read_keys(sample_options(), c, sample, path);
  return c;
}

SampleConfig resolve_sample(const SampleConfig& saved, const json& given) {
  Sampler sampler = saved.sampler;
  if (given.contains("sampler")) {
    SampleConfig probe;
    option_named("sampler").read(probe, given.at("sampler"), "sample.sampler");
    sampler = probe.sampler;
  }
  for (const auto& item : given.items()) {
    const SampleOption& o = option_named(item.key());
    if (!reads(o, sampler)) {
      throw Error(flag_name(o) + " does not apply to " + sampler_flag(sampler) + " (it reads " +
                  flags_read_by(sampler) + ")");
    }
  }
  SampleConfig c = sampler == saved.sampler ? saved : sampler_defaults(sampler);
  config_read::read_keys(sample_options(), c, given, "sample");
  check_sample(c);
  return c;
}

void check_sampler_rules(const SampleConfig& c) {
  const SampleConfig defaults = sampler_defaults(c.sampler);
  for (const auto& o : sample_options()) {
    if (reads(o, c.sampler) || o.write(c) == o.write(defaults)) continue;
    throw Error(flag_name(o) + " (sample." + o.key + " = " + dump_json(o.write(c)) + ") does not apply to " +
                sampler_flag(c.sampler) + "; leave it at " + dump_json(o.write(defaults)));
  }
  if (c.sampler == Sampler::kDlm) {
    if (c.strategy == Strategy::kOrigin) {
      throw Error("config key 'sample.strategy' = \"origin\": Dream's rule, for --sampler dream only");
    }
    return;
  }
  if (c.sampler == Sampler::kLlada) {
    check_strategy(c, {Strategy::kConfidence, Strategy::kRandom},
                   "confidence or random (--remasking low_confidence | random)");
  } else {
    check_strategy(c, {Strategy::kOrigin, Strategy::kConfidence, Strategy::kMargin, Strategy::kEntropy},
                   "origin, confidence, margin or entropy (--alg origin | maskgit_plus | topk_margin | entropy)");
    if (c.strategy == Strategy::kOrigin && (c.threshold > 0 || c.factor > 0)) {
      throw Error("--alg origin reveals each position by a draw: it takes no --threshold or --factor");
    }
  }
  check_block_layout(c);
  if (c.threshold > 0 && c.factor > 0) {
    throw Error("config keys 'sample.threshold' and 'sample.factor': choose one reveal rule");
  }
  if (c.kv_cache_mode != KvCacheMode::kDual && !c.kv_cache) {
    throw Error("config key 'sample.kv_cache_mode' = \"" + enum_name(c.kv_cache_mode) +
                "\": needs sample.kv_cache = true (--kv-cache)");
  }
  if (c.rng == Rng::kTorch && (c.temperature > 0 || c.alg_temp > 0)) {
    throw Error("--rng torch replicates torch's uniform draws only: it takes --temperature 0 and --alg-temp 0 (got " +
                dump_json(c.temperature) + " and " + dump_json(c.alg_temp) + ")");
  }
}

}  // namespace dlm
