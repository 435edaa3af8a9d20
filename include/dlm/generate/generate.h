// Text in, text out: prompts (a prefix to continue, or an infill template with <mask:N> spans) are
// laid out as canvases, sampled in batches by the config's process (denoised, or decoded token by
// token by the autoregressive twin) and decoded back to text, cut at EOS and at stop strings, with the statistics a
// benchmark needs. dgen is a thin shell over generate_text; a program embedding dlm gets the same behaviour.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dlm/config.h"
#include "dlm/data/tokenizer.h"
#include "dlm/diffusion/denoise.h"
#include "dlm/generate/prompts.h"
#include "dlm/generate/timeline.h"
#include "dlm/model/model.h"

namespace dlm {

struct GenerateOptions {
  SampleConfig sample;            ///< validated sampling settings
  uint64_t seed = 1234;           ///< sample k of prompt p draws from a stream derived from (seed, p * num_samples + k)
  int64_t num_samples = 1;        ///< samples per prompt
  int64_t batch_size = 0;         ///< rows per batch; 0: as many as fit in about 1 GiB, at most 64
  std::vector<int64_t> stop_ids;  ///< ids that end the text like EOS (chat: the end-of-turn token)
};

struct TextSample {
  int64_t prompt = 0;               ///< index of its prompt
  int64_t sample = 0;               ///< index among the prompt's samples
  std::string text;                 ///< prefix (or the filled template) and the generated text
  std::vector<int64_t> ids;         ///< generated ids, up to EOS
  std::vector<int64_t> prompt_ids;  ///< the canvas before its first generated position
  std::vector<int64_t> gen_ids;     ///< every generated position's id as the canvas ends (EOS and after kept)
  RowStats stats;
};

struct GenerateReport {
  std::vector<TextSample> samples;  ///< in input order
  double seconds = 0.0;             ///< wall time of the whole call
  int64_t forward_calls = 0;        ///< batched model calls
  int64_t cache_bytes = 0;          ///< the largest KV cache a batch held (0: none)
};

// The samplers' steps (dlm::StepCallback) as the timeline shows them: step 0 is the starting canvas;
// planned: the steps a row is scheduled for (0 when a rule decides as it goes).
using TimelineCallback = std::function<void(int64_t step, int64_t planned, const std::vector<StepRow>& rows)>;
using ProgressCallback = std::function<void(int64_t done, int64_t total)>;

// Generates num_samples texts per prompt. Throws dlm::Error for a prompt that does not fit the
// context, a malformed template, or a setting the model cannot serve (infilling or guidance with
// the autoregressive twin, a setting its process does not use).
GenerateReport generate_text(DenoiserImpl& model, const Tokenizer& tok, const Config& config,
                             const std::vector<Prompt>& prompts, const GenerateOptions& options,
                             const TimelineCallback& on_step = nullptr, const ProgressCallback& on_progress = nullptr);

}  // namespace dlm
