// Absorbing (masking) noise: its discrete-time bound against the continuous one on a model whose
// predictions are known.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "dlm/config.h"
#include "dlm/diffusion/process.h"
#include "process_models.h"

namespace processes_test {

TEST(AbsorbingNoise, DiscreteTimeBoundWeighsBernoulliMasksWithoutBias) {
  // Under masking with alpha_t = 1 - t, a model that ignores its input costs -log q per token at any
  // level, in continuous time and in discrete time alike, so both estimators must give -log q: the
  // continuous one exactly (it visits every mask count), the discrete one (1 / t_i over Bernoulli
  // masks, i uniform on 1..T) within its sampling error.
  const std::vector<int64_t> truth = {5, 6, 7, 8, 3, 5, 6, 8};
  KnownModel model(truth, 0.6, /*tempt=*/false);
  const auto blocks = blocks_of(truth, 200);
  dlm::Config c;
  for (int64_t T : {0, 1, 4, 100}) {
    c.diffusion.time_steps = T;
    const double got = dlm::make_process(c, kIds)->bound(model, blocks, 0, 16, 5, 512, torch::kCPU).nats_per_token();
    EXPECT_NEAR(got, -std::log(0.6), T == 0 ? 1e-6 : 0.03 * -std::log(0.6)) << "T = " << T;
  }
}

}  // namespace processes_test
