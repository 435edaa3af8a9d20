// JSON text in and out for every stage: parse errors become one dlm::Error naming the source, and
// dumps never throw on invalid UTF-8, so messages and logs can always be written.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace dlm {

// Parses JSON text, turning a parse error into a dlm::Error naming `where`.
nlohmann::json parse_json(const std::string& text, const std::string& where);

// Serialises JSON; invalid UTF-8 in strings is replaced rather than thrown.
std::string dump_json(const nlohmann::json& j, int indent = -1);

}  // namespace dlm
