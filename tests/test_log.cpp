// Status-line formatting: `{}` fields, fixed and scientific decimals, literal braces, mismatches.
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "dlm/log.h"

namespace {

using dlm::log::format;

TEST(Log, FillsFieldsInOrder) {
  const std::string name = "runs/names";
  EXPECT_EQ(format("step {}/{} in {} ({})", {int64_t{3}, size_t{10}, name, true}), "step 3/10 in runs/names (true)");
  EXPECT_EQ(format("loss {:.4f} lr {:.2e} {:.0f} tok/s", {1.234567, 3e-4, 15999.6}),
            "loss 1.2346 lr 3.00e-04 16000 tok/s");
  EXPECT_EQ(format("{{literal}} {}", {"x"}), "{literal} x");
}

TEST(Log, RejectsFieldsThatDoNotMatchTheArguments) {
  EXPECT_THROW(format("{} {}", {1}), std::invalid_argument);
  EXPECT_THROW(format("{}", {1, 2}), std::invalid_argument);
  EXPECT_THROW(format("{:.2f}", {"text"}), std::invalid_argument);
  EXPECT_THROW(format("{0}", {1}), std::invalid_argument);
}

}  // namespace
