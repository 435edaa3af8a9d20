// Evaluation: the loss per masking level, the diffusion bound, autoregressive perplexity, and the
// report of a checkpoint.
#include "dlm/train/evaluate.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include <ATen/CPUGeneratorImpl.h>

#include "dlm/device.h"
#include "dlm/diffusion/collator.h"
#include "dlm/error.h"
#include "dlm/random.h"
#include "dlm/train/run_data.h"

namespace dlm {
namespace {

namespace F = torch::nn::functional;

// Masking levels of a diffusion run's periodic validation when its rates are not discrete.
const std::vector<double> kDefaultLevels = {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1};

int64_t scored_count(const Example& e, int64_t first_scored) {
  return std::max<int64_t>(0, e.n_content - std::max(e.n_prompt, first_scored));
}

}  // namespace

torch::Tensor token_ce(const torch::Tensor& logits, const torch::Tensor& target) {
  const int64_t V = logits.size(-1);
  return F::cross_entropy(logits.to(torch::kFloat32).reshape({-1, V}), target.reshape({-1}),
                          F::CrossEntropyFuncOptions().reduction(torch::kNone))
      .view(target.sizes());
}

void for_each_batch(int64_t n, int64_t batch_size, const std::function<void(int64_t begin, int64_t end)>& fn) {
  if (batch_size < 1) throw Error("evaluation batch size must be >= 1, got " + std::to_string(batch_size));
  for (int64_t begin = 0; begin < n; begin += batch_size) fn(begin, std::min(n, begin + batch_size));
}

std::vector<const Example*> example_group(const std::vector<Example>& examples, int64_t begin, int64_t end) {
  std::vector<const Example*> group;
  for (int64_t i = begin; i < end; ++i) group.push_back(&examples[static_cast<size_t>(i)]);
  return group;
}

std::vector<LevelMetrics> evaluate_by_level(DenoiserImpl& model, const std::vector<Example>& examples,
                                            const DiffusionConfig& config, const std::vector<double>& levels,
                                            int64_t mask_id, int64_t batch_size, const torch::Device& device,
                                            uint64_t seed) {
  InferenceScope scope(model);
  // Each level measures exactly that share masked: no random visible prefixes here.
  DiffusionConfig at_level = config;
  at_level.prefix_prob = 0.0;
  std::vector<LevelMetrics> out;
  for (double rate : levels) {
    torch::Generator gen = cpu_generator(seed);  // same masks at every evaluation
    double loss_sum = 0.0, correct = 0.0, count = 0.0;
    for_each_batch(static_cast<int64_t>(examples.size()), batch_size, [&](int64_t begin, int64_t end) {
      const std::vector<const Example*> group = example_group(examples, begin, end);
      // cpu: the collator builds batches on the CPU; they move to the device below
      const torch::Tensor rates = torch::full({static_cast<int64_t>(group.size())}, rate, torch::kFloat64);
      const Batch batch = collate_at_rates(group, rates, at_level, mask_id, gen);
      const torch::Tensor logits = model.forward(batch.input.to(device), batch.t.to(device));
      const torch::Tensor masked = batch.masked.to(device);
      const torch::Tensor target = batch.target.to(device);
      loss_sum += (token_ce(logits, target) * masked.to(torch::kFloat32)).sum().item<double>();
      correct += logits.argmax(-1).eq(target).logical_and(masked).sum().item<double>();
      count += masked.sum().item<double>();
    });
    out.push_back({rate, count > 0 ? loss_sum / count : 0.0, count > 0 ? correct / count : 0.0});
  }
  return out;
}

Likelihood diffusion_bound(DenoiserImpl& model, const std::vector<Example>& blocks, int64_t first_scored,
                           int64_t mask_id, int64_t t_samples, uint64_t seed, int64_t batch_size,
                           const torch::Device& device) {
  if (t_samples < 1) throw Error("eval.t_samples must be >= 1, got " + std::to_string(t_samples));
  InferenceScope scope(model);
  // Only the scored span is masked; padding is never touched, nothing is kept visible at random.
  DiffusionConfig dc;
  dc.prefix_len = first_scored;
  dc.mask_pad = false;
  dc.prefix_prob = 0.0;
  at::Generator gen = at::detail::createCPUGenerator(seed);

  // Rows: one per (block, draw of k), each masked at rate k / n and weighted n / (k * S).
  std::vector<const Example*> rows;
  std::vector<double> rates, weights;
  Likelihood out;
  const torch::Tensor u = torch::rand({static_cast<int64_t>(blocks.size())}, gen, torch::kFloat64);
  for (size_t b = 0; b < blocks.size(); ++b) {
    const int64_t n = scored_count(blocks[b], first_scored);
    if (n == 0) continue;
    out.tokens += n;
    const double ub = u[static_cast<int64_t>(b)].item<double>();
    for (int64_t s = 0; s < t_samples; ++s) {
      const double f = std::fmod(ub + static_cast<double>(s) / static_cast<double>(t_samples), 1.0);
      const int64_t k = std::min<int64_t>(n, 1 + static_cast<int64_t>(std::floor(f * static_cast<double>(n))));
      rows.push_back(&blocks[b]);
      rates.push_back(static_cast<double>(k) / static_cast<double>(n));
      weights.push_back(static_cast<double>(n) / static_cast<double>(k * t_samples));
    }
  }
  for_each_batch(static_cast<int64_t>(rows.size()), batch_size, [&](int64_t begin, int64_t end) {
    const auto slice = [&](const std::vector<double>& v) {
      // cpu: rates go to the collator; the weights move to the device below
      return torch::tensor(std::vector<double>(v.begin() + begin, v.begin() + end), torch::kFloat64);
    };
    const std::vector<const Example*> group(rows.begin() + begin, rows.begin() + end);
    // cpu: the collator builds batches on the CPU; they move to the device below
    const Batch batch = collate_at_rates(group, slice(rates), dc, mask_id, gen);
    const torch::Tensor logits = model.forward(batch.input.to(device), batch.t.to(device));
    const torch::Tensor ce = token_ce(logits, batch.target.to(device)).to(torch::kFloat64);  // (B, L)
    const torch::Tensor per_row = (ce * batch.masked.to(device).to(torch::kFloat64)).sum(1);  // (B)
    out.nats += (per_row * slice(weights).to(device)).sum().item<double>();
  });
  return out;
}

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
  return evaluate_by_level(model, val, config.diffusion, levels, tokenizer.mask_id(), batch, device,
                           static_cast<uint64_t>(config.train.seed) + 7);
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
    r.t_samples = config.eval.t_samples;
    r.likelihood = diffusion_bound(*loaded.model, val, first, tok.mask_id(), config.eval.t_samples, r.seed, batch, device);
    r.levels = evaluate_by_level(*loaded.model, val, config.diffusion, config.eval.levels, tok.mask_id(), batch,
                                 device, r.seed);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::string format_report(const EvalReport& r) {
  const bool ar = r.objective == Objective::kAr;
  char buf[256];
  std::string out;
  std::snprintf(buf, sizeof(buf), "%s model, %ld parameters, step %ld; %ld validation blocks, %ld scored tokens\n",
                ar ? "autoregressive" : "diffusion", static_cast<long>(r.parameters), static_cast<long>(r.step),
                static_cast<long>(r.blocks), static_cast<long>(r.likelihood.tokens));
  out += buf;
  if (!ar) {
    std::snprintf(buf, sizeof(buf), "bound: MDLM continuous-time NELBO, %ld draws of t per block (stratified), seed %llu\n",
                  static_cast<long>(r.t_samples), static_cast<unsigned long long>(r.seed));
    out += buf;
  }
  const char* what = ar ? "" : " (bound)";
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
  if (!r.levels.empty()) {
    out += "  masking level   loss     accuracy\n";
    for (const auto& l : r.levels) {
      std::snprintf(buf, sizeof(buf), "  %12.0f%%  %7.4f  %8.3f\n", l.rate * 100, l.loss, l.accuracy);
      out += buf;
    }
  }
  std::snprintf(buf, sizeof(buf), "  (%.1f s)\n", r.seconds);
  out += buf;
  return out;
}

nlohmann::json to_json(const EvalReport& r) {
  nlohmann::json levels = nlohmann::json::array();
  for (const auto& l : r.levels) levels.push_back({{"rate", l.rate}, {"loss", l.loss}, {"accuracy", l.accuracy}});
  return {{"objective", enum_name(r.objective)},
          {"parameters", r.parameters},
          {"step", r.step},
          {"blocks", r.blocks},
          {"tokens", r.likelihood.tokens},
          {"nats_per_token", r.likelihood.nats_per_token()},
          {"bits_per_byte", r.bits_per_byte()},
          {"perplexity", r.perplexity()},
          {"bytes_per_token", r.bytes_per_token},
          {"t_samples", r.t_samples},
          {"seed", r.seed},
          {"levels", levels},
          {"seconds", r.seconds}};
}

}  // namespace dlm
