// Byte-level BPE (GPT-2, RoBERTa) loaded from vocab.json + merges.txt or encoder.json + vocab.bpe.
// Ordinary tokens keep the ids of the vocabulary file, so pretrained embeddings line up; encode
// matches the reference GPT-2 JavaScript encoder (npm gpt-3-encoder 1.1.4) id for id, checked by
// tests/fixtures/bpe. That includes two of its quirks: the pre-tokeniser's \s, \p{L} and \p{N} are
// JavaScript's (U+00A0 and U+FEFF are spaces, U+0085 is not), and a pair's rank is looked up under
// the key "first,second", so a pair that joins to the same key as a merge gets that merge's rank
// (unobservable with GPT-2's own files as far as tested; it can matter for other vocabularies).
// decode replaces ill-formed UTF-8 as the reference's TextDecoder does: one U+FFFD per maximal
// ill-formed subpart.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "dlm/data/tokenizer.h"

namespace dlm {

// Loads the vocabulary files from `folder`. Throws dlm::Error naming a missing or malformed file.
//
// Specials: the vocabulary's own <pad>, <mask>, <s> (bos) and </s> (eos, else <|endoftext|>) are
// used when present; each one missing, and sep always, gets a new id after the largest vocabulary
// id, in the order pad, mask, bos, eos, sep (GPT-2: eos 50256, pad..sep 50257..50260). encode never
// produces a special and decode drops them.
//
// Validation (stricter than the reference, which never checks): ids run from 0 to N-1 without
// duplicates, all 256 byte symbols are in the vocabulary, and every merge line holds two tokens
// that, like their concatenation, are in the vocabulary and are not specials. A first line
// starting with "#version" and blank lines at the end of the merges file are skipped.
std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& folder);

// Rebuilds a tokenizer saved by its to_json (kind "bpe"): {"kind": "bpe", "vocab": {piece: id},
// "merges": ["a b", ...] in rank order, "special_ids": {"pad": id, "mask": id, "bos": id, "eos": id,
// "sep": id}}, 1.4 MB of JSON for GPT-2. Throws dlm::Error on a malformed description.
std::unique_ptr<Tokenizer> bpe_tokenizer_from_json(const nlohmann::json& j);

}  // namespace dlm
