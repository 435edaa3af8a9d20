// Tiny models with known predictions over a 9-id vocabulary, shared by the process tests.
#pragma once

#include <cmath>
#include <memory>
#include <vector>

#include "dlm/data/dataset.h"
#include "dlm/diffusion/process.h"
#include "dlm/model/model.h"

namespace processes_test {

// Ids: 0 pad, 1 mask, 2 bos, 3 eos, 4 sep, then content. The support leaves MASK, BOS and SEP out.
inline constexpr int64_t kV = 9;
inline const dlm::SpecialIds kIds{1, 3, 0, 2, 4, kV};
inline constexpr int64_t kSupport = kV - 3;

// A model whose prediction is known: each position gives its true token probability q and spreads
// the rest evenly over the other states of the support, whatever it is shown. With `tempt`, MASK,
// BOS and SEP get the largest logits of all (a sampler must still never draw them); without, none.
class KnownModel : public dlm::DenoiserImpl {
 public:
  KnownModel(std::vector<int64_t> truth, double q, bool tempt = true)
      : truth_(std::move(truth)), q_(q), tempt_(tempt) {}
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor&) override {
    const int64_t B = ids.size(0), L = ids.size(1);
    torch::Tensor logits = torch::full({B, L, kV}, std::log((1.0 - q_) / (kSupport - 1)));
    for (int64_t i = 0; i < L; ++i) logits.select(1, i).select(1, truth_[static_cast<size_t>(i)]).fill_(std::log(q_));
    for (int64_t banned : {kIds.mask, kIds.bos, kIds.sep}) logits.select(2, banned).fill_(tempt_ ? 30.0 : -1e9);
    return logits;
  }
  int64_t max_len() const override { return static_cast<int64_t>(truth_.size()); }

 private:
  std::vector<int64_t> truth_;
  double q_;
  bool tempt_;
};

inline std::unique_ptr<dlm::Process> uniform_process(int64_t time_steps) {
  dlm::Config c;
  c.diffusion.noise = "uniform";
  c.diffusion.time_steps = time_steps;
  return dlm::make_process(c, kIds);
}

inline std::vector<dlm::Example> blocks_of(const std::vector<int64_t>& truth, int64_t n) {
  dlm::Example e;
  e.ids = truth;
  e.n_content = static_cast<int64_t>(truth.size());
  return std::vector<dlm::Example>(static_cast<size_t>(n), e);
}
// A model that predicts the token it is shown with probability r: its bounds depend on the time steps.
class CopyModel : public dlm::DenoiserImpl {
 public:
  explicit CopyModel(double r) : r_(r) {}
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor&) override {
    torch::Tensor logits = torch::full({ids.size(0), ids.size(1), kV}, std::log((1.0 - r_) / (kSupport - 1)));
    logits.scatter_(2, ids.unsqueeze(-1), std::log(r_));
    for (int64_t banned : {kIds.mask, kIds.bos, kIds.sep}) logits.select(2, banned).fill_(-1e9);
    return logits;
  }
  int64_t max_len() const override { return 64; }

 private:
  double r_;
};

}  // namespace processes_test
