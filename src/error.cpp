// The apps' top-level error handler.
#include "dlm/error.h"

#include <cstdio>

namespace dlm {

std::string first_line(const std::string& message) { return message.substr(0, message.find('\n')); }

std::string in_quotes(const std::string& text) { return "'" + text + "'"; }

int run_tool(const char* tool, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", tool, first_line(e.what()).c_str());
  }
  return 1;
}

}  // namespace dlm
