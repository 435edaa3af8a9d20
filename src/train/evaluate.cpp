// Evaluation: the loss per noise level and the bound of a process, autoregressive perplexity, and the
// report of a checkpoint.
#include "dlm/train/evaluate.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include <ATen/CPUGeneratorImpl.h>

#include "dlm/device.h"
#include "dlm/diffusion/collator.h"
#include "dlm/diffusion/process.h"
#include "dlm/error.h"
#include "dlm/random.h"
#include "dlm/train/run_data.h"

namespace dlm {
namespace {

// Masking levels of a diffusion run's periodic validation when its rates are not discrete.
const std::vector<double> kDefaultLevels = {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1};

}  // namespace

std::vector<LevelMetrics> validate_run(DenoiserImpl& model, const std::vector<Example>& val, const Config& config,
                                       const Tokenizer& tokenizer, const torch::Device& device) {
  const int64_t batch = std::max<int64_t>(config.train.batch_size, 64);
  const auto autocast = autocast_for(config.train.precision, device);
  const std::vector<double>& levels =
      config.diffusion.rate_dist == RateDist::kDiscrete ? config.diffusion.rates : kDefaultLevels;
  return make_process(config, special_ids(tokenizer))
      ->by_level(model, val, levels, batch, device, static_cast<uint64_t>(config.train.seed) + 7);
}

double EvalReport::bits_per_byte() const {
  return bytes_per_token > 0 ? likelihood.nats_per_token() / std::log(2.0) / bytes_per_token : 0.0;
}

double EvalReport::perplexity() const { return std::exp(likelihood.nats_per_token()); }

EvalReport evaluate_checkpoint(const LoadedModel& loaded, const std::string& run_dir, const torch::Device& device) {
  const auto t0 = std::chrono::steady_clock::now();
  const Config& config = loaded.config;
  const Tokenizer& tok = *loaded.tokenizer;
  const std::unique_ptr<Process> process = make_process(config, special_ids(tok));
  EvalReport r;
  r.objective = config.objective;
  r.process = process->name();
  r.model_kind = process->model_kind();
  r.parameters = count_parameters(*loaded.model);
  r.step = loaded.step;
  r.seed = static_cast<uint64_t>(config.eval.seed);
  const RunData data = load_run_data(config, tok, default_cache_dir(config, run_dir));
  const std::vector<Example>& val = data.val;
  r.bytes_per_token = data.val_bytes_per_token;
  r.blocks = static_cast<int64_t>(val.size());
  const int64_t first = config.diffusion.prefix_len;
  const int64_t batch = config.eval.batch_size;
  const auto autocast = autocast_for(config.train.precision, device);
  r.has_bound = process->has_bound();
  r.exact = process->exact_likelihood();
  if (!r.exact) r.time_steps = config.diffusion.time_steps;
  if (r.has_bound) {
    r.bound_method = process->bound_method(config.eval.t_samples, r.seed);
    if (!r.exact) r.t_samples = config.eval.t_samples;
    r.likelihood = process->bound(*loaded.model, val, first, config.eval.t_samples, r.seed, batch, device);
  } else {
    for (const Example& e : val) r.likelihood.tokens += scored_count(e, first);
  }
  if (process->has_levels())
    r.levels = process->by_level(*loaded.model, val, config.eval.levels, batch, device, r.seed);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

namespace {

// The per-level table and the time taken.
std::string format_levels(const EvalReport& r) {
  char buf[128];
  std::string out;
  if (!r.levels.empty()) {
    out += "  noise level     loss     accuracy\n";
    for (const auto& l : r.levels) {
      std::snprintf(buf, sizeof(buf), "  %12.0f%%  %7.4f  %8.3f\n", l.rate * 100, l.loss, l.accuracy);
      out += buf;
    }
  }
  std::snprintf(buf, sizeof(buf), "  (%.1f s)\n", r.seconds);
  return out + buf;
}

}  // namespace

std::string format_report(const EvalReport& r) {
  char buf[256];
  std::string out;
  std::snprintf(buf, sizeof(buf), "%s model, %ld parameters, step %ld; %ld validation blocks, %ld scored tokens\n",
                r.model_kind.c_str(), static_cast<long>(r.parameters), static_cast<long>(r.step),
                static_cast<long>(r.blocks), static_cast<long>(r.likelihood.tokens));
  out += buf;
  if (!r.has_bound) {
    out += "no likelihood bound for " + r.process + ": the loss of the clean token per noise level only\n";
  } else if (!r.exact) {
    out += "bound: " + r.bound_method + "\n";
  }
  const char* what = r.exact ? "" : " (bound)";
  if (!r.has_bound) return out + format_levels(r);
  std::snprintf(buf, sizeof(buf), "  nats/token%-8s %10.4f\n", what, r.likelihood.nats_per_token());
  out += buf;
  if (r.bytes_per_token > 0) {
    std::snprintf(buf, sizeof(buf), "  bits/byte%-9s %10.4f   (%.3f bytes/token)\n", what, r.bits_per_byte(),
                  r.bytes_per_token);
  } else {
    std::snprintf(buf, sizeof(buf), "  bits/byte%-9s %10s\n", what, "n/a");
  }
  out += buf;
  std::snprintf(buf, sizeof(buf), "  perplexity%-8s %10.3f\n", what, r.perplexity());
  out += buf;
  return out + format_levels(r);
}

nlohmann::json to_json(const EvalReport& r) {
  nlohmann::json levels = nlohmann::json::array();
  for (const auto& l : r.levels) levels.push_back({{"rate", l.rate}, {"loss", l.loss}, {"accuracy", l.accuracy}});
  return {{"objective", r.objective},
          {"parameters", r.parameters},
          {"step", r.step},
          {"blocks", r.blocks},
          {"tokens", r.likelihood.tokens},
          {"process", r.process},
          {"time_steps", r.time_steps},
          {"nats_per_token", r.has_bound ? nlohmann::json(r.likelihood.nats_per_token()) : nlohmann::json()},
          {"bits_per_byte", r.has_bound ? nlohmann::json(r.bits_per_byte()) : nlohmann::json()},
          {"perplexity", r.has_bound ? nlohmann::json(r.perplexity()) : nlohmann::json()},
          {"bytes_per_token", r.bytes_per_token},
          {"t_samples", r.t_samples},
          {"seed", r.seed},
          {"levels", levels},
          {"seconds", r.seconds}};
}

}  // namespace dlm
