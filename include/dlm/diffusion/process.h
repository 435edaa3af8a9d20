// A process: how a model learns and samples text, as one object every stage above calls. The three
// diffusion processes (absorbing masking: MDLM, LLaDA; uniform noise: D3PM, Duo; the simplex: SSD-LM)
// and the autoregressive twin each live in one file under src/diffusion/processes/ and take one line
// in the registry (src/diffusion/process_registry.cpp), which resolves a config's `objective` and
// `diffusion.noise` to them. Nothing outside the registry and those files asks which process a
// config names: training, evaluation and generation call this interface only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "dlm/config.h"
#include "dlm/data/dataset.h"
#include "dlm/data/tokenizer.h"
#include "dlm/diffusion/collator.h"
#include "dlm/diffusion/denoise.h"
#include "dlm/diffusion/likelihood.h"
#include "dlm/model/model.h"

namespace dlm {

class Process {
 public:
  virtual ~Process() = default;
  // How messages name it: "absorbing noise", "uniform noise", "the simplex process", "the autoregressive twin".
  virtual std::string name() const = 0;
  // The model it trains: causal (the twin) or bidirectional, and how reports name it.
  virtual bool causal() const { return false; }
  virtual std::string model_kind() const { return "diffusion"; }

  // Throws dlm::Error naming the first config key this process refuses: one of refused_settings()
  // away from its default, or a rule of check_config().
  void check_config(const Config& config) const;
  // Throws dlm::Error naming the first sample.* setting that is away from its default and that this
  // process does not use (reveal orders for uniform noise, say).
  void check_sample(const SampleConfig& options) const;

  // Forward: rows [begin, begin + share.size()) of micro-batch `micro`'s global batch of
  // `global_size`, noised from streams of (seed, micro, place) alone (collate_share's contract), so
  // a resumed or data-parallel run sees the same batches.
  virtual Batch noise(const std::vector<const Example*>& share, int64_t begin, int64_t global_size, uint64_t seed,
                      int64_t micro) const = 0;
  // The model's final hidden states on a noised batch, fed as this process feeds it (ids and t here;
  // probability vectors for the simplex).
  virtual torch::Tensor hidden(DenoiserImpl& model, const Batch& batch, const torch::Device& device) const;
  // The training loss from those hidden states and the model's output head (`model.head`): the sum of
  // per-position terms / batch.loss_norm. Cross-entropy goes through head_ce (likelihood.h), the one
  // place a fused head-and-loss kernel replaces; scored_loss runs it at the scored positions only.
  virtual torch::Tensor loss(const torch::Tensor& hidden, DenoiserImpl& model, const Batch& batch) const = 0;

  // Whether bound() gives figures at all (the simplex has none), and whether they are the exact
  // negative log-likelihood rather than an upper bound on it (the twin).
  virtual bool has_bound() const { return true; }
  virtual bool exact_likelihood() const { return false; }
  // How the report describes the bound's estimate ("" for an exact likelihood).
  virtual std::string bound_method(int64_t t_samples, uint64_t seed) const;
  // The bound on -log p(x[first..n_content) | x[0..first)) summed over `blocks`, with `t_samples`
  // stratified noise levels per block; `seed` fixes every draw, so figures repeat exactly.
  virtual Likelihood bound(DenoiserImpl& model, const std::vector<Example>& blocks, int64_t first_scored,
                           int64_t t_samples, uint64_t seed, int64_t batch_size, const torch::Device& device) const = 0;
  // Whether validation has a per-level table (the twin has one figure, at level 0).
  virtual bool has_levels() const { return true; }
  // Loss and accuracy of the clean token at each noise level in `levels` (validation's table).
  virtual std::vector<LevelMetrics> by_level(DenoiserImpl& model, const std::vector<Example>& examples,
                                             const std::vector<double>& levels, int64_t batch_size,
                                             const torch::Device& device, uint64_t seed) const = 0;

  // Reverse: denoises `rows`, whose generated positions hold the mask id on input.
  virtual DenoiseResult sample(DenoiserImpl& model, const DenoiseRows& rows, const SampleConfig& options,
                               const StepCallback& on_step = nullptr, const StopCheck& stop = nullptr) const = 0;
  // The steps a timeline announces for `rows` (0 when a rule decides as it goes).
  virtual int64_t planned_steps(const SampleConfig& options, const DenoiseRows& rows) const = 0;
  // Whether it fills infill templates' spans (the simplex and the twin decode left to right only).
  virtual bool infills() const { return true; }

 protected:
  // The config keys ("diffusion.loss_on") this process does not use: they must keep their defaults.
  virtual std::vector<std::string> refused_settings() const { return {}; }
  // Rules beyond refused_settings() (a model type it needs, say); throws dlm::Error naming the key.
  virtual void check_rules(const Config& config) const { (void)config; }
  // The sample.* keys this process ignores.
  virtual std::vector<std::string> unused_settings() const { return {}; }
};

// A tokenizer's special ids, as the processes and samplers take them.
SpecialIds special_ids(const Tokenizer& tok);

// The constructor of a process from a config and the tokenizer's ids (SpecialIds{} when only the
// settings are to be checked).
using ProcessMaker = std::function<std::unique_ptr<Process>(const Config& config, const SpecialIds& ids)>;

struct ProcessEntry {
  std::string objective;  ///< the config's `objective`
  std::string noise;      ///< its `diffusion.noise`; "" for a process that takes none (it must stay at its default)
  ProcessMaker make;
};

// The registered processes, in registration order: the built-in ones, then any register_process added.
const std::vector<ProcessEntry>& registered_processes();
// Adds a process at run time (a program's own, or a test's); throws dlm::Error if its names are taken.
void register_process(ProcessEntry entry);

// The process a config names, with the config's settings checked against it (check_config). Throws
// dlm::Error for an objective or noise no process registered, listing the registered ones.
std::unique_ptr<Process> make_process(const Config& config, const SpecialIds& ids);

// A new model of the kind the config's process trains (causal or bidirectional) for `vocab_size` ids.
std::shared_ptr<DenoiserImpl> make_process_model(const Config& config, int64_t vocab_size);

}  // namespace dlm
