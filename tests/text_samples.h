// Text that several test files share.
#pragma once

#include <string>
#include <vector>

namespace dlm_test {

inline const std::string kHindi = "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87";  // नमस्ते

// Five short documents, accents, Devanagari and digits among them: the corpus tests' data and the text
// the SentencePiece test trains on.
inline const std::vector<std::string> kDocs = {
    "Fellow citizens, the state of the union is strong.",
    "We meet in a time of change; the work ahead is great and the hour is late.",
    "Caf\xC3\xA9, na\xC3\xAFve, \xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87"
    " and numbers 1790 to 2021.",
    "A short one.", "The last address is held out for validation, whole, and never trained on."};

}  // namespace dlm_test
