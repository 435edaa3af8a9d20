// The two chat layouts of dgen --chat, read off a tokenizer's chat template and checked against its tokens.
#include "dlm/generate/chat.h"

#include "dlm/error.h"
#include "dlm/utf8.h"

namespace dlm {
namespace {

// Python's str.isspace, which Jinja's trim filter strips.
bool is_python_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string trimmed(const std::string& text) {
  const std::vector<char32_t> cps = utf8_decode(text, "the chat prompt");
  size_t first = 0, last = cps.size();
  while (first < last && is_python_space(cps[first])) ++first;
  while (last > first && is_python_space(cps[last - 1])) --last;
  return utf8_encode(std::vector<char32_t>(cps.begin() + first, cps.begin() + last));
}

// The id of `token` when the tokenizer encodes it as one id that it shows as itself, else -1.
int64_t single_id(const Tokenizer& tok, const std::string& token) {
  std::vector<int64_t> ids;
  try {
    ids = tok.encode(token);
  } catch (const Error&) {  // dlm's char tokenizer refuses characters it has not seen
    return -1;
  }
  return ids.size() == 1 && tok.piece(ids[0]) == token ? ids[0] : -1;
}

int64_t required_id(const Tokenizer& tok, const std::string& token, const char* layout) {
  const int64_t id = single_id(tok, token);
  if (id < 0) {
    throw Error(std::string("--chat-template ") + layout + ": the tokenizer has no " + in_quotes(token) + " token");
  }
  return id;
}

}  // namespace

ChatTemplate parse_chat_template(const std::string& name) {
  if (name == "llada") return ChatTemplate::kLlada;
  if (name == "chatml") return ChatTemplate::kChatml;
  throw Error("--chat-template " + in_quotes(name) + " is not a chat template (known: llada, chatml)");
}

ChatTemplate chat_template_kind(const Tokenizer& tok) {
  const std::string t = tok.chat_template();
  if (t.empty()) {
    throw Error(
        "--chat: the tokenizer has no chat template (tokenizer_config.json); name one with --chat-template "
        "llada|chatml");
  }
  if (t.find("<|start_header_id|>") != std::string::npos) return ChatTemplate::kLlada;
  if (t.find("<|im_start|>") != std::string::npos) return ChatTemplate::kChatml;
  throw Error(
      "--chat: the tokenizer's chat template is neither llada's (<|start_header_id|>) nor chatml's "
      "(<|im_start|>); name one with --chat-template llada|chatml");
}

ChatFormat make_chat_format(const Tokenizer& tok, const ChatOptions& options) {
  ChatFormat f;
  f.kind = options.template_name.empty() ? chat_template_kind(tok) : parse_chat_template(options.template_name);
  f.system = options.system;
  utf8_decode(f.system, "--system");
  if (f.kind == ChatTemplate::kLlada) {
    for (const char* token : {"<|start_header_id|>", "<|end_header_id|>"}) required_id(tok, token, "llada");
    f.end_of_turn = required_id(tok, "<|eot_id|>", "llada");
    f.bos = tok.piece(tok.bos_id());
    if (single_id(tok, f.bos) != tok.bos_id()) {
      throw Error("--chat-template llada: the tokenizer's bos token " + in_quotes(f.bos) + " is not one of its tokens");
    }
  } else {
    required_id(tok, "<|im_start|>", "chatml");
    f.end_of_turn = required_id(tok, "<|im_end|>", "chatml");
  }
  return f;
}

std::string chat_prompt(const ChatFormat& f, const std::string& prompt) {
  if (f.kind == ChatTemplate::kLlada) {
    return f.bos + "<|start_header_id|>user<|end_header_id|>\n\n" + trimmed(prompt) +
           "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
  }
  const std::string system = f.system.empty() ? "" : "<|im_start|>system\n" + f.system + "<|im_end|>\n";
  return system + "<|im_start|>user\n" + prompt + "<|im_end|>\n<|im_start|>assistant\n";
}

}  // namespace dlm
