// The simplex process (SSD-LM, include/dlm/diffusion/simplex.h): the forward noise's signal-to-noise
// ratio, and the reverse step under an oracle.
#include <gtest/gtest.h>

#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include "dlm/config.h"
#include "dlm/diffusion/process.h"
#include "dlm/diffusion/simplex.h"
#include "dlm/random.h"
#include "process_models.h"
#include "test_util.h"

namespace processes_test {

TEST(Simplex, ForwardNoiseHasTheScheduledSignalToNoiseRatio) {
  EXPECT_DOUBLE_EQ(dlm::simplex_alpha_bar(0.0), 1.0);
  EXPECT_NEAR(dlm::simplex_alpha_bar(1.0), 0.0, 1e-12);
  for (double t = 0.1; t < 1.0; t += 0.1) EXPECT_LT(dlm::simplex_alpha_bar(t), dlm::simplex_alpha_bar(t - 0.1));
  const double k = 5.0;
  torch::Generator gen = dlm::cpu_generator(3);
  const torch::Tensor ids = torch::randint(0, 50, {4000}, gen, torch::TensorOptions().dtype(torch::kInt64));
  const torch::Tensor w = dlm::simplex_logits(ids, 50, k);  // (4000, 50)
  EXPECT_TRUE(torch::equal(std::get<0>(w.max(-1)), torch::full({4000}, k)));
  EXPECT_TRUE(torch::equal(w.argmax(-1), ids));
  EXPECT_TRUE(torch::equal(std::get<0>(w.min(-1)), torch::full({4000}, -k)));
  for (double t : {0.2, 0.5, 0.8}) {
    const double abar = dlm::simplex_alpha_bar(t);
    const torch::Tensor noise = torch::randn({4000, 50}, gen);
    const torch::Tensor noised = dlm::simplex_noised(w, torch::tensor(abar), noise, k).to(torch::kFloat64);
    const torch::Tensor wd = w.to(torch::kFloat64);
    const double coef = (noised * wd).sum().item<double>() / (wd * wd).sum().item<double>();  // least squares
    const double noise_power = (noised - coef * wd).pow(2).mean().item<double>();
    const double snr = coef * coef * k * k / noise_power;  // each entry of w has power k^2
    EXPECT_NEAR(snr, abar / (1.0 - abar), 0.03 * abar / (1.0 - abar)) << "t " << t;
  }
}

// A model that, shown probability vectors, predicts the truth at every position.
class OracleSoftModel : public dlm::DenoiserImpl {
 public:
  explicit OracleSoftModel(std::vector<int64_t> truth) : truth_(std::move(truth)) {}
  torch::Tensor forward(const torch::Tensor& input, const torch::Tensor&) override {
    EXPECT_EQ(input.dim(), 3) << "the simplex shows the model probability vectors";
    const int64_t B = input.size(0), L = input.size(1);
    torch::Tensor logits = torch::zeros({B, L, kV});
    for (int64_t i = 0; i < L; ++i) logits.select(1, i).select(1, truth_[static_cast<size_t>(i)]).fill_(12.0);
    ++calls;
    return logits;
  }
  torch::Tensor forward_rows(const torch::Tensor& input, const torch::Tensor& t, const torch::Tensor& key_valid,
                             const torch::Tensor& out = {}) override {
    if (key_valid.defined()) hidden = hidden || !key_valid.all().item<bool>();
    return dlm::DenoiserImpl::forward_rows(input, t, key_valid, out);
  }
  int64_t max_len() const override { return static_cast<int64_t>(truth_.size()); }
  int calls = 0;
  bool hidden = false;

 private:
  std::vector<int64_t> truth_;
};

TEST(Simplex, TheReverseStepReturnsTheCleanSequenceUnderAnOracle) {
  const std::vector<int64_t> truth = {5, 6, 7, 8, 5, 6, 7, 8, 6, 5};
  dlm::Config c;
  c.objective = "simplex";
  for (int64_t block : {0, 3}) {
    OracleSoftModel model(truth);
    dlm::DenoiseRows rows = dlm_test::masked_rows(3, 10, kIds.mask, 5);
    rows.tokens.slice(1, 0, 2).copy_(torch::tensor({5, 6}).expand({3, 2}));
    rows.generate.slice(1, 0, 2).fill_(false);
    dlm::SampleConfig o;
    o.steps = 5;
    o.sampling = dlm::Sampling::kNucleus;
    o.block_length = block;
    const auto r = dlm::make_process(c, kIds)->sample(model, rows, o);
    EXPECT_TRUE(torch::equal(r.tokens, torch::tensor(truth).expand({3, 10}))) << "block " << block << "\n" << r.tokens;
    // Left to right in blocks of 3 after the prefix: 8 positions make 3 blocks of 5 steps each.
    EXPECT_EQ(model.calls, block == 0 ? 5 : 15);
    EXPECT_EQ(model.hidden, block > 0) << "positions after the block are hidden from the model";
  }
}

}  // namespace processes_test
