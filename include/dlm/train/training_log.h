// What a run shows and records while it trains: a progress bar (or a line every train.log_every
// steps) on stderr, a line per validation, and metrics.jsonl with one JSON line per validation. The
// clock it keeps tells training time apart from validation and checkpoint time (train.time_limit
// counts training only).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "dlm/config.h"
#include "dlm/train/evaluate.h"

namespace dlm {

class TrainingLog {
 public:
  // `progress`: 1 bar, 0 plain lines, -1 a bar when stderr is a terminal. A resumed run keeps the
  // metrics lines up to `first_step` (later ones belong to work it will redo) and appends. Without
  // `record` (every rank but 0 of a data-parallel run) it only keeps the clock. `by_level`: validation
  // figures are a per-level table (the process's has_levels), logged level by level.
  TrainingLog(const std::string& metrics_path, const Config& config, bool by_level, int progress, int64_t first_step,
              bool resume, bool record = true);

  // After optimizer step `step` (1-based count of steps done) with its loss and learning rate.
  void step_done(int64_t step, double loss, double lr);
  // Validation figures at `step`; returns their mean loss. Writes the metrics line and the log line.
  double validated(int64_t step, const std::vector<LevelMetrics>& val, double lr);
  // Time spent on validation and checkpoints, kept out of the training time.
  void add_pause(double seconds) { paused_s_ += seconds; }
  double training_seconds() const;
  // Ends the progress bar's line before other output.
  void break_line() const;

 private:
  std::string metrics_path_;
  std::string metrics_;  ///< the whole file, rewritten atomically at each validation
  TrainConfig tc_;
  bool by_level_;
  int64_t tokens_per_step_;
  bool record_;
  bool bar_;
  int64_t first_step_;
  std::chrono::steady_clock::time_point start_;
  // Speed over the last train.log_every steps; loss over the steps since the last validation.
  std::chrono::steady_clock::time_point speed_start_;
  int64_t speed_tokens_ = 0;
  double tokens_per_s_ = 0.0;
  double loss_sum_ = 0.0;
  int64_t loss_steps_ = 0;
  double paused_s_ = 0.0;
};

}  // namespace dlm
