// Device handling without a GPU: autocast through both LibTorch APIs, and random streams derived from
// the seed and the step. (Where the library creates tensors is checked by tests/device_audit.sh.)
#include <gtest/gtest.h>

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
