// Random streams: seeds derived from the run's seed, the stream and the step, and dropout that repeats
// after reseeding.
#include <gtest/gtest.h>

#include <cstdint>

#include "dlm/random.h"
#include "test_util.h"

namespace {

using dlm_test::kMeta;

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
