// What a Hugging Face tokenizer folder holds beside tokenizer.json, private to src/data/hf_tokenizer.cpp:
// tokenizer_config.json's special token names and chat template, and the slow Qwen2 tokenizer's files
// (vocab.json + merges.txt) restated as the tokenizer.json that the fast tokenizer would have.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace dlm::hf {

struct TokenizerConfigFile {
  std::string bos, eos, pad, mask;  // bos_token, eos_token, pad_token, mask_token; empty when not given
  std::string chat_template;        // chat_template.jinja, else the config's chat_template; empty when none
  std::string tokenizer_class;
  nlohmann::json added_tokens_decoder;  // {"id": {"content": ...}, ...} or null
};

// Reads `folder`/tokenizer_config.json (and chat_template.jinja); absent files give an empty result.
// Throws dlm::Error naming the file and key on a malformed one.
TokenizerConfigFile read_tokenizer_config(const std::string& folder);

// True when `folder` holds vocab.json and merges.txt and its tokenizer_config.json names a Qwen2 or Dream
// tokenizer: files that load_hf_tokenizer reads as Qwen2Tokenizer does.
bool is_slow_qwen2_folder(const std::string& folder);

// The tokenizer.json of Qwen2TokenizerFast for `folder`'s vocab.json and merges.txt: NFC, Qwen2's Split
// pattern, ByteLevel without its regex, byte-level BPE, the ByteLevel decoder, and the added tokens of
// added_tokens_decoder. Throws dlm::Error naming the file.
nlohmann::json slow_qwen2_json(const std::string& folder, const TokenizerConfigFile& config);

}  // namespace dlm::hf
