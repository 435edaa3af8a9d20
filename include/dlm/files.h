// Reading a user's files, and the one way dlm writes them: atomically and synced to disk.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace dlm {

// Reads a whole file; throws dlm::Error naming the path when it cannot be read.
std::string read_file(const std::string& path);

// The lines of a text file's contents: split at '\n', a trailing '\r' dropped from each, and the final
// newline ending the last line rather than starting an empty one.
std::vector<std::string> split_lines(const std::string& text);

// Every write of a file a user keeps (checkpoints, configs, tokenizers, token caches, metrics,
// markers) goes through here: `write` fills `path`.tmp, which is synced to disk and renamed over
// `path`, then the folder is synced. A reader, or the machine after a crash, sees the old file or the
// whole new one. Throws dlm::Error naming the path on failure, with the temporary file removed.
void write_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write);

// The same for bytes in memory.
void write_atomically(const std::string& path, const std::string& bytes);

}  // namespace dlm
