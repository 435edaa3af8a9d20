// The masking collator: rates, exact-count masking of maskable positions, loss weights.
#include "dlm/diffusion/collator.h"

#include <cmath>

#include "dlm/error.h"
#include "dlm/random.h"

namespace dlm {

std::vector<bool> maskable_positions(const Example& e, const DiffusionConfig& c) {
  const int64_t L = static_cast<int64_t>(e.ids.size());
  const int64_t first = std::max(e.n_prompt, c.prefix_len);
  const int64_t last = c.mask_pad ? L : e.n_content;
  std::vector<bool> out(static_cast<size_t>(L), false);
  for (int64_t i = first; i < last; ++i) out[i] = true;
  return out;
}

torch::Tensor sample_rates(int64_t B, const DiffusionConfig& c, torch::Generator& gen) {
  const bool per_batch = c.rate_per == RatePer::kBatch;
  const int64_t n = per_batch ? 1 : B;
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  torch::Tensor u;  // (n) in [0, 1): where each rate falls in its range
  switch (c.rate_dist) {
    case RateDist::kDiscrete: {
      const torch::Tensor table = torch::tensor(c.rates, f64);
      const torch::Tensor idx = torch::randint(0, static_cast<int64_t>(c.rates.size()), {n}, gen,
                                               torch::TensorOptions().dtype(torch::kInt64));
      const torch::Tensor t = table.index_select(0, idx);
      return per_batch ? t.expand({B}).clone() : t;
    }
    case RateDist::kUniform:
      u = torch::rand({n}, gen, f64);
      break;
    case RateDist::kAntithetic: {
      // One uniform offset, then evenly spaced strata: lower-variance estimate of the bound (MDLM).
      const torch::Tensor offset = torch::rand({1}, gen, f64);
      const torch::Tensor strata = torch::arange(n, f64) / static_cast<double>(n);
      u = torch::frac(offset + strata);
      break;
    }
  }
  // Continuous time: t ~ U(eps, 1). D3PM's discrete time: t = i / T with i uniform on 1..T.
  const double T = static_cast<double>(c.time_steps);
  const torch::Tensor t = c.time_steps > 0 ? torch::clamp_min(torch::ceil(u * T), 1.0) / T : c.eps + (1.0 - c.eps) * u;
  return per_batch ? t.expand({B}).clone() : t;
}

Batch collate(const std::vector<const Example*>& examples, const DiffusionConfig& c, int64_t mask_id,
              torch::Generator& gen) {
  const torch::Tensor rates = sample_rates(static_cast<int64_t>(examples.size()), c, gen);
  return collate_at_rates(examples, rates, c, mask_id, gen);
}

namespace {

// The random numbers of a batch's masks: per row, two draws for the kept prefix, one score per
// position for the masking order, and one for guidance's dropout (drawn only when it is enabled, so
// other runs keep their random stream).
struct MaskDraws {
  torch::Tensor prefix;  ///< (B, 2) float64
  torch::Tensor scores;  ///< (B, L) float64
  torch::Tensor cfg;     ///< (B) float64, or undefined
};

MaskDraws draw_masks(int64_t B, int64_t L, const DiffusionConfig& c, torch::Generator& gen) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  MaskDraws d;
  d.prefix = torch::rand({B, 2}, gen, f64);
  d.scores = torch::rand({B, L}, gen, f64);
  if (c.cfg_dropout > 0.0) d.cfg = torch::rand({B}, gen, f64);
  return d;
}

Batch collate_with(const std::vector<const Example*>& examples, const torch::Tensor& rates, const DiffusionConfig& c,
                   int64_t mask_id, const MaskDraws& draws) {
  // B = batch, L = sequence length
  const int64_t B = static_cast<int64_t>(examples.size());
  const int64_t L = static_cast<int64_t>(examples[0]->ids.size());
  torch::Tensor target = torch::empty({B, L}, torch::kInt64);
  torch::Tensor maskable = torch::empty({B, L}, torch::kBool);
  auto tgt = target.accessor<int64_t, 2>();
  auto mk = maskable.accessor<bool, 2>();
  // Random-length prefixes kept unmasked (diffusion.prefix_prob): drawn for every row so the
  // random stream does not depend on the setting's value.
  auto dr = draws.prefix.accessor<double, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const Example& e = *examples[b];
    if (static_cast<int64_t>(e.ids.size()) != L) throw Error("collate: examples of different lengths");
    const std::vector<bool> m = maskable_positions(e, c);
    int64_t keep = 0;
    const int64_t first = std::max(e.n_prompt, c.prefix_len);
    if (dr[b][0] < c.prefix_prob && e.n_content - first > 1) {
      // 1 .. (content - 1) further tokens stay visible, so at least one content token is masked.
      keep = first + 1 + static_cast<int64_t>(dr[b][1] * static_cast<double>(e.n_content - first - 1));
    }
    for (int64_t i = 0; i < L; ++i) {
      tgt[b][i] = e.ids[i];
      mk[b][i] = m[i] && i >= keep;
    }
  }
  const torch::Tensor rate = rates.to(torch::kFloat64).reshape({B});
  const torch::Tensor n_maskable = maskable.sum(1).to(torch::kFloat64);  // (B)
  // Exactly round(t * n) positions, at least one when any is maskable, so the loss is never empty.
  const torch::Tensor k = torch::minimum(torch::clamp_min(torch::round(rate * n_maskable), 1.0), n_maskable);
  // Random ranks among maskable positions; protected positions sort last and are never picked.
  const torch::Tensor scores = torch::where(maskable, draws.scores, torch::full_like(draws.scores, 2.0));
  const torch::Tensor ranks = scores.argsort(1, false).argsort(1, false);  // (B, L)
  const torch::Tensor masked = ranks.to(torch::kFloat64) < k.unsqueeze(1);

  Batch batch;
  batch.target = target;
  batch.rate = rate;
  batch.maskable = maskable;
  batch.masked = masked;
  batch.input = torch::where(masked, torch::full_like(target, mask_id), target);
  if (c.cfg_dropout > 0.0) {
    // Guidance's unconditional examples: the prompt is masked instead of given, and never scored
    // (it was not maskable).
    const torch::Tensor drop = draws.cfg.lt(c.cfg_dropout);
    auto in = batch.input.accessor<int64_t, 2>();
    for (int64_t b = 0; b < B; ++b) {
      if (!drop[b].item<bool>()) continue;
      const int64_t first = std::min(L, std::max(examples[b]->n_prompt, c.prefix_len));
      for (int64_t i = 0; i < first; ++i) in[b][i] = mask_id;
    }
  }
  // The model sees the fraction actually masked, which is what the sampler will show it.
  batch.t = (k / torch::clamp_min(n_maskable, 1.0)).to(torch::kFloat32);

  const torch::Tensor scored = c.loss_on == LossOn::kAll ? maskable : masked;
  torch::Tensor w = scored.to(torch::kFloat32);
  if (c.weighting == Weighting::kElbo) {
    // MDLM's bound: masked cross-entropy weighted by 1/t, averaged over all maskable tokens.
    const torch::Tensor inv_t = (1.0 / rate).to(torch::kFloat32).unsqueeze(1);
    w = torch::where(masked, w * inv_t, w);
    batch.norm_count = maskable.sum().item<double>();
  } else {
    batch.norm_count = scored.sum().item<double>();
  }
  batch.loss_norm = std::max(1.0, batch.norm_count);
  batch.loss_weight = w;
  return batch;
}

}  // namespace

Batch collate_at_rates(const std::vector<const Example*>& examples, const torch::Tensor& rates,
                       const DiffusionConfig& c, int64_t mask_id, torch::Generator& gen) {
  if (examples.empty()) throw Error("collate: empty batch");
  const int64_t L = static_cast<int64_t>(examples[0]->ids.size());
  return collate_with(examples, rates, c, mask_id, draw_masks(static_cast<int64_t>(examples.size()), L, c, gen));
}

Batch collate_share(const std::vector<const Example*>& share, int64_t begin, int64_t global_size,
                    const DiffusionConfig& c, int64_t mask_id, uint64_t seed, int64_t micro) {
  if (share.empty()) throw Error("collate: empty batch");
  const int64_t n = static_cast<int64_t>(share.size());
  if (begin < 0 || begin + n > global_size) throw Error("collate_share: rows outside the global batch");
  torch::Generator rate_gen = cpu_generator(derive_seed(seed, Stream::kMasking, static_cast<uint64_t>(micro)));
  const torch::Tensor rates = sample_rates(global_size, c, rate_gen).slice(0, begin, begin + n);
  const int64_t L = static_cast<int64_t>(share[0]->ids.size());
  std::vector<torch::Tensor> prefix, scores, cfg;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t place = static_cast<uint64_t>(micro * global_size + begin + i);
    torch::Generator gen = cpu_generator(derive_seed(seed, Stream::kExampleMasking, place));
    MaskDraws row = draw_masks(1, L, c, gen);
    prefix.push_back(row.prefix);
    scores.push_back(row.scores);
    if (row.cfg.defined()) cfg.push_back(row.cfg);
  }
  MaskDraws draws{torch::cat(prefix), torch::cat(scores), cfg.empty() ? torch::Tensor() : torch::cat(cfg)};
  return collate_with(share, rates, c, mask_id, draws);
}

Batch collate_ar(const std::vector<const Example*>& examples, int64_t bos_id, int64_t first_scored) {
  const int64_t B = static_cast<int64_t>(examples.size());
  if (B == 0) throw Error("collate: empty batch");
  const int64_t L = static_cast<int64_t>(examples[0]->ids.size());
  torch::Tensor input = torch::empty({B, L}, torch::kInt64);
  torch::Tensor target = torch::empty({B, L}, torch::kInt64);
  torch::Tensor scored = torch::zeros({B, L}, torch::kBool);
  auto in = input.accessor<int64_t, 2>();
  auto tgt = target.accessor<int64_t, 2>();
  auto sc = scored.accessor<bool, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const Example& e = *examples[b];
    if (static_cast<int64_t>(e.ids.size()) != L) throw Error("collate: examples of different lengths");
    in[b][0] = bos_id;
    for (int64_t i = 0; i < L; ++i) {
      if (i + 1 < L) in[b][i + 1] = e.ids[i];
      tgt[b][i] = e.ids[i];
      sc[b][i] = i >= std::max(e.n_prompt, first_scored) && i < e.n_content;
    }
  }
  Batch batch;
  batch.input = input;
  batch.target = target;
  batch.masked = scored;  // the positions whose token is predicted
  batch.maskable = scored;
  batch.loss_weight = scored.to(torch::kFloat32);
  batch.norm_count = scored.sum().item<double>();
  batch.loss_norm = std::max(1.0, batch.norm_count);
  batch.t = torch::zeros({B}, torch::kFloat32);
  return batch;
}

}  // namespace dlm
