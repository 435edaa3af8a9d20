// --sampler dream: Dream's diffusion_generate(), a masking sampler of the absorbing process. S steps
// over the timesteps t = linspace(1, eps, S + 1); at step i the masked positions' tokens are chosen
// from the model's (already shifted) logits, and int(n (1 - t[i+1] / t[i])) of them revealed by
// confidence (maskgit_plus, topk_margin, entropy), or each with that probability (origin). With
// --block-length, blocks left to right, each over its own S / blocks timesteps and counting its own
// masked positions; --threshold and --factor reveal what they judge sure instead of the count; with
// --kv-cache a block's first step is a full pass storing the keys and values (Fast-dLLM).
#include <limits>

#include "dlm/diffusion/reference_samplers.h"
#include "dlm/sample_options.h"
#include "reference_loop.h"

namespace dlm {
namespace {

// Tokens from probs (n, V): the argmax, or for T > 0 a draw.
torch::Tensor dream_tokens(const torch::Tensor& probs, double temperature, torch::Generator& gen) {
  if (probs.size(0) == 0 || temperature <= 0.0) return probs.argmax(-1);
  return torch::multinomial(probs, 1, /*replacement=*/false, gen).squeeze(-1);
}

// A step's view of one member: its candidates (masked positions, ascending) and the pass's row.
struct Member {
  int64_t g, a;
  const std::vector<int64_t>& asked;
  const Predictions& predictions;
};

// origin: each candidate revealed with the step's probability, by one uniform draw each; tokens only
// for the chosen ones.
void origin_step(ReferenceGroup& group, const Member& m, float p, const SampleConfig& o) {
  const int64_t n = static_cast<int64_t>(m.asked.size());
  const torch::Tensor draws = torch::rand({n}, group.generator(m.g), torch::kFloat32);  // cpu: the row's stream
  const torch::Tensor chosen = draws.lt(p).nonzero().squeeze(-1);                       // indices into asked
  if (chosen.size(0) == 0) return;
  const torch::Tensor probs = dream_probs(m.predictions.logits(m.a, chosen), o.temperature, o.top_p, o.top_k);
  const torch::Tensor at = torch::tensor(m.asked, torch::kInt64).index_select(0, chosen);  // cpu: positions
  torch::Tensor x0 = torch::zeros({group.width()}, torch::kInt64);                         // cpu: as the canvas
  x0.index_put_({at}, dream_tokens(probs, o.temperature, group.generator(m.g)));
  group.reveal(m.g, at, x0);
}

// maskgit_plus, topk_margin, entropy: tokens, confidences and the chosen tokens' probabilities chunk by
// chunk; then the k most confident (or k drawn by softmax(confidence / alg_temp) without replacement),
// or with a threshold or factor what it judges sure.
void confidence_step(ReferenceGroup& group, const Member& m, int64_t k, const SampleConfig& o) {
  const int64_t W = group.width();
  const torch::Tensor at = torch::tensor(m.asked, torch::kInt64);  // cpu: positions in the CPU canvas
  torch::Tensor x0 = torch::zeros({W}, torch::kInt64);             // cpu: as the canvas
  torch::Tensor confidence, probability;
  m.predictions.each_chunk(m.a, at.size(0), [&](int64_t from, const torch::Tensor& logits) {
    const torch::Tensor probs = dream_probs(logits, o.temperature, o.top_p, o.top_k);
    const torch::Tensor tokens = dream_tokens(probs, o.temperature, group.generator(m.g));
    if (!confidence.defined()) {  // in the logits' dtype, as the reference; -inf where not a candidate
      confidence = torch::full({W}, -std::numeric_limits<float>::infinity(), probs.options());
      probability = torch::zeros({W}, probs.options());
    }
    const torch::Tensor where = at.narrow(0, from, logits.size(0));
    x0.index_put_({where}, tokens);
    confidence.index_put_({where}, dream_confidence(probs, tokens, o.strategy));
    probability.index_put_({where}, probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1));
  });
  if (!confidence.defined()) return;
  if (reveals_adaptively(o))
    return group.reveal(m.g, dream_sure_positions(confidence, probability, o.threshold, o.factor), x0);
  if (k <= 0) return;
  const torch::Tensor picks = o.alg_temp > 0.0 ? torch::multinomial(torch::softmax(confidence / o.alg_temp, 0), k,
                                                                    /*replacement=*/false, group.generator(m.g))
                                               : top_confidence(confidence.to(torch::kFloat64), k);
  group.reveal(m.g, picks, x0);
}

void run_dream(ReferenceGroup& group, const SampleConfig& o) {
  const int64_t block = o.block_length > 0 ? o.block_length : o.length;
  const int64_t blocks = o.length / block, steps = o.steps / blocks, start = group.prompt_length();
  const std::vector<float> t = dream_timesteps(o.eps, steps);
  const bool adaptive = reveals_adaptively(o);
  int64_t step = 0;
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = start + b * block, end = begin + block;
    // Without blocks every masked position is a candidate, the prompt's own included (Dream's rule).
    const int64_t lo = o.block_length > 0 ? begin : 0, hi = o.block_length > 0 ? end : group.width();
    // An adaptive rule runs until the block is full, for at most as many steps as it has positions (a
    // step reveals one at least, unless the model keeps choosing the mask id).
    for (int64_t i = 0; i < (adaptive ? block : steps); ++i) {
      std::vector<int64_t> active;
      std::vector<std::vector<int64_t>> asked;
      for (int64_t g = 0; g < group.size(); ++g) {
        std::vector<int64_t> masked = group.masked(g, lo, hi);
        if (group.stopped(g) || (adaptive && masked.empty())) continue;
        active.push_back(g);
        asked.push_back(std::move(masked));
      }
      if (active.empty()) break;
      const Predictions predictions = group.predict(active, asked, begin, hi, /*refresh=*/i == 0);
      for (size_t a = 0; a < active.size(); ++a) {
        const Member m{active[a], static_cast<int64_t>(a), asked[a], predictions};
        if (o.strategy == Strategy::kOrigin) {
          origin_step(group, m, dream_reveal_probability(t, i), o);
        } else {
          const int64_t n = static_cast<int64_t>(asked[a].size());
          confidence_step(group, m, adaptive ? 0 : dream_reveal_count(n, t, i), o);
        }
      }
      group.end_step(step++, active);
    }
    group.end_block(end);
  }
}

}  // namespace

DenoiseResult dream_sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options,
                           const SpecialIds& ids, const StepCallback& on_step) {
  return run_groups(model, rows, options, ids, on_step, [&](ReferenceGroup& group) { run_dream(group, options); });
}

}  // namespace dlm
