// Device handling without a GPU: autocast through both LibTorch APIs, and the thread count. (Where the
// library creates tensors is checked by tests/device_audit.sh.)
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "dlm/device.h"
#include "test_util.h"

namespace {

using dlm_test::kMeta;

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

// bf16 on a CPU without bf16 dot products would be slower than fp32: such a run computes in fp32 and
// says so; CUDA and CPUs with the instructions run bf16.
TEST(Device, Bf16RunsInFp32WithANoticeOnACpuWithoutBf16DotProducts) {
  using dlm::Precision;
  const torch::Device cpu(torch::kCPU), cuda(torch::kCUDA);
  EXPECT_EQ(dlm::precision_for(Precision::kBf16, cpu, false), Precision::kFp32);
  EXPECT_EQ(dlm::precision_for(Precision::kBf16, cpu, true), Precision::kBf16);
  EXPECT_EQ(dlm::precision_for(Precision::kBf16, cuda, false), Precision::kBf16);
  EXPECT_EQ(dlm::precision_for(Precision::kFp32, cpu, true), Precision::kFp32);
  const std::string fallback = dlm::precision_notice(Precision::kBf16, cpu, false);
  EXPECT_NE(fallback.find("no bf16 dot products"), std::string::npos) << fallback;
  EXPECT_NE(fallback.find("computing in fp32"), std::string::npos) << fallback;
  EXPECT_NE(dlm::precision_notice(Precision::kBf16, cpu, true).find("bf16 dot products"), std::string::npos);
  EXPECT_EQ(dlm::precision_notice(Precision::kFp32, cpu, false), "");
  EXPECT_EQ(dlm::precision_notice(Precision::kBf16, cuda, false), "");
  // autocast_for follows this CPU's flags.
  EXPECT_EQ(dlm::autocast_for(Precision::kBf16, cpu) != nullptr, dlm::cpu_has_bf16_dot());
  EXPECT_EQ(dlm::autocast_for(Precision::kFp32, cpu), nullptr);
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

}  // namespace
