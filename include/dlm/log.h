// Status lines on stderr (`log::info("step {} loss {:.4f}", step, loss)`), written by spdlog.
// The formatting is dlm's own and spdlog is reached only from src/log.cpp, which is compiled without
// LibTorch's headers: LibTorch 2.x ships fmt 12 in its include folder, Debian's spdlog needs fmt 9,
// and the two cannot meet in one translation unit.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace dlm::log {

// One value for a `{}` field: integers, floating point and text.
class Arg {
 public:
  enum class Kind { kInt, kUnsigned, kDouble, kText };
  template <typename T, std::enable_if_t<std::is_integral_v<T> && std::is_signed_v<T>, int> = 0>
  Arg(T v) : kind_(Kind::kInt), i_(v) {}
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && std::is_unsigned_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Arg(T v) : kind_(Kind::kUnsigned), u_(v) {}
  Arg(bool v) : kind_(Kind::kText), text_(v ? "true" : "false") {}
  Arg(double v) : kind_(Kind::kDouble), d_(v) {}
  Arg(float v) : kind_(Kind::kDouble), d_(v) {}
  Arg(const char* v) : kind_(Kind::kText), text_(v) {}
  Arg(std::string_view v) : kind_(Kind::kText), text_(v) {}
  Arg(const std::string& v) : kind_(Kind::kText), text_(v) {}

  Kind kind() const { return kind_; }
  int64_t as_int() const { return i_; }
  uint64_t as_unsigned() const { return u_; }
  double as_double() const { return d_; }
  std::string_view as_text() const { return text_; }

 private:
  Kind kind_;
  int64_t i_ = 0;
  uint64_t u_ = 0;
  double d_ = 0.0;
  std::string_view text_;
};

// Replaces each `{}` with the next argument; `{:.Nf}` and `{:.Ne}` print a number with N decimals
// (fixed or scientific). `{{` and `}}` are literal braces. Throws std::invalid_argument when the
// fields and the arguments disagree (a programming error, caught by the tests).
std::string format(std::string_view pattern, std::initializer_list<Arg> args);

void write_info(const std::string& line);
void write_warning(const std::string& line);
// Names the logger after the program and sets the `[HH:MM:SS] message` pattern.
void setup(const std::string& program);
// Info and warning lines off: every rank but rank 0 of a data-parallel run, which would repeat them.
void set_quiet(bool quiet);

template <typename... Args>
void info(std::string_view pattern, const Args&... args) {
  write_info(format(pattern, {Arg(args)...}));
}

template <typename... Args>
void warn(std::string_view pattern, const Args&... args) {
  write_warning(format(pattern, {Arg(args)...}));
}

}  // namespace dlm::log
