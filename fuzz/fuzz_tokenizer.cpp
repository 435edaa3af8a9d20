// libFuzzer target: UTF-8 handling and every tokenizer's encode/decode, with round-trip checks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "dlm/data/bpe_tokenizer.h"
#include "dlm/data/tokenizer.h"
#include "dlm/error.h"
#include "dlm/utf8.h"

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
  return 0;
}
