// SentencePiece (src/data/sentencepiece_tokenizer.cpp): a tokenizer trained on the data, its round trips
// and its two saved forms.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "dlm/config.h"
#include "dlm/data/sentencepiece_tokenizer.h"
#include "dlm/data/tokenizer.h"
#include "test_util.h"
#include "text_samples.h"

namespace {

namespace fs = std::filesystem;

using dlm_test::fresh_dir;
using dlm_test::kDocs;
using dlm_test::write_file;

// SentencePiece must be opened with RTLD_DEEPBIND (see src/data/spm_shim/spm_shim.h), which
// AddressSanitizer refuses, so the sanitizer build leaves this test out; the normal build runs it.
#if !DLM_SANITIZE_BUILD
TEST(SentencePiece, TrainedTokenizerRoundTripsUnseenTextAndReloadsAlikeFromJsonOrModelFile) {
  const std::string dir = fresh_dir("sentencepiece");
  std::vector<std::string> texts;
  for (int i = 0; i < 40; ++i) {
    for (const auto& d : kDocs) texts.push_back(d + " " + std::to_string(i * 7));
  }
  dlm::TokenizerConfig tc;
  tc.kind = dlm::TokenizerKind::kSentencePiece;
  tc.vocab_size = 400;  // room for the 256 byte-fallback pieces
  for (const char* type : {"unigram", "bpe"}) {
    tc.model_type = dlm::parse_enum<dlm::SpmModelType>(type, "model type");
    const auto tok = dlm::build_tokenizer(tc, texts, dir + "/" + type);
    ASSERT_TRUE(fs::exists(dir + "/" + type + "/tokenizer.model")) << type;
    // At most 400 pieces (a corpus this small supports fewer), nothing appended: the trained model
    // has its own pad, bos, eos, <mask>, <sep>, and 256 byte pieces for characters never seen.
    EXPECT_LE(tok->vocab_size(), 400);
    EXPECT_GT(tok->vocab_size(), 256 + 5);
    const std::set<int64_t> specials = {tok->pad_id(), tok->mask_id(), tok->bos_id(), tok->eos_id(), tok->sep_id()};
    EXPECT_EQ(specials.size(), 5u);
    EXPECT_EQ(tok->piece(tok->mask_id()), "<mask>");
    for (const std::string text : {kDocs[0], kDocs[2], std::string("line one\nline two  spaced\n"),
                                   std::string("unseen: \xF0\x9F\x99\x82 \xE4\xB8\xAD")}) {
      const auto ids = tok->encode(text);
      for (int64_t id : ids) EXPECT_FALSE(tok->is_special(id)) << text;
      EXPECT_EQ(tok->decode(ids), text) << type;  // byte fallback covers characters never seen
    }
    // The checkpoint form rebuilds the same tokenizer; the saved .model loads to it too.
    const auto again = dlm::tokenizer_from_json(tok->to_json());
    const auto loaded = dlm::load_tokenizer_files(dir + "/" + type + "/tokenizer.model");
    for (const auto* other : {again.get(), loaded.get()}) {
      EXPECT_EQ(other->encode(kDocs[1]), tok->encode(kDocs[1]));
      EXPECT_EQ(other->vocab_size(), tok->vocab_size());
      EXPECT_EQ(other->mask_id(), tok->mask_id());
    }
    EXPECT_NE(dlm_test::error_of([&] { tok->decode({tok->vocab_size()}); }).find("out of range"), std::string::npos);
    EXPECT_NE(dlm_test::error_of([&] { tok->encode("bad \xFF byte"); }).find("UTF-8"), std::string::npos);
  }
  EXPECT_NE(dlm_test::error_of([&] {
              dlm::load_tokenizer_files(write_file(dir + "/junk.model", "junk"));
            }).find("not a SentencePiece model"),
            std::string::npos);
}
#endif

}  // namespace
