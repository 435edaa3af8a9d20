// What every process shares: the refusal of sampling settings it does not use, and the choice of
// process from a config.
#include "dlm/diffusion/process.h"

#include <algorithm>

#include "dlm/error.h"
#include "dlm/json.h"
#include "dlm/random.h"
#include "dlm/sample_options.h"
#include "processes.h"

namespace dlm {

void Process::check_sample(const SampleConfig& options) const {
  const SampleConfig defaults;
  const std::vector<std::string> unused = unused_settings();
  for (const auto& o : sample_options()) {
    if (std::find(unused.begin(), unused.end(), o.key) == unused.end()) continue;
    if (o.write(options) == o.write(defaults)) continue;
    throw Error(flag_name(o) + " (sample." + o.key + " = " + dump_json(o.write(options)) + ") does not apply to " + name() +
                "; leave it at " + dump_json(o.write(defaults)));
  }
}

std::vector<torch::Generator> noise_streams(uint64_t seed, int64_t first, int64_t n) {
  std::vector<torch::Generator> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(cpu_generator(derive_seed(seed, Stream::kNoise, static_cast<uint64_t>(first + i))));
  return out;
}

SpecialIds special_ids(const Tokenizer& tok) {
  return {tok.mask_id(), tok.eos_id(), tok.pad_id(), tok.bos_id(), tok.sep_id(), tok.vocab_size()};
}

std::unique_ptr<Process> make_process(const Config& config, const SpecialIds& ids) {
  if (config.objective == Objective::kSimplex) return make_simplex_process(config.diffusion, ids);
  if (config.objective != Objective::kDiffusion) throw Error("the autoregressive twin has no diffusion process");
  if (config.diffusion.noise == Noise::kUniform) return make_uniform_process(config.diffusion, ids);
  return make_absorbing_process(config.diffusion, ids);
}

}  // namespace dlm
