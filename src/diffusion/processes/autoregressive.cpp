// The autoregressive twin: the same transformer made causal, trained on next-token prediction, the
// baseline every diffusion process is measured against. Forward: no noise, the block after BOS
// (collate_ar). Loss: next-token cross-entropy. Bound: the exact negative log-likelihood. Reverse:
// left to right over a KV cache, one token per pass.
#include <map>

#include "dlm/diffusion/sampler.h"
#include "dlm/error.h"
#include "dlm/random.h"
#include "processes.h"

namespace dlm {
namespace {

class AutoregressiveProcess : public Process {
 public:
  AutoregressiveProcess(const Config& c, const SpecialIds& ids) : prefix_len_(c.diffusion.prefix_len), ids_(ids) {}
  std::string name() const override { return "the autoregressive twin"; }
  bool causal() const override { return true; }
  std::string model_kind() const override { return "autoregressive"; }

  Batch noise(const std::vector<const Example*>& share, int64_t, int64_t, uint64_t, int64_t) const override {
    return collate_ar(share, ids_.bos);
  }

  torch::Tensor loss(const torch::Tensor& hidden, DenoiserImpl& model, const Batch& batch) const override {
    return scored_loss(model, hidden, batch);
  }

  bool exact_likelihood() const override { return true; }
  // Exact -log p of the same positions under the causal model fed [BOS] + the block (see collate_ar);
  // no draws, so t_samples and seed are unused.
  Likelihood bound(DenoiserImpl& model, const std::vector<Example>& blocks, int64_t first_scored, int64_t, uint64_t,
                   int64_t batch_size, const torch::Device& device) const override;

  // One entry: the next-token loss and accuracy from diffusion.prefix_len on, the positions --eval scores.
  bool has_levels() const override { return false; }
  std::vector<LevelMetrics> by_level(DenoiserImpl& model, const std::vector<Example>& examples,
                                     const std::vector<double>&, int64_t batch_size, const torch::Device& device,
                                     uint64_t seed) const override {
    const Likelihood l = bound(model, examples, prefix_len_, 1, seed, batch_size, device);
    const double n = static_cast<double>(std::max<int64_t>(1, l.tokens));
    return {{0.0, l.nats / n, static_cast<double>(l.correct) / n}};
  }

  DenoiseResult sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options,
                       const StepCallback& on_step, const StopCheck& stop) const override;
  // One step per generated token.
  int64_t planned_steps(const SampleConfig&, const DenoiseRows& rows) const override {
    return rows.generate.sum(1).max().item<int64_t>();
  }
  bool infills() const override { return false; }

 protected:
  std::vector<std::string> refused_settings() const override { return {"diffusion.block_length", "model.init_from"}; }
  void check_rules(const Config& c) const override {
    if (c.model.type != ModelType::kTransformer) {
      throw Error("config key 'model.type' = \"" + enum_name(c.model.type) + "\": " + name() +
                  " needs a transformer (the causal twin of the denoiser)");
    }
  }
  std::vector<std::string> unused_settings() const override { return {"sampler", "cfg_scale"}; }

 private:
  int64_t prefix_len_;
  SpecialIds ids_;
};

Likelihood AutoregressiveProcess::bound(DenoiserImpl& model, const std::vector<Example>& blocks, int64_t first_scored,
                                        int64_t, uint64_t, int64_t batch_size, const torch::Device& device) const {
  InferenceScope scope(model);
  Likelihood out;
  for_each_batch(static_cast<int64_t>(blocks.size()), batch_size, [&](int64_t begin, int64_t end) {
    const Batch batch = collate_ar(example_group(blocks, begin, end), ids_.bos, first_scored);
    const torch::Tensor logits = model.forward(batch.input.to(device), batch.t.to(device));
    const torch::Tensor target = batch.target.to(device);
    const torch::Tensor scored = batch.masked.to(device);
    out.nats += (token_ce(logits, target).to(torch::kFloat64) * scored.to(torch::kFloat64)).sum().item<double>();
    out.tokens += scored.sum().item<int64_t>();
    out.correct += logits.argmax(-1).eq(target).logical_and(scored).sum().item<int64_t>();
  });
  return out;
}

// Rows are decoded in groups of equal prompt length and generated count (generate_ar's rows are
// rectangular): each from [BOS] + the ids before its first generated position, on its own stream.
// Stop strings cut the text afterwards; positions left when every row of a group ended are padding.
DenoiseResult AutoregressiveProcess::sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& o,
                                            const StepCallback& on_step, const StopCheck&) const {
  auto* causal = dynamic_cast<TransformerImpl*>(&model);
  if (!causal) throw Error(name() + " needs a transformer");
  const torch::Device device = module_device(model);
  torch::Tensor canvas = rows.tokens.to(torch::kCPU, torch::kInt64).clone();  // cpu: as every sampler's canvases
  const int64_t B = canvas.size(0);
  std::map<std::pair<int64_t, int64_t>, std::vector<int64_t>> groups;  // (prompt, generated) -> rows
  for (int64_t r = 0; r < B; ++r) {
    const torch::Tensor at = rows.generate[r].to(torch::kCPU).nonzero().view({-1});
    groups[{at.size(0) > 0 ? at[0].item<int64_t>() : 0, at.size(0)}].push_back(r);
  }
  DenoiseResult result;
  result.rows.resize(static_cast<size_t>(B));
  if (on_step) on_step({-1, canvas, {}});
  for (const auto& group : groups) {
    // Plain names, not structured bindings: C++17 lets no lambda capture those (clang refuses).
    const int64_t P = group.first.first, n_new = group.first.second;
    const std::vector<int64_t>& members = group.second;
    if (n_new == 0) continue;
    std::vector<torch::Tensor> starts;
    std::vector<torch::Generator> gens;
    for (size_t k = 0; k < members.size(); ++k) {
      // cpu: built here, moved to the device
      starts.push_back(torch::cat({torch::full({1}, ids_.bos, torch::kInt64), canvas[members[k]].narrow(0, 0, P)}));
      gens.push_back(cpu_generator(rows.seeds.at(static_cast<size_t>(members[k]))));
    }
    // Writes the group's tokens so far (B_g, n) into their canvases from position P on.
    const auto place = [&](const torch::Tensor& generated) {
      for (size_t k = 0; k < members.size(); ++k) {
        canvas[members[k]].narrow(0, P, generated.size(1)).copy_(generated[k]);
      }
    };
    StepCallback show = nullptr;
    if (on_step) {
      show = [&](const SamplerStep& s) {
        place(s.canvas.narrow(1, P + 1, s.step + 1).cpu());
        on_step({s.step, canvas, {}});
      };
    }
    const ArResult ar = generate_ar(*causal, torch::stack(starts).to(device), n_new, o, ids_.eos, gens, true, show);
    result.forward_calls += ar.passes;
    for (size_t k = 0; k < members.size(); ++k) canvas[members[k]].narrow(0, P, n_new).fill_(ids_.pad);
    place(ar.tokens.cpu());
    for (int64_t r : members) {
      result.rows[static_cast<size_t>(r)] = {ar.passes, ar.passes,
                                             static_cast<double>(ar.passes) / static_cast<double>(P + n_new)};
    }
  }
  result.tokens = canvas;
  return result;
}

}  // namespace

std::unique_ptr<Process> make_autoregressive_process(const Config& config, const SpecialIds& ids) {
  return std::make_unique<AutoregressiveProcess>(config, ids);
}

}  // namespace dlm
