// The sampler's settings, each defined once: its key in a config's `sample` section, its dgen flag
// name and --help line, how it is read and written, and its check, so adding a setting touches one
// table. The flags themselves are wired in apps/sample_flags.h.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dlm/config.h"

namespace dlm {

struct SampleOption {
  enum class Kind { kValue, kSwitch, kList };  ///< flag takes a value | is on/off | may repeat
  std::string key;                             ///< sample.<key>; the flag is --<key> with '-' for '_'
  std::string help;                            ///< the flag's --help line, without its default
  Kind kind = Kind::kValue;
  std::function<void(SampleConfig&, const nlohmann::json&, const std::string& path)> read;  ///< throws naming path
  std::function<nlohmann::json(const SampleConfig&)> write;
  std::function<std::string(const SampleConfig&)> broken_rule;  ///< empty when the value is valid
  std::vector<Sampler> samplers;  ///< the samplers that read it (empty: all); under others it is refused
  // Another name of an existing setting (--remasking and --alg for sample.strategy): read, never
  // written (write gives null), so a config holds the setting once.
  bool alias = false;
};

// Every sampling setting, in --help order.
const std::vector<SampleOption>& sample_options();

// The dgen flag of an option: --block-length for block_length.
std::string flag_name(const SampleOption& option);

// The `sample` section as JSON, every key present.
nlohmann::json sample_json(const SampleConfig& config);

// Throws dlm::Error "config key 'sample.<key>' = value: rule" for the first invalid setting, or naming
// the flag of a setting its sampler does not read that is away from the sampler's default.
void check_sample(const SampleConfig& config);

// Whether a reveal rule decides each step's count as the step goes (threshold, entropy bound,
// factor) instead of the schedule: such a sampler runs until its canvas (or block) is full.
bool reveals_adaptively(const SampleConfig& config);

}  // namespace dlm
