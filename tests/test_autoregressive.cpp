// The autoregressive twin: its batches shift by one behind BOS, the KV cache gives the logits of a
// full forward pass, and cached sampling equals uncached sampling token for token.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include "dlm/diffusion/collator.h"
#include "dlm/diffusion/sampler.h"
#include "dlm/error.h"
#include "dlm/model/model.h"
#include "dlm/random.h"
#include "test_util.h"

namespace {

dlm::ModelConfig small(const std::string& pos) {
  dlm::ModelConfig c = dlm_test::tiny_model(2, 4, 0.0);
  c.pos = dlm_test::enum_from<dlm::PosKind>(pos);
  return c;
}

TEST(Autoregressive, BatchFeedsBosThenEachTokenToPredictTheNext) {
  dlm::Example a;
  a.ids = {7, 8, 9, 3, 0, 0};  // text, EOS (3), padding
  a.n_content = 4;
  dlm::Example pair;
  pair.ids = {5, 6, 7, 8, 9, 10};
  pair.n_prompt = 2;
  pair.n_content = 6;
  const dlm::Batch b = dlm::collate_ar({&a, &pair}, /*bos_id=*/2, /*first_scored=*/1);
  EXPECT_TRUE(torch::equal(b.input[0], torch::tensor({2, 7, 8, 9, 3, 0})));
  EXPECT_TRUE(torch::equal(b.target[0], torch::tensor({7, 8, 9, 3, 0, 0})));
  // Scored: from max(prompt, first_scored) up to the content's end (EOS included, padding not).
  EXPECT_TRUE(torch::equal(b.masked[0], torch::tensor({false, true, true, true, false, false})));
  EXPECT_TRUE(torch::equal(b.masked[1], torch::tensor({false, false, true, true, true, true})));
  EXPECT_DOUBLE_EQ(b.loss_norm, 7.0);
}

TEST(Autoregressive, CachedLogitsEqualTheFullForwardPass) {
  torch::manual_seed(0);
  for (const std::string pos : {"learned", "rotary"}) {
    dlm::TransformerImpl model(small(pos), 30, 16, /*causal=*/true);
    model.eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor ids = torch::randint(0, 30, {3, 12});
    const torch::Tensor full = model.forward(ids, torch::zeros({3}));
    // A prompt of 5 in one call, then one token at a time, then a chunk of 3 at an offset.
    dlm::KVCache cache;
    std::vector<torch::Tensor> parts = {model.forward_cached(ids.narrow(1, 0, 5), cache)};
    for (int64_t i = 5; i < 9; ++i) parts.push_back(model.forward_cached(ids.narrow(1, i, 1), cache));
    parts.push_back(model.forward_cached(ids.narrow(1, 9, 3), cache));
    EXPECT_EQ(cache.length, 12);
    EXPECT_TRUE(torch::allclose(torch::cat(parts, 1), full, 1e-4, 1e-5)) << pos;
  }
}

TEST(Autoregressive, CachedSamplingEqualsUncachedSampling) {
  torch::manual_seed(1);
  dlm::TransformerImpl model(small("rotary"), 30, 24, /*causal=*/true);
  const torch::Tensor start = torch::tensor({{2, 11, 12, 13}, {2, 14, 15, 16}});
  dlm::SampleConfig o;
  const auto streams = [](uint64_t seed) {
    return std::vector<torch::Generator>{dlm::cpu_generator(seed), dlm::cpu_generator(seed + 1)};
  };
  for (const auto sampling : {dlm::Sampling::kGreedy, dlm::Sampling::kTopK}) {
    o.sampling = sampling;
    auto g1 = streams(5), g2 = streams(5);
    const auto cached = dlm::generate_ar(model, start, 12, o, /*eos_id=*/-1, g1, true);
    const auto plain = dlm::generate_ar(model, start, 12, o, -1, g2, false);
    EXPECT_TRUE(torch::equal(cached.tokens, plain.tokens));
    EXPECT_EQ(cached.tokens.sizes(), (std::vector<int64_t>{2, 12}));
    EXPECT_EQ(cached.passes, 12);
  }
  // Greedy decoding picks the argmax of the full forward pass at every step.
  o.sampling = dlm::Sampling::kGreedy;
  auto g = streams(5);
  const auto greedy = dlm::generate_ar(model, start, 6, o, -1, g, true);
  torch::NoGradGuard no_grad;
  model.eval();
  const torch::Tensor seq = torch::cat({start, greedy.tokens}, 1);
  const torch::Tensor expect = model.forward(seq, torch::zeros({2})).narrow(1, 3, 6).argmax(-1);
  EXPECT_TRUE(torch::equal(greedy.tokens, expect));
}

TEST(Autoregressive, StopsWhenEveryRowHasEndedAndPadsEndedRowsWithEos) {
  torch::manual_seed(2);
  dlm::TransformerImpl model(small("learned"), 10, 32, /*causal=*/true);
  dlm::SampleConfig o;
  o.sampling = dlm::Sampling::kGreedy;
  std::vector<torch::Generator> g = {dlm::cpu_generator(1)};
  const torch::Tensor start = torch::tensor({{2, 5}});
  const auto free_run = dlm::generate_ar(model, start, 20, o, -1, g, true);
  // Use the first greedy token as "EOS": generation must stop after one step.
  const int64_t eos = free_run.tokens[0][0].item<int64_t>();
  const auto stopped = dlm::generate_ar(model, start, 20, o, eos, g, true);
  EXPECT_EQ(stopped.passes, 1);
  EXPECT_EQ(stopped.tokens.size(1), 1);
  // Too long for the context is an error, not a crash.
  EXPECT_THROW(dlm::generate_ar(model, start, 40, o, -1, g, true), dlm::Error);
}

}  // namespace
