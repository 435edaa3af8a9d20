// The tokenizer.json reader on small handwritten files: WordPiece and byte-level BPE ids, the Bert
// normaliser and pre-tokeniser, added tokens (lstrip, rstrip, single_word, normalized), the
// post-processor's ids, both decoders, specials, the JSON round trip, and an error naming the problem
// for every malformed or unsupported file. Parity with transformers on real folders is checked by
// tests/hf/check_tokenizers.py; the expected ids here were confirmed with the Rust library 0.22.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "dlm/data/hf_tokenizer.h"
#include "dlm/data/tokenizer.h"
#include "dlm/error.h"
#include "test_util.h"

namespace {

using dlm_test::error_of;
using Json = nlohmann::json;
using Ids = std::vector<int64_t>;

Json added(const std::string& content, int64_t id, bool special = true) {
  return {{"id", id},        {"content", content},     {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", !special}, {"special", special}};
}

// A BERT-like WordPiece: lowercase with accent stripping, [CLS] $A [SEP].
Json bert_json() {
  Json j = Json::parse(R"({
    "version": "1.0", "truncation": null, "padding": null,
    "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                   "strip_accents": null, "lowercase": true},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
      "pair": [],
      "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                         "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
    "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100, "vocab": {
      "[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "un": 5, "##aff": 6, "##able": 7, "una": 8,
      "##ff": 9, ",": 10, "!": 11, "中": 12, "文": 13, "cafe": 14, "café": 15, "##a": 16, "a": 17}}})");
  j["added_tokens"] = {added("[PAD]", 0), added("[UNK]", 1), added("[CLS]", 2), added("[SEP]", 3), added("[MASK]", 4)};
  return j;
}

// A RoBERTa-like byte-level BPE over a few symbols ("Ã" and "©" spell the bytes of "é").
Json bpe_json(const Json& merges) {
  Json j = Json::parse(R"({
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
    "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0]},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "fuse_unk": false, "byte_fallback": false, "vocab": {
      "<s>": 0, "<pad>": 1, "</s>": 2, "a": 3, "b": 4, "c": 5, "Ġ": 6, "ab": 7, "abc": 8, "Ġa": 9, "<mask>": 10,
      "Ã": 11, "©": 12}}})");
  Json mask = added("<mask>", 10);
  mask["lstrip"] = true;
  j["added_tokens"] = {added("<s>", 0), added("<pad>", 1), added("</s>", 2), mask};
  j["model"]["merges"] = merges;
  return j;
}

const Json kMerges = {"a b", "ab c", "Ġ a"};

std::unique_ptr<dlm::Tokenizer> from(const Json& j) {
  return dlm::hf_tokenizer_from_json({{"kind", "hf"}, {"json", j}});
}

class HfTokenizerFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "/hf_" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  std::string write(const std::string& text) {
    std::ofstream(dir_ + "/tokenizer.json") << text;
    return dir_ + "/tokenizer.json";
  }
  // The message loading `text` as a tokenizer.json gives; it must name the file.
  std::string error_loading(const std::string& text) {
    const std::string file = write(text);
    const std::string msg = error_of([&] { dlm::load_hf_tokenizer(dir_); });
    EXPECT_NE(msg.find(file), std::string::npos) << "the file is not named in: " << msg;
    return msg;
  }
  std::string dir_;
};

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "expected '" << (needle) << "' in: " << (haystack)

TEST(HfTokenizer, WordPieceTakesTheLongestPieceFirst) {
  const auto tok = from(bert_json());
  EXPECT_EQ(tok->encode("unaffable"), (Ids{8, 9, 7}));  // una ##ff ##able, not un ##aff ##able
  EXPECT_EQ(tok->encode("unx"), (Ids{1}));              // "un" matches but "##x" does not: the word is [UNK]
  Json j = bert_json();
  j["model"]["max_input_chars_per_word"] = 5;
  EXPECT_EQ(from(j)->encode("unaffable una"), (Ids{1, 8}));  // 9 characters is too long a word
}

TEST(HfTokenizer, BertNormalizerLowercasesStripsAccentsAndCleans) {
  const auto tok = from(bert_json());
  EXPECT_EQ(tok->encode("UNAFFABLE Café"), (Ids{8, 9, 7, 14}));
  EXPECT_EQ(tok->encode("un\x01"
                        "a\tuna\xEF\xBF\xBD"),
            (Ids{8, 8}));  // control and U+FFFD dropped, tab a space
  Json j = bert_json();
  j["normalizer"]["strip_accents"] = false;
  EXPECT_EQ(from(j)->encode("Café"), (Ids{15}));
  j["normalizer"]["lowercase"] = false;
  EXPECT_EQ(from(j)->encode("Una"), (Ids{1}));
}

TEST(HfTokenizer, BertSplitsCjkAndPunctuation) {
  const auto tok = from(bert_json());
  EXPECT_EQ(tok->encode("中文"), (Ids{12, 13}));
  EXPECT_EQ(tok->encode("un,una!un"), (Ids{5, 10, 8, 11, 5}));
  Json j = bert_json();
  j["normalizer"]["handle_chinese_chars"] = false;
  EXPECT_EQ(from(j)->encode("中文"), (Ids{1}));  // one word, and "##文" is no piece
}

TEST(HfTokenizer, BpeMergesByRankInBothLayouts) {
  const Json pairs = Json::array({Json::array({"a", "b"}), Json::array({"ab", "c"}), Json::array({"Ġ", "a"})});
  EXPECT_EQ(from(bpe_json(kMerges))->encode("abc abc"), (Ids{8, 6, 8}));
  EXPECT_EQ(from(bpe_json(pairs))->encode("abc abc"), (Ids{8, 6, 8}));
  // Ranking "Ġ a" first takes the space and the a before "a b" can apply.
  EXPECT_EQ(from(bpe_json({"Ġ a", "a b", "ab c"}))->encode("abc abc"), (Ids{8, 9, 4, 5}));
}

TEST(HfTokenizer, AddedTokensHonourLstripAndRstrip) {
  EXPECT_EQ(from(bpe_json(kMerges))->encode("ab <mask>"), (Ids{7, 10}));  // the space goes with <mask>
  Json j = bpe_json(kMerges);
  j["added_tokens"][3]["lstrip"] = false;
  EXPECT_EQ(from(j)->encode("ab <mask>"), (Ids{7, 6, 10}));
  EXPECT_EQ(from(j)->encode("<mask> ab"), (Ids{10, 6, 7}));
  j["added_tokens"][3]["rstrip"] = true;
  EXPECT_EQ(from(j)->encode("<mask> ab"), (Ids{10, 7}));
}

TEST(HfTokenizer, SingleWordTokensMatchOnlyOutsideWords) {
  Json j = bpe_json(kMerges);
  j["model"]["vocab"]["bc"] = 13;
  Json bc = added("bc", 13, false);
  bc["single_word"] = true;
  bc["normalized"] = false;
  j["added_tokens"].push_back(bc);
  EXPECT_EQ(from(j)->encode("bc abc"), (Ids{13, 6, 8}));
  j["added_tokens"][4]["single_word"] = false;
  EXPECT_EQ(from(j)->encode("bc abc"), (Ids{13, 9, 13}));
}

TEST(HfTokenizer, NormalizedAddedTokensMatchNormalisedText) {
  Json j = bert_json();
  j["added_tokens"].push_back(added("Hello", 18, false));  // normalized: looked for as "hello"
  const auto tok = from(j);
  EXPECT_EQ(tok->encode("HELLO una"), (Ids{18, 8}));
  EXPECT_EQ(tok->encode("un [MASK] una"), (Ids{5, 4, 8}));
  EXPECT_EQ(tok->encode("un [mask]"), (Ids{5, 1, 1, 1}));  // [MASK] is not normalized: "[mask]" is text
}

TEST(HfTokenizer, PostProcessorIdsGoAroundTheSequence) {
  const auto bert = from(bert_json());
  EXPECT_EQ(bert->template_before(), (Ids{2}));
  EXPECT_EQ(bert->template_after(), (Ids{3}));
  EXPECT_EQ(bert->encode_for_model("una"), (Ids{2, 8, 3}));
  EXPECT_EQ(bert->encode("una"), (Ids{8}));
  EXPECT_EQ(from(bpe_json(kMerges))->encode_for_model("ab"), (Ids{0, 7, 2}));
  Json j = bpe_json(kMerges);
  j["post_processor"] = {{"type", "Sequence"},
                         {"processors",
                          {{{"type", "ByteLevel"}},
                           j["post_processor"],
                           {{"type", "BertProcessing"}, {"sep", {"<pad>", 1}}, {"cls", {"<pad>", 1}}}}}};
  EXPECT_EQ(from(j)->encode_for_model("ab"), (Ids{1, 0, 7, 2, 1}));  // later processors wrap earlier ones
  j["post_processor"] = nullptr;
  EXPECT_EQ(from(j)->encode_for_model("ab"), (Ids{7}));
}

TEST(HfTokenizer, WordPieceDecoderJoinsAndCleansUp) {
  EXPECT_EQ(from(bert_json())->decode({2, 8, 9, 7, 10, 5, 16, 11, 3, 0}), "unaffable, una!");
  Json j = bert_json();
  j["decoder"]["cleanup"] = false;
  EXPECT_EQ(from(j)->decode({8, 9, 7, 10, 5, 16}), "unaffable , una");
  j["decoder"] = nullptr;
  EXPECT_EQ(from(j)->decode({8, 9, 10}), "una ##ff ,");
}

TEST(HfTokenizer, ByteLevelDecoderGivesBytesBack) {
  const auto tok = from(bpe_json(kMerges));
  EXPECT_EQ(tok->decode({0, 9, 4, 5, 10, 2}), " abc");
  EXPECT_EQ(tok->decode({11, 12}), "é");
  EXPECT_EQ(tok->decode({3, 11, 3}),
            "a\xEF\xBF\xBD"
            "a");  // a lone lead byte becomes U+FFFD
  EXPECT_CONTAINS(error_of([&] { tok->decode({3, 99}); }), "99");
}

TEST(HfTokenizer, SpecialsComeFromTheFileOrFollowIt) {
  const auto bert = from(bert_json());
  EXPECT_EQ((Ids{bert->pad_id(), bert->mask_id(), bert->bos_id(), bert->eos_id(), bert->sep_id()}),
            (Ids{0, 4, 2, 3, 3}));
  EXPECT_EQ(bert->vocab_size(), 18);
  const auto roberta = from(bpe_json(kMerges));
  EXPECT_EQ((Ids{roberta->pad_id(), roberta->mask_id(), roberta->bos_id(), roberta->eos_id()}), (Ids{1, 10, 0, 2}));
  EXPECT_EQ(roberta->piece(9), "Ġa");

  const Json bare = {{"model", {{"type", "WordPiece"}, {"vocab", {{"[UNK]", 0}, {"a", 1}}}}}};
  const auto tok = from(bare);
  EXPECT_EQ((Ids{tok->pad_id(), tok->mask_id(), tok->bos_id(), tok->eos_id(), tok->sep_id()}), (Ids{2, 3, 4, 5, 5}));
  EXPECT_EQ(tok->vocab_size(), 6);
  EXPECT_EQ(tok->piece(3), "<mask>");
  EXPECT_EQ(tok->decode({4, 1, 2, 3, 5}), "a");
  EXPECT_TRUE(tok->template_before().empty());
}

TEST(HfTokenizer, JsonRoundTripKeepsTheIds) {
  const auto original = from(bpe_json(kMerges));
  const Json saved = original->to_json();
  EXPECT_EQ(saved["kind"], "hf");
  const auto rebuilt = dlm::tokenizer_from_json(saved);
  for (const std::string text : {"abc abc", "ab <mask>", "é c"}) {
    EXPECT_EQ(rebuilt->encode_for_model(text), original->encode_for_model(text)) << text;
  }
  EXPECT_EQ(rebuilt->vocab_size(), original->vocab_size());
  EXPECT_CONTAINS(error_of([] { dlm::hf_tokenizer_from_json({{"kind", "hf"}}); }), "'json'");
}

TEST(HfTokenizer, BadTextIsRefused) {
  EXPECT_CONTAINS(error_of([] { from(bert_json())->encode("un\xFFuna"); }), "offset 2");
}

TEST_F(HfTokenizerFiles, FolderOrTokenizerJsonLoadsAndTheJsonWinsOverBpeFiles) {
  write(bert_json().dump());
  EXPECT_EQ(dlm::load_hf_tokenizer(dir_)->encode("una"), (Ids{8}));
  EXPECT_EQ(dlm::load_hf_tokenizer(dir_ + "/tokenizer.json")->encode("una"), (Ids{8}));
  std::ofstream(dir_ + "/vocab.json") << "{}";  // tokenizer.json wins over BPE vocabulary files
  EXPECT_EQ(dlm::load_tokenizer_files(dir_)->to_json()["kind"], "hf");
  std::filesystem::remove(dir_ + "/tokenizer.json");
  EXPECT_CONTAINS(error_of([&] { dlm::load_hf_tokenizer(dir_); }), "no tokenizer.json");
}

TEST_F(HfTokenizerFiles, MalformedFilesAreNamed) {
  EXPECT_CONTAINS(error_loading("{\"model\": "), "malformed JSON");
  EXPECT_CONTAINS(error_loading("{}"), "no 'model'");
  Json j = bert_json();
  j["model"]["vocab"] = Json::array();
  EXPECT_CONTAINS(error_loading(j.dump()), "model.vocab: expected a JSON object");
  j = bert_json();
  j["model"]["vocab"]["un"] = "5";
  EXPECT_CONTAINS(error_loading(j.dump()), "id of 'un'");
  j = bert_json();
  j["model"]["vocab"]["un"] = 8;
  EXPECT_CONTAINS(error_loading(j.dump()), "used by both");
  EXPECT_CONTAINS(error_loading(bpe_json({"a b", "a z"}).dump()), "merges[1]: 'z' is not in the vocabulary");
  EXPECT_CONTAINS(error_loading(bpe_json({"b c"}).dump()), "'bc' is not in the vocabulary");
  EXPECT_CONTAINS(error_loading(bpe_json({"a  b"}).dump()), "merges[0]");
  j = bert_json();
  j["added_tokens"][1].erase("content");
  EXPECT_CONTAINS(error_loading(j.dump()), "added_tokens[1]: no 'content'");
  j = bert_json();
  j["added_tokens"][2].erase("id");
  EXPECT_CONTAINS(error_loading(j.dump()), "added_tokens[2]: no 'id'");
  j = bert_json();
  j["added_tokens"][2]["id"] = 7;
  EXPECT_CONTAINS(error_loading(j.dump()), "'[CLS]' has id 7");
  j = bert_json();
  j["post_processor"]["special_tokens"]["[SEP]"]["ids"] = {300};
  EXPECT_CONTAINS(error_loading(j.dump()), "id 300 is not in the vocabulary");
}

TEST_F(HfTokenizerFiles, UnsupportedComponentsAreNamed) {
  const auto refused = [&](const char* section, const Json& value, const std::string& needle) {
    Json j = bpe_json(kMerges);
    j[section] = value;
    EXPECT_CONTAINS(error_loading(j.dump()), needle);
  };
  refused("normalizer", {{"type", "Precompiled"}},
          "normalizer type 'Precompiled' is not supported (supported: BertNormalizer");
  refused("normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "NFKC"}}}}}, "normalizers[0] type 'NFKC'");
  refused("pre_tokenizer", {{"type", "Metaspace"}}, "pre_tokenizer type 'Metaspace' is not supported");
  refused("decoder", {{"type", "Metaspace"}}, "decoder type 'Metaspace' is not supported");
  refused("post_processor", {{"type", "Weird"}}, "post_processor type 'Weird' is not supported");
  refused("model", {{"type", "Unigram"}, {"vocab", Json::array()}}, "model type 'Unigram' is not supported");
  Json two = bert_json()["post_processor"];
  two["single"].push_back({{"Sequence", {{"id", "B"}, {"type_id", 1}}}});
  refused("post_processor", two, "only special tokens around one Sequence A");
  Json j = bpe_json(kMerges);
  j["model"]["byte_fallback"] = true;
  EXPECT_CONTAINS(error_loading(j.dump()), "byte_fallback");
  j = bpe_json(kMerges);
  j["model"]["dropout"] = 0.1;
  EXPECT_CONTAINS(error_loading(j.dump()), "dropout");
}

}  // namespace
