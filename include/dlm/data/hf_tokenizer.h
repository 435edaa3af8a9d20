// dlm's reader of Hugging Face tokenizer.json files (the `tokenizers` library's format), as far as BERT
// and RoBERTa need: encode gives the ids the Rust library 0.22 gives without its post-processor, id for id
// (checked by tests/hf/check_tokenizers.py against transformers' AutoTokenizer).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "dlm/data/tokenizer.h"

namespace dlm {

// Special ids a caller knows better than the tokenizer files (a model's config.json); -1: not given.
struct HfSpecialIds {
  int64_t mask = -1, pad = -1, bos = -1, eos = -1;
};

// Loads `path`: a tokenizer.json file or a folder holding one, or a folder holding the slow Qwen2
// tokenizer's vocab.json + merges.txt (its tokenizer_config.json naming Qwen2Tokenizer or DreamTokenizer),
// read as Qwen2Tokenizer does: NFC, Qwen2's Split pattern, byte-level BPE, the added tokens of
// tokenizer_config.json's added_tokens_decoder. Throws dlm::Error (one line naming the file and the problem).
//
// Supported: models WordPiece and BPE (byte_fallback false, dropout null or 0); normalizers
// BertNormalizer, Lowercase, NFD, NFC, StripAccents and Sequence; pre-tokenizers BertPreTokenizer, ByteLevel,
// Whitespace, WhitespaceSplit, Split (a Regex in the subset of src/data/hf_regex.h, behavior Isolated, invert
// false) and Sequence; post-processors TemplateProcessing (its single template),
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
// Specials: each id in `given` wins (an id outside the vocabulary is refused); else the token that the
// folder's tokenizer_config.json names (bos_token, eos_token, pad_token, mask_token; one it names but the
// vocabulary lacks is refused); else mask is the token "[MASK]" or "<mask>", pad "[PAD]" or "<pad>", bos the
// post-processor's first id (BERT's [CLS], RoBERTa's <s>), eos its last ([SEP], </s>), else the tokens "[CLS]"/"<s>"
// and
// "[SEP]"/"</s>"; sep_id() is eos. Each one missing gets a new id after the largest id of the file, in
// the order pad, mask, bos, eos (as bpe_tokenizer.h does), so vocab_size() grows by one for each; it
// shows as <pad>, <mask>, <bos> or <eos>, encode never gives it and decode drops it.
// The ids given or named keep their place through to_json. chat_template() is the folder's (its
// chat_template.jinja, else tokenizer_config.json's chat_template), kept by to_json too.
std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& path, const HfSpecialIds& given = {});

// Rebuilds one saved by to_json: {"kind": "hf", "json": <the tokenizer.json object>, "special_ids": {...},
// "chat_template": text} (the last two optional).
std::unique_ptr<Tokenizer> hf_tokenizer_from_json(const nlohmann::json& j);

}  // namespace dlm
