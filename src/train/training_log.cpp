// A run's progress on stderr and its metrics.jsonl.
#include "dlm/train/training_log.h"

#include <unistd.h>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/log.h"

namespace dlm {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

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

// The metrics lines of steps up to `step`: a run killed after its last checkpoint logged
// validations it will redo, and the resumed run's file must read as one run.
std::string metrics_up_to(const std::string& path, int64_t step) {
  std::string content;
  try {
    content = read_file(path);
  } catch (const Error&) {
    return "";  // no metrics yet
  }
  std::string kept;
  size_t at = 0;
  while (at < content.size()) {
    const size_t end = content.find('\n', at);
    const std::string line = content.substr(at, end == std::string::npos ? std::string::npos : end - at);
    at = end == std::string::npos ? content.size() : end + 1;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("step", int64_t{0}) <= step) kept += line + "\n";
  }
  return kept;
}

}  // namespace

TrainingLog::TrainingLog(const std::string& metrics_path, const Config& config, bool by_level, int progress,
                         int64_t first_step, bool resume, bool record)
    : metrics_path_(metrics_path),
      tc_(config.train),
      by_level_(by_level),
      tokens_per_step_(config.train.grad_accum * config.train.batch_size * config.data.seq_len),
      record_(record),
      bar_(record && (progress == 1 || (progress == -1 && ::isatty(STDERR_FILENO)))),
      first_step_(first_step),
      start_(Clock::now()),
      speed_start_(start_) {
  // A fresh run starts a fresh file; a resumed one keeps what its checkpoint covers.
  if (!record_) return;
  if (resume) metrics_ = metrics_up_to(metrics_path_, first_step);
  write_atomically(metrics_path_, metrics_);
}

double TrainingLog::training_seconds() const { return seconds_since(start_) - paused_s_; }

void TrainingLog::step_done(int64_t step, double loss, double lr) {
  speed_tokens_ += tokens_per_step_;
  loss_sum_ += loss;
  ++loss_steps_;
  tokens_per_s_ = static_cast<double>(speed_tokens_) / std::max(seconds_since(speed_start_), 1e-9);
  const double training = training_seconds();
  const double steps_per_s = static_cast<double>(step - first_step_) / std::max(training, 1e-9);
  double eta = static_cast<double>(tc_.steps - step) / std::max(steps_per_s, 1e-9);
  if (tc_.time_limit > 0) eta = std::min(eta, tc_.time_limit - training);
  if (bar_) {
    const int width = 24;
    const int filled = static_cast<int>(width * step / tc_.steps);
    std::fprintf(stderr, "\r[%s%s] step %ld/%ld loss %.4f %.0f tok/s ETA %s   ", std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), static_cast<long>(step), static_cast<long>(tc_.steps), loss,
                 tokens_per_s_, format_duration(eta).c_str());
    std::fflush(stderr);
  } else if (step % tc_.log_every == 0) {
    log::info("step {}/{} loss {:.4f} lr {:.2e} {:.0f} tok/s ETA {}", step, tc_.steps, loss_sum_ / loss_steps_, lr,
              tokens_per_s_, format_duration(eta));
  }
  if (step % tc_.log_every == 0) {
    speed_start_ = Clock::now();
    speed_tokens_ = 0;
  }
}

double TrainingLog::validated(int64_t step, const std::vector<LevelMetrics>& val, double lr) {
  double val_loss = 0.0, val_acc = 0.0;
  for (const auto& l : val) val_loss += l.loss / static_cast<double>(val.size());
  for (const auto& l : val) val_acc += l.accuracy / static_cast<double>(val.size());
  const double train_loss = loss_sum_ / static_cast<double>(std::max<int64_t>(1, loss_steps_));
  break_line();
  log::info("step {} train {:.4f} val {:.4f} acc {:.3f}{}{}", step, train_loss, val_loss, val_acc,
            by_level_ ? " | by noise level " : "", by_level_ ? levels_summary(val) : "");
  nlohmann::json by_level = nlohmann::json::array();
  if (by_level_) {
    for (const auto& l : val) by_level.push_back({{"rate", l.rate}, {"loss", l.loss}, {"accuracy", l.accuracy}});
  }
  metrics_ += nlohmann::json{{"step", step},
                             {"train_loss", train_loss},
                             {"val_loss", val_loss},
                             {"val_accuracy", val_acc},
                             {"lr", lr},
                             {"tokens_per_s", tokens_per_s_},
                             {"elapsed_s", seconds_since(start_)},
                             {"levels", by_level}}
                  .dump() +
              "\n";
  write_atomically(metrics_path_, metrics_);
  loss_sum_ = 0.0;
  loss_steps_ = 0;
  return val_loss;
}

void TrainingLog::break_line() const {
  if (bar_) std::fprintf(stderr, "\n");
}

}  // namespace dlm
