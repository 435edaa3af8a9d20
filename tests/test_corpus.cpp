// Corpus data: token files reassemble to the source tokens, the cache follows the file and the
// tokenizer, validation holds out whole documents, and the never-masked prefix is never masked.
#include <gtest/gtest.h>

#include <filesystem>

#include <ATen/CPUGeneratorImpl.h>

#include "dlm/data/corpus.h"
#include "dlm/data/tokenizer.h"
#include "dlm/diffusion/collator.h"
#include "dlm/error.h"
#include "test_util.h"
#include "text_samples.h"

namespace {

namespace fs = std::filesystem;

using dlm_test::fresh_dir;
using dlm_test::kDocs;
using dlm_test::write_file;

std::string jsonl(const std::vector<std::string>& docs) {
  std::string out;
  for (const auto& d : docs) out += nlohmann::json{{"text", d}}.dump() + "\n";
  return out;
}

dlm::DataConfig corpus_config(const std::string& path, int64_t seq_len) {
  dlm::DataConfig c;
  c.kind = dlm::DataKind::kCorpus;
  c.path = path;
  c.seq_len = seq_len;
  c.val_fraction = 0.2;
  return c;
}

TEST(Corpus, BlocksReassembleToTheSourceTokens) {
  const std::string dir = fresh_dir("corpus_reassemble");
  const auto c = corpus_config(write_file(dir + "/docs.jsonl", jsonl(kDocs)), 7);
  const dlm::ByteTokenizer tok;
  auto file = std::make_shared<const dlm::TokenFile>(dlm::cached_token_file(c, c.path, tok, dir + "/cache"));
  std::vector<int64_t> expected;
  for (const auto& d : kDocs) {
    const auto ids = tok.encode(d);
    expected.insert(expected.end(), ids.begin(), ids.end());
    expected.push_back(tok.eos_id());  // documents are joined by EOS
  }
  ASSERT_EQ(file->n_tokens(), static_cast<int64_t>(expected.size()));
  ASSERT_EQ(file->n_docs(), static_cast<int64_t>(kDocs.size()));
  const dlm::BlockSource all(file, 0, file->n_tokens(), 7, tok.pad_id(), /*keep_partial=*/true);
  std::vector<int64_t> joined;
  for (int64_t i = 0; i < all.size(); ++i) {
    const dlm::Example e = all.block(i);
    ASSERT_EQ(e.ids.size(), 7u);
    joined.insert(joined.end(), e.ids.begin(), e.ids.begin() + e.n_content);
    for (size_t k = static_cast<size_t>(e.n_content); k < e.ids.size(); ++k) EXPECT_EQ(e.ids[k], tok.pad_id());
  }
  EXPECT_EQ(joined, expected);
  // Without the partial block, every block is full and the blocks tile a prefix of the tokens.
  const dlm::BlockSource full(file, 0, file->n_tokens(), 7, tok.pad_id(), false);
  EXPECT_EQ(full.size(), file->n_tokens() / 7);
  EXPECT_EQ(full.block(full.size() - 1).n_content, 7);
  // A window may start at any token (data.window_offsets random): the 7 tokens from there.
  const dlm::BlockSource inner(file, 3, file->n_tokens(), 7, tok.pad_id(), false);
  EXPECT_EQ(inner.window_starts(), file->n_tokens() - 3 - 7 + 1);
  for (int64_t start : {int64_t{0}, int64_t{5}, inner.window_starts() - 1}) {
    const dlm::Example w = inner.window(start);
    EXPECT_EQ(w.n_content, 7);
    EXPECT_EQ(w.ids, std::vector<int64_t>(expected.begin() + 3 + start, expected.begin() + 3 + start + 7)) << start;
  }
  // Bytes per token: the documents' UTF-8 bytes over the tokens (bytes + one EOS each).
  size_t bytes = 0;
  for (const auto& d : kDocs) bytes += d.size();
  EXPECT_DOUBLE_EQ(all.bytes_per_token(), static_cast<double>(bytes) / static_cast<double>(expected.size()));
}

TEST(Corpus, CacheIsReusedUntilTheFileOrTokenizerChanges) {
  const std::string dir = fresh_dir("corpus_cache");
  const auto c = corpus_config(write_file(dir + "/docs.jsonl", jsonl(kDocs)), 8);
  const dlm::ByteTokenizer bytes;
  const std::string first = dlm::cached_token_file(c, c.path, bytes, dir + "/cache");
  const auto stamp = fs::last_write_time(first);
  EXPECT_EQ(dlm::cached_token_file(c, c.path, bytes, dir + "/cache"), first);
  EXPECT_EQ(fs::last_write_time(first), stamp);  // not rewritten
  const auto chars = dlm::CharTokenizer::build(kDocs);
  EXPECT_NE(dlm::cached_token_file(c, c.path, chars, dir + "/cache"), first);
  write_file(c.path, jsonl({"an edited corpus"}));
  EXPECT_NE(dlm::cached_token_file(c, c.path, bytes, dir + "/cache"), first);
}

TEST(Corpus, DamagedTokenFilesAreRejected) {
  const std::string dir = fresh_dir("corpus_damaged");
  const auto c = corpus_config(write_file(dir + "/docs.jsonl", jsonl(kDocs)), 8);
  const std::string path = dlm::cached_token_file(c, c.path, dlm::ByteTokenizer(), dir + "/cache");
  fs::resize_file(path, fs::file_size(path) - 3);
  EXPECT_NE(dlm_test::error_of([&] { dlm::TokenFile f(path); }).find("truncated"), std::string::npos);
  write_file(path, "not a token file at all, just some text");
  EXPECT_NE(dlm_test::error_of([&] { dlm::TokenFile f(path); }).find("not a dlm token file"), std::string::npos);
  EXPECT_NE(dlm_test::error_of([&] { dlm::TokenFile f(dir + "/none.tok"); }).find("cannot open"), std::string::npos);
}

TEST(Corpus, ValidationHoldsOutWholeLastDocuments) {
  const std::string dir = fresh_dir("corpus_split");
  auto c = corpus_config(write_file(dir + "/docs.jsonl", jsonl(kDocs)), 8);
  const dlm::ByteTokenizer tok;
  const dlm::CorpusData data = dlm::open_corpus(c, tok, dir + "/cache");
  EXPECT_EQ(data.val_docs, 1);
  EXPECT_EQ(data.train_docs, 4);
  // Validation starts exactly at the last document: its first block is that document's start.
  const auto last = tok.encode(kDocs.back());
  const dlm::Example v = data.val->block(0);
  EXPECT_EQ(std::vector<int64_t>(v.ids.begin(), v.ids.end()), std::vector<int64_t>(last.begin(), last.begin() + 8));
  // Training blocks never reach into it.
  EXPECT_LE(data.train->size() * 8, data.train->n_tokens());
  EXPECT_EQ(data.train->n_tokens() + data.val->n_tokens(),
            dlm::TokenFile(dlm::cached_token_file(c, c.path, tok, dir + "/cache")).n_tokens());
  // A separate validation file is used whole.
  c.val_path = write_file(dir + "/val.jsonl", jsonl({kDocs[1]}));
  const dlm::CorpusData separate = dlm::open_corpus(c, tok, dir + "/cache");
  EXPECT_EQ(separate.train_docs, static_cast<int64_t>(kDocs.size()));
  EXPECT_EQ(separate.val_docs, 1);
  // Too little validation text for one block is an error, not a silent empty validation.
  c.seq_len = 200;
  EXPECT_NE(dlm_test::error_of([&] { dlm::open_corpus(c, tok, dir + "/cache"); }).find("no validation block"),
            std::string::npos);
}

// A plain text file is one document, as a new user's input.txt is: validation is its last
// val_fraction of tokens, not a refusal for want of a second document.
TEST(Corpus, OnePlainTextFileHoldsOutItsLastTokens) {
  const std::string dir = fresh_dir("corpus_one_document");
  std::string text;
  for (const auto& d : kDocs) text += d + "\n";
  const auto c = corpus_config(write_file(dir + "/input.txt", text), 8);
  const dlm::ByteTokenizer tok;
  const dlm::CorpusData data = dlm::open_corpus(c, tok, dir + "/cache");
  const int64_t total = dlm::TokenFile(dlm::cached_token_file(c, c.path, tok, dir + "/cache")).n_tokens();
  EXPECT_EQ(data.val->n_tokens(), std::llround(total * 0.2));
  EXPECT_EQ(data.train->n_tokens() + data.val->n_tokens(), total);
  EXPECT_GE(data.val->size(), 1);
  // Validation is the end of the text: its first block starts about 80% of the way in.
  const dlm::Example v = data.val->block(0);
  const std::string tail = tok.decode(v.ids);
  EXPECT_NE(text.find(tail), std::string::npos);
  EXPECT_GT(text.find(tail), text.size() * 3 / 4);
  // Bytes per token count the part of the one document inside the range (bytes: one per token here,
  // the closing EOS aside).
  EXPECT_NEAR(data.val->bytes_per_token(), 1.0, 0.02);
}

TEST(Corpus, TheNeverMaskedPrefixIsNeverMasked) {
  const std::string dir = fresh_dir("corpus_prefix");
  const auto c = corpus_config(write_file(dir + "/docs.jsonl", jsonl(kDocs)), 32);
  const dlm::ByteTokenizer tok;
  const dlm::CorpusData data = dlm::open_corpus(c, tok, dir + "/cache");
  std::vector<dlm::Example> blocks;
  std::vector<const dlm::Example*> group;
  for (int64_t i = 0; i < data.train->size(); ++i) blocks.push_back(data.train->block(i));
  for (const auto& b : blocks) group.push_back(&b);
  dlm::DiffusionConfig dc;
  dc.prefix_len = 16;
  dc.mask_pad = false;
  torch::Generator gen = at::detail::createCPUGenerator(3);
  for (const auto dist : {dlm::RateDist::kUniform, dlm::RateDist::kAntithetic, dlm::RateDist::kDiscrete}) {
    dc.rate_dist = dist;
    for (int trial = 0; trial < 20; ++trial) {
      const dlm::Batch b = dlm::collate(group, dc, tok.mask_id(), gen);
      EXPECT_FALSE(b.masked.narrow(1, 0, 16).any().item<bool>()) << dlm::enum_name(dist);
      EXPECT_TRUE(torch::equal(b.input.narrow(1, 0, 16), b.target.narrow(1, 0, 16)));
      EXPECT_TRUE(b.masked.narrow(1, 16, 16).any(1).all().item<bool>());  // something after it is
    }
  }
  // Even at rate 1 every position after the prefix is masked and none before it.
  const dlm::Batch full =
      dlm::collate_at_rates(group, torch::ones({static_cast<int64_t>(group.size())}), dc, tok.mask_id(), gen);
  EXPECT_FALSE(full.masked.narrow(1, 0, 16).any().item<bool>());
  EXPECT_TRUE(full.masked.narrow(1, 16, 16).all().item<bool>());
}

}  // namespace
