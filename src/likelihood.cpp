// Likelihood evaluation: the diffusion bound, autoregressive perplexity, and the report of a checkpoint.
#include "dlm/likelihood.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include <ATen/CPUGeneratorImpl.h>

#include "dlm/collator.h"
#include "dlm/corpus.h"
#include "dlm/device.h"
#include "dlm/error.h"

namespace dlm {
namespace {

namespace F = torch::nn::functional;

// Per-position cross-entropy (B, L) in float32.
torch::Tensor token_ce(const torch::Tensor& logits, const torch::Tensor& target) {
  const int64_t V = logits.size(-1);
  return F::cross_entropy(logits.to(torch::kFloat32).reshape({-1, V}), target.reshape({-1}),
                          F::CrossEntropyFuncOptions().reduction(torch::kNone))
      .view(target.sizes());
}

int64_t scored_count(const Example& e, int64_t first_scored) {
  return std::max<int64_t>(0, e.n_content - std::max(e.n_prompt, first_scored));
}

}  // namespace

Likelihood diffusion_bound(DenoiserImpl& model, const std::vector<Example>& blocks, int64_t first_scored,
                           int64_t mask_id, int64_t t_samples, uint64_t seed, int64_t batch_size,
                           const torch::Device& device) {
  if (t_samples < 1) throw Error("eval.t_samples must be >= 1, got " + std::to_string(t_samples));
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  // Only the scored span is masked; padding is never touched, nothing is kept visible at random.
  DiffusionConfig dc;
  dc.prefix_len = first_scored;
  dc.mask_pad = false;
  dc.prefix_prob = 0.0;
  at::Generator gen = at::detail::createCPUGenerator(seed);

  // Rows: one per (block, draw of k), each with its rate k / n and weight n / (k * S).
  struct Row {
    const Example* example;
    double rate, weight;
  };
  std::vector<Row> rows;
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
      rows.push_back({&blocks[b], static_cast<double>(k) / static_cast<double>(n),
                      static_cast<double>(n) / static_cast<double>(k * t_samples)});
    }
  }
  for (size_t start = 0; start < rows.size(); start += static_cast<size_t>(batch_size)) {
    const size_t stop = std::min(rows.size(), start + static_cast<size_t>(batch_size));
    std::vector<const Example*> group;
    std::vector<double> rates, weights;
    for (size_t i = start; i < stop; ++i) {
      group.push_back(rows[i].example);
      rates.push_back(rows[i].rate);
      weights.push_back(rows[i].weight);
    }
    // cpu: the collator builds batches on the CPU; they move to the device below
    const Batch batch = collate_at_rates(group, torch::tensor(rates, torch::kFloat64), dc, mask_id, gen);
    const torch::Tensor logits = model.forward(batch.input.to(device), batch.t.to(device));
    const torch::Tensor ce = token_ce(logits, batch.target.to(device)).to(torch::kFloat64);  // (B, L)
    const torch::Tensor per_row = (ce * batch.masked.to(device).to(torch::kFloat64)).sum(1);  // (B)
    out.nats += (per_row * torch::tensor(weights, torch::kFloat64).to(device)).sum().item<double>();
  }
  if (was_training) model.train();
  return out;
}

Likelihood ar_likelihood(DenoiserImpl& model, const std::vector<Example>& blocks, int64_t first_scored,
                         int64_t bos_id, int64_t batch_size, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  Likelihood out;
  for (size_t start = 0; start < blocks.size(); start += static_cast<size_t>(batch_size)) {
    std::vector<const Example*> group;
    for (size_t i = start; i < std::min(blocks.size(), start + static_cast<size_t>(batch_size)); ++i) {
      group.push_back(&blocks[i]);
    }
    const Batch batch = collate_ar(group, bos_id, first_scored);
    const torch::Tensor logits = model.forward(batch.input.to(device), batch.t.to(device));
    const torch::Tensor ce = token_ce(logits, batch.target.to(device)).to(torch::kFloat64);
    const torch::Tensor scored = batch.masked.to(device);
    out.nats += (ce * scored.to(torch::kFloat64)).sum().item<double>();
    out.tokens += scored.sum().item<int64_t>();
    out.correct += logits.argmax(-1).eq(batch.target.to(device)).logical_and(scored).sum().item<int64_t>();
  }
  if (was_training) model.train();
  return out;
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
  std::vector<Example> val;
  if (config.data.kind == DataKind::kCorpus) {
    const CorpusData corpus = open_corpus(config.data, tok, default_cache_dir(config, run_dir));
    for (int64_t i = 0; i < corpus.val->size(); ++i) val.push_back(corpus.val->block(i));
    r.bytes_per_token = corpus.val->bytes_per_token();
  } else {
    val = make_dataset(config.data, tok, read_examples(config.data)).val;
  }
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
