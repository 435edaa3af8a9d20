// Helpers shared by the unit tests.
#pragma once

#include <functional>
#include <string>

#include <stdexcept>

#include "dlm/config.h"
#include "dlm/error.h"

namespace dlm_test {

// The message of the dlm::Error that `f` throws, or "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const dlm::Error& e) {
    return e.what();
  }
  return "";
}

// The enum value a config name stands for (tests loop over names to label their failures).
template <class E>
E enum_from(const std::string& name) {
  for (const auto& [value, n] : dlm::enum_names(static_cast<E*>(nullptr))) {
    if (n == name) return value;
  }
  throw std::invalid_argument("no such enum name: " + name);
}

}  // namespace dlm_test
