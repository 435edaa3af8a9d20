// Tokenizers: UTF-8 round trips (Devanagari included), distinct special ids, clear errors.
#include <gtest/gtest.h>

#include "dlm/data/tokenizer.h"
#include "dlm/error.h"
#include "dlm/utf8.h"
#include "text_samples.h"

namespace {

using dlm_test::kHindi;

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
