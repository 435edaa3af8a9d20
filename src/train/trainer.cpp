// Training: one step, and the run as a pipeline.
#include "dlm/train/trainer.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "dlm/blas.h"
#include "dlm/data/tokenizer.h"
#include "dlm/device.h"
#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/hf/hf_folder.h"
#include "dlm/json.h"
#include "dlm/log.h"
#include "dlm/model/checkpoint.h"
#include "dlm/model/run_dir.h"
#include "dlm/random.h"
#include "dlm/train/run_data.h"
#include "dlm/train/training_log.h"

namespace dlm {
namespace {

// Training stops before anything is saved, so the last good checkpoint stays as it was.
Error non_finite(int64_t step, const std::string& what) {
  return Error("step " + std::to_string(step) + ": " + what + " is not finite; stopped without saving, the last good " +
               "checkpoint is kept (try a lower train.lr or train.grad_clip)");
}

// Everything a run holds while it trains.
struct Session {
  Session(const Config& c, const std::string& run_dir) : config(c), run(run_dir) {}
  Config config;
  RunDir run;
  torch::Device device = torch::kCPU;
  std::unique_ptr<World> world;  ///< data-parallel runs only
  std::unique_ptr<Tokenizer> tokenizer;
  RunData data;
  std::vector<Example> val;          ///< periodic validation: the first data.val_max of the validation set
  std::unique_ptr<Process> process;  ///< what the run trains, as its config names it
  std::shared_ptr<DenoiserImpl> model;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  TrainState state;
  bool resumed = false;
  bool is_main() const { return !world || world->is_main(); }
  // The other ranks wait here while rank 0 writes.
  void sync() const {
    if (world) world->barrier();
  }
};

// A data-parallel run's process group, with the rank's GPU; only rank 0 logs. Returns the CPU threads
// of this rank: train.threads, else the machine's cores shared by the ranks on it.
int64_t join_world(Session& s, const DistEnv& env) {
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  if (!env.distributed()) return set_threads(s.config.train.threads);
  const int64_t B = s.config.train.batch_size, W = env.world_size;
  if (B % W != 0) {
    throw Error("train.batch_size " + std::to_string(B) + " is the global batch and must be divisible by the " +
                std::to_string(W) + " ranks");
  }
  log::set_quiet(env.rank != 0);
  if (s.device.is_cuda()) s.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
  const int64_t threads = set_threads(s.config.train.threads > 0 ? s.config.train.threads
                                                                 : std::max<int64_t>(1, cores / env.local_world_size));
  s.world = std::make_unique<World>(env, s.config.train.dist_backend, s.device, s.config.train.dist_timeout);
  log::info("data parallel: {} ranks ({}), {} examples of each global batch of {} per rank", W, s.world->description(),
            B / W, B);
  return threads;
}

// The checkpoint a resumed run continues from; none for a new run, or for a run stopped before its
// first checkpoint, which starts again from step 0 with the config it saved.
std::unique_ptr<CheckpointReader> open_resume_point(const RunDir& run, bool resume) {
  if (!resume) return nullptr;
  if (run.has_checkpoint()) return std::make_unique<CheckpointReader>(run.last());
  log::info("{} has no checkpoint yet: starting it from step 0 with its saved config", run.path());
  return nullptr;
}

// Rotary positions are relative: on a fully masked canvas every position looks nearly the same, so
// a model that never sees a prompt can hardly tell where it is, and its first reveal (an end of
// text, say) lands wherever rounding puts the highest score. Seen on the names demo: 150 of 200 names distinct, many
// empty, with the ranking decided by the BLAS kernels' rounding.
void warn_if_unanchored(const Session& s) {
  const Config& c = s.config;
  if (s.process->causal() || c.model.type == ModelType::kMlp || c.model.pos != PosKind::kRotary) return;
  if (s.data.is_corpus) return;
  if (c.diffusion.prefix_len > 0 || c.diffusion.prefix_prob > 0.0) return;
  for (const auto& e : s.data.memory.train) {
    if (e.n_prompt > 0) return;
  }
  log::warn(
      "model.pos is rotary and no example has a prompt: samples without --prefix can hardly tell "
      "positions apart on an all-[MASK] canvas (set model.pos to \"learned\" for unconditional generation)");
}

// A new run of model.init_from takes the folder's architecture, context and tokenizer; its data.seq_len
// must fit the folder's positions. (A resumed run has them in its saved config.)
void adopt_init_from(Config& c) {
  const std::string dir = c.model.init_from;  // a copy: c.model is replaced below
  const HfArch arch = read_hf_config(dir);
  if (c.data.seq_len > arch.max_len) {
    throw Error("data.seq_len " + std::to_string(c.data.seq_len) + " is longer than the " +
                std::to_string(arch.max_len) + " positions " + dir + " takes" +
                (arch.model.pos_offset > 0
                     ? " (max_position_embeddings less " + std::to_string(arch.model.pos_offset) + ")"
                     : ""));
  }
  c.model = arch.model;
  c.model.init_from = dir;
  c.model.max_len = arch.max_len;
  c.tokenizer = TokenizerConfig{};
  c.tokenizer.kind = TokenizerKind::kHf;
  c.tokenizer.path = dir;
  validate(c);
}

// Tokenizer and data: a resumed run keeps the tokenizer it was trained with. Rank 0 goes first, so
// a tokenizer it trains and the token files it writes are there, cached, for the others.
void load_data(Session& s, CheckpointReader* reader) {
  if (!s.is_main()) s.sync();
  const std::string cache_dir = default_cache_dir(s.config, s.run.path());
  const std::vector<TextExample> raw = read_examples(s.config.data);
  // model.init_from: the folder's tokenizer with the special ids its config.json names (LLaDA's mask id).
  const std::string& folder = s.config.model.init_from;
  s.tokenizer = reader           ? reader->tokenizer()
                : folder.empty() ? make_run_tokenizer(s.config, raw, cache_dir)
                                 : load_hf_folder_tokenizer(folder);
  s.process = make_process(s.config, special_ids(*s.tokenizer));
  s.data = load_run_data(s.config, *s.tokenizer, cache_dir, &raw);
  if (s.is_main()) s.sync();
  s.val = s.data.is_corpus ? s.data.val_head(s.config.data.val_max) : s.data.val;
  warn_if_unanchored(s);
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

// The model (seeded by train.seed, then rank 0's on every rank), AdamW, and the state of the
// checkpoint when resuming. A checkpoint holds the weights and AdamW's two moments; last.pt, best.pt
// and a temporary copy must fit, which is better said now than after an hour of training.
void build_model(Session& s, CheckpointReader* reader) {
  torch::manual_seed(static_cast<uint64_t>(s.config.train.seed));  // initial weights
  s.model = make_process_model(s.config, s.tokenizer->vocab_size());
  if (!reader && !s.config.model.init_from.empty()) {
    load_hf_weights(s.config.model.init_from, *s.model);
    log::info("model: weights of {} (fine-tuned from here)", s.config.model.init_from);
  }
  s.model->to(s.device);
  if (s.is_main())
    s.run.check_space(static_cast<uint64_t>(count_parameters(*s.model)) * sizeof(float) * 9 + (16u << 20));
  s.optimizer = make_optimizer(*s.model, s.config.train);
  if (reader) {
    reader->load_model(*s.model, s.device);
    restore_optimizer(*reader, *s.optimizer, *s.model, s.config.train);
    s.state = reader->state();
    log::info("resuming {} at step {}", s.run.path(), s.state.step);
    if (s.state.step >= s.config.train.steps) {
      log::info("run already finished {} of {} steps (raise train.steps with --set to continue)", s.state.step,
                s.config.train.steps);
    }
  }
  const int64_t ranks = s.world ? s.world->size() : 1;
  if (reader && s.state.world_size != ranks) {
    log::info(
        "the run trained its last steps on {} rank(s) and continues on {}: the same global batch, but not "
        "bit-exact (sums run in another order)",
        s.state.world_size, ranks);
  }
  s.state.world_size = ranks;
  if (s.world) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> params;
    for (const auto& p : s.model->parameters()) params.push_back(p.detach());
    s.world->broadcast(params);
  }
}

// Checks the run directory, then loads everything the loop needs, saying what it loaded.
Session open_session(const Config& config, const TrainOptions& options) {
  Session s(config, options.run_dir.empty() ? default_run_dir(config.name) : options.run_dir);
  validate(s.config);
  // A process's settings need no tokenizer: refused before anything is written.
  make_process(s.config, SpecialIds{})->check_sample(s.config.sample);
  s.device = resolve_device(s.config.train.device);
  const int64_t threads = join_world(s, options.dist);
  if (s.is_main()) s.run.check_writable();
  s.sync();
  std::unique_ptr<CheckpointReader> reader = open_resume_point(s.run, options.resume);
  s.resumed = reader != nullptr;
  if (!reader && !s.config.model.init_from.empty()) adopt_init_from(s.config);
  if (!reader && s.is_main()) s.run.save_config(s.config);  // first, so a run killed while loading can resume
  load_data(s, reader.get());
  build_model(s, reader.get());
  if (s.is_main()) {
    s.run.save_config(s.config);
    write_atomically(s.run.file("tokenizer.json"), dump_json(s.tokenizer->to_json()) + "\n");
  }
  log::info("config: {}", dump_json(to_json(s.config)));
  log::info("data: {}{}", s.data.describe(s.config, *s.tokenizer),
            s.val.size() < s.data.val.size() ? log::format("; {} for periodic validation", {s.val.size()}) : "");
  const BlasStatus blas = blas_report();
  if (blas.warning)
    log::warn("{}", blas.line);
  else
    log::info("{}", blas.line);
  const std::string precision = precision_notice(s.config.train.precision, s.device, cpu_has_bf16_dot());
  if (!precision.empty()) log::info("{}", precision);
  log::info("model: {} {} with {} parameters on {} ({} threads{})", s.process->causal() ? "causal" : "bidirectional",
            enum_name(s.config.model.type), count_parameters(*s.model), s.device.str(), threads,
            s.world ? " per rank" : "");
  return s;
}

// last.pt with everything an exact resume needs, then the run recorded as the latest.
void save_last(const Session& s) {
  if (s.is_main()) {
    save_checkpoint(s.run.last(), s.config, *s.tokenizer, *s.model, s.optimizer.get(), s.state);
    s.run.mark_latest();
  }
  s.sync();
}

// Periodic validation (rank 0's: every rank holds the same weights), its figures recorded, then
// last.pt (and best.pt when validation improved).
double validate_and_checkpoint(Session& s, TrainingLog& log, double lr) {
  const auto start = std::chrono::steady_clock::now();
  double val_loss = 0.0;
  if (s.is_main()) {
    const std::vector<LevelMetrics> val = validate_run(*s.model, s.val, s.config, *s.tokenizer, s.device);
    val_loss = log.validated(s.state.step, val, lr);
    if (val_loss < s.state.best_val) {
      s.state.best_val = val_loss;
      save_checkpoint(s.run.best(), s.config, *s.tokenizer, *s.model, s.optimizer.get(), s.state);
    }
  }
  save_last(s);
  log.add_pause(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return val_loss;
}

// Why the run ends after a step, as every rank agrees: a stop signal or the time limit on any rank
// ends all of them at the same step, so none is left waiting in a collective.
struct StepEnd {
  bool out_of_time = false;
  bool stop = false;
};
StepEnd agree(const Session& s, StepEnd local) {
  if (!s.world) return local;
  // cpu: World::sum moves it to the group's device and back
  torch::Tensor flags = torch::tensor({local.out_of_time ? 1.0 : 0.0, local.stop ? 1.0 : 0.0}, torch::kFloat64);
  s.world->sum(flags);
  return {flags[0].item<double>() > 0.0, flags[1].item<double>() > 0.0};
}

}  // namespace

TrainingBatches::TrainingBatches(const RunData& data, const Config& config, const Tokenizer& tokenizer, int64_t rank,
                                 int64_t ranks)
    : data_(data),
      config_(config),
      process_(make_process(config, special_ids(tokenizer))),
      begin_(config.train.batch_size * rank / ranks),
      end_(config.train.batch_size * (rank + 1) / ranks),
      pad_id_(tokenizer.pad_id()) {}

std::vector<int64_t> TrainingBatches::example_indices(int64_t micro) {
  const int64_t n = data_.n_train, B = config_.train.batch_size;
  std::vector<int64_t> out;
  for (int64_t i = begin_; i < end_; ++i) {
    const int64_t global = micro * B + i;
    const int64_t epoch = global / n;
    if (epoch != epoch_) {
      order_ =
          shuffled_indices(n, static_cast<uint64_t>(config_.train.seed) * 1000003ULL + static_cast<uint64_t>(epoch));
      epoch_ = epoch;
    }
    out.push_back(order_[static_cast<size_t>(global % n)]);
  }
  return out;
}

std::vector<int64_t> TrainingBatches::window_starts(int64_t micro) const {
  const uint64_t starts = static_cast<uint64_t>(data_.train_window_starts(config_.data.seq_len));
  std::vector<int64_t> out;
  for (int64_t i = begin_; i < end_; ++i) {
    const uint64_t global = static_cast<uint64_t>(micro * config_.train.batch_size + i);
    out.push_back(static_cast<int64_t>(
        derive_seed(static_cast<uint64_t>(config_.train.seed), Stream::kWindows, global) % starts));
  }
  return out;
}

Batch TrainingBatches::at(int64_t micro) {
  std::vector<Example> examples;
  if (config_.data.window_offsets == WindowOffsets::kRandom) {
    for (int64_t start : window_starts(micro))
      examples.push_back(data_.train_window(start, config_.data.seq_len, pad_id_));
  } else {
    for (int64_t i : example_indices(micro)) examples.push_back(data_.train_at(i));
  }
  std::vector<const Example*> group;
  for (const auto& e : examples) group.push_back(&e);
  return process_->noise(group, begin_, config_.train.batch_size, static_cast<uint64_t>(config_.train.seed), micro);
}

StepStats train_step(DenoiserImpl& model, torch::optim::AdamW& optimizer, const TrainConfig& tc, int64_t step,
                     const torch::Device& device, const std::function<Batch(int64_t micro)>& batch_at,
                     const Process& process, World* world) {
  set_hyperparameters(optimizer, tc, step);
  optimizer.zero_grad();
  model.set_recompute(tc.recompute);
  const int64_t rank = world ? world->rank() : 0, ranks = world ? world->size() : 1;
  std::vector<Batch> batches;
  for (int64_t micro = step * tc.grad_accum; micro < (step + 1) * tc.grad_accum; ++micro) {
    batches.push_back(batch_at(micro));
  }
  // cpu: the counts come from the collator; World::sum moves them to the group's device and back
  torch::Tensor counts = torch::empty({tc.grad_accum}, torch::kFloat64);
  for (int64_t i = 0; i < tc.grad_accum; ++i) counts[i] = batches[static_cast<size_t>(i)].norm_count;
  if (world) world->sum(counts);
  double loss_sum = 0.0;
  for (int64_t i = 0; i < tc.grad_accum; ++i) {
    Batch& batch = batches[static_cast<size_t>(i)];
    batch.loss_norm = std::max(1.0, counts[i].item<double>());
    const uint64_t micro = static_cast<uint64_t>(step * tc.grad_accum + i);
    seed_default_generator(device, derive_seed(static_cast<uint64_t>(tc.seed), Stream::kDropout,
                                               micro * static_cast<uint64_t>(ranks) + static_cast<uint64_t>(rank)));
    torch::Tensor loss;
    {
      const auto autocast = autocast_for(tc.precision, device);
      loss = process.loss(process.hidden(model, batch, device), model, batch);
    }
    loss = loss / static_cast<double>(tc.grad_accum);
    loss.backward();
    loss_sum += loss.item<double>();
  }
  StepStats stats;
  torch::Tensor loss = torch::full({1}, loss_sum, torch::kFloat64);  // cpu: a figure, summed like the counts
  if (world) {
    world->sum_gradients(model.parameters());
    world->sum(loss);
  }
  stats.loss = loss.item<double>();
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
  TrainingLog log(s.run.file("metrics.jsonl"), s.config, s.process->has_levels(), options.progress, s.state.step,
                  s.resumed, s.is_main());
  TrainingBatches batches(s.data, s.config, *s.tokenizer, s.world ? s.world->rank() : 0, s.world ? s.world->size() : 1);
  TrainSummary summary;
  summary.run_dir = s.run.path();
  s.model->train();
  for (int64_t step = s.state.step; step < tc.steps; ++step) {
    const double lr = learning_rate(tc, step);
    const StepStats stats = train_step(
        *s.model, *s.optimizer, tc, step, s.device, [&](int64_t micro) { return batches.at(micro); }, batches.process(),
        s.world.get());
    s.state.step = step + 1;
    summary.final_train_loss = stats.loss;
    log.step_done(s.state.step, stats.loss, lr);
    // train.time_limit counts training only: validation and checkpoints do not eat the budget.
    const StepEnd end = agree(s, {tc.time_limit > 0 && log.training_seconds() >= tc.time_limit,
                                  (options.stop_requested && options.stop_requested->load()) ||
                                      (options.stop_at_step > 0 && s.state.step >= options.stop_at_step)});
    const bool validate = s.state.step % tc.eval_every == 0 || s.state.step == tc.steps || end.out_of_time;
    if (validate) summary.final_val_loss = validate_and_checkpoint(s, log, lr);
    if (s.state.step == tc.steps) break;
    if (end.out_of_time) {
      log::info("train.time_limit of {:.0f} s reached at step {}", tc.time_limit, s.state.step);
      break;
    }
    if (end.stop) {
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
