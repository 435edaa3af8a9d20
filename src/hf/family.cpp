// The list of Hugging Face families and the look-ups over it: a new family is its own file, its
// accessor in src/hf/families.h and one line here.
#include "dlm/hf/family.h"

#include "dlm/error.h"
#include "hf/families.h"

namespace dlm {

const std::vector<const HfFamily*>& hf_families() {
  // The order is the one hf_family_for tries; no dlm model fits two of them.
  static const std::vector<const HfFamily*> families = {
      &bert_family(),
      &roberta_family(),
      &modernbert_family(),
  };
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
