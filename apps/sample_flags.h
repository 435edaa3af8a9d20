// dgen's sampling flags, one per setting of dlm/sample_options.h: the CLI11 wiring lives beside the
// apps so that no library header depends on CLI11.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

namespace dlm {

// A program's sampling flags: one per setting, named by flag_name, with the setting's help line and
// built-in default; switches also take a --no- form, lists repeat.
struct SampleFlags {
  std::map<std::string, std::string> values;
  std::map<std::string, bool> switches;
  std::map<std::string, std::vector<std::string>> lists;
};
void add_sample_flags(CLI::App& app, SampleFlags& flags);

// The flags given on the command line as a `sample` JSON object, to apply over a config the way a
// config file is applied (values read as JSON when they parse, else as strings).
nlohmann::json given_sample_flags(const CLI::App& app, const SampleFlags& flags);

}  // namespace dlm
