// Chat formatting for dgen --chat: each prompt becomes one user turn plus the generation prompt, in the
// layout of a Hugging Face folder's chat template (LLaDA's Llama-3-style headers, or ChatML as Qwen2 and
// Dream have it), so that the ids equal tok(tok.apply_chat_template(...))["input_ids"] of transformers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dlm/data/tokenizer.h"

namespace dlm {

enum class ChatTemplate {
  kLlada,   // <bos><|start_header_id|>user<|end_header_id|>\n\n{prompt, trimmed}<|eot_id|> + assistant header
  kChatml,  // <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n
};

// "llada" or "chatml"; throws dlm::Error naming the value otherwise.
ChatTemplate parse_chat_template(const std::string& name);

// The layout of a tokenizer's own chat template: one holding <|start_header_id|> is llada, one holding
// <|im_start|> chatml. Throws dlm::Error when the tokenizer has none or another one.
ChatTemplate chat_template_kind(const Tokenizer& tok);

struct ChatOptions {
  std::string template_name;                            ///< "llada" | "chatml"; empty: the tokenizer's own
  std::string system = "You are a helpful assistant.";  ///< chatml's system turn; empty drops the turn
};

// A chat layout checked against one tokenizer: its special tokens exist, each as one id.
struct ChatFormat {
  ChatTemplate kind = ChatTemplate::kChatml;
  std::string system;        ///< chatml's system text
  std::string bos;           ///< llada: the bos token's text (LLaDA's <|startoftext|>)
  int64_t end_of_turn = -1;  ///< <|eot_id|> or <|im_end|>: ends the generated text like EOS
};

// Throws dlm::Error (one line) for an unknown template name, a tokenizer with no chat template when none
// is named, or a tokenizer that lacks a token the layout needs.
ChatFormat make_chat_format(const Tokenizer& tok, const ChatOptions& options);

// The text of one user turn holding `prompt`, then the assistant's header: encoded as text with the
// tokenizer's post-processor (Tokenizer::encode_for_model), as transformers encodes the template's output.
std::string chat_prompt(const ChatFormat& format, const std::string& prompt);

}  // namespace dlm
