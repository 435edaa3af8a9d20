// The optimised denoising loop (dlm::denoise: batches of rows with their own streams, reused
// predictions, blocks) against the plain dlm::denoise_reference, token for token, for every strategy
// on several seeds; and what the loop feeds guidance's unconditional pass and the order `entropy`
// reveals in.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "dlm/data/tokenizer.h"
#include "dlm/diffusion/denoise.h"
#include "dlm/diffusion/sampler.h"
#include "test_util.h"

namespace {

constexpr int64_t kDenoiseContext = 20;

struct Denoising {
  dlm::CharTokenizer tok = dlm::CharTokenizer::build({"abcdefgh \n"});
  dlm::SpecialIds ids{tok.mask_id(), tok.eos_id(), tok.pad_id(), tok.bos_id(), tok.sep_id()};
  std::shared_ptr<dlm::DenoiserImpl> model;

  explicit Denoising(dlm::ModelType type = dlm::ModelType::kTransformer) {
    dlm::ModelConfig c;
    c.type = type;
    c.d_model = 32;
    c.n_layer = 2;
    c.n_head = 2;
    c.mlp_hidden = 32;
    c.pos = dlm::PosKind::kRotary;
    c.time_cond = dlm::TimeCond::kAdd;  // the time input must match too
    c.dropout = 0.0;
    torch::manual_seed(5);
    model = dlm::make_model(c, tok.vocab_size(), kDenoiseContext);
    // In float64: an untrained model's near-uniform predictions leave confidences, margins and
    // entropies tied up to float32 rounding, which the batch's size then decides (1e-6 apart here).
    // In float64 the batch changes the logits by 1e-15, below the float32 the loop draws from.
    model->to(torch::kFloat64);
  }

  // Three rows padded to 20: 20 long behind the prompt "abc"; 14 long, all generated; 9 long with the
  // prompt "hg", an infill span of 4, the fixed (not prompt) text "ab" and one generated position.
  dlm::DenoiseRows rows(uint64_t seed) const {
    dlm::DenoiseRows r;
    const auto b = torch::TensorOptions().dtype(torch::kBool);
    r.tokens = torch::full({3, kDenoiseContext}, tok.pad_id(), torch::kInt64);
    r.generate = torch::zeros({3, kDenoiseContext}, b);
    r.valid = torch::zeros({3, kDenoiseContext}, b);
    r.span = torch::zeros({3, kDenoiseContext}, b);
    r.prompt = torch::zeros({3, kDenoiseContext}, b);
    const auto put = [&](int64_t row, int64_t at, const std::string& text, bool prompt) {
      const std::vector<int64_t> t = tok.encode(text);
      for (size_t k = 0; k < t.size(); ++k) {
        r.tokens[row][at + static_cast<int64_t>(k)] = t[k];
        r.prompt[row][at + static_cast<int64_t>(k)] = prompt;
      }
    };
    const auto generated = [&](int64_t row, int64_t from, int64_t to, bool span) {
      r.tokens[row].slice(0, from, to).fill_(tok.mask_id());
      r.generate[row].slice(0, from, to).fill_(true);
      r.span[row].slice(0, from, to).fill_(span);
    };
    put(0, 0, "abc", true);
    generated(0, 3, 20, false);
    generated(1, 0, 14, false);
    put(2, 0, "hg", true);
    generated(2, 2, 6, true);
    put(2, 6, "ab", false);
    generated(2, 8, 9, false);
    for (int64_t row = 0; row < 3; ++row) r.valid[row].slice(0, 0, std::vector<int64_t>{20, 14, 9}[row]).fill_(true);
    r.counted_fixed = {0, 0, 2};
    r.seeds = {seed * 7 + 1, seed * 7 + 2, seed * 7 + 3};
    return r;
  }
};

dlm::SampleConfig settings(dlm::Strategy strategy) {
  dlm::SampleConfig s;
  s.strategy = strategy;
  s.steps = 6;
  s.sampling = dlm::Sampling::kTopK;  // draws, so every random stream must line up
  s.top_k = 4;
  return s;
}

// The loop's canvases for `s`, against the reference's, for seeds 1..5.
void expect_matches_reference(Denoising& setup, dlm::SampleConfig s, const std::string& what) {
  const dlm::SampleConfig plain = s;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const dlm::DenoiseRows rows = setup.rows(seed);
    s = plain;
    s.block_length = 0;
    const torch::Tensor expected = dlm::denoise_reference(*setup.model, rows, s, setup.ids);
    ASSERT_FALSE(expected.eq(setup.ids.mask).any().item<bool>()) << what << ": the reference left a mask";
    for (bool cache : {true, false}) {
      s.cache = cache;
      const torch::Tensor batched = dlm::denoise(*setup.model, rows, s, setup.ids).tokens;
      EXPECT_TRUE(torch::equal(batched, expected))
          << what << ", seed " << seed << ", batched, cache " << cache << ", rows that differ: " << batched.ne(expected).any(1);
    }
    if (s.strategy == dlm::Strategy::kRemask) continue;  // re-masking has no blocks
    s.block_length = kDenoiseContext;  // one block holding every generated position
    EXPECT_TRUE(torch::equal(dlm::denoise(*setup.model, rows, s, setup.ids).tokens, expected))
        << what << ", seed " << seed << ", one block";
  }
}

TEST(DenoiseReference, TheLoopMatchesItForEveryStrategy) {
  Denoising setup;
  for (const auto& [strategy, name] : dlm::enum_names(static_cast<dlm::Strategy*>(nullptr))) {
    expect_matches_reference(setup, settings(strategy), name);
  }
}

TEST(DenoiseReference, TheLoopMatchesItWithRevealRulesGuidanceAndTheMlp) {
  Denoising setup;
  dlm::SampleConfig s = settings(dlm::Strategy::kConfidence);
  s.threshold = 0.2;
  expect_matches_reference(setup, s, "threshold");
  s = settings(dlm::Strategy::kEntropy);
  s.entropy_bound = 1.0;
  expect_matches_reference(setup, s, "entropy bound");
  s = settings(dlm::Strategy::kMargin);
  s.order_temperature = 0.5;
  expect_matches_reference(setup, s, "order temperature");
  s = settings(dlm::Strategy::kConfidence);
  s.cfg_scale = 1.5;
  expect_matches_reference(setup, s, "guidance");
  Denoising mlp(dlm::ModelType::kMlp);
  expect_matches_reference(mlp, settings(dlm::Strategy::kRandom), "mlp");
}

TEST(DenoiseReference, RefusesBlocks) {
  Denoising setup;
  dlm::SampleConfig s = settings(dlm::Strategy::kConfidence);
  s.block_length = 4;
  EXPECT_NE(dlm_test::error_of([&] { dlm::denoise_reference(*setup.model, setup.rows(1), s, setup.ids); }).find("no blocks"),
            std::string::npos);
}

// Delegates to a real model and keeps every canvas it was given.
class Recording : public dlm::DenoiserImpl {
 public:
  explicit Recording(std::shared_ptr<dlm::DenoiserImpl> inner) : inner_(std::move(inner)) {}
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& t) override {
    seen.push_back(ids.cpu().clone());
    return inner_->forward(ids, t);
  }
  int64_t max_len() const override { return inner_->max_len(); }
  std::vector<torch::Tensor> seen;

 private:
  std::shared_ptr<dlm::DenoiserImpl> inner_;
};

TEST(Guidance, TheUnconditionalPassSeesThePromptMaskedAndNothingElseChanged) {
  Denoising setup;
  Recording model(setup.model);
  dlm::SampleConfig s = settings(dlm::Strategy::kConfidence);
  s.cfg_scale = 2.0;
  const dlm::DenoiseRows rows = setup.rows(1);
  dlm::denoise(model, rows, s, setup.ids);
  ASSERT_FALSE(model.seen.empty());
  // The first pass has every row: conditional rows, then the same rows with the prompt masked.
  const torch::Tensor& first = model.seen.front();
  ASSERT_EQ(first.size(0), 6);
  EXPECT_TRUE(torch::equal(first.narrow(0, 0, 3), rows.tokens));
  EXPECT_TRUE(torch::equal(first.narrow(0, 3, 3), rows.tokens.masked_fill(rows.prompt, setup.ids.mask)));
  EXPECT_TRUE(rows.prompt.any().item<bool>());
  // Later passes: the unconditional half differs from the conditional half only by masks.
  for (const torch::Tensor& ids : model.seen) {
    ASSERT_EQ(ids.size(0) % 2, 0);
    const int64_t n = ids.size(0) / 2;
    const torch::Tensor cond = ids.narrow(0, 0, n), uncond = ids.narrow(0, n, n);
    EXPECT_TRUE(uncond.ne(cond).logical_and(uncond.ne(setup.ids.mask)).logical_not().all().item<bool>());
  }
}

// Logits that depend on the position only: row p of `table` (L, V) at every step, so each
// position's entropy and confidence are fixed and known.
class FixedLogits : public dlm::DenoiserImpl {
 public:
  explicit FixedLogits(torch::Tensor table) : table_(std::move(table)) {}
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor&) override {
    return table_.narrow(0, 0, ids.size(1)).unsqueeze(0).expand({ids.size(0), -1, -1}).contiguous();
  }
  int64_t max_len() const override { return table_.size(0); }

 private:
  torch::Tensor table_;
};

// The positions of a 4-long canvas in the order `strategy` reveals them, one per step.
std::vector<int64_t> reveal_order(const Denoising& setup, dlm::Strategy strategy) {
  // Distributions over a..e: position 0 {.8, .05 x 4} (entropy .78), 1 {.5, .5} (.69),
  // 2 {.95, .05} (.20), 3 {.6, .4} (.67).
  const std::vector<std::vector<double>> probs = {{.8, .05, .05, .05, .05}, {.5, .5}, {.95, .05}, {.6, .4}};
  torch::Tensor table = torch::full({4, setup.tok.vocab_size()}, -50.0);
  const std::vector<int64_t> letters = setup.tok.encode("abcde");
  for (int64_t p = 0; p < 4; ++p) {
    for (size_t k = 0; k < probs[static_cast<size_t>(p)].size(); ++k) table[p][letters[k]] = std::log(probs[static_cast<size_t>(p)][k]);
  }
  FixedLogits model(table);
  const dlm::DenoiseRows rows = dlm_test::masked_rows(1, 4, setup.ids.mask);
  dlm::SampleConfig s = settings(strategy);
  s.steps = 4;
  s.schedule = dlm::Schedule::kLinear;
  s.sampling = dlm::Sampling::kGreedy;
  std::vector<int64_t> order;
  torch::Tensor before = rows.tokens[0].clone();
  dlm::denoise(model, rows, s, setup.ids, [&](const dlm::SamplerStep& at) {
    const torch::Tensor& x = at.canvas;
    for (int64_t p = 0; p < 4; ++p) {
      if (before[p].item<int64_t>() == setup.ids.mask && x[0][p].item<int64_t>() != setup.ids.mask) order.push_back(p);
    }
    before = x[0].clone();
  });
  return order;
}

TEST(Generate, EntropyRevealsTheLowestEntropyFirst) {
  Denoising setup;
  EXPECT_EQ(reveal_order(setup, dlm::Strategy::kEntropy), (std::vector<int64_t>{2, 3, 1, 0}));
  // The other orders on the same logits differ, so the test tells them apart.
  EXPECT_EQ(reveal_order(setup, dlm::Strategy::kConfidence), (std::vector<int64_t>{2, 0, 3, 1}));
  EXPECT_EQ(reveal_order(setup, dlm::Strategy::kL2R), (std::vector<int64_t>{0, 1, 2, 3}));
}

}  // namespace
