// Absorbing noise (masking; MDLM, LLaDA): a token becomes [MASK] with probability t. Forward: the
// masking collator. Loss: cross-entropy on the masked positions (or all, weighted as configured).
// Bound: MDLM's, in continuous or D3PM's discrete time. Reverse: the denoising loop's reveals.
#include <cmath>

#include "dlm/error.h"
#include "dlm/random.h"
#include "dlm/sample_options.h"
#include "processes.h"
#include "reference_loop.h"

namespace dlm {
namespace {

class AbsorbingProcess : public Process {
 public:
  AbsorbingProcess(const Config& c, const SpecialIds& ids) : c_(c.diffusion), ids_(ids) {}
  std::string name() const override { return "absorbing noise"; }

  Batch noise(const std::vector<const Example*>& share, int64_t begin, int64_t global_size, uint64_t seed,
              int64_t micro) const override {
    return collate_share(share, begin, global_size, c_, ids_.mask, seed, micro);
  }

  torch::Tensor loss(const torch::Tensor& hidden, DenoiserImpl& model, const Batch& batch) const override {
    return scored_loss(model, hidden, batch);
  }

  std::string bound_method(int64_t t_samples, uint64_t seed) const override {
    return nelbo_method(name(), c_.time_steps, t_samples, seed);
  }

  Likelihood bound(DenoiserImpl& model, const std::vector<Example>& blocks, int64_t first_scored, int64_t t_samples,
                   uint64_t seed, int64_t batch_size, const torch::Device& device) const override;

  std::vector<LevelMetrics> by_level(DenoiserImpl& model, const std::vector<Example>& examples,
                                     const std::vector<double>& levels, int64_t batch_size, const torch::Device& device,
                                     uint64_t seed) const override;

  DenoiseResult sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options,
                       const StepCallback& on_step, const StopCheck& stop) const override {
    // The references' samplers (reference_loop.h) cover the row as LLaDA's and Dream's code does:
    // no stop strings mid-way (the text is cut after), nothing padded at EOS (with --stop-at-eos the
    // blocks after one holding it are EOS, undecoded).
    if (options.sampler == Sampler::kLlada) return llada_sample(model, rows, options, ids_, on_step);
    if (options.sampler == Sampler::kDream) return dream_sample(model, rows, options, ids_, on_step);
    if (on_step) on_step({-1, rows.tokens, {}});
    return denoise(model, rows, options, ids_, on_step, stop, c_.time_steps);
  }

  // The schedule's steps, unless a reveal rule decides how many as it goes.
  int64_t planned_steps(const SampleConfig& o, const DenoiseRows&) const override {
    if (o.sampler == Sampler::kDream) return o.steps;
    return reveals_adaptively(o) ? 0 : o.steps;
  }

 protected:
  std::vector<std::string> refused_settings() const override { return {"diffusion.block_length"}; }

 private:
  DiffusionConfig c_;
  SpecialIds ids_;
};

// With alpha_t = 1 - t the continuous-time bound E_t[(1/t) sum_masked CE] equals, after integrating t
// out given the number masked, n * E_{k ~ U{1..n}} [(1/k) sum over k random masked positions of CE],
// where n is a block's scored count. Each block draws `t_samples` values of k, stratified
// (k_s = 1 + floor(n * frac(u + s / S)), one u per block), so S = n visits every k once and the
// estimate is exact. In discrete time T the bound is E_{i ~ U{1..T}} [(1/t_i) sum_masked CE] with
// each position masked with probability t_i = i / T: i is stratified the same way and k drawn
// binomially. The model's time input is k / n, as in training.
Likelihood AbsorbingProcess::bound(DenoiserImpl& model, const std::vector<Example>& blocks, int64_t first_scored,
                                   int64_t t_samples, uint64_t seed, int64_t batch_size,
                                   const torch::Device& device) const {
  if (t_samples < 1) throw Error("eval.t_samples must be >= 1, got " + std::to_string(t_samples));
  InferenceScope scope(model);
  const int64_t T = c_.time_steps;
  const auto draws = [&](double u, int64_t n, torch::Generator& gen) {
    std::vector<std::pair<double, double>> out;
    for (int64_t s = 0; s < t_samples; ++s) {
      const double f = std::fmod(u + static_cast<double>(s) / static_cast<double>(t_samples), 1.0);
      int64_t k = 0;
      double weight = 0.0;
      if (T == 0) {
        k = std::min<int64_t>(n, 1 + static_cast<int64_t>(std::floor(f * static_cast<double>(n))));
        weight = static_cast<double>(n) / static_cast<double>(k * t_samples);
      } else {
        const double t = static_cast<double>(
                             std::min<int64_t>(T, 1 + static_cast<int64_t>(std::floor(f * static_cast<double>(T))))) /
                         static_cast<double>(T);
        k = torch::rand({n}, gen, torch::kFloat64).lt(t).sum().item<int64_t>();  // cpu: a count
        weight = 1.0 / (t * static_cast<double>(t_samples));
      }
      if (k > 0) out.emplace_back(static_cast<double>(k) / static_cast<double>(n), weight);  // none masked: no term
    }
    return out;
  };
  return estimate_bound(blocks, first_scored, ids_.mask, batch_size, seed, draws,
                        [&](Batch& batch, const std::vector<const Example*>&, torch::Generator&) {
                          const torch::Tensor hidden = model.hidden(batch.input.to(device), batch.t.to(device));
                          const torch::Tensor ce =
                              head_ce(model, hidden, batch.target.to(device)).to(torch::kFloat64);  // (B, L)
                          return (ce * batch.masked.to(device).to(torch::kFloat64)).sum(1);
                        });
}

std::vector<LevelMetrics> AbsorbingProcess::by_level(DenoiserImpl& model, const std::vector<Example>& examples,
                                                     const std::vector<double>& levels, int64_t batch_size,
                                                     const torch::Device& device, uint64_t seed) const {
  InferenceScope scope(model);
  return per_level(examples, levels, batch_size, seed, c_, ids_.mask,
                   [&](Batch& batch, const std::vector<const Example*>&, torch::Generator&) {
                     const torch::Tensor logits = model.forward(batch.input.to(device), batch.t.to(device));
                     const torch::Tensor target = batch.target.to(device);
                     return level_sums(token_ce(logits, target), logits.argmax(-1), target, batch.masked.to(device));
                   });
}

}  // namespace

std::unique_ptr<Process> make_absorbing_process(const Config& config, const SpecialIds& ids) {
  return std::make_unique<AbsorbingProcess>(config, ids);
}

}  // namespace dlm
