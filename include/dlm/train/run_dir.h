// A run directory: where a run's config, tokenizer, checkpoints and metrics go. It is checked before
// any work starts (creatable, writable, room for checkpoints), and records itself as the latest run in
// the LATEST file beside it, which dgen reads when no checkpoint is named.
#pragma once

#include <cstdint>
#include <string>

#include "dlm/config.h"

namespace dlm {

class RunDir {
 public:
  explicit RunDir(std::string path);
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const;
  std::string last() const { return file("last.pt"); }
  std::string best() const { return file("best.pt"); }
  bool has_checkpoint() const;
  // LATEST beside the run: runs/LATEST for the default runs/<name>, wherever dtrain was started.
  std::string latest_marker() const;

  // Creates the folder and checks that it and the LATEST marker's folder take files: an unwritable
  // place fails before training starts, not after an hour.
  void check_writable() const;
  // Throws when the file system has less than `bytes` free, naming both figures.
  void check_space(uint64_t bytes) const;
  // Records the run, by its absolute path, in latest_marker().
  void mark_latest() const;

  // The config to continue this run with: its last checkpoint's, or, for a run stopped before its
  // first checkpoint, the config.json it saved when it started. Throws when it has neither.
  Config saved_config() const;
  // Saves the config a run starts with, before anything slow, so a run killed early can resume.
  void save_config(const Config& config) const;

 private:
  std::string path_;
};

}  // namespace dlm
