// Run directories: the default place, the LATEST marker, checkpoint resolution, and the checks.
#include "dlm/model/run_dir.h"

#include <filesystem>
#include <fstream>
#include <utility>

#include <unistd.h>

#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/json.h"
#include "dlm/model/checkpoint.h"

namespace dlm {
namespace {

namespace fs = std::filesystem;

constexpr const char* kRunsRoot = "runs";
constexpr const char* kLatest = "LATEST";
constexpr const char* kBest = "best.pt";
constexpr const char* kLast = "last.pt";

void check_folder_writable(const std::string& dir) {
  // Named by the process: runs started side by side in one runs/ folder must not take each other's probe.
  const std::string probe = (fs::path(dir) / (".write_test." + std::to_string(::getpid()))).string();
  try {
    write_atomically(probe, "ok");
  } catch (const Error&) {
    throw Error("folder " + dir + " is not writable");
  }
  std::error_code ec;
  fs::remove(probe, ec);
}

}  // namespace

std::string default_run_dir(const std::string& name) { return (fs::path(kRunsRoot) / name).string(); }

std::string resolve_checkpoint_path(const std::string& given) {
  std::string target = given;
  if (target.empty()) {
    const std::string marker = (fs::path(kRunsRoot) / kLatest).string();
    std::ifstream in(marker);
    if (!in || !std::getline(in, target) || target.empty()) {
      throw Error("no --checkpoint given and no trained run recorded in " + marker + " (train one with dtrain first)");
    }
  }
  std::error_code ec;
  if (fs::is_directory(target, ec)) {
    for (const char* name : {kBest, kLast}) {
      const fs::path p = fs::path(target) / name;
      if (fs::exists(p, ec)) return p.string();
    }
    throw Error(target + ": run directory has no " + kBest + " or " + kLast);
  }
  if (!fs::exists(target, ec)) throw Error(target + ": checkpoint not found");
  return target;
}

RunDir::RunDir(std::string path) : path_(std::move(path)) {
  if (path_.empty()) throw Error("the run directory must be named");
}

std::string RunDir::file(const std::string& name) const { return (fs::path(path_) / name).string(); }
std::string RunDir::last() const { return file(kLast); }
std::string RunDir::best() const { return file(kBest); }

bool RunDir::has_checkpoint() const {
  std::error_code ec;
  return fs::exists(last(), ec);
}

std::string RunDir::latest_marker() const {
  return (fs::absolute(path_).lexically_normal().parent_path() / kLatest).string();
}

void RunDir::check_writable() const {
  std::error_code ec;
  fs::create_directories(path_, ec);
  if (ec) throw Error("cannot create run directory " + path_ + ": " + ec.message());
  check_folder_writable(path_);
  check_folder_writable(fs::path(latest_marker()).parent_path().string());
}

void RunDir::check_space(uint64_t bytes) const {
  std::error_code ec;
  const auto space = fs::space(path_, ec);
  if (!ec && space.available < bytes) {
    throw Error("run directory " + path_ + " has " + std::to_string(space.available >> 20) + " MiB free but " +
                "checkpoints need about " + std::to_string(bytes >> 20) + " MiB; free some space or use --run-dir");
  }
}

void RunDir::mark_latest() const {
  write_atomically(latest_marker(), fs::absolute(path_).lexically_normal().string() + "\n");
}

Config RunDir::saved_config() const {
  if (has_checkpoint()) return CheckpointReader(last()).config();
  std::error_code ec;
  if (!fs::exists(file("config.json"), ec)) {
    throw Error(path_ + ": no run to resume here (neither last.pt nor config.json)");
  }
  const std::string path = file("config.json");
  Config c;
  try {
    // Not load_config_file: the saved paths were already resolved against where the run started.
    apply_json(c, parse_json(read_file(path), path));
  } catch (const Error& e) {
    const std::string what = e.what();
    throw Error(what.rfind(path, 0) == 0 ? what : path + ": " + what);
  }
  return c;
}

void RunDir::save_config(const Config& config) const {
  write_atomically(file("config.json"), dump_json(to_json(config), 2) + "\n");
}

}  // namespace dlm
