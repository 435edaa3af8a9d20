// Device handling without a GPU: autocast through both LibTorch APIs, and random streams derived from
// the seed and the step. (Where the library creates tensors is checked by tests/device_audit.sh.)
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "dlm/device.h"
#include "dlm/random.h"

namespace {

const torch::Device kMeta(torch::kMeta);

TEST(Device, AutocastGuardRunsMatmulsInBf16AndRestoresTheState) {
  const auto a = torch::randn({4, 4}), b = torch::randn({4, 4});
  EXPECT_EQ(torch::matmul(a, b).scalar_type(), torch::kFloat32);
  {
    dlm::AutocastGuard outer(torch::kCPU, torch::kBFloat16);
    EXPECT_EQ(torch::matmul(a, b).scalar_type(), torch::kBFloat16);
    {
      dlm::AutocastGuard inner(torch::kCPU, torch::kBFloat16);
      EXPECT_EQ(torch::matmul(a, b).scalar_type(), torch::kBFloat16);
    }
    EXPECT_EQ(torch::matmul(a, b).scalar_type(), torch::kBFloat16);  // the inner guard restored "on"
  }
  EXPECT_EQ(torch::matmul(a, b).scalar_type(), torch::kFloat32);
  dlm::AutocastGuard meta(kMeta, torch::kBFloat16);  // no autocast on meta: a no-op, not an error
}

// Threads 0 follows OMP_NUM_THREADS when it holds a positive count, else the cores.
TEST(Device, ThreadsZeroFollowsOmpNumThreadsElseTheCores) {
  const char* before = std::getenv("OMP_NUM_THREADS");
  const std::string saved = before ? before : "";
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  setenv("OMP_NUM_THREADS", "3", 1);
  EXPECT_EQ(dlm::default_threads(), 3);
  EXPECT_EQ(dlm::set_threads(0), 3);
  EXPECT_EQ(torch::get_num_threads(), 3);
  EXPECT_EQ(dlm::set_threads(2), 2);  // an explicit count wins
  for (const char* junk : {"0", "-2", "two", "3x", ""}) {
    setenv("OMP_NUM_THREADS", junk, 1);
    EXPECT_EQ(dlm::default_threads(), cores) << "'" << junk << "'";
  }
  unsetenv("OMP_NUM_THREADS");
  EXPECT_EQ(dlm::default_threads(), cores);
  if (before) setenv("OMP_NUM_THREADS", saved.c_str(), 1);
  dlm::set_threads(0);
}

TEST(Random, DerivedSeedsDependOnEveryPartAndRepeat) {
  using dlm::Stream;
  const uint64_t s = dlm::derive_seed(7, Stream::kMasking, 3);
  EXPECT_EQ(s, dlm::derive_seed(7, Stream::kMasking, 3));
  EXPECT_NE(s, dlm::derive_seed(8, Stream::kMasking, 3));
  EXPECT_NE(s, dlm::derive_seed(7, Stream::kDropout, 3));
  EXPECT_NE(s, dlm::derive_seed(7, Stream::kMasking, 4));
}

TEST(Random, DropoutAfterReseedingRepeatsExactly) {
  const torch::Device cpu(torch::kCPU);
  const auto x = torch::ones({1000});
  dlm::seed_default_generator(cpu, 11);
  const auto first = torch::dropout(x, 0.5, true);
  torch::rand({100});  // other draws in between do not matter
  dlm::seed_default_generator(cpu, 11);
  EXPECT_TRUE(torch::equal(torch::dropout(x, 0.5, true), first));
  dlm::seed_default_generator(cpu, 12);
  EXPECT_FALSE(torch::equal(torch::dropout(x, 0.5, true), first));
  dlm::seed_default_generator(kMeta, 11);  // no generator on meta: a no-op
}

}  // namespace
