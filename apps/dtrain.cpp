// dtrain: trains a masked diffusion language model (or its autoregressive twin) from a JSON config,
// and with --eval measures a checkpoint's likelihood on its validation data.
// Parses flags, layers config (defaults, file, --set), and hands over to dlm::train / dlm::evaluate_checkpoint.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "dlm/blas.h"
#include "dlm/config.h"
#include "dlm/device.h"
#include "dlm/diffusion/process.h"
#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/hf/family.h"
#include "dlm/hf/hf_folder.h"
#include "dlm/json.h"
#include "dlm/log.h"
#include "dlm/model/checkpoint.h"
#include "dlm/model/run_dir.h"
#include "dlm/train/evaluate.h"
#include "dlm/train/trainer.h"

namespace {

std::atomic<bool> g_stop_requested{false};
std::atomic<bool> g_one_rank_of_many{false};

// First SIGINT/SIGTERM: finish the step, checkpoint, exit 0. Second: die at once; checkpoints are
// written to a temporary file and renamed, so nothing on disk is left half-written. A rank of a
// data-parallel run gets Ctrl-C from the terminal and again from its launcher: it keeps to the
// agreed stop (the launcher kills it at its deadline).
extern "C" void on_stop_signal(int sig) {
  if (g_stop_requested.exchange(true) && !g_one_rank_of_many.load()) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

// The command line as given.
struct Flags {
  std::string config_path, run_dir, resume_dir, device, progress = "auto", eval_path, eval_json;
  std::vector<std::string> overrides, export_hf;
  int64_t threads = -1, stop_at = 0;
};

void add_flags(CLI::App& app, Flags& f) {
  app.add_option("--config", f.config_path, "JSON config file (see configs/)");
  app.add_option("--set", f.overrides, "override a config key, repeatable: --set model.d_model=256");
  app.add_option("--run-dir", f.run_dir, "run directory (default: runs/<config name>)");
  app.add_option("--resume", f.resume_dir, "continue the run in this directory from its last.pt");
  app.add_option("--device", f.device, "auto | cpu | cuda (default: the config's train.device, auto)");
  app.add_option("--threads", f.threads,
                 "CPU threads (default: the config's train.threads; 0 = OMP_NUM_THREADS, else the core count)");
  app.add_option("--stop-at", f.stop_at, "stop after this step with a checkpoint, as on Ctrl-C (default: 0, never)");
  app.add_option("--eval", f.eval_path,
                 "evaluate this checkpoint or run directory on its validation data and print the likelihood table "
                 "(--set eval.t_samples=N / eval.seed=S change the estimate)");
  app.add_option("--eval-json", f.eval_json, "with --eval: also write the figures to this JSON file");
  app.add_option("--export-hf", f.export_hf,
                 "SOURCE OUT_DIR: write a run, checkpoint or Hugging Face folder of a family dlm exports (" +
                     dlm::hf_model_types() +
                     ") as a Hugging Face folder (config.json, model.safetensors, tokenizer.json) in a new OUT_DIR")
      ->expected(1, 2);
  app.add_option("--progress", f.progress, "auto | bar | plain (default: auto, a bar on a terminal)")
      ->check(CLI::IsMember({"auto", "bar", "plain"}));
}

// --export-hf SOURCE OUT_DIR, which takes no other mode's flags.
int export_folder(const Flags& f) {
  if (f.export_hf.size() != 2) {
    throw dlm::Error("--export-hf takes two paths: SOURCE (a run, checkpoint or Hugging Face folder) and OUT_DIR");
  }
  if (!f.config_path.empty() || !f.resume_dir.empty() || !f.eval_path.empty()) {
    throw dlm::Error("--export-hf goes alone; drop --config, --resume and --eval");
  }
  dlm::export_hf(f.export_hf[0], f.export_hf[1]);
  dlm::log::info("wrote {} (load it with transformers' AutoModelForMaskedLM.from_pretrained)", f.export_hf[1]);
  return 0;
}

// --eval: the likelihood table of a checkpoint, run or folder; only eval.*, data.* and the precision change.
int evaluate_model(const Flags& f) {
  if (!f.config_path.empty() || !f.resume_dir.empty()) {
    throw dlm::Error("--eval takes everything from the checkpoint; drop --config and --resume");
  }
  const torch::Device dev = dlm::resolve_device(dlm::parse_device(f.device.empty() ? "auto" : f.device));
  dlm::set_threads(f.threads >= 0 ? f.threads : 0);
  const bool folder = dlm::is_hf_folder(f.eval_path);
  const std::string path = folder ? f.eval_path : dlm::resolve_checkpoint_path(f.eval_path);
  dlm::LoadedModel loaded = dlm::load_any_model(f.eval_path, dev, dlm::make_process_model);
  for (const auto& o : f.overrides) {
    if (o.rfind("eval.", 0) != 0 && o.rfind("data.", 0) != 0 && o.rfind("train.precision=", 0) != 0) {
      throw dlm::Error("--set " + o + ": with --eval only eval.*, data.* and train.precision can change");
    }
    dlm::apply_override(loaded.config, o);
  }
  dlm::validate(loaded.config);
  const std::string run = folder ? path : std::filesystem::path(path).parent_path().string();
  const dlm::EvalReport report = dlm::evaluate_checkpoint(loaded, run.empty() ? "." : run, dev);
  std::printf("%s: %s", path.c_str(), dlm::format_report(report).c_str());
  if (!f.eval_json.empty()) dlm::write_atomically(f.eval_json, dlm::dump_json(dlm::to_json(report), 2) + "\n");
  return 0;
}

// The run's config, layered: the resumed run's or the file's, then --set, --device and --threads;
// `options` learns where the run lives.
dlm::Config training_config(const Flags& f, dlm::TrainOptions& options) {
  dlm::Config config;
  if (!f.resume_dir.empty()) {
    if (!f.config_path.empty()) throw dlm::Error("--resume takes the config from the run; drop --config");
    config = dlm::RunDir(f.resume_dir).saved_config();
    options.run_dir = f.resume_dir;
    options.resume = true;
  } else {
    if (f.config_path.empty()) throw dlm::Error("--config FILE is required (or --resume RUN_DIR); see --help");
    config = dlm::load_config_file(f.config_path);
    options.run_dir = f.run_dir;
  }
  for (const auto& o : f.overrides) dlm::apply_override(config, o);
  if (!f.device.empty()) config.train.device = dlm::parse_device(f.device);
  if (f.threads >= 0) config.train.threads = f.threads;
  dlm::validate(config);
  return config;
}

int train_model(const Flags& f) {
  dlm::TrainOptions options;
  const dlm::Config config = training_config(f, options);
  options.progress = f.progress == "bar" ? 1 : f.progress == "plain" ? 0 : -1;
  options.stop_requested = &g_stop_requested;
  options.stop_at_step = f.stop_at;
  options.dist = dlm::read_dist_env();
  g_one_rank_of_many = options.dist.distributed();
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  const dlm::TrainSummary s = dlm::train(config, options);
  if (s.interrupted) return 0;
  dlm::log::info("done: {} steps, final val loss {:.4f}, best {:.4f}; checkpoints in {}", s.steps, s.final_val_loss,
                 s.best_val_loss, s.run_dir);
  dlm::log::info("generate with: dgen --checkpoint {}", s.run_dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dtrain: train a masked discrete diffusion language model"};
  Flags flags;
  add_flags(app, flags);
  CLI11_PARSE(app, argc, argv);
  dlm::tune_allocator();

  dlm::log::setup("dtrain");
  return dlm::run_tool("dtrain", [&] {
    if (!flags.export_hf.empty()) return export_folder(flags);
    dlm::ensure_blas_kernels(argv);  // may restart the program once; the trainer reports the choice
    if (!flags.eval_path.empty()) return evaluate_model(flags);
    return train_model(flags);
  });
}
