// The table of sampling settings: config keys, dgen flags, help lines and checks in one place.
#include "dlm/sample_options.h"

#include <type_traits>

#include "config_read.h"
#include "dlm/error.h"
#include "dlm/json.h"

namespace dlm {
namespace {

using nlohmann::json;

// One row of the table: `rule` names what `valid` checks, as the error message states it.
template <class T>
SampleOption option(std::string key, T SampleConfig::*member, std::string help,
                    std::function<bool(const T&)> valid = nullptr, std::string rule = "") {
  SampleOption o;
  o.key = std::move(key);
  o.help = std::move(help);
  if constexpr (std::is_same_v<T, bool>) o.kind = SampleOption::Kind::kSwitch;
  if constexpr (std::is_same_v<T, std::vector<std::string>>) o.kind = SampleOption::Kind::kList;
  o.read = [member](SampleConfig& c, const json& j, const std::string& path) {
    config_read::read_value(j, path, c.*member);
  };
  o.write = [member](const SampleConfig& c) { return config_read::write_value(c.*member); };
  o.broken_rule = [member, valid, rule](const SampleConfig& c) { return !valid || valid(c.*member) ? "" : rule; };
  return o;
}

template <class E>
std::string names_of() {
  std::string list;
  for (const auto& [v, name] : enum_names(static_cast<E*>(nullptr))) list += (list.empty() ? "" : " | ") + name;
  return list;
}

}  // namespace

const std::vector<SampleOption>& sample_options() {
  using C = SampleConfig;
  static const std::vector<SampleOption> table = {
      option<int64_t>(
          "steps", &C::steps, "denoising steps (blocks share them)", [](auto v) { return v >= 1; }, "must be >= 1"),
      option<Schedule>("schedule", &C::schedule, names_of<Schedule>() + ": share still masked as the steps go"),
      option<Strategy>("strategy", &C::strategy, names_of<Strategy>() + ": which masked positions are revealed first"),
      option<Sampling>("sampling", &C::sampling, names_of<Sampling>() + ": how a token is drawn"),
      option<double>(
          "temperature", &C::temperature, "softmax temperature of the token draw", [](auto v) { return v > 0; },
          "must be > 0"),
      option<int64_t>(
          "top_k", &C::top_k, "k for topk sampling", [](auto v) { return v >= 1; }, "must be >= 1"),
      option<double>(
          "top_p", &C::top_p, "p for nucleus sampling", [](auto v) { return v > 0 && v <= 1; }, "must be in (0, 1]"),
      option<int64_t>(
          "length", &C::length, "tokens to generate after the prefix (0: fill the context)",
          [](auto v) { return v >= 0; }, "must be >= 0 (0 fills the context)"),
      option<double>(
          "threshold", &C::threshold,
          "reveal every masked position whose probability is at least this, and at least one (0: off)",
          [](auto v) { return v >= 0 && v <= 1; }, "must be in [0, 1] (0: off)"),
      option<double>(
          "entropy_bound", &C::entropy_bound,
          "reveal the most confident positions whose summed entropy minus its largest term stays within "
          "this (0: off)",
          [](auto v) { return v >= 0; }, "must be >= 0 (0: off)"),
      option<double>(
          "order_temperature", &C::order_temperature,
          "draw the positions to reveal by softmax(score / this) instead of taking the top (0: off)",
          [](auto v) { return v >= 0; }, "must be >= 0 (0: off)"),
      option<int64_t>(
          "block_length", &C::block_length, "generate blocks of this many positions left to right (0: one block)",
          [](auto v) { return v >= 0; }, "must be >= 0 (0: one block)"),
      option<bool>("kv_cache", &C::kv_cache,
                   "blocks: compute the keys and values outside the block once per block (approximate)"),
      option<bool>("cache", &C::cache, "reuse a row's prediction while its canvas is unchanged (exact)"),
      option<double>(
          "cfg_scale", &C::cfg_scale, "classifier-free guidance scale (0: plain sampling)",
          [](auto v) { return v >= 0; }, "must be >= 0"),
      option<std::vector<std::string>>(
          "stop", &C::stop, "end a sample at the first occurrence of this text (repeatable)",
          [](const auto& v) {
            for (const auto& s : v) {
              if (s.empty()) return false;
            }
            return true;
          },
          "stop strings must not be empty"),
  };
  return table;
}

std::string flag_name(const SampleOption& o) {
  std::string flag = "--" + o.key;
  for (char& ch : flag) {
    if (ch == '_') ch = '-';
  }
  return flag;
}

json sample_json(const SampleConfig& c) {
  json j = json::object();
  for (const auto& o : sample_options()) j[o.key] = o.write(c);
  return j;
}

void check_sample(const SampleConfig& c) {
  for (const auto& o : sample_options()) {
    const std::string rule = o.broken_rule(c);
    if (!rule.empty()) config_read::check(false, "sample." + o.key, dump_json(o.write(c)), rule);
  }
  if (c.threshold > 0 && c.entropy_bound > 0) {
    throw Error("config keys 'sample.threshold' and 'sample.entropy_bound': choose one reveal rule");
  }
  if ((c.threshold > 0 || c.entropy_bound > 0 || c.block_length > 0) && c.strategy == Strategy::kRemask) {
    throw Error(
        "config key 'sample.strategy' = remask: re-masks at random, so it takes no threshold, entropy bound "
        "or blocks");
  }
  if (c.kv_cache && c.block_length == 0)
    throw Error("config key 'sample.kv_cache' = true: needs sample.block_length > 0");
}

}  // namespace dlm
