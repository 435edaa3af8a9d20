// The shared pieces of evaluation: cross-entropy, batching, scored counts.
#include "dlm/diffusion/likelihood.h"

#include <algorithm>

#include "dlm/device.h"
#include "dlm/error.h"
#include "dlm/model/fused.h"
#include "dlm/random.h"

namespace dlm {

namespace F = torch::nn::functional;

torch::Tensor token_ce(const torch::Tensor& logits, const torch::Tensor& target) {
  const int64_t V = logits.size(-1);
  return F::cross_entropy(logits.to(torch::kFloat32).reshape({-1, V}), target.reshape({-1}),
                          F::CrossEntropyFuncOptions().reduction(torch::kNone))
      .view(target.sizes());
}

torch::Tensor head_ce(DenoiserImpl& model, const torch::Tensor& hidden, const torch::Tensor& target) {
  const DenoiserImpl::OutputProjection out = model.output_projection();
  // Under autocast the head's GEMM runs in the reduced type, which the fused fp32 kernel would not.
  if (!out.weight.defined() || autocast_active(hidden.device()) ||
      !fused_head_ce_takes(hidden.reshape({-1, hidden.size(-1)}), out.weight)) {
    return token_ce(model.head(hidden), target);
  }
  const torch::Tensor features = model.head_features(hidden);
  return fused_head_ce(features.reshape({-1, features.size(-1)}), out.weight, out.bias, target.reshape({-1}))
      .view(target.sizes());
}

torch::Tensor scored_loss(DenoiserImpl& model, const torch::Tensor& hidden, const Batch& batch) {
  const torch::Tensor w = batch.loss_weight.to(hidden.device());
  const torch::Tensor target = batch.target.to(hidden.device());
  if (!model.positionwise_head()) return (head_ce(model, hidden, target) * w).sum() / batch.loss_norm;
  // The head is a small model's largest GEMM at a subword vocabulary: run it where the loss is.
  const torch::Tensor at = w.reshape({-1}).nonzero().reshape({-1});
  const torch::Tensor scored = hidden.reshape({-1, hidden.size(-1)}).index_select(0, at);
  const torch::Tensor ce = head_ce(model, scored, target.reshape({-1}).index_select(0, at));
  return (ce * w.reshape({-1}).index_select(0, at)).sum() / batch.loss_norm;
}

void for_each_batch(int64_t n, int64_t batch_size, const std::function<void(int64_t begin, int64_t end)>& fn) {
  if (batch_size < 1) throw Error("evaluation batch size must be >= 1, got " + std::to_string(batch_size));
  for (int64_t begin = 0; begin < n; begin += batch_size) fn(begin, std::min(n, begin + batch_size));
}

std::vector<const Example*> example_group(const std::vector<Example>& examples, int64_t begin, int64_t end) {
  std::vector<const Example*> group;
  for (int64_t i = begin; i < end; ++i) group.push_back(&examples[static_cast<size_t>(i)]);
  return group;
}

LevelSums level_sums(const torch::Tensor& loss, const torch::Tensor& predicted, const torch::Tensor& target,
                     const torch::Tensor& scored) {
  return LevelSums{torch::where(scored, loss, torch::zeros_like(loss)).sum().item<double>(),
                   predicted.eq(target).logical_and(scored).sum().item<double>(), scored.sum().item<double>()};
}

std::vector<LevelMetrics> per_level(const std::vector<Example>& examples, const std::vector<double>& levels,
                                    int64_t batch_size, uint64_t seed, const DiffusionConfig& config, int64_t mask_id,
                                    const LevelScorer& score) {
  // Each level measures exactly that share noised: no random visible prefixes, no condition dropped.
  DiffusionConfig at_level = config;
  at_level.prefix_prob = 0.0;
  at_level.cfg_dropout = 0.0;
  std::vector<LevelMetrics> out;
  for (double level : levels) {
    torch::Generator gen = cpu_generator(seed);
    LevelSums sums;
    for_each_batch(static_cast<int64_t>(examples.size()), batch_size, [&](int64_t begin, int64_t end) {
      const std::vector<const Example*> group = example_group(examples, begin, end);
      // cpu: the collators build batches on the CPU
      const torch::Tensor rates = torch::full({end - begin}, level, torch::kFloat64);
      Batch batch = collate_at_rates(group, rates, at_level, mask_id, gen);
      batch.rate = rates;
      const LevelSums s = score(batch, group, gen);
      sums.loss += s.loss;
      sums.correct += s.correct;
      sums.count += s.count;
    });
    out.push_back(
        {level, sums.count > 0 ? sums.loss / sums.count : 0.0, sums.count > 0 ? sums.correct / sums.count : 0.0});
  }
  return out;
}

Likelihood estimate_bound(const std::vector<Example>& blocks, int64_t first_scored, int64_t mask_id, int64_t batch_size,
                          uint64_t seed, const LevelDraws& draws, const RowNats& nats) {
  torch::Generator gen = cpu_generator(seed);
  std::vector<const Example*> rows;
  std::vector<double> rates, weights;
  Likelihood out;
  const torch::Tensor u = torch::rand({static_cast<int64_t>(blocks.size())}, gen, torch::kFloat64);
  for (size_t b = 0; b < blocks.size(); ++b) {
    const int64_t n = scored_count(blocks[b], first_scored);
    if (n == 0) continue;
    out.tokens += n;
    for (const auto& [rate, weight] : draws(u[static_cast<int64_t>(b)].item<double>(), n, gen)) {
      rows.push_back(&blocks[b]);
      rates.push_back(rate);
      weights.push_back(weight);
    }
  }
  DiffusionConfig dc;
  dc.prefix_len = first_scored;
  dc.mask_pad = false;
  dc.prefix_prob = 0.0;
  for_each_batch(static_cast<int64_t>(rows.size()), batch_size, [&](int64_t begin, int64_t end) {
    const auto slice = [&](const std::vector<double>& v) {
      // cpu: rates go to the collator; the weights move to the nats' device below
      return torch::tensor(std::vector<double>(v.begin() + begin, v.begin() + end), torch::kFloat64);
    };
    const std::vector<const Example*> group(rows.begin() + begin, rows.begin() + end);
    Batch batch = collate_at_rates(group, slice(rates), dc, mask_id, gen);
    batch.rate = slice(rates);
    const torch::Tensor per_row = nats(batch, group, gen).to(torch::kFloat64);
    out.nats += (per_row * slice(weights).to(per_row.device())).sum().item<double>();
  });
  return out;
}

int64_t scored_count(const Example& e, int64_t first_scored) {
  return std::max<int64_t>(0, e.n_content - std::max(e.n_prompt, first_scored));
}

}  // namespace dlm
