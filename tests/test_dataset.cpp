// Data sets: every kind reads as documented, examples end with EOS then pad, splits are deterministic.
#include <gtest/gtest.h>

#include <fstream>

#include "dlm/data/dataset.h"
#include "dlm/error.h"
#include "test_util.h"

namespace {

std::string write(const std::string& name, const std::string& content) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

dlm::DataConfig config(const std::string& kind, const std::string& path, int64_t seq_len = 16) {
  dlm::DataConfig c;
  c.kind = dlm_test::enum_from<dlm::DataKind>(kind);
  c.path = path;
  c.seq_len = seq_len;
  c.val_fraction = 0.0;
  return c;
}

TEST(Dataset, LinesSkipBlankLinesAndEndWithEosThenPad) {
  const auto c = config("lines", write("names.txt", "asha\r\n\nravi\n"));
  const auto raw = dlm::read_examples(c);
  ASSERT_EQ(raw.size(), 2u);
  EXPECT_EQ(raw[0].text, "asha");
  const auto tok = dlm::CharTokenizer::build(dlm::vocabulary_texts(raw));
  const auto ds = dlm::make_dataset(c, tok, raw);
  ASSERT_EQ(ds.train.size(), 2u);
  for (const auto& e : ds.train) {
    ASSERT_EQ(e.ids.size(), 16u);
    EXPECT_EQ(e.n_content, 5);
    EXPECT_EQ(e.ids[4], tok.eos_id());
    for (size_t i = 5; i < 16; ++i) EXPECT_EQ(e.ids[i], tok.pad_id());
  }
}

TEST(Dataset, PairsKeepTheSeparatorInTheProtectedPrompt) {
  const auto c = config("pairs", write("pairs.txt", "hello>namaste\nwater>paani\n"));
  const auto raw = dlm::read_examples(c);
  EXPECT_EQ(raw[0].prompt, "hello>");
  EXPECT_EQ(raw[0].text, "namaste");
  const auto tok = dlm::CharTokenizer::build(dlm::vocabulary_texts(raw));
  const auto ds = dlm::make_dataset(c, tok, raw);
  ASSERT_EQ(ds.train.size(), 2u);
  for (const auto& e : ds.train) {
    EXPECT_EQ(e.n_prompt, 6);
    const std::string prompt = tok.decode(std::vector<int64_t>(e.ids.begin(), e.ids.begin() + e.n_prompt));
    EXPECT_TRUE(prompt == "hello>" || prompt == "water>") << prompt;
    EXPECT_EQ(e.n_content, prompt == "hello>" ? 14 : 12);
  }
}

TEST(Dataset, PairsReadFromTsvAndJsonlAndALineWithoutASeparatorIsRefused) {
  auto tsv = config("pairs", write("p.tsv", "yes\thaan\n"));
  EXPECT_EQ(dlm::read_examples(tsv)[0].prompt, "yes>");
  auto jsonl = config("pairs", write("p.jsonl", "{\"prompt\": \"no\", \"answer\": \"nahin\"}\n"));
  const auto raw = dlm::read_examples(jsonl);
  EXPECT_EQ(raw[0].prompt, "no>");
  EXPECT_EQ(raw[0].text, "nahin");
  auto missing = config("pairs", write("q.txt", "no separator here\n"));
  EXPECT_THROW(dlm::read_examples(missing), dlm::Error);
}

TEST(Dataset, DocumentsSplitOnBlankLinesOrJsonl) {
  const auto c = config("documents", write("code.txt", "def a():\n    return 1\n\n\ndef b():\n    pass\n"));
  const auto raw = dlm::read_examples(c);
  ASSERT_EQ(raw.size(), 2u);
  EXPECT_EQ(raw[0].text, "def a():\n    return 1\n");
  EXPECT_EQ(raw[1].text, "def b():\n    pass\n");
  const auto j = config("documents", write("docs.jsonl", "{\"text\": \"one\\ntwo\"}\n{\"text\": \"three\"}\n"));
  EXPECT_EQ(dlm::read_examples(j)[0].text, "one\ntwo");
  const auto bad = config("documents", write("bad.jsonl", "{\"text\": 3}\n"));
  EXPECT_THROW(dlm::read_examples(bad), dlm::Error);
}

TEST(Dataset, TextWindowsReassembleToTheCorpus) {
  const std::string corpus = "the quick brown fox jumps over the lazy dog";
  const auto c = config("text", write("corpus.txt", corpus), 8);
  const auto raw = dlm::read_examples(c);
  const auto tok = dlm::CharTokenizer::build(dlm::vocabulary_texts(raw));
  dlm::DataConfig keep = c;
  keep.shuffle_seed = 1;
  const auto ds = dlm::make_dataset(keep, tok, raw);
  ASSERT_EQ(ds.train.size(), (corpus.size() + 7) / 8);
  // Reassemble in order of content: windows are full except the last, which carries EOS.
  std::vector<std::string> parts;
  for (const auto& e : ds.train) parts.push_back(tok.decode(e.ids));
  std::sort(parts.begin(), parts.end());
  std::string joined;
  size_t found = 0;
  for (size_t start = 0; start < corpus.size(); start += 8) {
    const std::string window = corpus.substr(start, 8);
    found += std::count(parts.begin(), parts.end(), window) > 0;
  }
  EXPECT_EQ(found, ds.train.size());
}

TEST(Dataset, TextValidatesOnTheLastWindowsInOrder) {
  std::string corpus;
  for (int i = 0; i < 40; ++i) corpus += static_cast<char>('a' + i % 26);
  auto c = config("text", write("running.txt", corpus), 4);
  c.val_fraction = 0.2;
  const auto raw = dlm::read_examples(c);
  const auto tok = dlm::CharTokenizer::build(dlm::vocabulary_texts(raw));
  const auto ds = dlm::make_dataset(c, tok, raw);
  ASSERT_EQ(ds.val.size(), 2u);
  ASSERT_EQ(ds.train.size(), 8u);  // 10 windows, the last 2 held out
  EXPECT_EQ(tok.decode(ds.train[0].ids), corpus.substr(0, 4));
  EXPECT_EQ(tok.decode(ds.val[0].ids), corpus.substr(32, 4));
  EXPECT_EQ(tok.decode(ds.val[1].ids), corpus.substr(36, 4));
}

TEST(Dataset, BadInputsAreClearErrors) {
  EXPECT_THROW(dlm::read_examples(config("lines", testing::TempDir() + "/nope.txt")), dlm::Error);
  EXPECT_THROW(dlm::read_examples(config("lines", write("empty.txt", "\n\n  \n"))), dlm::Error);
  try {
    dlm::read_examples(config("lines", write("latin1.txt", "ok\ncaf\xE9\n")));
    FAIL();
  } catch (const dlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("latin1.txt:2"), std::string::npos) << e.what();
  }
  const auto c = config("lines", write("long.txt", "abcdefghijklmnopqrstuvwxyz\n"), 8);
  const auto raw = dlm::read_examples(c);
  const auto tok = dlm::CharTokenizer::build(dlm::vocabulary_texts(raw));
  try {
    dlm::make_dataset(c, tok, raw);
    FAIL();
  } catch (const dlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("seq_len"), std::string::npos) << e.what();
  }
}

// Found by fuzz_dataset: a JSONL line with a number overflowing a double threw an uncaught
// nlohmann out_of_range instead of a dlm::Error.
TEST(Dataset, FuzzRegressionNumberOverflowInJsonlIsADlmError) {
  auto c = config("documents", "fuzz.jsonl");
  c.format = dlm::DataFormat::kJsonl;
  EXPECT_THROW(dlm::parse_examples(c, "555E555\n"), dlm::Error);
}

TEST(Dataset, SplitIsDeterministicAndDisjoint) {
  std::string lines;
  for (int i = 0; i < 100; ++i) lines += "n" + std::to_string(i) + "\n";
  auto c = config("lines", write("many.txt", lines));
  c.val_fraction = 0.1;
  const auto raw = dlm::read_examples(c);
  const auto tok = dlm::CharTokenizer::build(dlm::vocabulary_texts(raw));
  const auto a = dlm::make_dataset(c, tok, raw);
  const auto b = dlm::make_dataset(c, tok, raw);
  ASSERT_EQ(a.val.size(), 10u);
  ASSERT_EQ(a.train.size(), 90u);
  EXPECT_FALSE(a.val_is_train);
  std::set<std::vector<int64_t>> train;
  for (const auto& e : a.train) train.insert(e.ids);
  for (size_t i = 0; i < a.val.size(); ++i) {
    EXPECT_EQ(a.val[i].ids, b.val[i].ids);
    EXPECT_EQ(train.count(a.val[i].ids), 0u);
  }
  c.shuffle_seed = 99;
  const auto other = dlm::make_dataset(c, tok, raw);
  bool differs = false;
  for (size_t i = 0; i < a.val.size(); ++i) differs |= other.val[i].ids != a.val[i].ids;
  EXPECT_TRUE(differs);
}

}  // namespace
