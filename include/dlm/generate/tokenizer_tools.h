// dgen's tokenizer tools (--tokenize, --detokenize): the tokenizer a path names, and text to ids and
// back as JSON.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "dlm/data/tokenizer.h"
#include "dlm/generate/chat.h"

namespace dlm {

// The tokenizer at `path`: a SentencePiece .model, a tokenizer.json or a folder holding one (unless it
// also holds best.pt or last.pt: then it is a run directory), a folder of BPE vocabulary files, or a
// checkpoint or run directory (empty: the latest run).
std::unique_ptr<Tokenizer> open_tokenizer(const std::string& path);

// tokenize: UTF-8 text to {"ids": [...], "pieces": [...]}, the ids as the model's own tokenizer gives them
// (Tokenizer::encode_for_model: a tokenizer.json's [CLS] ... [SEP] included, as transformers'
// tokenizer(text)["input_ids"]). detokenize: {"ids": [...]} or a bare JSON array of ids to the text,
// specials dropped. Both throw dlm::Error naming `where`. With `chat`, tokenize encodes the chat turn holding
// the text (dlm::chat_prompt), the ids dgen --chat gives the model.
nlohmann::json tokenize_to_json(const Tokenizer& tok, const std::string& text, const std::string& where,
                                const ChatFormat* chat = nullptr);
std::string detokenize_json(const Tokenizer& tok, const std::string& json_text, const std::string& where);

// The same for many requests (dgen --format jsonl), one per line of `input`, one JSON line out per
// request: tokenize reads a JSON string or {"text": ...} and writes {"ids", "pieces"}; detokenize reads
// {"ids": [...]} or [...] and writes {"text": ...}. Blank lines are skipped; a bad line throws naming its
// number.
std::string tokenize_lines(const Tokenizer& tok, const std::string& input, const ChatFormat* chat = nullptr);
std::string detokenize_lines(const Tokenizer& tok, const std::string& input);

}  // namespace dlm
