// --sampler llada: LLaDA's generate() with Fast-dLLM's confidence threshold, a masking sampler of the
// absorbing process. Blocks of B positions left to right, S / (N / B) steps each; a step reveals the
// block's scheduled count (or, with a threshold, every candidate at or above it) of the masked positions
// before the block's end, the prompt's own masks included, by confidence or at random. With --kv-cache
// a block's first step is a full pass that stores every layer's keys and values, the rest pass over
// the block (or the block and the rest: --kv-cache-mode prefix) attending to them (Fast-dLLM).
#include <limits>

#include "dlm/diffusion/reference_samplers.h"
#include "dlm/diffusion/sampler.h"
#include "dlm/sample_options.h"
#include "reference_loop.h"

namespace dlm {
namespace {

// One step of member g (the pass's a-th row), whose candidates are `asked`, the masked positions
// before its block's end: tokens and confidences chunk by chunk, then the k most confident (with a
// threshold or factor, the rule's) revealed.
void llada_step(ReferenceGroup& group, int64_t g, const Predictions& predictions, int64_t a,
                const std::vector<int64_t>& asked, int64_t k, const SampleConfig& o) {
  const int64_t W = group.width();
  const torch::Tensor at = torch::tensor(asked, torch::kInt64);  // cpu: positions in the CPU canvas
  torch::Tensor x0 = torch::zeros({W}, torch::kInt64);           // cpu: as the canvas
  torch::Tensor confidence = torch::full({W}, -std::numeric_limits<double>::infinity(), torch::kFloat64);  // cpu
  predictions.each_chunk(a, at.size(0), [&](int64_t from, const torch::Tensor& logits) {
    const auto [x, c] = llada_choose(logits, o.temperature, group.generator(g));
    const torch::Tensor where = at.narrow(0, from, logits.size(0));
    x0.index_put_({where}, x);
    confidence.index_put_({where}, c);
  });
  if (o.strategy == Strategy::kRandom) {
    // torch.rand((1, W)) after the token draws: one float32 per position, candidate or not.
    // cpu: the row's stream
    const torch::Tensor drawn = torch::rand({W}, group.generator(g), torch::kFloat32).to(torch::kFloat64);
    confidence.index_put_({at}, drawn.index_select(0, at));
  }
  group.reveal(g, top_confidence(confidence, k, o.threshold, o.factor), x0);
}

void run_llada(ReferenceGroup& group, const SampleConfig& o) {
  const int64_t n_new = o.length, block = o.block_length > 0 ? o.block_length : o.length;
  const int64_t blocks = n_new / block, steps = o.steps / blocks, start = group.prompt_length();
  const bool adaptive = reveals_adaptively(o);
  int64_t step = 0;
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = start + b * block, end = begin + block;
    std::vector<std::vector<int64_t>> counts;
    for (int64_t g = 0; g < group.size(); ++g) {
      const int64_t masked = static_cast<int64_t>(group.masked(g, begin, end).size());
      counts.push_back(llada_reveal_counts(masked, steps));
    }
    for (int64_t i = 0;; ++i) {
      // With a threshold or factor, the rows whose block still has masks, for at most as many steps as
      // the block has positions (a step reveals one at least, unless the model keeps choosing the mask id).
      std::vector<int64_t> active;
      for (int64_t g = 0; g < group.size(); ++g) {
        if (group.stopped(g)) continue;
        if (adaptive ? i < block && !group.masked(g, begin, end).empty() : i < steps) active.push_back(g);
      }
      if (active.empty()) break;
      std::vector<std::vector<int64_t>> asked;
      for (int64_t g : active) asked.push_back(group.masked(g, 0, end));
      const Predictions predictions = group.predict(active, asked, begin, end, /*refresh=*/i == 0);
      for (size_t a = 0; a < active.size(); ++a) {
        const int64_t g = active[a];
        const int64_t k = adaptive ? 0 : counts[static_cast<size_t>(g)][static_cast<size_t>(i)];
        llada_step(group, g, predictions, static_cast<int64_t>(a), asked[a], k, o);
      }
      group.end_step(step++, active);
    }
    group.end_block(end);
  }
}

}  // namespace

DenoiseResult llada_sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options,
                           const SpecialIds& ids, const StepCallback& on_step) {
  return run_groups(model, rows, options, ids, on_step, [&](ReferenceGroup& group) { run_llada(group, options); });
}

}  // namespace dlm
