// Status lines: dlm's own `{}` formatting, written through spdlog. This file is compiled without
// LibTorch's include folder (see include/dlm/log.h).
#include "dlm/log.h"

#include <cstdio>
#include <stdexcept>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace dlm::log {
namespace {

std::string render(const Arg& a, std::string_view spec) {
  if (spec.empty()) {
    switch (a.kind()) {
      case Arg::Kind::kInt:
        return std::to_string(a.as_int());
      case Arg::Kind::kUnsigned:
        return std::to_string(a.as_unsigned());
      case Arg::Kind::kText:
        return std::string(a.as_text());
      case Arg::Kind::kDouble: {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%g", a.as_double());
        return buf;
      }
    }
  }
  // ".Nf" or ".Ne": a number with N decimals.
  if (spec.size() < 3 || spec[0] != '.' || (spec.back() != 'f' && spec.back() != 'e')) {
    throw std::invalid_argument("log::format: unsupported field spec '" + std::string(spec) + "'");
  }
  const int decimals = std::stoi(std::string(spec.substr(1, spec.size() - 2)));
  double v = 0.0;
  switch (a.kind()) {
    case Arg::Kind::kInt:
      v = static_cast<double>(a.as_int());
      break;
    case Arg::Kind::kUnsigned:
      v = static_cast<double>(a.as_unsigned());
      break;
    case Arg::Kind::kDouble:
      v = a.as_double();
      break;
    case Arg::Kind::kText:
      throw std::invalid_argument("log::format: numeric spec for a text argument");
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), spec.back() == 'f' ? "%.*f" : "%.*e", decimals, v);
  return buf;
}

}  // namespace

std::string format(std::string_view pattern, std::initializer_list<Arg> args) {
  std::string out;
  auto next = args.begin();
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if ((c == '{' || c == '}') && i + 1 < pattern.size() && pattern[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    const size_t close = pattern.find('}', i);
    if (close == std::string_view::npos) throw std::invalid_argument("log::format: unclosed '{'");
    std::string_view field = pattern.substr(i + 1, close - i - 1);
    if (!field.empty() && field[0] != ':')
      throw std::invalid_argument("log::format: positional fields are not supported");
    if (next == args.end()) throw std::invalid_argument("log::format: more fields than arguments");
    out += render(*next++, field.empty() ? field : field.substr(1));
    i = close;
  }
  if (next != args.end()) throw std::invalid_argument("log::format: more arguments than fields");
  return out;
}

void write_info(const std::string& line) { spdlog::info("{}", line); }

void write_warning(const std::string& line) { spdlog::warn("{}", line); }

void setup(const std::string& program) {
  spdlog::set_default_logger(spdlog::stderr_color_mt(program));
  spdlog::set_pattern("[%H:%M:%S] %v");
}

void set_quiet(bool quiet) { spdlog::set_level(quiet ? spdlog::level::err : spdlog::level::info); }

}  // namespace dlm::log
