// Training: the optimizer and its schedule, one step, and the run as a pipeline.
#include "dlm/trainer.h"

#include <cmath>
#include <limits>

#include "dlm/blas.h"
#include "dlm/checkpoint.h"
#include "dlm/device.h"
#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/log.h"
#include "dlm/random.h"
#include "dlm/run_data.h"
#include "dlm/run_dir.h"
#include "dlm/tokenizer.h"
#include "dlm/training_log.h"

namespace dlm {
namespace {

// Training stops before anything is saved, so the last good checkpoint stays as it was.
Error non_finite(int64_t step, const std::string& what) {
  return Error("step " + std::to_string(step) + ": " + what + " is not finite; stopped without saving, the last good " +
               "checkpoint is kept (try a lower train.lr or train.grad_clip)");
}

// The micro-batches of a run. Epoch e visits the training examples in a fixed permutation seeded by
// (seed, e), and masks are drawn from (seed, micro-batch), so a batch is a function of the step and a
// resumed run sees the same ones.
class BatchStream {
 public:
  BatchStream(const RunData& data, const Config& config, const Tokenizer& tokenizer)
      : data_(data), config_(config), mask_id_(tokenizer.mask_id()), bos_id_(tokenizer.bos_id()) {}

  Batch at(int64_t micro) {
    const int64_t B = config_.train.batch_size;
    std::vector<Example> examples;
    for (int64_t i = 0; i < B; ++i) examples.push_back(example_at(micro * B + i));
    std::vector<const Example*> group;
    for (const auto& e : examples) group.push_back(&e);
    if (config_.objective == Objective::kAr) return collate_ar(group, bos_id_);
    torch::Generator mask_gen = cpu_generator(
        derive_seed(static_cast<uint64_t>(config_.train.seed), Stream::kMasking, static_cast<uint64_t>(micro)));
    return collate(group, config_.diffusion, mask_id_, mask_gen);
  }

 private:
  Example example_at(int64_t global) {
    const int64_t n = data_.n_train;
    const int64_t epoch = global / n;
    if (epoch != epoch_) {
      order_ = shuffled_indices(n, static_cast<uint64_t>(config_.train.seed) * 1000003ULL + static_cast<uint64_t>(epoch));
      epoch_ = epoch;
    }
    return data_.train_at(order_[static_cast<size_t>(global % n)]);
  }

  const RunData& data_;
  const Config& config_;
  int64_t mask_id_, bos_id_;
  std::vector<int64_t> order_;
  int64_t epoch_ = -1;
};

// Everything a run holds while it trains.
struct Session {
  Config config;
  RunDir run;
  torch::Device device = torch::kCPU;
  std::unique_ptr<Tokenizer> tokenizer;
  RunData data;
  std::vector<Example> val;  ///< periodic validation: the first data.val_max of the validation set
  std::shared_ptr<DenoiserImpl> model;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  TrainState state;
  bool resumed = false;
};

// The checkpoint a resumed run continues from; none for a new run, or for a run stopped before its
// first checkpoint, which starts again from step 0 with the config it saved.
std::unique_ptr<CheckpointReader> open_resume_point(const RunDir& run, bool resume) {
  if (!resume) return nullptr;
  if (run.has_checkpoint()) return std::make_unique<CheckpointReader>(run.last());
  log::info("{} has no checkpoint yet: starting it from step 0 with its saved config", run.path());
  return nullptr;
}

// Tokenizer and data: a resumed run keeps the tokenizer it was trained with.
void load_data(Session& s, CheckpointReader* reader) {
  const std::string cache_dir = default_cache_dir(s.config, s.run.path());
  const std::vector<TextExample> raw = read_examples(s.config.data);
  s.tokenizer = reader ? reader->tokenizer() : make_run_tokenizer(s.config, raw, cache_dir);
  s.data = load_run_data(s.config, *s.tokenizer, cache_dir, &raw);
  s.val = s.data.is_corpus ? s.data.val_head(s.config.data.val_max) : s.data.val;
  const int64_t prefix = s.config.diffusion.prefix_len;
  if (!s.data.is_corpus && prefix > 0) {
    for (const auto& e : s.data.memory.train) {
      if (e.n_content <= prefix) {
        log::warn("some examples are no longer than diffusion.prefix_len ({}): nothing of them is learned", prefix);
        break;
      }
    }
  }
}

// The model (seeded by train.seed), AdamW, and the state of the checkpoint when resuming. A checkpoint
// holds the weights and AdamW's two moments; last.pt, best.pt and a temporary copy must fit, which is
// better said now than after an hour of training.
void build_model(Session& s, CheckpointReader* reader) {
  const bool ar = s.config.objective == Objective::kAr;
  torch::manual_seed(static_cast<uint64_t>(s.config.train.seed));  // initial weights
  s.model = make_model(s.config.model, s.tokenizer->vocab_size(), s.config.data.seq_len, ar);
  s.model->to(s.device);
  s.run.check_space(static_cast<uint64_t>(count_parameters(*s.model)) * sizeof(float) * 3 * 3 + (16u << 20));
  s.optimizer = std::make_unique<torch::optim::AdamW>(make_optimizer(*s.model, s.config.train));
  if (!reader) return;
  reader->load_model(*s.model, s.device);
  restore_optimizer(*reader, *s.optimizer, *s.model, s.config.train);
  s.state = reader->state();
  log::info("resuming {} at step {}", s.run.path(), s.state.step);
  if (s.state.step >= s.config.train.steps) {
    log::info("run already finished {} of {} steps (raise train.steps with --set to continue)", s.state.step,
              s.config.train.steps);
  }
}

// Checks the run directory, then loads everything the loop needs, saying what it loaded.
Session open_session(const Config& config, const TrainOptions& options) {
  Session s{config, RunDir(options.run_dir.empty() ? "runs/" + config.name : options.run_dir)};
  validate(s.config);
  s.device = resolve_device(s.config.train.device);
  const int64_t threads = set_threads(s.config.train.threads);
  s.run.check_writable();
  std::unique_ptr<CheckpointReader> reader = open_resume_point(s.run, options.resume);
  s.resumed = reader != nullptr;
  if (!reader) s.run.save_config(s.config);  // first, so a run killed while loading can resume
  load_data(s, reader.get());
  build_model(s, reader.get());
  s.run.save_config(s.config);
  write_atomically(s.run.file("tokenizer.json"), dump_json(s.tokenizer->to_json()) + "\n");
  log::info("config: {}", dump_json(to_json(s.config)));
  log::info("data: {}{}", s.data.describe(s.config, *s.tokenizer),
            s.val.size() < s.data.val.size() ? log::format("; {} for periodic validation", {s.val.size()}) : "");
  const BlasStatus blas = blas_report();
  if (blas.warning) log::warn("{}", blas.line); else log::info("{}", blas.line);
  log::info("model: {} {} with {} parameters on {} ({} threads)",
            s.config.objective == Objective::kAr ? "causal" : "bidirectional", s.config.model.type,
            count_parameters(*s.model), s.device.str(), threads);
  return s;
}

// last.pt with everything an exact resume needs, then the run recorded as the latest.
void save_last(const Session& s) {
  save_checkpoint(s.run.last(), s.config, *s.tokenizer, *s.model, s.optimizer.get(), s.state);
  s.run.mark_latest();
}

// Periodic validation, its figures recorded, then last.pt (and best.pt when validation improved).
double validate_and_checkpoint(Session& s, TrainingLog& log, double lr) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<LevelMetrics> val = validate_run(*s.model, s.val, s.config, *s.tokenizer, s.device);
  const double val_loss = log.validated(s.state.step, val, lr);
  const bool is_best = val_loss < s.state.best_val;
  if (is_best) s.state.best_val = val_loss;
  save_last(s);
  if (is_best) save_checkpoint(s.run.best(), s.config, *s.tokenizer, *s.model, s.optimizer.get(), s.state);
  log.add_pause(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return val_loss;
}

}  // namespace

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
  const torch::Tensor ce = token_ce(logits, batch.target.to(logits.device()));  // (B, L)
  return (ce * batch.loss_weight.to(logits.device())).sum() / batch.loss_norm;
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

TrainSummary train(const Config& config, const TrainOptions& options) {
  Session s = open_session(config, options);
  const TrainConfig& tc = s.config.train;
  TrainingLog log(s.run.file("metrics.jsonl"), s.config, options.progress, s.state.step, s.resumed);
  BatchStream batches(s.data, s.config, *s.tokenizer);
  TrainSummary summary;
  summary.run_dir = s.run.path();
  s.model->train();
  for (int64_t step = s.state.step; step < tc.steps; ++step) {
    const double lr = learning_rate(tc, step);
    const StepStats stats =
        train_step(*s.model, *s.optimizer, tc, step, s.device, [&](int64_t micro) { return batches.at(micro); });
    s.state.step = step + 1;
    summary.final_train_loss = stats.loss;
    log.step_done(s.state.step, stats.loss, lr);
    // train.time_limit counts training only: validation and checkpoints do not eat the budget.
    const bool out_of_time = tc.time_limit > 0 && log.training_seconds() >= tc.time_limit;
    const bool validate = s.state.step % tc.eval_every == 0 || s.state.step == tc.steps || out_of_time;
    if (validate) summary.final_val_loss = validate_and_checkpoint(s, log, lr);
    if (s.state.step == tc.steps) break;
    if (out_of_time) {
      log::info("train.time_limit of {:.0f} s reached at step {}", tc.time_limit, s.state.step);
      break;
    }
    if ((options.stop_requested && options.stop_requested->load()) ||
        (options.stop_at_step > 0 && s.state.step >= options.stop_at_step)) {
      if (!validate) save_last(s);
      log.break_line();
      log::info("stopped at step {}; continue with: dtrain --resume {}", s.state.step, s.run.path());
      summary.interrupted = true;
      break;
    }
  }
  summary.steps = s.state.step;
  summary.best_val_loss = s.state.best_val;
  return summary;
}

}  // namespace dlm
