// What every process shares: the refusal of settings it does not use, the default hidden states, the
// report's wording of a bound, and a process's model.
#include "dlm/diffusion/process.h"

#include <algorithm>

#include "dlm/error.h"
#include "dlm/json.h"
#include "dlm/random.h"
#include "dlm/sample_options.h"
#include "processes/processes.h"

namespace dlm {
namespace {

// The value at a dotted key path ("diffusion.loss_on") of a config's JSON.
const nlohmann::json& at_path(const nlohmann::json& j, const std::string& key) {
  return j.at(nlohmann::json::json_pointer("/" + std::string(key).replace(key.find('.'), 1, "/")));
}

}  // namespace

void Process::check_config(const Config& config) const {
  const nlohmann::json given = to_json(config), defaults = to_json(Config{});
  for (const std::string& key : refused_settings()) {
    const nlohmann::json &value = at_path(given, key), &fallback = at_path(defaults, key);
    if (value == fallback) continue;
    throw Error("config key '" + key + "' = " + dump_json(value) + " does not apply to " + name() + "; leave it at " +
                dump_json(fallback));
  }
  check_rules(config);
}

void Process::check_sample(const SampleConfig& options) const {
  const SampleConfig defaults;
  const std::vector<std::string> unused = unused_settings();
  for (const auto& o : sample_options()) {
    if (std::find(unused.begin(), unused.end(), o.key) == unused.end()) continue;
    if (o.write(options) == o.write(defaults)) continue;
    throw Error(flag_name(o) + " (sample." + o.key + " = " + dump_json(o.write(options)) + ") does not apply to " +
                name() + "; leave it at " + dump_json(o.write(defaults)));
  }
}

torch::Tensor Process::hidden(DenoiserImpl& model, const Batch& batch, const torch::Device& device) const {
  return model.hidden(batch.input.to(device), batch.t.to(device));
}

std::string Process::bound_method(int64_t, uint64_t) const { return ""; }

std::string nelbo_method(const std::string& process, int64_t time_steps, int64_t t_samples, uint64_t seed) {
  const std::string time =
      time_steps > 0 ? "D3PM discrete-time (" + std::to_string(time_steps) + " steps)" : "continuous-time";
  return time + " NELBO of " + process + ", " + std::to_string(t_samples) +
         " draws of t per block (stratified), seed " + std::to_string(seed);
}

std::vector<torch::Generator> noise_streams(uint64_t seed, int64_t first, int64_t n) {
  std::vector<torch::Generator> out;
  for (int64_t i = 0; i < n; ++i)
    out.push_back(cpu_generator(derive_seed(seed, Stream::kNoise, static_cast<uint64_t>(first + i))));
  return out;
}

SpecialIds special_ids(const Tokenizer& tok) {
  return {tok.mask_id(), tok.eos_id(), tok.pad_id(), tok.bos_id(), tok.sep_id(), tok.vocab_size()};
}

std::shared_ptr<DenoiserImpl> make_process_model(const Config& config, int64_t vocab_size) {
  return make_model(config.model, vocab_size, model_context(config), make_process(config, SpecialIds{})->causal());
}

}  // namespace dlm
