// The table of sampling settings: config keys, dgen flags, help lines and checks in one place, and
// each sampler's defaults and the settings it reads.
#include "dlm/sample_options.h"

#include <algorithm>
#include <type_traits>

#include "config_keys.h"
#include "config_read.h"
#include "dlm/error.h"
#include "dlm/json.h"
#include "dlm/sampler_settings.h"

namespace dlm {
namespace {

using nlohmann::json;
using C = SampleConfig;
using Rule = std::function<std::string(const SampleConfig&)>;  // "" when valid, else the rule broken

// One row of the table; `rule` sees the whole config, as a setting's range may depend on the sampler.
template <class T>
SampleOption option(std::string key, T SampleConfig::*member, std::string help, Rule rule = nullptr,
                    std::vector<Sampler> samplers = {}) {
  SampleOption o;
  o.key = std::move(key);
  o.help = std::move(help);
  o.samplers = std::move(samplers);
  if constexpr (std::is_same_v<T, bool>) o.kind = SampleOption::Kind::kSwitch;
  if constexpr (std::is_same_v<T, std::vector<std::string>>) o.kind = SampleOption::Kind::kList;
  o.read = [member](SampleConfig& c, const json& j, const std::string& path) {
    config_read::read_value(j, path, c.*member);
  };
  o.write = [member](const SampleConfig& c) { return config_read::write_value(c.*member); };
  o.broken_rule = [rule](const SampleConfig& c) { return rule ? rule(c) : std::string(); };
  return o;
}

// A rule that holds for every sampler.
template <class T, class Valid>
Rule always(T SampleConfig::*member, Valid valid, std::string rule) {
  return [member, valid, rule](const SampleConfig& c) { return valid(c.*member) ? std::string() : rule; };
}

// Another name of sample.strategy, as a reference spells its values (--remasking, --alg).
SampleOption strategy_alias(std::string key, std::vector<std::pair<std::string, Strategy>> names, std::string help,
                            Sampler sampler) {
  SampleOption o;
  o.key = std::move(key);
  o.alias = true;
  o.samplers = {sampler};
  std::string list;
  for (const auto& [name, v] : names) list += (list.empty() ? "" : " | ") + name;
  o.help = list + ": " + help + " (the same setting as --strategy)";
  o.read = [names, list](SampleConfig& c, const json& j, const std::string& path) {
    std::string name;
    config_read::read_value(j, path, name);
    for (const auto& [n, v] : names) {
      if (n == name) return void(c.strategy = v);
    }
    config_read::check(false, path, "\"" + name + "\"", "must be " + list);
  };
  o.write = [](const SampleConfig&) { return json(); };
  o.broken_rule = [](const SampleConfig&) { return std::string(); };
  return o;
}

template <class E>
std::string names_of() {
  std::string list;
  for (const auto& [v, name] : enum_names(static_cast<E*>(nullptr))) list += (list.empty() ? "" : " | ") + name;
  return list;
}

bool is_dlm(const SampleConfig& c) { return c.sampler == Sampler::kDlm; }

// The settings of llada and dream alone: the references' names of sample.strategy, and their own.
std::vector<SampleOption> reference_sampler_rows() {
  const Sampler llada = Sampler::kLlada, dream = Sampler::kDream;
  return {
      strategy_alias("remasking", {{"low_confidence", Strategy::kConfidence}, {"random", Strategy::kRandom}},
                     "llada's reveal order (its default: low_confidence)", llada),
      strategy_alias("alg",
                     {{"origin", Strategy::kOrigin},
                      {"maskgit_plus", Strategy::kConfidence},
                      {"topk_margin", Strategy::kMargin},
                      {"entropy", Strategy::kEntropy}},
                     "dream's reveal rule (its default: entropy)", dream),
      option<double>("alg_temp", &C::alg_temp,
                     "dream: draw the positions to reveal by softmax(confidence / this) (0: the top)",
                     always(
                         &C::alg_temp, [](auto v) { return v >= 0; }, "must be >= 0 (0: the top)"),
                     {dream}),
      option<double>("eps", &C::eps, "dream: the last timestep of linspace(1, eps, steps + 1)",
                     always(
                         &C::eps, [](auto v) { return v > 0 && v < 1; }, "must be in (0, 1)"),
                     {dream}),
      option<Rng>(
          "rng", &C::rng,
          names_of<Rng>() + ": llada's and dream's uniform draws from dlm's streams or torch.manual_seed(--seed)'s",
          nullptr, {llada, dream}),
  };
}

// What a step draws and how much it generates: the sampler, steps, order, token draw and length.
std::vector<SampleOption> draw_rows() {
  const Sampler dlm = Sampler::kDlm, dream = Sampler::kDream;
  return {
      option<Sampler>("sampler", &C::sampler,
                      names_of<Sampler>() + ": dlm's loop, or the LLaDA or Dream reference's rules (their folders')"),
      option<int64_t>("steps", &C::steps, "denoising steps (blocks share them)",
                      always(
                          &C::steps, [](auto v) { return v >= 1; }, "must be >= 1")),
      option<Schedule>("schedule", &C::schedule, names_of<Schedule>() + ": share still masked as the steps go", nullptr,
                       {dlm}),
      option<Strategy>("strategy", &C::strategy, names_of<Strategy>() + ": which masked positions are revealed first"),
      option<Sampling>("sampling", &C::sampling, names_of<Sampling>() + ": how a token is drawn", nullptr, {dlm}),
      option<double>("temperature", &C::temperature,
                     "softmax temperature of the token draw (llada, dream: 0 is greedy)",
                     [](const C& c) {
                       if (is_dlm(c)) return std::string(c.temperature > 0 ? "" : "must be > 0");
                       return std::string(c.temperature >= 0 ? "" : "must be >= 0 (0: greedy)");
                     }),
      option<int64_t>("top_k", &C::top_k, "k for topk sampling (dream: keep the k likeliest, 0: off)",
                      [](const C& c) {
                        if (is_dlm(c)) return std::string(c.top_k >= 1 ? "" : "must be >= 1");
                        return std::string(c.top_k >= 0 ? "" : "must be >= 0 (0: off)");
                      },
                      {dlm, dream}),
      option<double>("top_p", &C::top_p, "p for nucleus sampling (dream: 1 is off)",
                     always(
                         &C::top_p, [](auto v) { return v > 0 && v <= 1; }, "must be in (0, 1]"),
                     {dlm, dream}),
      option<int64_t>("length", &C::length, "tokens to generate after the prefix (dlm: 0 fills the context)",
                      [](const C& c) {
                        if (is_dlm(c)) return std::string(c.length >= 0 ? "" : "must be >= 0 (0 fills the context)");
                        return std::string(c.length >= 1 ? "" : "must be >= 1");
                      }),
  };
}

// The rules that reveal as many positions as they judge sure instead of the schedule's count.
std::vector<SampleOption> reveal_rule_rows() {
  const Sampler dlm = Sampler::kDlm, llada = Sampler::kLlada, dream = Sampler::kDream;
  return {
      option<double>("threshold", &C::threshold,
                     "reveal every masked position whose probability is at least this, and at least one (0: off)",
                     always(
                         &C::threshold, [](auto v) { return v >= 0 && v <= 1; }, "must be in [0, 1] (0: off)"),
                     {dlm, llada, dream}),
      option<double>("factor", &C::factor,
                     "reveal the n first positions in the reveal order, n the largest count whose j-th has "
                     "probability at least 1 - factor / (j + 1), and at least one (0: off)",
                     always(
                         &C::factor, [](auto v) { return v >= 0; }, "must be >= 0 (0: off)"),
                     {dlm, llada, dream}),
      option<double>("entropy_bound", &C::entropy_bound,
                     "reveal the most confident positions whose summed entropy minus its largest term stays within "
                     "this (0: off)",
                     always(
                         &C::entropy_bound, [](auto v) { return v >= 0; }, "must be >= 0 (0: off)"),
                     {dlm}),
      option<double>("order_temperature", &C::order_temperature,
                     "draw the positions to reveal by softmax(score / this) instead of taking the top (0: off)",
                     always(
                         &C::order_temperature, [](auto v) { return v >= 0; }, "must be >= 0 (0: off)"),
                     {dlm}),
  };
}

// How the passes run: blocks, caches, guidance, and where a sample stops.
std::vector<SampleOption> pass_rows() {
  const Sampler dlm = Sampler::kDlm, llada = Sampler::kLlada, dream = Sampler::kDream;
  return {
      option<int64_t>("block_length", &C::block_length,
                      "generate blocks of this many positions left to right (0: one block)",
                      always(
                          &C::block_length, [](auto v) { return v >= 0; }, "must be >= 0 (0: one block)"),
                      {dlm, llada, dream}),
      option<bool>("kv_cache", &C::kv_cache,
                   "blocks: compute the keys and values outside the block once per block (approximate)", nullptr,
                   {dlm, llada, dream}),
      option<KvCacheMode>("kv_cache_mode", &C::kv_cache_mode,
                          names_of<KvCacheMode>() +
                              ": with --kv-cache, keep the keys and values on both sides of the block and pass over "
                              "it alone, or keep those before it and pass over the block and the rest",
                          nullptr, {llada, dream}),
      option<bool>("cache", &C::cache, "reuse a row's prediction while its canvas is unchanged (exact)", nullptr,
                   {dlm}),
      option<double>("cfg_scale", &C::cfg_scale, "classifier-free guidance scale (0: plain sampling)",
                     always(
                         &C::cfg_scale, [](auto v) { return v >= 0; }, "must be >= 0"),
                     {dlm, llada}),
      option<bool>("stop_at_eos", &C::stop_at_eos,
                   "once a decoded block holds EOS, decode no later block (their ids become EOS)", nullptr,
                   {llada, dream}),
      option<std::vector<std::string>>(
          "stop", &C::stop, "end a sample at the first occurrence of this text (repeatable)",
          always(
              &C::stop,
              [](const auto& v) {
                return std::none_of(v.begin(), v.end(), [](const std::string& s) { return s.empty(); });
              },
              "stop strings must not be empty")),
  };
}

}  // namespace

const std::vector<SampleOption>& sample_options() {
  static const std::vector<SampleOption> table = [] {
    std::vector<SampleOption> rows;
    for (auto part : {draw_rows(), reveal_rule_rows(), pass_rows(), reference_sampler_rows()}) {
      for (SampleOption& o : part) rows.push_back(std::move(o));
    }
    return rows;
  }();
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
  for (const auto& o : sample_options()) {
    if (!o.alias) j[o.key] = o.write(c);
  }
  return j;
}

bool reveals_adaptively(const SampleConfig& c) { return c.threshold > 0 || c.entropy_bound > 0 || c.factor > 0; }

void check_sample(const SampleConfig& c) {
  for (const auto& o : sample_options()) {
    const std::string rule = o.broken_rule(c);
    if (!rule.empty()) config_read::check(false, "sample." + o.key, dump_json(o.write(c)), rule);
  }
  check_sampler_rules(c);
  if (!is_dlm(c)) return;
  if ((c.threshold > 0) + (c.entropy_bound > 0) + (c.factor > 0) > 1) {
    throw Error("config keys 'sample.threshold', 'sample.entropy_bound' and 'sample.factor': choose one reveal rule");
  }
  if ((reveals_adaptively(c) || c.block_length > 0) && c.strategy == Strategy::kRemask) {
    throw Error(
        "config key 'sample.strategy' = remask: re-masks at random, so it takes no threshold, entropy bound, "
        "factor or blocks");
  }
  if (c.kv_cache && c.block_length == 0)
    throw Error("config key 'sample.kv_cache' = true: needs sample.block_length > 0");
}

}  // namespace dlm
