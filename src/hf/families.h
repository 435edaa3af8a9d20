// What the family files (src/hf/families/, each named once in src/hf/family.cpp's list) share, private
// to src/hf/: the name helper every family's canonical() uses.
#pragma once

#include <string>

#include "dlm/hf/family.h"

namespace dlm {

// The prefix-free part of a folder tensor's name: "bert.x" and "x" both give "x" for prefix "bert.".
inline std::string strip_prefix(const std::string& name, const std::string& prefix) {
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

}  // namespace dlm
