// libFuzzer target: data set parsing for every kind and format, then tokenising and splitting.
#include <cstddef>
#include <cstdint>
#include <string>

#include "dlm/data/dataset.h"
#include "dlm/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte picks the kind, format and length; the rest is the file.
  static const dlm::DataKind kKinds[] = {dlm::DataKind::kLines, dlm::DataKind::kDocuments, dlm::DataKind::kPairs,
                                         dlm::DataKind::kText};
  static const dlm::DataFormat kFormats[] = {dlm::DataFormat::kPlain, dlm::DataFormat::kJsonl, dlm::DataFormat::kTsv,
                                             dlm::DataFormat::kAuto};
  dlm::DataConfig c;
  c.kind = kKinds[data[0] & 3];
  c.format = kFormats[(data[0] >> 2) & 3];
  c.seq_len = 2 + (data[0] >> 4) * 4;
  c.val_fraction = 0.25;
  c.path = "fuzz.txt";
  const std::string content(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const auto examples = dlm::parse_examples(c, content);
    if (examples.empty()) std::abort();
    const auto tok = dlm::CharTokenizer::build(dlm::vocabulary_texts(examples));
    const auto ds = dlm::make_dataset(c, tok, examples);
    for (const auto& e : ds.train) {
      if (static_cast<int64_t>(e.ids.size()) != c.seq_len || e.n_content > c.seq_len || e.n_prompt > e.n_content) {
        std::abort();
      }
    }
  } catch (const dlm::Error&) {
  }
  return 0;
}
