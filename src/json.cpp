// JSON text in and out: nlohmann's parse errors as dlm::Error, dumps that tolerate invalid UTF-8.
#include "dlm/json.h"

#include "dlm/error.h"

namespace dlm {

using nlohmann::json;

json parse_json(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    // nlohmann's message reads "[json.exception.parse_error.101] parse error at line 3, column 5: ..."
    // (number overflows arrive as out_of_range, so every JSON exception is caught here).
    std::string what = e.what();
    const auto pos = what.find("] ");
    throw Error(where + ": malformed JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2)));
  }
}

std::string dump_json(const json& j, int indent) { return j.dump(indent, ' ', false, json::error_handler_t::replace); }

}  // namespace dlm
