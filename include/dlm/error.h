// The one exception type the library throws for user-facing problems.
// Apps catch it, print its message as a single line and exit non-zero; the library never exits.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

namespace dlm {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// The first line of a message: LibTorch's errors carry a C++ stack trace after it.
std::string first_line(const std::string& message);

// `text` in single quotes, as messages name a token, a piece or a value: 'Ġthe'.
std::string in_quotes(const std::string& text);

// Runs an app's body; any exception becomes one line `<tool>: error: <message>` on stderr and
// exit status 1 (LibTorch's messages are cut to their first line, without the C++ stack trace).
int run_tool(const char* tool, const std::function<int()>& body);

}  // namespace dlm
