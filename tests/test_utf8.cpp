// UTF-8 (src/utf8.cpp): code points decoded and encoded, malformed input refused with its offset, and
// each maximal invalid subpart repaired once.
#include <gtest/gtest.h>

#include <string>

#include "dlm/error.h"
#include "dlm/utf8.h"
#include "text_samples.h"

namespace {

using dlm_test::kHindi;

TEST(Utf8, DecodesAndEncodesCodePoints) {
  const auto cps = dlm::utf8_decode(kHindi);
  ASSERT_EQ(cps.size(), 6u);
  EXPECT_EQ(cps[0], U'\u0928');
  EXPECT_EQ(dlm::utf8_encode(cps), kHindi);
  EXPECT_EQ(dlm::utf8_decode("a\xF0\x9F\x98\x80").back(), U'\U0001F600');
}

TEST(Utf8, RejectsMalformedInputWithOffset) {
  for (const std::string bad : {std::string("ab\xFF"), std::string("\xC0\xAF"), std::string("\xE0\xA4"),
                                std::string("\xED\xA0\x80"), std::string("\xF4\x90\x80\x80")}) {
    EXPECT_FALSE(dlm::utf8_valid(bad));
    EXPECT_THROW(dlm::utf8_decode(bad), dlm::Error);
  }
  try {
    dlm::utf8_decode("ab\xFF", "names.txt:3");
    FAIL();
  } catch (const dlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("names.txt:3"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("offset 2"), std::string::npos);
  }
}

TEST(Utf8, RepairReplacesEachMaximalSubpartOnce) {
  const auto mark = [](const std::string& part) { return "[" + std::to_string(part.size()) + "]"; };
  // A truncated three-byte character is one part; a lead byte whose second byte is out of its range
  // (F0 80: overlong) is a part of its own, and so is the stray continuation byte after it.
  EXPECT_EQ(dlm::utf8_repair("a\xE2\x82", mark), "a[2]");
  EXPECT_EQ(dlm::utf8_repair("\xF0\x80z", mark), "[1][1]z");
  EXPECT_EQ(dlm::utf8_repair("\xED\xA0\x80", mark), "[1][1][1]");  // a surrogate: three parts
  EXPECT_EQ(dlm::utf8_repair(kHindi + "\xFF" + kHindi, mark), kHindi + "[1]" + kHindi);
}

}  // namespace
