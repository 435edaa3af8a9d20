// Tokenizers: UTF-8 round trips (Devanagari included), distinct special ids, clear errors.
#include <gtest/gtest.h>

#include "dlm/data/tokenizer.h"
#include "dlm/error.h"
#include "dlm/utf8.h"

namespace {

const std::string kHindi = "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87";  // नमस्ते

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

TEST(CharTokenizer, RoundTripsDevanagariAndAscii) {
  const std::string text = "hello>" + kHindi;
  const dlm::CharTokenizer tok = dlm::CharTokenizer::build({text, "xyz"});
  const auto ids = tok.encode(text);
  EXPECT_EQ(ids.size(), 12u);  // one id per code point
  EXPECT_EQ(tok.decode(ids), text);
  for (int64_t id : ids) EXPECT_GE(id, dlm::SpecialTokens::kCount);
}

TEST(CharTokenizer, SpecialIdsAreDistinctAndDecodeToNothing) {
  const dlm::CharTokenizer tok = dlm::CharTokenizer::build({"ab"});
  EXPECT_NE(tok.pad_id(), tok.mask_id());
  EXPECT_EQ(tok.vocab_size(), dlm::SpecialTokens::kCount + 2);
  auto ids = tok.encode("ab");
  ids.insert(ids.begin() + 1, tok.mask_id());
  ids.push_back(tok.eos_id());
  ids.push_back(tok.pad_id());
  EXPECT_EQ(tok.decode(ids), "ab");
}

TEST(CharTokenizer, UnknownCharacterAndBadIdAreErrors) {
  const dlm::CharTokenizer tok = dlm::CharTokenizer::build({"abc"});
  EXPECT_THROW(tok.encode("abd"), dlm::Error);
  EXPECT_THROW(tok.decode({999}), dlm::Error);
  EXPECT_THROW(tok.encode("a\xFF"), dlm::Error);
}

TEST(CharTokenizer, SavesAndRestoresThroughJson) {
  const dlm::CharTokenizer tok = dlm::CharTokenizer::build({"q" + kHindi});
  const auto restored = dlm::tokenizer_from_json(tok.to_json());
  EXPECT_EQ(restored->vocab_size(), tok.vocab_size());
  EXPECT_EQ(restored->encode("q" + kHindi), tok.encode("q" + kHindi));
}

TEST(ByteTokenizer, RoundTripsAnyValidUtf8) {
  const dlm::ByteTokenizer tok;
  const std::string text = "def f():\n\treturn '" + kHindi + "' \xF0\x9F\x98\x80";
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
  EXPECT_EQ(tok.encode(kHindi).size(), kHindi.size());
  EXPECT_THROW(tok.encode("\xC3"), dlm::Error);
  // A sampled invalid byte sequence decodes to replacement characters, never to invalid UTF-8.
  EXPECT_TRUE(dlm::utf8_valid(tok.decode({dlm::SpecialTokens::kCount + 0xC3, dlm::SpecialTokens::kCount + 'a'})));
}

}  // namespace
