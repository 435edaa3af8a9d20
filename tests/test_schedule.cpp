// Noise schedules reproduce seed 002's published lists for K = 10.
#include <gtest/gtest.h>

#include "dlm/diffusion/noise_schedule.h"
#include "dlm/error.h"

namespace {

void expect_list(dlm::Schedule s, const std::vector<double>& published, double tolerance) {
  const auto got = dlm::mask_schedule(s, 10);
  ASSERT_EQ(got.size(), published.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], published[i], tolerance) << dlm::enum_name(s) << " step " << i;
  }
}

TEST(Schedule, LinearMatchesSeed002) {
  expect_list(dlm::Schedule::kLinear, {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1}, 1e-12);
}

TEST(Schedule, ExponentialMatchesSeed002ToItsTwoDecimals) {
  expect_list(dlm::Schedule::kExponential, {1.0, 0.74, 0.55, 0.41, 0.30, 0.22, 0.17, 0.12, 0.09, 0.07}, 0.005);
}

TEST(Schedule, CosineMatchesSeed002) {
  // The seed's list is hand-rounded and fits no closed form to two decimals; 0.015 is the
  // largest deviation of the fitted curve (see noise_schedule.cpp).
  expect_list(dlm::Schedule::kCosine, {1.0, 0.99, 0.95, 0.88, 0.76, 0.59, 0.38, 0.19, 0.05, 0.01}, 0.015);
}

TEST(Schedule, EveryScheduleStartsFullyMaskedAndDecreases) {
  for (auto s :
       {dlm::Schedule::kLinear, dlm::Schedule::kCosine, dlm::Schedule::kExponential, dlm::Schedule::kLogLinear}) {
    for (int64_t k : {1, 2, 7, 50}) {
      const auto v = dlm::mask_schedule(s, k);
      EXPECT_EQ(v.front(), 1.0);
      for (size_t i = 1; i < v.size(); ++i) {
        EXPECT_LT(v[i], v[i - 1]) << dlm::enum_name(s);
        EXPECT_GT(v[i], 0.0);
      }
    }
  }
}

TEST(Schedule, NamesParseAndUnknownNamesListTheValidOnes) {
  EXPECT_EQ(dlm::parse_enum<dlm::Schedule>("cosine", "schedule"), dlm::Schedule::kCosine);
  EXPECT_EQ(dlm::parse_enum<dlm::Schedule>(dlm::enum_name(dlm::Schedule::kLogLinear), "schedule"),
            dlm::Schedule::kLogLinear);
  try {
    dlm::parse_enum<dlm::Schedule>("sine", "schedule");
    FAIL();
  } catch (const dlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("linear, cosine, exponential, loglinear"), std::string::npos);
  }
  EXPECT_THROW(dlm::mask_schedule(dlm::Schedule::kLinear, 0), dlm::Error);
}

}  // namespace
