// dlm's reader of Hugging Face tokenizer.json files (the `tokenizers` library's format), as far as BERT
// and RoBERTa need: encode gives the ids the Rust library 0.22 gives without its post-processor, id for id
// (checked by tests/hf/check_tokenizers.py against transformers' AutoTokenizer).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "dlm/data/tokenizer.h"

namespace dlm {

// Loads `path`: a tokenizer.json file or a folder holding one. Throws dlm::Error (one line naming the
// file and the problem).
//
// Supported: models WordPiece and BPE (byte_fallback false, dropout null or 0); normalizers
// BertNormalizer, Lowercase, NFD, StripAccents and Sequence; pre-tokenizers BertPreTokenizer, ByteLevel,
// Whitespace, WhitespaceSplit and Sequence; post-processors TemplateProcessing (its single template),
// RobertaProcessing, BertProcessing, ByteLevel and Sequence; decoders WordPiece and ByteLevel. Anything
// else is refused in one line naming it. `padding`, `truncation` and `version` are ignored: dlm decides
// lengths. Added tokens are split out first, honouring lstrip, rstrip, single_word and normalized, and
// keep the ids the library gives them (a file whose ids disagree is refused).
//
// encode adds nothing around the text; template_before/template_after give the post-processor's ids
// (BERT: [CLS] and [SEP]) and encode_for_model puts them around it, as AutoTokenizer(text) does.
// decode drops special added tokens (like skip_special_tokens=True) and the four specials below, then
// applies the file's decoder; it throws on ids outside the vocabulary (the library skips them).
// piece(id) is the token string of the file (byte-level BPE: GPT-2's symbols, "Ġthe").
//
// Specials: mask is the token "[MASK]" or "<mask>", pad "[PAD]" or "<pad>", bos the post-processor's
// first id (BERT's [CLS], RoBERTa's <s>), eos its last ([SEP], </s>), else the tokens "[CLS]"/"<s>" and
// "[SEP]"/"</s>"; sep_id() is eos. Each one missing gets a new id after the largest id of the file, in
// the order pad, mask, bos, eos (as bpe_tokenizer.h does), so vocab_size() grows by one for each; it
// shows as <pad>, <mask>, <bos> or <eos>, encode never gives it and decode drops it.
std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& path);

// Rebuilds one saved by to_json: {"kind": "hf", "json": <the tokenizer.json object>}.
std::unique_ptr<Tokenizer> hf_tokenizer_from_json(const nlohmann::json& j);

}  // namespace dlm
