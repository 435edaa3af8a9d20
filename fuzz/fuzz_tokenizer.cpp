// libFuzzer target: UTF-8 handling and every tokenizer's encode/decode, with round-trip checks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "dlm/data/bpe_tokenizer.h"
#include "dlm/data/hf_tokenizer.h"
#include "dlm/data/tokenizer.h"
#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/utf8.h"

namespace {

// RoBERTa's tokenizer.json made of GPT-2's files (encoder.json and vocab.bpe): byte-level BPE, <mask> absorbing the
// space before it, <s> ... </s> around the text.
nlohmann::json roberta_style_json() {
  nlohmann::json vocab = nlohmann::json::parse(dlm::read_file(DLM_SOURCE_DIR "/data/gpt2/encoder.json"));
  std::vector<std::string> merges = dlm::split_lines(dlm::read_file(DLM_SOURCE_DIR "/data/gpt2/vocab.bpe"));
  if (!merges.empty() && merges[0].rfind("#version", 0) == 0) merges.erase(merges.begin());
  while (!merges.empty() && merges.back().empty()) merges.pop_back();
  nlohmann::json added = nlohmann::json::array();
  int64_t next = static_cast<int64_t>(vocab.size());
  for (const char* t : {"<s>", "<pad>", "</s>", "<mask>"}) {
    added.push_back({{"id", next},
                     {"content", t},
                     {"single_word", false},
                     {"lstrip", std::string(t) == "<mask>"},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
    vocab[t] = next++;
  }
  return {{"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer",
           {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
          {"post_processor",
           {{"type", "RobertaProcessing"},
            {"sep", {"</s>", next - 2}},
            {"cls", {"<s>", next - 4}},
            {"trim_offsets", true},
            {"add_prefix_space", false}}},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"vocab", vocab},
            {"merges", merges}}}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const bool valid = dlm::utf8_valid(text);
  try {
    const auto cps = dlm::utf8_decode(text);
    if (!valid || dlm::utf8_encode(cps) != text) std::abort();
  } catch (const dlm::Error&) {
    if (valid) std::abort();
  }
  dlm::ByteTokenizer bytes;
  try {
    if (bytes.decode(bytes.encode(text)) != text) std::abort();
  } catch (const dlm::Error&) {
    if (valid) std::abort();
  }
  // Decoding arbitrary ids must give valid UTF-8 or a clear error, never a crash.
  std::vector<int64_t> ids;
  for (size_t i = 0; i + 1 < size; i += 2) ids.push_back(static_cast<int64_t>(data[i]) * 2 - 5 + (data[i + 1] & 1));
  try {
    if (!dlm::utf8_valid(bytes.decode(ids))) std::abort();
  } catch (const dlm::Error&) {
  }
  if (valid) {
    const auto chars = dlm::CharTokenizer::build({text});
    if (chars.decode(chars.encode(text)) != text) std::abort();
    const auto restored = dlm::tokenizer_from_json(chars.to_json());
    if (restored->encode(text) != chars.encode(text)) std::abort();
    try {
      chars.decode(ids);
    } catch (const dlm::Error&) {
    }
  }
  // GPT-2's byte-level BPE: every valid text round-trips; arbitrary ids decode or fail cleanly.
  static const auto gpt2 = dlm::load_bpe_tokenizer(DLM_SOURCE_DIR "/data/gpt2");
  try {
    const auto bpe_ids = gpt2->encode(text);
    if (!valid || gpt2->decode(bpe_ids) != text) std::abort();
  } catch (const dlm::Error&) {
    if (valid) std::abort();
  }
  std::vector<int64_t> wide;
  for (size_t i = 0; i + 2 < size; i += 3) wide.push_back((data[i] << 8 | data[i + 1]) * 2 - 40 + (data[i + 2] & 1));
  try {
    if (!dlm::utf8_valid(gpt2->decode(wide))) std::abort();
  } catch (const dlm::Error&) {
  }
  // A tokenizer.json tokenizer: every valid text encodes; one without '<' (no added token) round-trips;
  // arbitrary ids decode to valid UTF-8 or fail cleanly.
  static const auto roberta = dlm::hf_tokenizer_from_json({{"kind", "hf"}, {"json", roberta_style_json()}});
  try {
    const auto hf_ids = roberta->encode_for_model(text);
    if (!valid || (text.find('<') == std::string::npos && roberta->decode(hf_ids) != text)) std::abort();
  } catch (const dlm::Error&) {
    if (valid) std::abort();
  }
  try {
    if (!dlm::utf8_valid(roberta->decode(wide))) std::abort();
  } catch (const dlm::Error&) {
  }
  return 0;
}
