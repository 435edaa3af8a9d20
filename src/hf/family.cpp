// The list of Hugging Face families and the look-ups over it: a new family is its own file under
// src/hf/families/ and one line here.
#include "dlm/hf/family.h"

#include "dlm/error.h"

namespace dlm {

// The families, one line each, in the order hf_family_for tries them (no dlm model fits two of them):
// src/hf/families/NAME.cpp defines NAME_family().
#define DLM_HF_FAMILIES(X) \
  X(bert)                  \
  X(roberta)               \
  X(modernbert)            \
  X(llada)                 \
  X(dream)

#define DLM_DECLARE_FAMILY(name) const HfFamily& name##_family();
DLM_HF_FAMILIES(DLM_DECLARE_FAMILY)
#undef DLM_DECLARE_FAMILY

const std::vector<const HfFamily*>& hf_families() {
#define DLM_FAMILY_ENTRY(name) &name##_family(),
  static const std::vector<const HfFamily*> families = {DLM_HF_FAMILIES(DLM_FAMILY_ENTRY)};
#undef DLM_FAMILY_ENTRY
  return families;
}

std::string hf_model_types() {
  std::string names;
  for (const HfFamily* f : hf_families()) names += (names.empty() ? "" : ", ") + f->model_type();
  return names;
}

const HfFamily& hf_family(const std::string& model_type, const std::string& where) {
  for (const HfFamily* f : hf_families()) {
    if (f->model_type() == model_type) return *f;
  }
  throw Error(where + ": model_type '" + model_type + "' is not supported (supported: " + hf_model_types() + ")");
}

const HfFamily* hf_family_for(const ModelConfig& model, std::string* why) {
  std::string reasons;
  for (const HfFamily* f : hf_families()) {
    const std::string reason = f->why_not(model);
    if (reason.empty()) return f;
    reasons += (reasons.empty() ? "" : "; ") + f->model_type() + ": " + reason;
  }
  if (why) *why = reasons;
  return nullptr;
}

}  // namespace dlm
