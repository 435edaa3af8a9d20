// Reading a user's files, and writing them atomically and synced to disk.
#include "dlm/files.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include "dlm/error.h"

namespace dlm {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  if (!lines.empty() && lines.back().empty()) lines.pop_back();  // the final newline
  return lines;
}
namespace {

namespace fs = std::filesystem;

// fsync of a file, or of a folder so a rename in it is durable. Returns false when it fails.
bool sync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error(path + ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(path + ": cannot open file (" + (fs::exists(path, ec) ? "permission denied" : "no such file") + ")");
  std::ostringstream os;
  os << in.rdbuf();
  if (in.bad()) throw Error(path + ": read error");
  return os.str();
}

void write_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write) {
  const std::string tmp = path + ".tmp";
  try {
    write(tmp);
    if (!sync_path(tmp, false)) throw Error("cannot sync " + tmp + " to disk");
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw Error("cannot move " + tmp + " to " + path + ": " + ec.message());
  }
  const fs::path parent = fs::path(path).parent_path();
  sync_path(parent.empty() ? "." : parent.string(), true);  // the rename is done; a folder sync is best effort
}

void write_atomically(const std::string& path, const std::string& bytes) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write " + tmp);
    out << bytes;
    if (!out.flush()) throw Error("cannot write " + tmp + " (disk full?)");
  });
}

}  // namespace dlm
