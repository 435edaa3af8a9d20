// Private to the safetensors reader (src/hf/safetensors.cpp, safetensors_folder.cpp): the JSON of
// headers and indexes, read strictly, and names from files quoted for a one-line message.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace dlm {

inline constexpr const char* kSafetensorsIndex = "model.safetensors.index.json";

// A name from a file, JSON-escaped and cut at 200 characters, in single quotes.
std::string quote_name(const std::string& name);

// Parses JSON, refusing a key repeated within one object and a NUL byte; `what` names the text
// ("header", "index") and `top_key` what a top-level key is ("tensor", "key") in the messages.
nlohmann::json parse_unique_json(const char* begin, const char* end, const std::string& where, const std::string& what,
                                 const std::string& top_key);

}  // namespace dlm
