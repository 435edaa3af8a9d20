// Each sampler's defaults and the settings dgen samples with: a checkpoint's or a folder's `sample`
// section, a folder's generation_config.json, then the flags, with the sampler's own checks
// (dlm/sample_options.h holds the table of the settings themselves).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "dlm/config.h"
#include "dlm/sample_options.h"

namespace dlm {

// Whether `sampler` reads the setting `option` (under the others it is refused).
bool reads(const SampleOption& option, Sampler sampler);

// A sampler's defaults: dlm's are SampleConfig{}; llada's its generate()'s (128 steps, 128 tokens, one
// block, greedy); dream's its README example's (512 tokens, 512 steps, entropy, T 0.2, top-p 0.95).
SampleConfig sampler_defaults(Sampler sampler);
// The settings of a Hugging Face folder whose family samples with `sampler`: its defaults, then for
// dream the keys of the folder's generation_config.json of the same names (max_new_tokens is length;
// steps, temperature, top_p, top_k, alg, alg_temp, eps); a null top_p, top_k or alg_temp means off.
SampleConfig folder_sample_config(Sampler sampler, const std::string& folder);

// The rules of the sampler `config.sampler` names (check_sample calls it): the settings it does not read
// stay at its defaults (else refused naming the flag); llada's layout divides evenly; the strategies
// each sampler has; --rng torch without the draws it cannot replicate.
void check_sampler_rules(const SampleConfig& config);

// The settings dgen samples with: `given` (the flags, a `sample` object) over `saved` (a checkpoint's
// or a folder's); a --sampler other than saved's starts from that sampler's defaults. Throws naming the
// first flag the sampler does not read (--cache under llada), then as check_sample.
SampleConfig resolve_sample(const SampleConfig& saved, const nlohmann::json& given);

}  // namespace dlm
