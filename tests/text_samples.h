// Text that several test files share.
#pragma once

#include <string>

namespace dlm_test {

inline const std::string kHindi = "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87";  // नमस्ते

}  // namespace dlm_test
