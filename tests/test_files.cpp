// dlm::write_atomically (src/files.cpp), the library's one atomic write.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "dlm/error.h"
#include "dlm/files.h"

namespace {

// Every file a user keeps is written through one helper: a write that fails half-way leaves the old
// file as it was and no temporary behind.
TEST(Files, FailedAtomicWriteKeepsTheOldFileAndLeavesNoTemporary) {
  const std::string dir = testing::TempDir() + "/atomic_write_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/config.json";
  dlm::write_atomically(path, "old");
  EXPECT_THROW(dlm::write_atomically(path,
                                     [](const std::string& tmp) {
                                       std::ofstream(tmp) << "half";
                                       throw dlm::Error("disk full");
                                     }),
               dlm::Error);
  EXPECT_EQ(dlm::read_file(path), "old");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  dlm::write_atomically(path, "new");
  EXPECT_EQ(dlm::read_file(path), "new");
}

}  // namespace
