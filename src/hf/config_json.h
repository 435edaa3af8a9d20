// Reading a Hugging Face config.json: required positive integers, optional keys with their library
// defaults, and activation names; each problem is one dlm::Error naming the file and the key.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "dlm/config.h"
#include "dlm/error.h"

namespace dlm::hf_json {

inline int64_t positive(const nlohmann::json& c, const std::string& key, const std::string& where) {
  if (!c.contains(key) || !c[key].is_number_integer() || c[key].get<int64_t>() <= 0) {
    throw Error(where + ": " + key + " must be a positive integer");
  }
  return c[key].get<int64_t>();
}

// The value of an optional key, or `fallback` when it is absent or null.
template <class T>
T optional(const nlohmann::json& c, const std::string& key, T fallback, const std::string& where) {
  if (!c.contains(key) || c[key].is_null()) return fallback;
  try {
    return c[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(where + ": " + key + " has the wrong type (" + std::string(c[key].type_name()) + ")");
  }
}

// transformers' activation names dlm computes: gelu (exact) and the tanh approximation's two names.
inline Activation activation(const std::string& name, const std::string& key, const std::string& where) {
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::kGeluTanh;
  throw Error(where + ": " + key + " '" + name + "' is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh)");
}

inline std::string activation_name(Activation a) { return a == Activation::kGeluTanh ? "gelu_new" : "gelu"; }

}  // namespace dlm::hf_json
