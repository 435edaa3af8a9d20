// Byte-level BPE: id-for-id parity with the reference GPT-2 JavaScript encoder on a fixture
// (tests/fixtures/bpe, made by scripts/make_bpe_fixture.js), the RoBERTa file layout, specials,
// the JSON round trip, U+FFFD on bad bytes, and errors that name the offending file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "dlm/data/bpe_tokenizer.h"
#include "dlm/data/tokenizer.h"
#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/json.h"
#include "dlm/utf8.h"
#include "test_util.h"

namespace {

using dlm_test::error_of;

const std::string kGpt2Dir = std::string(DLM_SOURCE_DIR) + "/data/gpt2";
const std::string kFixture = std::string(DLM_SOURCE_DIR) + "/tests/fixtures/bpe/parity.jsonl";

// Loading GPT-2's 50k-piece vocabulary takes a moment; the tests share one tokenizer.
const dlm::Tokenizer& gpt2() {
  static const std::unique_ptr<dlm::Tokenizer> tok = dlm::load_bpe_tokenizer(kGpt2Dir);
  return *tok;
}

struct Case {
  std::string text;
  std::vector<int64_t> ids;
};

const std::vector<Case>& fixture() {
  static const std::vector<Case> cases = [] {
    std::vector<Case> result;
    std::istringstream in(dlm::read_file(kFixture));
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      if (line.empty()) continue;
      const nlohmann::json j = dlm::parse_json(line, kFixture + ":" + std::to_string(number));
      result.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<int64_t>>()});
    }
    return result;
  }();
  return cases;
}

std::string show(const std::string& text) { return dlm::dump_json(nlohmann::json(text)); }

std::string show(const std::vector<int64_t>& ids) { return nlohmann::json(ids).dump(); }

TEST(BpeParity, FixtureIsLargeAndVaried) {
  size_t code_points = 0;
  bool has_empty = false, has_crlf = false, has_emoji_zwj = false, has_devanagari = false;
  for (const Case& c : fixture()) {
    const auto cps = dlm::utf8_decode(c.text, "fixture");
    code_points += cps.size();
    has_empty |= c.text.empty();
    has_crlf |= c.text.find("\r\n") != std::string::npos;
    for (char32_t cp : cps) {
      has_emoji_zwj |= cp == 0x200D;
      has_devanagari |= cp >= 0x0900 && cp <= 0x097F;
    }
  }
  EXPECT_GE(code_points, 10000u);
  EXPECT_GE(fixture().size(), 200u);
  EXPECT_TRUE(has_empty && has_crlf && has_emoji_zwj && has_devanagari);
}

TEST(BpeParity, EncodeMatchesReferenceIds) {
  size_t checked = 0, tokens = 0;
  for (const Case& c : fixture()) {
    const std::vector<int64_t> ids = gpt2().encode(c.text);
    ASSERT_EQ(ids, c.ids) << "first mismatch, text " << show(c.text) << "\n  reference: " << show(c.ids)
                          << "\n  ours:      " << show(ids);
    ++checked;
    tokens += ids.size();
  }
  EXPECT_EQ(checked, fixture().size());
  EXPECT_GT(tokens, 5000u);
}

TEST(BpeParity, DecodeInvertsEncode) {
  for (const Case& c : fixture()) {
    ASSERT_EQ(gpt2().decode(c.ids), c.text) << "text " << show(c.text);
  }
}

TEST(BpeTokenizer, Gpt2SpecialsFollowTheVocabulary) {
  const dlm::Tokenizer& tok = gpt2();
  EXPECT_EQ(tok.vocab_size(), 50261);
  EXPECT_EQ(tok.eos_id(), 50256);  // <|endoftext|>
  EXPECT_EQ(tok.pad_id(), 50257);
  EXPECT_EQ(tok.mask_id(), 50258);
  EXPECT_EQ(tok.bos_id(), 50259);
  EXPECT_EQ(tok.sep_id(), 50260);
  EXPECT_EQ(tok.piece(tok.mask_id()), "<mask>");
  EXPECT_EQ(tok.piece(tok.eos_id()), "<eos>");
  EXPECT_EQ(tok.piece(31373), "hello");
  EXPECT_EQ(tok.piece(995), " world");
}

TEST(BpeTokenizer, EncodeNeverProducesSpecialsAndDecodeDropsThem) {
  const dlm::Tokenizer& tok = gpt2();
  const std::string text = "<|endoftext|><pad> <mask><s></s><sep> <unk>";
  const std::vector<int64_t> ids = tok.encode(text);
  for (int64_t id : ids) {
    EXPECT_FALSE(tok.is_special(id)) << id;
    EXPECT_LT(id, 50256);
  }
  std::vector<int64_t> with_specials = {tok.bos_id(), tok.mask_id()};
  with_specials.insert(with_specials.end(), ids.begin(), ids.end());
  for (int64_t id : {tok.sep_id(), tok.eos_id(), tok.pad_id(), tok.pad_id()}) with_specials.push_back(id);
  EXPECT_EQ(tok.decode(with_specials), text);
}

TEST(BpeTokenizer, DecodeRejectsOutOfRangeIds) {
  const dlm::Tokenizer& tok = gpt2();
  EXPECT_NE(error_of([&] { tok.decode({31373, 50261}); }).find("50261"), std::string::npos);
  EXPECT_THROW(tok.decode({-1}), dlm::Error);
  EXPECT_THROW(tok.piece(50261), dlm::Error);
  EXPECT_NO_THROW(tok.decode({50260}));
}

TEST(BpeTokenizer, EncodeRejectsInvalidUtf8WithOffset) {
  const std::string msg = error_of([] {
    gpt2().encode(
        "abc\xFF"
        "def");
  });
  EXPECT_NE(msg.find("offset 3"), std::string::npos) << msg;
  EXPECT_THROW(gpt2().encode("caf\xC3"), dlm::Error);
  EXPECT_THROW(gpt2().encode("\xED\xA0\x80"), dlm::Error);  // a surrogate
}

TEST(BpeTokenizer, SavesAndRestoresThroughJson) {
  const dlm::Tokenizer& tok = gpt2();
  const nlohmann::json j = tok.to_json();
  EXPECT_EQ(j.at("kind"), "bpe");
  // Through text, as a checkpoint stores it.
  const auto restored = dlm::tokenizer_from_json(nlohmann::json::parse(dlm::dump_json(j)));
  EXPECT_EQ(restored->vocab_size(), tok.vocab_size());
  EXPECT_EQ(restored->pad_id(), tok.pad_id());
  EXPECT_EQ(restored->mask_id(), tok.mask_id());
  EXPECT_EQ(restored->bos_id(), tok.bos_id());
  EXPECT_EQ(restored->eos_id(), tok.eos_id());
  EXPECT_EQ(restored->sep_id(), tok.sep_id());
  for (const Case& c : fixture()) ASSERT_EQ(restored->encode(c.text), c.ids) << "text " << show(c.text);
  EXPECT_EQ(restored->to_json(), j);
}

TEST(BpeTokenizer, MalformedJsonDescriptionIsAnError) {
  nlohmann::json j = gpt2().to_json();
  nlohmann::json no_merges = j;
  no_merges.erase("merges");
  EXPECT_NE(error_of([&] { dlm::bpe_tokenizer_from_json(no_merges); }).find("merges"), std::string::npos);
  nlohmann::json bad_merge = j;
  bad_merge["merges"][3] = "onlyone";
  EXPECT_NE(error_of([&] { dlm::bpe_tokenizer_from_json(bad_merge); }).find("merges[3]"), std::string::npos);
  nlohmann::json clash = j;
  clash["special_ids"]["sep"] = clash["special_ids"]["pad"];
  EXPECT_THROW(dlm::bpe_tokenizer_from_json(clash), dlm::Error);
  nlohmann::json far = j;
  far["special_ids"]["sep"] = 1000000;  // would leave ids 50261.. as holes
  EXPECT_NE(error_of([&] { dlm::bpe_tokenizer_from_json(far); }).find("1000000"), std::string::npos);
  nlohmann::json gap = j;
  gap["vocab"].erase("hello");
  EXPECT_THROW(dlm::bpe_tokenizer_from_json(gap), dlm::Error);
}

// A tiny vocabulary in RoBERTa's layout: its own specials <s>=0, <pad>=1, </s>=2, <unk>=3, the 256
// byte symbols at 4 + byte, a few merged pieces, and <mask> last.
class BpeFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "/bpe_" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }

  // GPT-2's byte-to-symbol table, written out from its definition.
  static std::string symbol(int byte) {
    const auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; };
    if (printable(byte)) return dlm::utf8_encode(static_cast<char32_t>(byte));
    char32_t next = 256;
    for (int b = 0; b < byte; ++b) next += printable(b) ? 0 : 1;
    return dlm::utf8_encode(next);
  }

  static nlohmann::json tiny_vocab() {
    nlohmann::json v = {{"<s>", 0}, {"<pad>", 1}, {"</s>", 2}, {"<unk>", 3}};
    for (int b = 0; b < 256; ++b) v[symbol(b)] = 4 + b;
    int64_t id = 260;
    for (const char* piece : {"ab", "bc", "\xC4\xA0t", "he", "\xC4\xA0the", "\",", ",.", "\",."}) v[piece] = id++;
    v["<mask>"] = id;
    return v;
  }

  static std::string tiny_merges() {
    // "Ġ" (U+0120) is the symbol of the space byte.
    return "#version: 0.2\na b\nb c\n\xC4\xA0 t\nh e\n\xC4\xA0t he\n\" ,\n, .\n\" ,.\n\n";
  }

  void write(const std::string& name, const std::string& bytes) const {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << bytes;
  }

  std::string dir_;
};

TEST_F(BpeFiles, RobertaLayoutLoadsAndMergesByRank) {
  write("vocab.json", tiny_vocab().dump());
  write("merges.txt", tiny_merges());
  const auto tok = dlm::load_tokenizer_files(dir_);
  EXPECT_EQ(tok->bos_id(), 0);
  EXPECT_EQ(tok->pad_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->mask_id(), 268);
  EXPECT_EQ(tok->sep_id(), 269);  // the only special the vocabulary lacks
  EXPECT_EQ(tok->vocab_size(), 270);
  EXPECT_EQ(tok->encode(" the the"), (std::vector<int64_t>{264, 264}));
  // "a b" ranks before "b c", so "abc" is ab+c; "t h" is no merge, so "the" stays t+he.
  EXPECT_EQ(tok->encode("abc"), (std::vector<int64_t>{260, 4 + 'c'}));
  EXPECT_EQ(tok->encode("the"), (std::vector<int64_t>{4 + 't', 263}));
  EXPECT_EQ(tok->encode("x\n"), (std::vector<int64_t>{4 + 'x', 4 + '\n'}));
  EXPECT_EQ(tok->decode(tok->encode("abc the\n")), "abc the\n");
  EXPECT_EQ(tok->piece(264), " the");
}

TEST_F(BpeFiles, PairsAreRankedByTheirCommaJoinedKeyLikeTheReference) {
  // The reference keys ranks by "first,second", so the pair ("\",", ".") shares the key "\",,." of the
  // merge ("\"", ",.") and is merged at its rank; gpt-3-encoder 1.1.4 gives [267] for this vocabulary.
  write("vocab.json", tiny_vocab().dump());
  write("merges.txt", tiny_merges());
  const auto tok = dlm::load_bpe_tokenizer(dir_);
  EXPECT_EQ(tok->encode("\",."), (std::vector<int64_t>{267}));
  EXPECT_EQ(tok->encode("a\",.b"), (std::vector<int64_t>{4 + 'a', 267, 4 + 'b'}));
}

TEST_F(BpeFiles, DecodeReplacesBrokenUtf8LikeTextDecoder) {
  write("vocab.json", tiny_vocab().dump());
  write("merges.txt", tiny_merges());
  const auto tok = dlm::load_bpe_tokenizer(dir_);
  const auto bytes = [](std::initializer_list<int> bs) {
    std::vector<int64_t> ids;
    for (int b : bs) ids.push_back(4 + b);
    return ids;
  };
  EXPECT_EQ(tok->decode(bytes({0xC3, 0xA9})), "\xC3\xA9");
  // One U+FFFD per maximal ill-formed subpart, as JavaScript's TextDecoder (the reference decode) gives.
  EXPECT_EQ(tok->decode(bytes({0xE0, 0xA4, 'a'})),
            "\xEF\xBF\xBD"
            "a");
  EXPECT_EQ(tok->decode(bytes({0xF0, 0x9F, 0x98})), "\xEF\xBF\xBD");
  EXPECT_EQ(tok->decode(bytes({0xED, 0xA0, 0x80, 'a'})),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
            "a");
  EXPECT_EQ(tok->decode(bytes({0xFF, 'b'})),
            "\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(tok->piece(4 + 0xE0), "<E0>");
}

TEST_F(BpeFiles, MissingFilesAreNamed) {
  EXPECT_NE(error_of([&] { dlm::load_bpe_tokenizer(dir_); }).find("vocab.json"), std::string::npos);
  EXPECT_NE(error_of([&] { dlm::load_bpe_tokenizer(dir_ + "/nope"); }).find(dir_ + "/nope"), std::string::npos);
  write("vocab.json", tiny_vocab().dump());
  EXPECT_NE(error_of([&] { dlm::load_bpe_tokenizer(dir_); }).find("merges.txt"), std::string::npos);
  std::filesystem::remove(dir_ + "/vocab.json");
  write("encoder.json", tiny_vocab().dump());
  const std::string msg = error_of([&] { dlm::load_bpe_tokenizer(dir_); });
  EXPECT_NE(msg.find("vocab.bpe"), std::string::npos) << msg;
  write("vocab.bpe", tiny_merges());
  EXPECT_EQ(dlm::load_bpe_tokenizer(dir_)->encode(" the"), (std::vector<int64_t>{264}));  // GPT-2 layout
}

TEST_F(BpeFiles, MalformedFilesAreNamed) {
  const auto expect_error = [&](const std::string& vocab, const std::string& merges, const std::string& needle) {
    write("vocab.json", vocab);
    write("merges.txt", merges);
    const std::string msg = error_of([&] { dlm::load_bpe_tokenizer(dir_); });
    EXPECT_NE(msg.find(needle), std::string::npos) << "expected '" << needle << "' in: " << msg;
  };
  const std::string vocab = tiny_vocab().dump();
  expect_error("{\"a\": 0,", tiny_merges(), "vocab.json");
  expect_error("[1, 2]", tiny_merges(), "vocab.json");
  nlohmann::json gap = tiny_vocab();
  gap["<mask>"] = 300;
  expect_error(gap.dump(), tiny_merges(), "vocab.json");
  nlohmann::json dup = tiny_vocab();
  dup["<mask>"] = 5;
  expect_error(dup.dump(), tiny_merges(), "vocab.json");
  nlohmann::json no_byte = tiny_vocab();
  no_byte.erase("a");
  no_byte["<mask>"] = 4 + 'a';
  expect_error(no_byte.dump(), tiny_merges(), "vocab.json");
  expect_error(vocab, "#version: 0.2\na b\nb c d\n", "merges.txt:3");
  expect_error(vocab, "#version: 0.2\na b\n\nb c\n", "merges.txt:3");
  expect_error(vocab, "#version: 0.2\nx y\n", "merges.txt:2");  // "xy" is no piece
  nlohmann::json special = tiny_vocab();
  special["<s>a"] = 269;
  expect_error(special.dump(), "#version: 0.2\n<s> a\n", "special");
}

}  // namespace
