// The family files' side of hf_families() (private to src/hf/): each family's accessor, defined in its
// own file and named once in src/hf/family.cpp's list, and the name helper every family's canonical() uses.
#pragma once

#include <string>

#include "dlm/hf/family.h"

namespace dlm {

const HfFamily& bert_family();        // src/hf/bert.cpp
const HfFamily& roberta_family();     // src/hf/roberta.cpp
const HfFamily& modernbert_family();  // src/hf/modernbert.cpp

// The prefix-free part of a folder tensor's name: "bert.x" and "x" both give "x" for prefix "bert.".
inline std::string strip_prefix(const std::string& name, const std::string& prefix) {
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

}  // namespace dlm
