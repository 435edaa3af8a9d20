// Run directories, the one home of their conventions: where a run's config, tokenizer, checkpoints and
// metrics go (runs/<name> unless named), the LATEST file beside it that records the latest run, and
// how a path a user gives (a checkpoint, a run directory, nothing) resolves to a checkpoint file. A run
// directory is checked before any work starts (creatable, writable, room for checkpoints).
#pragma once

#include <cstdint>
#include <string>

#include "dlm/config.h"

namespace dlm {

// The run directory of a run that names none: runs/<name>, under where dtrain started.
std::string default_run_dir(const std::string& name);

// What a user passed to dgen or `dtrain --eval`: a checkpoint file, or a run directory (its best.pt,
// else last.pt); empty means the run recorded in runs/LATEST, the default runs' marker.
std::string resolve_checkpoint_path(const std::string& given);

class RunDir {
 public:
  explicit RunDir(std::string path);
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const;
  std::string last() const;  ///< last.pt: the latest checkpoint, to resume from
  std::string best() const;  ///< best.pt: the checkpoint of the best validation loss
  bool has_checkpoint() const;
  // LATEST beside the run: runs/LATEST for the default runs/<name>.
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
