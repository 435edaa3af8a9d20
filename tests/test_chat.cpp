// dgen --chat's layouts: the template read off a tokenizer's chat template, the turn text of each layout,
// the end-of-turn id, and one-line refusals. The ids against transformers' apply_chat_template are checked
// by tests/hf/check_tokenizers.py on Qwen2- and Llama-3-style folders.
#include <gtest/gtest.h>

#include "dlm/data/hf_tokenizer.h"
#include "dlm/data/tokenizer.h"
#include "dlm/error.h"
#include "dlm/generate/chat.h"
#include "test_util.h"

namespace {

using dlm_test::error_of;
using Json = nlohmann::json;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "expected '" << (needle) << "' in: " << (haystack)

// A character-level WordPiece with the given added (special) tokens and chat template.
std::unique_ptr<dlm::Tokenizer> tokenizer(const std::vector<std::string>& specials, const std::string& chat_template) {
  Json vocab = {{"[UNK]", 0}, {"a", 1}, {"b", 2}, {"<s>", 3}};
  Json added = Json::array();
  for (const std::string& s : specials) {
    vocab[s] = vocab.size();
    added.push_back({{"id", vocab[s]}, {"content", s}, {"special", true}, {"normalized", false}});
  }
  const Json j = {{"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
                  {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"vocab", vocab}}},
                  {"added_tokens", added}};
  Json saved = {{"kind", "hf"}, {"json", j}};
  if (!chat_template.empty()) saved["chat_template"] = chat_template;
  return dlm::hf_tokenizer_from_json(saved);
}

const std::vector<std::string> kChatml = {"<|im_start|>", "<|im_end|>"};
const std::vector<std::string> kLlada = {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};

TEST(Chat, ChatmlTurnWithAndWithoutTheSystemTurn) {
  const auto tok = tokenizer(kChatml, "{{ '<|im_start|>' + message['role'] }}");
  dlm::ChatOptions o;
  const dlm::ChatFormat f = dlm::make_chat_format(*tok, o);
  EXPECT_EQ(f.kind, dlm::ChatTemplate::kChatml);
  EXPECT_EQ(f.end_of_turn, 5);
  EXPECT_EQ(dlm::chat_prompt(f, " hi "),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n hi <|im_end|>\n"
            "<|im_start|>assistant\n");
  o.system = "";
  EXPECT_EQ(dlm::chat_prompt(dlm::make_chat_format(*tok, o), "hi"),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(Chat, LladaTurnStartsWithBosAndTrimsThePrompt) {
  const auto tok = tokenizer(kLlada, "{{ bos_token + '<|start_header_id|>' }}");
  const dlm::ChatFormat f = dlm::make_chat_format(*tok, {});
  EXPECT_EQ(f.kind, dlm::ChatTemplate::kLlada);
  EXPECT_EQ(f.end_of_turn, 6);
  EXPECT_EQ(dlm::chat_prompt(f, " \t hi there\n "),
            "<s><|start_header_id|>user<|end_header_id|>\n\nhi there<|eot_id|><|start_header_id|>assistant"
            "<|end_header_id|>\n\n");
}

TEST(Chat, NamedTemplateOverridesTheTokenizers) {
  std::vector<std::string> both = kChatml;
  both.insert(both.end(), kLlada.begin(), kLlada.end());
  const auto tok = tokenizer(both, "<|im_start|>");
  dlm::ChatOptions o;
  o.template_name = "llada";
  EXPECT_EQ(dlm::make_chat_format(*tok, o).kind, dlm::ChatTemplate::kLlada);
}

TEST(Chat, RefusalsAreOneLineNamingTheProblem) {
  dlm::ChatOptions o;
  EXPECT_CONTAINS(error_of([&] { dlm::make_chat_format(*tokenizer(kChatml, ""), o); }),
                  "--chat: the tokenizer has no chat template");
  EXPECT_CONTAINS(error_of([&] { dlm::make_chat_format(*tokenizer(kChatml, "{{ messages }}"), o); }),
                  "neither llada's");
  EXPECT_CONTAINS(error_of([&] { dlm::make_chat_format(dlm::CharTokenizer::build({"ab"}), o); }), "no chat template");
  o.template_name = "vicuna";
  EXPECT_CONTAINS(error_of([&] { dlm::make_chat_format(*tokenizer(kChatml, "<|im_start|>"), o); }),
                  "--chat-template 'vicuna' is not a chat template (known: llada, chatml)");
  o.template_name = "llada";
  EXPECT_CONTAINS(error_of([&] { dlm::make_chat_format(*tokenizer(kChatml, "<|im_start|>"), o); }),
                  "--chat-template llada: the tokenizer has no '<|start_header_id|>' token");
  o.template_name = "chatml";
  EXPECT_CONTAINS(error_of([&] { dlm::make_chat_format(dlm::CharTokenizer::build({"ab"}), o); }),
                  "no '<|im_start|>' token");
}

}  // namespace
