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

namespace F = torch::nn::functional;

// Masking levels of a diffusion run's periodic validation when its rates are not discrete.
const std::vector<double> kDefaultLevels = {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1};

}  // namespace

Likelihood ar_likelihood(DenoiserImpl& model, const std::vector<Example>& blocks, int64_t first_scored,
                         int64_t bos_id, int64_t batch_size, const torch::Device& device) {
  InferenceScope scope(model);
  Likelihood out;
  for_each_batch(static_cast<int64_t>(blocks.size()), batch_size, [&](int64_t begin, int64_t end) {
    const Batch batch = collate_ar(example_group(blocks, begin, end), bos_id, first_scored);
    const torch::Tensor logits = model.forward(batch.input.to(device), batch.t.to(device));
    const torch::Tensor target = batch.target.to(device);
    const torch::Tensor scored = batch.masked.to(device);
    out.nats += (token_ce(logits, target).to(torch::kFloat64) * scored.to(torch::kFloat64)).sum().item<double>();
    out.tokens += scored.sum().item<int64_t>();
    out.correct += logits.argmax(-1).eq(target).logical_and(scored).sum().item<int64_t>();
  });
  return out;
}

std::vector<LevelMetrics> validate_run(DenoiserImpl& model, const std::vector<Example>& val, const Config& config,
                                       const Tokenizer& tokenizer, const torch::Device& device) {
  const int64_t batch = std::max<int64_t>(config.train.batch_size, 64);
  const auto autocast = autocast_for(config.train.precision, device);
  if (config.objective == Objective::kAr) {
    const Likelihood l = ar_likelihood(model, val, config.diffusion.prefix_len, tokenizer.bos_id(), batch, device);
    const double n = static_cast<double>(std::max<int64_t>(1, l.tokens));
    return {{0.0, l.nats / n, static_cast<double>(l.correct) / n}};
  }
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
  EvalReport r;
  r.objective = config.objective;
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
  if (config.objective == Objective::kAr) {
    r.likelihood = ar_likelihood(*loaded.model, val, first, tok.bos_id(), batch, device);
  } else {
    const std::unique_ptr<Process> process = make_process(config, special_ids(tok));
    r.process = process->name();
    r.time_steps = config.diffusion.time_steps;
    r.has_bound = process->has_bound();
    if (r.has_bound) {
      r.t_samples = config.eval.t_samples;
      r.likelihood = process->bound(*loaded.model, val, first, config.eval.t_samples, r.seed, batch, device);
    } else {
      for (const Example& e : val) r.likelihood.tokens += scored_count(e, first);
    }
    r.levels = process->by_level(*loaded.model, val, config.eval.levels, batch, device, r.seed);
  }
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
  const bool ar = r.objective == Objective::kAr;
  char buf[256];
  std::string out;
  std::snprintf(buf, sizeof(buf), "%s model, %ld parameters, step %ld; %ld validation blocks, %ld scored tokens\n",
                ar ? "autoregressive" : "diffusion", static_cast<long>(r.parameters), static_cast<long>(r.step),
                static_cast<long>(r.blocks), static_cast<long>(r.likelihood.tokens));
  out += buf;
  if (!ar && !r.has_bound) {
    out += "no likelihood bound for " + r.process + ": the loss of the clean token per noise level only\n";
  } else if (!ar) {
    const std::string time = r.time_steps > 0 ? "D3PM discrete-time (" + std::to_string(r.time_steps) + " steps)" : "continuous-time";
    std::snprintf(buf, sizeof(buf), "bound: %s NELBO of %s, %ld draws of t per block (stratified), seed %llu\n",
                  time.c_str(), r.process.c_str(), static_cast<long>(r.t_samples), static_cast<unsigned long long>(r.seed));
    out += buf;
  }
  const char* what = ar ? "" : " (bound)";
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
  return {{"objective", enum_name(r.objective)},
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
