// The training loop and validation per masking level.
#include "dlm/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <unistd.h>

#include "dlm/blas.h"
#include "dlm/checkpoint.h"
#include "dlm/corpus.h"
#include "dlm/device.h"
#include "dlm/error.h"
#include "dlm/likelihood.h"
#include "dlm/log.h"
#include "dlm/random.h"
#include "dlm/tokenizer.h"

namespace dlm {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::vector<double> kDefaultLevels = {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1};

// Fails before training starts, not after an hour, when the run directory cannot take files.
void check_writable(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create run directory " + dir + ": " + ec.message());
  const std::string probe = (fs::path(dir) / ".write_test").string();
  {
    std::ofstream out(probe, std::ios::trunc);
    if (!out || !(out << "ok") || !out.flush()) throw Error("run directory " + dir + " is not writable");
  }
  fs::remove(probe, ec);
}

std::string format_duration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", static_cast<long>(s / 3600), static_cast<long>(s % 3600 / 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", static_cast<long>(s / 60), static_cast<long>(s % 60));
  }
  return buf;
}

std::string levels_summary(const std::vector<LevelMetrics>& levels) {
  std::string out;
  char buf[64];
  for (const auto& l : levels) {
    std::snprintf(buf, sizeof(buf), "%s%.0f%%:%.3f", out.empty() ? "" : " ", l.rate * 100, l.loss);
    out += buf;
  }
  return out;
}

// A run killed after its last checkpoint logged evaluations it will redo: drop them so the
// resumed run's metrics read as one run.
void drop_metrics_after(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("step", int64_t{0}) <= step) kept += line + "\n";
  }
  write_atomically(path, kept);
}

// Training stops before anything is saved, so the last good checkpoint stays as it was.
Error non_finite(int64_t step, const std::string& what) {
  return Error("step " + std::to_string(step) + ": " + what + " is not finite; stopped without saving, the last good " +
               "checkpoint is kept (try a lower train.lr or train.grad_clip)");
}

// The tokenizer of a new run. A SentencePiece model trained here is kept in the token cache under a
// name derived from its settings and the training file, so runs on the same data (a diffusion model
// and its autoregressive twin) share one vocabulary and train it once.
std::unique_ptr<Tokenizer> make_run_tokenizer(const Config& config, const std::vector<TextExample>& raw,
                                              const std::string& cache_dir) {
  const TokenizerConfig& tc = config.tokenizer;
  if (tc.kind != "sentencepiece" || !tc.path.empty()) return build_tokenizer(tc, vocabulary_texts(raw));
  const std::string key = cache_key(to_json(config)["tokenizer"].dump(), read_file(config.data.path));
  const fs::path dir = fs::path(cache_dir) / ("spm-" + key);
  const fs::path model = dir / "tokenizer.model";
  std::error_code ec;
  if (fs::exists(model, ec)) {
    log::info("tokenizer: reusing {}", model.string());
    TokenizerConfig load = tc;
    load.path = model.string();
    return build_tokenizer(load, {});
  }
  log::info("tokenizer: training a {} SentencePiece model of {} pieces", tc.model_type, tc.vocab_size);
  auto tok = build_tokenizer(tc, vocabulary_texts(raw), dir.string());
  log::info("tokenizer: saved {}", model.string());
  return tok;
}

// What the loop trains and validates on: examples held in memory, or blocks streamed from a token
// file. Both are addressed by index, so the order is a function of the step.
struct TrainingData {
  Dataset memory;
  CorpusData corpus;
  bool is_corpus = false;
  int64_t n_train = 0;
  std::vector<Example> val;  ///< periodic validation (corpus: the first data.val_max blocks)

  Example train_at(int64_t i) const {
    return is_corpus ? corpus.train->block(i) : memory.train[static_cast<size_t>(i)];
  }
};

}  // namespace

std::string default_cache_dir(const Config& config, const std::string& run_dir) {
  if (!config.data.cache_dir.empty()) return config.data.cache_dir;
  return (fs::path(run_dir).parent_path() / ".token-cache").string();
}

torch::optim::AdamW make_optimizer(DenoiserImpl& model, const TrainConfig& tc) {
  // Two groups: no weight decay on biases and norm weights.
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model.named_parameters()) (p.value().dim() >= 2 ? decay : no_decay).push_back(p.value());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(tc.lr));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(tc.lr));
  torch::optim::AdamW optimizer(std::move(groups));
  set_hyperparameters(optimizer, tc, 0);
  return optimizer;
}

void set_hyperparameters(torch::optim::AdamW& optimizer, const TrainConfig& tc, int64_t step) {
  auto& groups = optimizer.param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    auto& o = static_cast<torch::optim::AdamWOptions&>(groups[i].options());
    o.lr(learning_rate(tc, step)).betas({tc.beta1, tc.beta2}).weight_decay(i == 0 ? tc.weight_decay : 0.0);
  }
}

void restore_optimizer(CheckpointReader& reader, torch::optim::AdamW& optimizer, DenoiserImpl& model,
                       const TrainConfig& tc) {
  reader.load_optimizer(optimizer, model);
  // LibTorch >= 2.4 also restores each group's options; 1.13 keeps the constructor's. The config
  // decides on both, so a resumed run has the same hyperparameters whichever LibTorch wrote or reads it.
  set_hyperparameters(optimizer, tc, reader.state().step);
}

double learning_rate(const TrainConfig& c, int64_t step) {
  if (c.warmup > 0 && step < c.warmup) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup);
  const double span = static_cast<double>(std::max<int64_t>(1, c.steps - c.warmup));
  const double progress = std::min(1.0, static_cast<double>(step - c.warmup) / span);
  const double floor = c.lr * c.min_lr_ratio;
  return floor + (c.lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

torch::Tensor batch_loss(const torch::Tensor& logits, const Batch& batch) {
  // B = batch, L = length, V = vocabulary
  const int64_t V = logits.size(-1);
  const torch::Tensor target = batch.target.to(logits.device());
  const torch::Tensor ce = torch::nn::functional::cross_entropy(
      logits.reshape({-1, V}).to(torch::kFloat32), target.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  const torch::Tensor w = batch.loss_weight.to(logits.device()).reshape({-1});
  return (ce * w).sum() / batch.loss_norm;
}

StepStats train_step(DenoiserImpl& model, torch::optim::AdamW& optimizer, const TrainConfig& tc, int64_t step,
                     const torch::Device& device, const std::function<Batch(int64_t micro)>& batch_at) {
  set_hyperparameters(optimizer, tc, step);
  optimizer.zero_grad();
  StepStats stats;
  for (int64_t micro = step * tc.grad_accum; micro < (step + 1) * tc.grad_accum; ++micro) {
    const Batch batch = batch_at(micro);
    seed_default_generator(device, derive_seed(static_cast<uint64_t>(tc.seed), Stream::kDropout,
                                               static_cast<uint64_t>(micro)));
    torch::Tensor logits;
    {
      const auto autocast = autocast_for(tc.precision, device);
      logits = model.forward(batch.input.to(device), batch.t.to(device));
    }
    const torch::Tensor loss = batch_loss(logits, batch) / static_cast<double>(tc.grad_accum);
    loss.backward();
    stats.loss += loss.item<double>();
  }
  if (!std::isfinite(stats.loss)) throw non_finite(step + 1, "loss");
  // The norm is measured even without clipping (an infinite limit never rescales).
  stats.grad_norm = torch::nn::utils::clip_grad_norm_(
      model.parameters(), tc.grad_clip > 0 ? tc.grad_clip : std::numeric_limits<double>::infinity());
  if (!std::isfinite(stats.grad_norm)) throw non_finite(step + 1, "gradient norm");
  optimizer.step();
  return stats;
}

std::vector<LevelMetrics> evaluate_by_level(DenoiserImpl& model, const std::vector<Example>& examples,
                                            const DiffusionConfig& config, const std::vector<double>& levels,
                                            int64_t mask_id, int64_t batch_size, const torch::Device& device,
                                            uint64_t seed) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  // Each level measures exactly that share masked: no random visible prefixes here.
  DiffusionConfig at_level = config;
  at_level.prefix_prob = 0.0;
  std::vector<LevelMetrics> out;
  for (double rate : levels) {
    torch::Generator gen = cpu_generator(seed);  // same masks at every evaluation
    double loss_sum = 0.0, correct = 0.0, count = 0.0;
    for (size_t start = 0; start < examples.size(); start += static_cast<size_t>(batch_size)) {
      std::vector<const Example*> group;
      for (size_t i = start; i < std::min(examples.size(), start + static_cast<size_t>(batch_size)); ++i) {
        group.push_back(&examples[i]);
      }
      // cpu: the collator builds batches on the CPU; they move to the device below
      const torch::Tensor rates = torch::full({static_cast<int64_t>(group.size())}, rate, torch::kFloat64);
      const Batch batch = collate_at_rates(group, rates, at_level, mask_id, gen);
      const torch::Tensor logits = model.forward(batch.input.to(device), batch.t.to(device)).to(torch::kFloat32);
      const torch::Tensor masked = batch.masked.to(device);
      const torch::Tensor target = batch.target.to(device);
      const torch::Tensor ce = torch::nn::functional::cross_entropy(
          logits.reshape({-1, logits.size(-1)}), target.reshape({-1}),
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
      const torch::Tensor m = masked.reshape({-1}).to(torch::kFloat32);
      loss_sum += (ce * m).sum().item<double>();
      correct += (logits.argmax(-1).eq(target).logical_and(masked)).sum().item<double>();
      count += m.sum().item<double>();
    }
    out.push_back({rate, count > 0 ? loss_sum / count : 0.0, count > 0 ? correct / count : 0.0});
  }
  if (was_training) model.train();
  return out;
}

LevelMetrics evaluate_ar(DenoiserImpl& model, const std::vector<Example>& examples, int64_t bos_id,
                         int64_t first_scored, int64_t batch_size, const torch::Device& device) {
  const Likelihood l = ar_likelihood(model, examples, first_scored, bos_id, batch_size, device);
  const double n = static_cast<double>(std::max<int64_t>(1, l.tokens));
  return {0.0, l.nats / n, static_cast<double>(l.correct) / n};
}

TrainSummary train(const Config& config_in, const TrainOptions& options) {
  Config config = config_in;
  validate(config);
  const std::string run_dir = options.run_dir.empty() ? "runs/" + config.name : options.run_dir;
  const std::string last_path = (fs::path(run_dir) / "last.pt").string();
  const std::string best_path = (fs::path(run_dir) / "best.pt").string();
  const TrainConfig& tc = config.train;

  const torch::Device device = resolve_device(tc.device);
  const int64_t threads = set_threads(tc.threads);
  if (!options.resume) check_writable(run_dir);
  torch::manual_seed(static_cast<uint64_t>(tc.seed));  // initial weights

  // Data and tokenizer: a resumed run keeps the tokenizer it was trained with.
  std::unique_ptr<CheckpointReader> reader;
  if (options.resume) reader = std::make_unique<CheckpointReader>(last_path);
  const std::string cache_dir = default_cache_dir(config, run_dir);
  const std::vector<TextExample> raw = read_examples(config.data);
  std::unique_ptr<Tokenizer> tokenizer = reader ? reader->tokenizer() : make_run_tokenizer(config, raw, cache_dir);
  TrainingData data;
  if (config.data.kind == DataKind::kCorpus) {
    data.is_corpus = true;
    data.corpus = open_corpus(config.data, *tokenizer, cache_dir);
    data.n_train = data.corpus.train->size();
    const int64_t n_val = config.data.val_max > 0 ? std::min(config.data.val_max, data.corpus.val->size())
                                                  : data.corpus.val->size();
    for (int64_t i = 0; i < n_val; ++i) data.val.push_back(data.corpus.val->block(i));
  } else {
    data.memory = make_dataset(config.data, *tokenizer, raw);
    data.n_train = static_cast<int64_t>(data.memory.train.size());
    data.val = data.memory.val;
    if (config.diffusion.prefix_len > 0) {
      for (const auto& e : data.memory.train) {
        if (e.n_content <= config.diffusion.prefix_len) {
          log::warn("some examples are no longer than diffusion.prefix_len ({}): nothing of them is learned",
                    config.diffusion.prefix_len);
          break;
        }
      }
    }
  }
  const bool ar = config.objective == Objective::kAr;

  std::shared_ptr<DenoiserImpl> model = make_model(config.model, tokenizer->vocab_size(), config.data.seq_len, ar);
  model->to(device);
  // A checkpoint holds the weights and AdamW's two moments; last.pt, best.pt and a temporary copy
  // must fit. Better to say so now than after an hour of training.
  const uint64_t need = static_cast<uint64_t>(count_parameters(*model)) * sizeof(float) * 3 * 3 + (16u << 20);
  std::error_code space_error;
  const auto space = fs::space(run_dir, space_error);
  if (!space_error && space.available < need) {
    throw Error("run directory " + run_dir + " has " + std::to_string(space.available >> 20) + " MiB free but " +
                "checkpoints need about " + std::to_string(need >> 20) + " MiB; free some space or use --run-dir");
  }

  torch::optim::AdamW optimizer = make_optimizer(*model, tc);
  TrainState state;
  if (reader) {
    reader->load_model(*model, device);
    restore_optimizer(*reader, optimizer, *model, tc);
    state = reader->state();
    log::info("resuming {} at step {}", run_dir, state.step);
    if (state.step >= tc.steps) {
      log::info("run already finished {} of {} steps (raise train.steps with --set to continue)", state.step, tc.steps);
    }
  }

  write_atomically((fs::path(run_dir) / "config.json").string(), dump_json(to_json(config), 2) + "\n");
  write_atomically((fs::path(run_dir) / "tokenizer.json").string(), dump_json(tokenizer->to_json()) + "\n");
  log::info("config: {}", dump_json(to_json(config)));
  if (data.is_corpus) {
    log::info("data: {} training blocks ({} tokens, {} documents), {} validation blocks ({} documents; {} used "
                 "for periodic validation), {} tokens each; vocabulary {}",
                 data.n_train, data.corpus.train->n_tokens(), data.corpus.train_docs, data.corpus.val->size(),
                 data.corpus.val_docs, data.val.size(), config.data.seq_len, tokenizer->vocab_size());
  } else {
    log::info("data: {} train / {} validation examples{}, {} tokens each; vocabulary {}", data.n_train,
                 data.val.size(), data.memory.val_is_train ? " (too few to hold out: validating on training data)" : "",
                 config.data.seq_len, tokenizer->vocab_size());
  }
  const BlasStatus blas = blas_report();
  if (blas.warning) log::warn("{}", blas.line); else log::info("{}", blas.line);
  log::info("model: {} {} with {} parameters on {} ({} threads)", ar ? "causal" : "bidirectional",
               config.model.type, count_parameters(*model), device.str(), threads);

  const std::vector<double>& levels = config.diffusion.rate_dist == "discrete" ? config.diffusion.rates : kDefaultLevels;
  const int64_t n_train = data.n_train;
  const int64_t B = tc.batch_size;
  const bool bar = options.progress == 1 || (options.progress == -1 && ::isatty(STDERR_FILENO));
  const std::string metrics_path = (fs::path(run_dir) / "metrics.jsonl").string();
  if (options.resume) drop_metrics_after(metrics_path, state.step);
  // A fresh run starts a fresh log; a resumed one appends.
  std::ofstream metrics(metrics_path, options.resume ? std::ios::app : std::ios::trunc);
  if (!metrics) throw Error("cannot open " + run_dir + "/metrics.jsonl for writing");

  // Example order: epoch e is a fixed permutation seeded by (seed, e), so the data position follows
  // from the step alone and a resumed run sees the same batches.
  std::vector<int64_t> order;
  int64_t order_epoch = -1;
  const auto example_at = [&](int64_t global) -> Example {
    const int64_t epoch = global / n_train;
    if (epoch != order_epoch) {
      order = shuffled_indices(n_train, static_cast<uint64_t>(tc.seed) * 1000003ULL + static_cast<uint64_t>(epoch));
      order_epoch = epoch;
    }
    return data.train_at(order[global % n_train]);
  };

  TrainSummary summary;
  summary.run_dir = run_dir;
  summary.best_val_loss = state.best_val;
  model->train();
  const auto t_start = Clock::now();
  auto t_window = t_start;
  int64_t tokens_window = 0;
  double loss_window = 0.0;
  int64_t loss_count = 0;
  double eval_seconds = 0.0;
  const int64_t first_step = state.step;
  // Writes last.pt with everything an exact resume needs, then records the run as the latest.
  const auto save_last = [&] {
    save_checkpoint(last_path, config, *tokenizer, *model, &optimizer, state);
    fs::create_directories(fs::path(latest_run_marker()).parent_path());
    write_atomically(latest_run_marker(), fs::absolute(run_dir).lexically_normal().string() + "\n");
  };

  for (int64_t step = state.step; step < tc.steps; ++step) {
    const double lr = learning_rate(tc, step);
    const StepStats stats = train_step(*model, optimizer, tc, step, device, [&](int64_t micro) {
      std::vector<Example> examples;
      const int64_t base = micro * B;
      for (int64_t i = 0; i < B; ++i) examples.push_back(example_at(base + i));
      std::vector<const Example*> group;
      for (const auto& e : examples) group.push_back(&e);
      // Masks are functions of the seed and the micro-batch, on every device.
      torch::Generator mask_gen = cpu_generator(derive_seed(static_cast<uint64_t>(tc.seed), Stream::kMasking,
                                                            static_cast<uint64_t>(micro)));
      return ar ? collate_ar(group, tokenizer->bos_id()) : collate(group, config.diffusion, tokenizer->mask_id(), mask_gen);
    });
    const double step_loss = stats.loss;
    tokens_window += tc.grad_accum * B * config.data.seq_len;
    state.step = step + 1;
    loss_window += step_loss;
    ++loss_count;
    summary.final_train_loss = step_loss;

    const double elapsed = std::chrono::duration<double>(Clock::now() - t_start).count();
    // train.time_limit counts training only: validation and checkpoints do not eat the budget.
    const bool out_of_time = tc.time_limit > 0 && elapsed - eval_seconds >= tc.time_limit;
    const double rate_steps = static_cast<double>(state.step - first_step) / std::max(elapsed, 1e-9);
    double eta = static_cast<double>(tc.steps - state.step) / std::max(rate_steps, 1e-9);
    if (tc.time_limit > 0) eta = std::min(eta, tc.time_limit - (elapsed - eval_seconds));
    const double window_s = std::chrono::duration<double>(Clock::now() - t_window).count();
    const double tok_per_s = static_cast<double>(tokens_window) / std::max(window_s, 1e-9);
    if (bar) {
      const int width = 24;
      const int filled = static_cast<int>(width * state.step / tc.steps);
      std::fprintf(stderr, "\r[%s%s] step %ld/%ld loss %.4f %.0f tok/s ETA %s   ", std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), static_cast<long>(state.step), static_cast<long>(tc.steps),
                   step_loss, tok_per_s, format_duration(eta).c_str());
      std::fflush(stderr);
    } else if (state.step % tc.log_every == 0) {
      log::info("step {}/{} loss {:.4f} lr {:.2e} {:.0f} tok/s ETA {}", state.step, tc.steps,
                   loss_window / std::max<int64_t>(1, loss_count), lr, tok_per_s, format_duration(eta));
    }
    if (state.step % tc.log_every == 0) {
      t_window = Clock::now();
      tokens_window = 0;
    }

    if (state.step % tc.eval_every == 0 || state.step == tc.steps || out_of_time) {
      const auto t_eval = Clock::now();
      // Diffusion: mean over masking levels; ar: next-token loss and accuracy.
      const std::vector<LevelMetrics> val = [&] {
        const auto autocast = autocast_for(tc.precision, device);  // the forward passes only, not the saving
        return ar ? std::vector<LevelMetrics>{evaluate_ar(*model, data.val, tokenizer->bos_id(), 0,
                                                          std::max<int64_t>(B, 64), device)}
                  : evaluate_by_level(*model, data.val, config.diffusion, levels, tokenizer->mask_id(),
                                      std::max<int64_t>(B, 64), device, static_cast<uint64_t>(tc.seed) + 7);
      }();
      double val_loss = 0.0, val_acc = 0.0;
      for (const auto& l : val) val_loss += l.loss / static_cast<double>(val.size());
      for (const auto& l : val) val_acc += l.accuracy / static_cast<double>(val.size());
      if (bar) std::fprintf(stderr, "\n");
      const double train_loss = loss_window / std::max<int64_t>(1, loss_count);
      log::info("step {} train {:.4f} val {:.4f} acc {:.3f}{}{}", state.step, train_loss, val_loss, val_acc,
                   ar ? "" : " | by masking level ", ar ? "" : levels_summary(val));
      nlohmann::json by_level = nlohmann::json::array();
      for (const auto& l : val) if (!ar) by_level.push_back({{"rate", l.rate}, {"loss", l.loss}, {"accuracy", l.accuracy}});
      metrics << nlohmann::json{{"step", state.step},       {"train_loss", train_loss}, {"val_loss", val_loss},
                                {"val_accuracy", val_acc},  {"lr", lr},                 {"tokens_per_s", tok_per_s},
                                {"elapsed_s", elapsed},     {"levels", by_level}}
                     .dump()
              << "\n";
      metrics.flush();
      loss_window = 0.0;
      loss_count = 0;
      summary.final_val_loss = val_loss;

      const bool is_best = val_loss < state.best_val;
      if (is_best) state.best_val = val_loss;
      save_last();
      if (is_best) save_checkpoint(best_path, config, *tokenizer, *model, &optimizer, state);
      summary.best_val_loss = state.best_val;
      eval_seconds += std::chrono::duration<double>(Clock::now() - t_eval).count();
    }
    if (out_of_time && state.step < tc.steps) {
      log::info("train.time_limit of {:.0f} s reached at step {}", tc.time_limit, state.step);
      break;
    }
    const bool stop = (options.stop_requested && options.stop_requested->load()) ||
                      (options.stop_at_step > 0 && state.step >= options.stop_at_step);
    if (stop && state.step < tc.steps) {
      if (state.step % tc.eval_every != 0) save_last();
      if (bar) std::fprintf(stderr, "\n");
      log::info("stopped at step {}; continue with: dtrain --resume {}", state.step, run_dir);
      summary.interrupted = true;
      break;
    }
  }
  summary.steps = state.step;
  return summary;
}

}  // namespace dlm
