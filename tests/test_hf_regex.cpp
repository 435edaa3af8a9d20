// The Split pre-tokenizer and its regex matcher, NFC, Qwen2-style byte-level files, the slow Qwen2 folder
// (vocab.json + merges.txt) and the special ids given or named by tokenizer_config.json. The words a pattern
// makes are read off a WordPiece model over single characters: a word starts at each piece without "##".
// Parity with `tokenizers` on Qwen2- and Llama-3-style folders is checked by tests/hf/check_tokenizers.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "dlm/data/hf_tokenizer.h"
#include "dlm/data/tokenizer.h"
#include "dlm/error.h"
#include "dlm/utf8.h"
#include "test_util.h"

namespace {

using dlm_test::error_of;
using Json = nlohmann::json;
using Ids = std::vector<int64_t>;
using Words = std::vector<std::string>;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "expected '" << (needle) << "' in: " << (haystack)

const char* const kQwen2 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
const char* const kLlama3 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

Json split(const std::string& pattern) {
  return {{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}};
}

// A WordPiece tokenizer.json over every character of `text` (alone and as "##c") behind `pre_tokenizer`.
Json wordpiece_over(const std::string& text, const Json& pre_tokenizer, const Json& normalizer = nullptr) {
  Json vocab = {{"[UNK]", 0}};
  for (char32_t cp : dlm::utf8_decode(text, "text")) {
    for (const std::string& piece : {dlm::utf8_encode(cp), "##" + dlm::utf8_encode(cp)}) {
      if (!vocab.contains(piece)) vocab[piece] = vocab.size();
    }
  }
  return {{"normalizer", normalizer},
          {"pre_tokenizer", pre_tokenizer},
          {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"vocab", vocab}}}};
}

// The words `pattern` splits `text` into.
Words words(const std::string& pattern, const std::string& text) {
  const auto tok = dlm::hf_tokenizer_from_json({{"kind", "hf"}, {"json", wordpiece_over(text, split(pattern))}});
  Words out;
  for (int64_t id : tok->encode(text)) {
    const std::string piece = tok->piece(id);
    if (piece.rfind("##", 0) == 0 && !out.empty()) {
      out.back() += piece.substr(2);
    } else {
      out.push_back(piece);
    }
  }
  return out;
}

std::string refusal(const std::string& pattern) {
  return error_of([&] { words(pattern, "x"); });
}

TEST(HfRegex, AlternativesAreTriedInOrderNotForTheLongest) {
  EXPECT_EQ(words("a|ab", "abab"), (Words{"a", "b", "a", "b"}));  // "b" is text between matches
  EXPECT_EQ(words("ab|a", "abab"), (Words{"ab", "ab"}));
  EXPECT_EQ(words("x", "axbx"), (Words{"a", "x", "b", "x"}));  // each match and each run between them
}

TEST(HfRegex, ClassesQuantifiersAndGroups) {
  EXPECT_EQ(words(R"(\p{L}+)", "héllo wörld"), (Words{"héllo", " ", "wörld"}));
  EXPECT_EQ(words(R"(\p{N}{1,3})", "12345 x 1234567"), (Words{"123", "45", " x ", "123", "456", "7"}));
  EXPECT_EQ(words(R"(\p{N}{2})", "12345"), (Words{"12", "34", "5"}));
  EXPECT_EQ(words(R"(\p{N}{2,})", "1 234"), (Words{"1 ", "234"}));
  EXPECT_EQ(words(R"(\s+)", "a \t\nb"), (Words{"a", " \t\n", "b"}));
  EXPECT_EQ(words(R"(\S+)", "ab  cd"), (Words{"ab", "  ", "cd"}));
  EXPECT_EQ(words(R"([^\s\p{L}\p{N}]+)", "a,.b 1!?"), (Words{"a", ",.", "b 1", "!?"}));
  EXPECT_EQ(words(R"( ?[a-c]+)", "ab cd"), (Words{"ab", " c", "d"}));
  EXPECT_EQ(words(R"(x?y*z)", "zxyyzyz"), (Words{"z", "xyyz", "yz"}));
  EXPECT_EQ(words(R"((?:ab)+)", "ababa"), (Words{"abab", "a"}));
  EXPECT_EQ(words(R"((ab|a)c)", "acabc"), (Words{"ac", "abc"}));  // the group backtracks into its second arm
  EXPECT_EQ(words(R"([\r\n]+)", "a\r\n\nb"), (Words{"a", "\r\n\n", "b"}));
  EXPECT_EQ(words(R"(\.\+)", "a.+b"), (Words{"a", ".+", "b"}));
}

TEST(HfRegex, GreedyRepeatsBackTrackForTheRest) {
  EXPECT_EQ(words(R"(\s*[\r\n]+)", "a  \n\n b"), (Words{"a", "  \n\n", " b"}));
  EXPECT_EQ(words(R"(a+ab)", "aaab"), (Words{"aaab"}));
  EXPECT_EQ(words(R"((?:a|b)+b)", "abab"), (Words{"abab"}));
}

TEST(HfRegex, CaseInsensitiveGroupsFoldLiterals) {
  EXPECT_EQ(words(R"((?i:'s|'re))", "it's IT'S we'RE"), (Words{"it", "'s", " IT", "'S", " we", "'RE"}));
  EXPECT_EQ(words(R"('s)", "IT'S it's"), (Words{"IT'S it", "'s"}));           // only inside (?i:...)
  EXPECT_EQ(words(R"((?i:'s))", "a'\u017Fb"), (Words{"a", "'\u017F", "b"}));  // long s folds to s, as Oniguruma
}

TEST(HfRegex, LookaheadsTestWithoutConsuming) {
  EXPECT_EQ(words(R"(\s+(?!\S))", "a   b"), (Words{"a", "  ", " b"}));  // the last space stays with the word
  EXPECT_EQ(words(R"(\s+(?!\S))", "a   "), (Words{"a", "   "}));
  EXPECT_EQ(words(R"(a(?=b))", "acab"), (Words{"ac", "a", "b"}));
}

TEST(HfRegex, QwenAndLlamaPatternsSplitAsTheLibrary) {
  // Expected words from tokenizers 0.22's Split(Regex(...), "isolated") on the same text.
  const std::string text = "I DON'T know 12345 ok   \nHello,  world!!\n\n  x";
  EXPECT_EQ(words(kQwen2, text), (Words{"I", " DON", "'T", " know", " ", "1", "2", "3", "4", "5", " ok", "   \n",
                                        "Hello", ",", " ", " world", "!!\n\n", " ", " x"}));
  EXPECT_EQ(words(kLlama3, text), (Words{"I", " DON", "'T", " know", " ", "123", "45", " ok", "   \n", "Hello", ",",
                                         " ", " world", "!!\n\n", " ", " x"}));
}

TEST(HfRegex, UnsupportedConstructsAreNamedWithTheirIndex) {
  EXPECT_CONTAINS(refusal(R"(a\bc)"), "pre_tokenizer.pattern: unsupported regex construct '\\b' at 1");
  EXPECT_CONTAINS(refusal(R"(x\p{Lu})"), "unsupported regex construct '\\p{Lu}' at 1");
  EXPECT_CONTAINS(refusal(R"(\d+)"), "'\\d' at 0");
  EXPECT_CONTAINS(refusal(R"(a.b)"), "'.' at 1");
  EXPECT_CONTAINS(refusal(R"(^a)"), "'^' at 0");
  EXPECT_CONTAINS(refusal(R"(a+?)"), "'+?' at 1");
  EXPECT_CONTAINS(refusal(R"((?<=a)b)"), "'(?<' at 0");
  EXPECT_CONTAINS(refusal(R"([[:alpha:]])"), "'[:' at 1");
  EXPECT_CONTAINS(refusal(R"((a)"), "malformed regex: unclosed '(' at 0");
  Json j = wordpiece_over("x", split("x"));
  j["pre_tokenizer"]["behavior"] = "Removed";
  EXPECT_CONTAINS(error_of([&] {
                    dlm::hf_tokenizer_from_json({{"kind", "hf"}, {"json", j}});
                  }),
                  "behavior 'Removed' is not supported (supported: Isolated)");
  j["pre_tokenizer"]["behavior"] = "Isolated";
  j["pre_tokenizer"]["invert"] = true;
  EXPECT_CONTAINS(error_of([&] { dlm::hf_tokenizer_from_json({{"kind", "hf"}, {"json", j}}); }), "invert");
}

TEST(HfRegex, StringPatternsMatchLiterally) {
  const Json pre = {{"type", "Split"}, {"pattern", {{"String", "a.b"}}}, {"behavior", "Isolated"}, {"invert", false}};
  const auto tok = dlm::hf_tokenizer_from_json({{"kind", "hf"}, {"json", wordpiece_over("xa.bya", pre)}});
  EXPECT_EQ(tok->encode("xa.bya").size(), 6u);
  EXPECT_EQ(tok->piece(tok->encode("xa.bya")[1]), "a");  // "a" starts a word: the match "a.b"
  EXPECT_EQ(tok->piece(tok->encode("xa.bya")[4]), "y");  // and so does "ya" after it
}

TEST(HfNormalizer, NfcComposesAsUnicodeDoes) {
  const std::string composed = "\u00E9\u1E09\uAC01\u00C5";  // é, ḉ, 각, Å
  const std::string decomposed = "e\u0301c\u0327\u0301\u1100\u1161\u11A8A\u030A";
  const std::string blocked = "a\u0323\u0302";  // dot below (220) then circumflex (230): ậ composes to ậ
  const Json j = wordpiece_over(composed + "\u1EAD", {{"type", "WhitespaceSplit"}}, {{"type", "NFC"}});
  const auto tok = dlm::hf_tokenizer_from_json({{"kind", "hf"}, {"json", j}});
  EXPECT_EQ(tok->encode(decomposed), tok->encode(composed));
  EXPECT_EQ(tok->encode("\u212B"), tok->encode("\u00C5"));  // the Ångström sign is a singleton: NFC gives Å
  EXPECT_EQ(tok->encode(blocked), tok->encode("\u1EAD"));
  EXPECT_EQ(tok->encode(composed).size(), 4u);
}

}  // namespace

namespace {

// A Qwen2-style byte-level BPE (NFC, Qwen2's Split, ByteLevel without its regex) over a few symbols.
Json qwen2_vocab() {
  return {{"a", 0}, {"b", 1}, {"Ġ", 2},  {"ab", 3}, {"Ġa", 4}, {"'", 5},   {"s", 6},   {"S", 7},
          {"1", 8}, {"2", 9}, {"Ċ", 10}, {"Ã", 11}, {"©", 12}, {"Ã©", 13}, {"'S", 14}, {"12", 15}};
}
const Json kQwen2Merges = {"a b", "Ġ a", "Ã ©", "' S", "1 2"};
Json qwen2_added(const std::string& content, int64_t id) {
  return {{"content", content}, {"lstrip", false}, {"normalized", false}, {"rstrip", false}, {"single_word", false},
          {"special", true},    {"id", id}};
}
Json qwen2_json() {
  return {{"normalizer", {{"type", "NFC"}}},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             {split(kQwen2),
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}}},
          {"model", {{"type", "BPE"}, {"vocab", qwen2_vocab()}, {"merges", kQwen2Merges}}},
          {"decoder", {{"type", "ByteLevel"}}},
          {"post_processor", {{"type", "ByteLevel"}, {"trim_offsets", false}}},
          {"added_tokens", {qwen2_added("<|endoftext|>", 16), qwen2_added("<|mask|>", 17)}}};
}

class HfQwen2Files : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "/hfq_" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ + "/" + name) << text; }
  std::string dir_;
};

TEST(HfQwen2, SplitThenByteLevelWithoutItsRegex) {
  const auto tok = dlm::hf_tokenizer_from_json({{"kind", "hf"}, {"json", qwen2_json()}});
  // "ab ab" splits into "ab" and " ab", whose "a b" merge ranks before "Ġ a". Qwen2's case-insensitive
  // contraction keeps "'S" whole and its digits go one by one, where GPT-2's regex (ByteLevel's, which must
  // not run again) would split "'" from "S" and keep "12".
  EXPECT_EQ(tok->encode("ab ab"), (Ids{3, 2, 3}));
  EXPECT_EQ(tok->encode("a'S12"), (Ids{0, 14, 8, 9}));
  EXPECT_EQ(tok->encode("e\u0301"), tok->encode("\u00E9"));  // NFC first
  EXPECT_EQ(tok->encode("a<|endoftext|>\n"), (Ids{0, 16, 10}));
  EXPECT_EQ(tok->decode({3, 4, 1, 13}), "ab abé");
  EXPECT_TRUE(tok->template_before().empty() && tok->template_after().empty());
}

TEST_F(HfQwen2Files, SlowVocabAndMergesReadAsQwen2Tokenizer) {
  write("vocab.json", qwen2_vocab().dump());
  write("merges.txt", "#version: 0.2\na b\nĠ a\nÃ ©\n' S\n1 2\n");
  const Json config = {{"tokenizer_class", "Qwen2Tokenizer"},
                       {"eos_token", "<|endoftext|>"},
                       {"added_tokens_decoder",
                        {{"17", {{"content", "<|mask|>"}, {"special", true}}},
                         {"16", {{"content", "<|endoftext|>"}, {"special", true}}}}}};
  write("tokenizer_config.json", config.dump());
  const auto fast = dlm::hf_tokenizer_from_json({{"kind", "hf"}, {"json", qwen2_json()}});
  for (const auto& slow : {dlm::load_hf_tokenizer(dir_), dlm::load_tokenizer_files(dir_)}) {
    for (const std::string text : {"ab ab", "a'S12 \n\n a", "e\u0301<|mask|>ab<|endoftext|>"}) {
      EXPECT_EQ(slow->encode(text), fast->encode(text)) << text;
    }
    EXPECT_EQ(slow->eos_id(), 16);
    EXPECT_EQ(slow->decode({3, 16, 13}), "abé");
  }
  write("tokenizer_config.json", Json{{"tokenizer_class", "GPT2Tokenizer"}}.dump());  // GPT-2's files: not Qwen2's
  EXPECT_CONTAINS(error_of([&] { dlm::load_hf_tokenizer(dir_); }), "nor vocab.json + merges.txt of a Qwen2");
}

TEST_F(HfQwen2Files, SpecialIdsGivenOrNamedWinAndSurviveTheRoundTrip) {
  write("tokenizer.json", qwen2_json().dump());
  const std::string chatml = "{{ '<|im_start|>' + message['content'] }}";
  write("tokenizer_config.json", Json{{"eos_token", {{"content", "<|endoftext|>"}}},
                                      {"mask_token", "<|mask|>"},
                                      {"bos_token", nullptr},
                                      {"chat_template", chatml}}
                                     .dump());
  const auto named = dlm::load_hf_tokenizer(dir_);
  EXPECT_EQ(named->eos_id(), 16);
  EXPECT_EQ(named->mask_id(), 17);
  EXPECT_EQ(named->chat_template(), chatml);
  EXPECT_EQ(named->pad_id(), 18);  // neither given nor found: dlm's own <pad> and <bos> after the vocabulary
  EXPECT_EQ(named->bos_id(), 19);
  dlm::HfSpecialIds given;
  given.mask = 3;
  given.pad = 16;
  const auto overridden = dlm::load_hf_tokenizer(dir_, given);
  EXPECT_EQ(overridden->mask_id(), 3);  // given ids win over tokenizer_config.json
  EXPECT_EQ(overridden->pad_id(), 16);
  EXPECT_EQ(overridden->eos_id(), 16);
  const auto back = dlm::tokenizer_from_json(overridden->to_json());
  EXPECT_EQ(back->mask_id(), 3);
  EXPECT_EQ(back->pad_id(), 16);
  EXPECT_EQ(back->eos_id(), 16);
  EXPECT_EQ(back->chat_template(), chatml);
  EXPECT_EQ(back->to_json(), overridden->to_json());
  given.mask = 99;
  EXPECT_CONTAINS(error_of([&] { dlm::load_hf_tokenizer(dir_, given); }), "mask id 99 is outside the vocabulary");
  write("tokenizer_config.json", Json{{"pad_token", "<pad>"}}.dump());
  EXPECT_CONTAINS(error_of([&] { dlm::load_hf_tokenizer(dir_); }), "pad_token '<pad>' is not in the vocabulary");
  write("chat_template.jinja", "{{ '<|start_header_id|>' }}");  // transformers' own file wins, as it does there
  write("tokenizer_config.json", Json{{"chat_template", chatml}}.dump());
  EXPECT_EQ(dlm::load_hf_tokenizer(dir_)->chat_template(), "{{ '<|start_header_id|>' }}");
}

}  // namespace
