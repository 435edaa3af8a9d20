// Quality measures of generated text: the scorer's perplexity is the mean negative log-likelihood of
// exactly the continuation's tokens, and unigram entropy is the entropy of the token frequencies.
#include <gtest/gtest.h>

#include <cmath>

#include "dlm/data/tokenizer.h"
#include "dlm/error.h"
#include "dlm/generate/quality.h"
#include "dlm/model/model.h"
#include "test_util.h"

namespace {

using dlm_test::error_of;

struct Scorer {
  dlm::CharTokenizer tok = dlm::CharTokenizer::build({"abcdefgh \n"});
  dlm::ModelConfig config;
  std::shared_ptr<dlm::TransformerImpl> model;
  Scorer() {
    config = dlm_test::tiny_model(2, 2, 0.0);
    torch::manual_seed(5);
    model = std::make_shared<dlm::TransformerImpl>(config, tok.vocab_size(), 16, /*causal=*/true);
  }
  // -log p(ids[i] | [BOS] ids[0..i)) summed over i >= from, computed position by position.
  double nll_from(const std::vector<int64_t>& ids, size_t from) {
    torch::NoGradGuard no_grad;
    model->eval();
    double nll = 0.0;
    for (size_t i = from; i < ids.size(); ++i) {
      std::vector<int64_t> context = {tok.bos_id()};
      context.insert(context.end(), ids.begin(), ids.begin() + static_cast<int64_t>(i));
      const torch::Tensor logits = model->forward(torch::tensor(context).unsqueeze(0), torch::zeros({1}));
      nll -= torch::log_softmax(logits[0][-1].to(torch::kFloat64), -1)[ids[i]].item<double>();
    }
    return nll;
  }
};

TEST(Quality, TheScoreCoversExactlyTheContinuationsTokens) {
  Scorer s;
  const std::vector<int64_t> ids = s.tok.encode("abc defg");
  const dlm::TextScore cont = dlm::score_continuation(*s.model, s.tok, "abc", "abc defg");
  EXPECT_EQ(cont.tokens, 5);
  EXPECT_NEAR(cont.nll, s.nll_from(ids, 3), 1e-6);
  const dlm::TextScore all = dlm::score_continuation(*s.model, s.tok, "", "abc defg");
  EXPECT_EQ(all.tokens, 8);
  EXPECT_NEAR(all.nll, s.nll_from(ids, 0), 1e-6);
  EXPECT_NEAR(all.perplexity(), std::exp(all.nll / 8), 1e-9);
  // Beyond the scorer's context of 16 nothing is scored; a bare prefix scores nothing.
  EXPECT_EQ(dlm::score_continuation(*s.model, s.tok, "ab", std::string(30, 'a')).tokens, 16 - 2);
  EXPECT_EQ(dlm::score_continuation(*s.model, s.tok, "abc", "abc").tokens, 0);
  EXPECT_DOUBLE_EQ(dlm::TextScore{}.perplexity(), 1.0);
}

TEST(Quality, SamplesAreScoredAfterTheirPrefixOrWholeForInfills) {
  Scorer s;
  dlm::TextSample a, b;
  a.prompt = 0, a.text = "ab cde";
  b.prompt = 1, b.text = "ab cde";
  const auto scores = dlm::score_samples(*s.model, s.tok, {{"ab", ""}, {"", "ab <mask:3>"}}, {a, b});
  ASSERT_EQ(scores.size(), 2u);
  EXPECT_EQ(scores[0].tokens, 4);
  EXPECT_EQ(scores[1].tokens, 6);
  EXPECT_NEAR(scores[0].nll, s.nll_from(s.tok.encode("ab cde"), 2), 1e-6);
}

TEST(Quality, UnigramEntropyIsTheEntropyOfTheTokenFrequencies) {
  EXPECT_DOUBLE_EQ(dlm::unigram_entropy({}), 0.0);
  EXPECT_DOUBLE_EQ(dlm::unigram_entropy({4, 4, 4}), 0.0);
  EXPECT_NEAR(dlm::unigram_entropy({1, 2, 1, 2}), std::log(2.0), 1e-12);
  EXPECT_NEAR(dlm::unigram_entropy({1, 1, 2, 3}), -(0.5 * std::log(0.5) + 2 * 0.25 * std::log(0.25)), 1e-12);
}

TEST(Quality, OnlyAnAutoregressiveModelScores) {
  Scorer s;
  dlm::TransformerImpl bidirectional(s.config, s.tok.vocab_size(), 16, /*causal=*/false);
  EXPECT_NE(error_of([&] {
              dlm::as_scorer(bidirectional, "runs/x");
            }).find("runs/x: the scorer must be an autoregressive run"),
            std::string::npos);
  EXPECT_EQ(&dlm::as_scorer(*s.model, "runs/ar"), s.model.get());
}

}  // namespace
