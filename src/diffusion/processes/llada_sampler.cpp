// --sampler llada: LLaDA's generate() with Fast-dLLM's confidence threshold, a masking sampler of the
// absorbing process. Blocks of B positions left to right, S / (N / B) steps each; a step reveals the
// block's scheduled count (or, with a threshold, every candidate at or above it) of the masked positions
// before the block's end, the prompt's own masks included, by confidence or at random.
#include <limits>

#include "dlm/diffusion/reference_samplers.h"
#include "dlm/diffusion/sampler.h"
#include "dlm/sample_options.h"
#include "reference_loop.h"

namespace dlm {
namespace {

// Logits (n, W, V) for the members `which`; with guidance W > 0 one pass also holds each canvas with
// its prompt masked, and l = u + (W + 1)(c - u).
torch::Tensor llada_logits(ReferenceGroup& group, const std::vector<int64_t>& which, const torch::Tensor& prompt,
                           double cfg_scale, int64_t mask_id) {
  const torch::Tensor index = torch::tensor(which, torch::kInt64);  // cpu: indices into the CPU canvases
  const torch::Tensor x = group.x().index_select(0, index);
  if (cfg_scale <= 0.0) return group.pass(x, which);
  const torch::Tensor unconditional = x.masked_fill(prompt.index_select(0, index), mask_id);
  const torch::Tensor both = group.pass(torch::cat({x, unconditional}, 0), which);
  const int64_t n = x.size(0);
  return guided_logits(both.narrow(0, 0, n), both.narrow(0, n, n), cfg_scale);
}

// One step of member g: the block ends at `block_end`; k is the scheduled count (unused with a threshold
// or factor).
void llada_step(ReferenceGroup& group, int64_t g, const torch::Tensor& logits, int64_t block_end, int64_t k,
                const SampleConfig& o, int64_t mask_id) {
  auto [x0, confidence] = llada_choose(logits, o.temperature, o.strategy, group.generator(g));
  const torch::Tensor candidate = group.x()[g].eq(mask_id);
  candidate.narrow(0, block_end, candidate.size(0) - block_end).fill_(false);
  confidence.masked_fill_(candidate.logical_not(), -std::numeric_limits<double>::infinity());
  group.reveal(g, top_confidence(confidence, k, o.threshold, o.factor), x0);
}

// The block's masked count of member g.
int64_t masked_in(const ReferenceGroup& group, int64_t g, int64_t begin, int64_t length, int64_t mask_id) {
  return group.x()[g].narrow(0, begin, length).eq(mask_id).sum().item<int64_t>();
}

void run_llada(ReferenceGroup& group, const SampleConfig& o, int64_t mask_id) {
  const int64_t n_new = o.length, block = o.block_length > 0 ? o.block_length : o.length;
  const int64_t blocks = n_new / block, steps = o.steps / blocks, start = group.prompt_length();
  const torch::Tensor prompt = group.x().ne(mask_id);  // guidance masks what was given
  const bool adaptive = reveals_adaptively(o);
  int64_t step = 0;
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = start + b * block, end = begin + block;
    std::vector<std::vector<int64_t>> counts;
    for (int64_t g = 0; g < group.size(); ++g) {
      counts.push_back(llada_reveal_counts(masked_in(group, g, begin, block, mask_id), steps));
    }
    for (int64_t i = 0;; ++i) {
      std::vector<int64_t> active;  // with a threshold or factor, the rows whose block still has masks
      for (int64_t g = 0; g < group.size(); ++g) {
        if (adaptive ? masked_in(group, g, begin, block, mask_id) > 0 : i < steps) active.push_back(g);
      }
      if (active.empty()) break;
      const torch::Tensor logits = llada_logits(group, active, prompt, o.cfg_scale, mask_id);
      for (size_t a = 0; a < active.size(); ++a) {
        const int64_t g = active[a];
        const int64_t k = adaptive ? 0 : counts[static_cast<size_t>(g)][static_cast<size_t>(i)];
        llada_step(group, g, logits[static_cast<int64_t>(a)], end, k, o, mask_id);
      }
      group.end_step(step++, active);
    }
  }
}

}  // namespace

DenoiseResult llada_sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options, int64_t mask_id,
                           const StepCallback& on_step) {
  return run_groups(model, rows, options, mask_id, on_step,
                    [&](ReferenceGroup& group) { run_llada(group, options, mask_id); });
}

}  // namespace dlm
