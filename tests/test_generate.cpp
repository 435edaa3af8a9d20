// Generation: the denoising loop's promises (cached steps, reveal rules, blocks and their KV cache,
// guidance, finished rows) and generate_text's (batch independence, infilling, stop strings).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "denoise_fixture.h"
#include "dlm/data/tokenizer.h"
#include "dlm/diffusion/denoise.h"
#include "dlm/diffusion/sampler.h"
#include "dlm/generate/generate.h"
#include "dlm/random.h"
#include "test_util.h"

namespace {

using dlm_test::denoise_settings;
using dlm_test::Denoising;
using dlm_test::error_of;

constexpr int64_t kContext = 24;

struct Tiny {
  dlm::Config config;
  dlm::CharTokenizer tok = dlm::CharTokenizer::build({"abcdefgh \n"});
  std::shared_ptr<dlm::DenoiserImpl> model;
  explicit Tiny(dlm::TimeCond time_cond = dlm::TimeCond::kNone) {
    config.data.kind = dlm::DataKind::kDocuments;
    config.model = dlm_test::tiny_model(2, 2, 0.0);
    config.model.pos = dlm::PosKind::kRotary;
    config.model.time_cond = time_cond;
    torch::manual_seed(3);
    model = dlm::make_model(config.model, tok.vocab_size(), kContext);
  }
  dlm::GenerateReport run(const std::vector<dlm::Prompt>& prompts, const dlm::SampleConfig& s, int64_t batch = 16) {
    dlm::GenerateOptions o;
    o.sample = s;
    o.batch_size = batch;
    o.seed = 9;
    return dlm::generate_text(*model, tok, config, prompts, o);
  }
};

dlm::SampleConfig settings(dlm::Strategy strategy, int64_t steps, dlm::Sampling sampling = dlm::Sampling::kTopK) {
  dlm::SampleConfig s;
  s.strategy = strategy;
  s.steps = steps;
  s.sampling = sampling;
  s.top_k = 5;
  return s;
}

std::vector<std::string> texts(const dlm::GenerateReport& r) {
  std::vector<std::string> out;
  for (const auto& s : r.samples) out.push_back(s.text);
  return out;
}

TEST(Generate, CachedStepsGiveTheSameOutputWithFewerPasses) {
  // The random order follows the schedule exactly, so 64 steps over 20 positions leave most steps
  // without a reveal; time conditioning must not matter either (t is a function of the canvas).
  for (auto tc : {dlm::TimeCond::kNone, dlm::TimeCond::kAdd}) {
    Tiny t(tc);
    dlm::SampleConfig s = settings(dlm::Strategy::kRandom, 64);
    const std::vector<dlm::Prompt> prompts = {{"ab", ""}, {"c", ""}, {"defg", ""}};
    s.length = 20;
    s.cache = true;
    const auto cached = t.run(prompts, s);
    s.cache = false;
    const auto plain = t.run(prompts, s);
    EXPECT_EQ(texts(cached), texts(plain));
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_EQ(plain.samples[i].stats.passes, plain.samples[i].stats.steps);
      EXPECT_LE(cached.samples[i].stats.passes, 20);  // at most one pass per revealing step
      EXPECT_LT(cached.samples[i].stats.passes, plain.samples[i].stats.passes);
    }
  }
}

TEST(Generate, ARowIsTheSameAloneAndInABatchWithPromptsOfOtherLengths) {
  Tiny t;
  std::vector<dlm::Prompt> prompts;
  for (int i = 0; i < 16; ++i)
    prompts.push_back(
        {std::string("abcdefgh").substr(0, static_cast<size_t>(i % 8)) + std::string(static_cast<size_t>(i / 8), ' '),
         ""});
  for (auto strategy : {dlm::Strategy::kConfidence, dlm::Strategy::kL2R}) {
    dlm::SampleConfig s = settings(strategy, 6, dlm::Sampling::kGreedy);
    s.length = 7;  // rows of 7 to 16 positions in one batch
    const auto batch = t.run(prompts, s);
    for (size_t i : {size_t{0}, size_t{5}, size_t{11}, size_t{15}}) {
      EXPECT_EQ(t.run({prompts[i]}, s).samples[0].text, batch.samples[i].text) << "prompt " << i;
    }
  }
}

TEST(Generate, InfillingChangesNothingOutsideTheSpans) {
  Tiny t;
  for (const auto& [strategy, name] : dlm::enum_names(static_cast<dlm::Strategy*>(nullptr))) {
    if (strategy == dlm::Strategy::kOrigin) continue;  // --sampler dream's rule only
    if (strategy == dlm::Strategy::kRemask) continue;
    const auto r = t.run({{"", "ab<mask:3>cd<mask:2>h"}}, settings(strategy, 5));
    const std::string& text = r.samples[0].text;
    ASSERT_EQ(text.size(), 10u) << name << ": " << text;  // every span position got a character, never EOS or padding
    EXPECT_EQ(text.substr(0, 2), "ab") << name;
    EXPECT_EQ(text.substr(5, 2), "cd") << name;
    EXPECT_EQ(text.substr(9), "h") << name;
    EXPECT_EQ(r.samples[0].ids.size(), 5u) << name;
  }
  EXPECT_NE(error_of([] { dlm::parse_infill("a<mask:0>b"); }).find("byte 1"), std::string::npos);
  EXPECT_NE(error_of([] { dlm::parse_infill("no spans"); }).find("no <mask:N>"), std::string::npos);
  EXPECT_EQ(dlm::parse_infill("<mask:2>x<mask:10>").texts, (std::vector<std::string>{"", "x", ""}));
}

// Masked positions after each step of one row; a revealed position never changes again.
std::vector<int64_t> masks_per_step(dlm::DenoiserImpl& model, const dlm::SampleConfig& s, int64_t L, bool* remasked) {
  dlm::DenoiseRows rows;
  rows.tokens = torch::full({1, L}, dlm::SpecialTokens::kMask, torch::kInt64);
  rows.generate = torch::ones({1, L}, torch::kBool);
  rows.valid = torch::ones({1, L}, torch::kBool);
  rows.span = torch::zeros({1, L}, torch::kBool);
  rows.prompt = torch::zeros({1, L}, torch::kBool);
  rows.counted_fixed = {0};
  rows.seeds = {5};
  std::vector<int64_t> masked;
  torch::Tensor before = rows.tokens.clone();
  *remasked = false;
  dlm::denoise(model, rows, s, {dlm::SpecialTokens::kMask, -1, -1}, [&](const dlm::SamplerStep& at) {
    const torch::Tensor& x = at.canvas;
    const torch::Tensor was_open = before.ne(dlm::SpecialTokens::kMask);
    if (!x.masked_select(was_open).equal(before.masked_select(was_open))) *remasked = true;
    masked.push_back(x.eq(dlm::SpecialTokens::kMask).sum().item<int64_t>());
    before = x.clone();
  });
  return masked;
}

TEST(Generate, ThresholdAndEntropyRulesRevealAtLeastOnePerStepAndNeverRemask) {
  Tiny t;
  for (double threshold : {0.999, 0.2, 0.01}) {
    dlm::SampleConfig s = settings(dlm::Strategy::kConfidence, 4);
    s.threshold = threshold;
    bool remasked = false;
    const auto masked = masks_per_step(*t.model, s, 16, &remasked);
    EXPECT_FALSE(remasked) << threshold;
    int64_t before = 16;
    for (int64_t m : masked) {
      EXPECT_LT(m, before) << threshold;
      before = m;
    }
    EXPECT_EQ(masked.back(), 0);
    if (threshold == 0.999) EXPECT_EQ(masked.size(), 16u);  // an untrained model is never that sure: one per step
    if (threshold == 0.01) EXPECT_LT(masked.size(), 16u);
  }
  dlm::SampleConfig s = settings(dlm::Strategy::kConfidence, 4);
  s.entropy_bound = 1e-9;  // only the single top candidate fits
  bool remasked = false;
  EXPECT_EQ(masks_per_step(*t.model, s, 12, &remasked).size(), 12u);
  EXPECT_FALSE(remasked);
}

TEST(Generate, EntropyBoundAndThresholdPickTheDocumentedSets) {
  dlm::Candidates c;
  c.probs = torch::tensor({{0.9, 0.1, 0.0}, {0.5, 0.5, 0.0}, {1.0, 0.0, 0.0}}, torch::kFloat64);
  c.confidence = torch::tensor({0.9, 0.5, 1.0}, torch::kFloat64);
  c.positions = torch::tensor({0, 1, 2});
  dlm::SampleConfig s;
  torch::Generator g = dlm::cpu_generator(1);
  const torch::Tensor scores = c.confidence;
  s.threshold = 0.8;
  EXPECT_TRUE(dlm::pick_reveals(c, scores, 0, s, g).equal(torch::tensor({2, 0})));
  s.threshold = 0.0;
  // Entropies: 0.325, 0.693, 0. In order 2, 0, 1: excess 0, 0, 0.325 (sum minus the largest).
  s.entropy_bound = 0.3;
  EXPECT_TRUE(dlm::pick_reveals(c, scores, 0, s, g).equal(torch::tensor({2, 0})));
  s.entropy_bound = 0.33;
  EXPECT_EQ(dlm::pick_reveals(c, scores, 0, s, g).size(0), 3);
  s.entropy_bound = 0.0;
  EXPECT_EQ(dlm::pick_reveals(c, scores, 0, s, g).size(0), 0);  // the random order may reveal nothing
  EXPECT_TRUE(
      dlm::order_scores(dlm::Strategy::kMargin, c, g).allclose(torch::tensor({0.8, 0.0, 1.0}, torch::kFloat64)));
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
    for (size_t k = 0; k < probs[static_cast<size_t>(p)].size(); ++k) {
      table[p][letters[k]] = std::log(probs[static_cast<size_t>(p)][k]);
    }
  }
  FixedLogits model(table);
  const dlm::DenoiseRows rows = dlm_test::masked_rows(1, 4, setup.ids.mask);
  dlm::SampleConfig s = denoise_settings(strategy);
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

TEST(Generate, BlocksFillLeftToRightAndTheKvCacheIsExactOnAFreshCache) {
  Tiny t;
  auto& model = dynamic_cast<dlm::TransformerImpl&>(*t.model);
  torch::NoGradGuard no_grad;
  model.eval();
  const torch::Tensor ids = torch::randint(5, t.tok.vocab_size(), {2, 16});
  const torch::Tensor valid = torch::ones({2, 16}, torch::kBool);
  valid[1].slice(0, 12).fill_(false);  // the second row is 12 long
  const torch::Tensor tt = torch::zeros({2});
  dlm::KVCache cache;
  const torch::Tensor full = model.forward_store(ids, tt, valid, cache);
  EXPECT_TRUE(full.allclose(model.forward_rows(ids, tt, valid)));
  const torch::Tensor pos = torch::tensor({{4, 5, 6, 7}, {8, 9, 10, 11}});
  const torch::Tensor block = model.forward_block(ids.gather(1, pos), pos, tt, valid, cache);
  for (int64_t r = 0; r < 2; ++r) {
    EXPECT_TRUE(block[r].allclose(full[r].index_select(0, pos[r]), 1e-4, 1e-5)) << r;
  }
  // With `out`, the head runs at those indices of the block only, and gives the same logits there.
  const torch::Tensor out = torch::tensor({{1, 3}, {0, 0}});
  dlm::KVCache again;
  model.forward_store(ids, tt, valid, again);
  const torch::Tensor some = model.forward_block(ids.gather(1, pos), pos, tt, valid, again, out);
  ASSERT_EQ(some.size(1), 2);
  for (int64_t r = 0; r < 2; ++r) EXPECT_TRUE(some[r].allclose(block[r].index_select(0, out[r]), 1e-4, 1e-5)) << r;
  // Padding is invisible: row 1's first 12 logits equal those of the row alone.
  EXPECT_TRUE(full[1].slice(0, 0, 12).allclose(model.forward(ids[1].slice(0, 0, 12).unsqueeze(0), torch::zeros({1}))[0],
                                               1e-4, 1e-5));

  dlm::SampleConfig s = settings(dlm::Strategy::kConfidence, 8, dlm::Sampling::kGreedy);
  s.block_length = 4;
  s.length = 16;
  std::vector<std::string> outputs;
  for (bool kv : {false, true}) {
    s.kv_cache = kv;
    s.cache = true;
    const auto cached = t.run({{"ab", ""}}, s);
    s.cache = false;
    const auto plain = t.run({{"ab", ""}}, s);
    EXPECT_EQ(cached.samples[0].text, plain.samples[0].text) << kv;
    EXPECT_EQ(plain.samples[0].stats.passes, 8);  // 16 positions, 4 blocks of 2 steps
    if (kv) EXPECT_NEAR(plain.samples[0].stats.equivalents, 4 * (1.0 + 4.0 / 18.0), 1e-9);
  }
}

// With blocks of 4 over 12 positions, no position of a block is revealed before every position of
// the blocks to its left, and the canvas ends with nothing masked.
TEST(Generate, BlocksRevealLeftToRight) {
  Tiny t;
  dlm::SampleConfig s = settings(dlm::Strategy::kConfidence, 8);
  s.block_length = 4;
  s.threshold = 0.05;  // several reveals per step, so a block could run ahead if blocks were ignored
  const dlm::DenoiseRows rows = dlm_test::masked_rows(1, 12, dlm::SpecialTokens::kMask);
  int64_t steps = 0;
  std::vector<int64_t> opened_at(3, -1);  // the step at which each block first shows a token
  const auto result =
      dlm::denoise(*t.model, rows, s, {dlm::SpecialTokens::kMask, -1, -1}, [&](const dlm::SamplerStep& at) {
        const int64_t step = at.step;
        const torch::Tensor& x = at.canvas;
        ++steps;
        const torch::Tensor open = x[0].ne(dlm::SpecialTokens::kMask);
        for (int64_t b = 0; b < 3; ++b) {
          if (!open.slice(0, 4 * b, 4 * b + 4).any().item<bool>()) continue;
          if (opened_at[static_cast<size_t>(b)] < 0) opened_at[static_cast<size_t>(b)] = step;
          EXPECT_TRUE(open.slice(0, 0, 4 * b).all().item<bool>())
              << "block " << b << " opened at step " << step << " before the blocks to its left were full";
        }
      });
  EXPECT_GE(steps, 3) << "at least one step per block";
  EXPECT_FALSE(result.tokens.eq(dlm::SpecialTokens::kMask).any().item<bool>()) << "the canvas must finish";
  EXPECT_LT(opened_at[0], opened_at[1]);
  EXPECT_LT(opened_at[1], opened_at[2]);
}

// Every position predicts token `id` with probability 0.6, except position `eos_at`, which is 0.99
// sure of EOS. No parameters: the loop runs it on the CPU.
class Scripted : public dlm::DenoiserImpl {
 public:
  Scripted(int64_t vocab, int64_t id, int64_t eos_at) : vocab_(vocab), id_(id), eos_at_(eos_at) {}
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor&) override {
    const int64_t B = ids.size(0), L = ids.size(1);
    torch::Tensor logits = torch::full({B, L, vocab_}, -30.0);
    logits.select(2, id_).fill_(std::log(0.6 / 0.4));
    logits.select(2, 0).fill_(0.0);  // the rest of the mass on padding, which never wins
    logits.select(1, eos_at_).select(1, dlm::SpecialTokens::kEos).fill_(10.0);
    return logits;
  }
  int64_t max_len() const override { return kContext; }

 private:
  int64_t vocab_, id_, eos_at_;
};

TEST(Generate, FinishedRowsTakeNoMorePassesAndNothingAfterEosIsPrinted) {
  Tiny t;
  const int64_t a = t.tok.encode("a")[0];
  Scripted model(t.tok.vocab_size(), a, 2);
  dlm::SampleConfig s = settings(dlm::Strategy::kConfidence, 10, dlm::Sampling::kGreedy);
  s.length = 10;
  // Row 0 reveals EOS first, pads the rest and needs at most two more steps; row 1's prefix covers
  // position 2, so it never sees EOS and fills all ten positions over the scheduled steps.
  dlm::GenerateOptions o;
  o.sample = s;
  const auto r = dlm::generate_text(model, t.tok, t.config, {{"", ""}, {"bcd", ""}}, o);
  EXPECT_EQ(r.samples[0].text, "aa");
  EXPECT_LE(r.samples[0].stats.passes, 3);
  EXPECT_EQ(r.samples[0].stats.passes, r.samples[0].stats.steps);
  EXPECT_EQ(r.samples[1].text, "bcd" + std::string(10, 'a'));
  EXPECT_EQ(r.samples[1].stats.passes, r.samples[1].stats.steps);
  EXPECT_GT(r.samples[1].stats.passes, r.samples[0].stats.passes + 3);
}

TEST(Generate, StopStringsEndTheText) {
  Tiny t;
  dlm::SampleConfig s = settings(dlm::Strategy::kL2R, 12, dlm::Sampling::kGreedy);
  s.length = 12;
  const std::string full = t.run({{"ab", ""}}, s).samples[0].text;
  ASSERT_GT(full.size(), 4u);
  s.stop = {full.substr(3, 1)};  // the second generated character
  const std::string cut = t.run({{"ab", ""}}, s).samples[0].text;
  EXPECT_EQ(cut, full.substr(0, full.find(s.stop[0], 2)));
}

TEST(Generate, StopIdsEndTheTextLikeEosAndAnswerOnlyPrintsTheAnswer) {
  Tiny t;
  dlm::SampleConfig s = settings(dlm::Strategy::kL2R, 12, dlm::Sampling::kGreedy);
  s.length = 12;
  const dlm::TextSample full = t.run({{"ab", ""}}, s).samples[0];
  ASSERT_GT(full.ids.size(), 2u);
  // --chat's end of turn: the ids and the text end before the first generated id equal to the stop id.
  dlm::GenerateOptions o;
  o.sample = s;
  o.batch_size = 16;
  o.seed = 9;
  o.stop_ids = {full.ids[1]};
  dlm::Prompt p{"ab", ""};
  p.answer_only = true;
  const dlm::TextSample cut = dlm::generate_text(*t.model, t.tok, t.config, {p}, o).samples[0];
  const size_t first = static_cast<size_t>(std::find(full.ids.begin(), full.ids.end(), full.ids[1]) - full.ids.begin());
  EXPECT_EQ(cut.ids, std::vector<int64_t>(full.ids.begin(), full.ids.begin() + static_cast<std::ptrdiff_t>(first)));
  EXPECT_EQ(cut.text, t.tok.decode(cut.ids));  // the answer alone, without the prefix "ab"
  EXPECT_EQ(full.text.substr(0, 2), "ab");
}

TEST(Generate, GuidanceAtScaleZeroIsPlainSamplingAndOtherwiseUsesTheUnconditionalPass) {
  const torch::Tensor c = torch::tensor({1.0, 2.0}), u = torch::tensor({0.5, 4.0});
  EXPECT_TRUE(dlm::guided_logits(c, u, 0.0).allclose(c));
  EXPECT_TRUE(dlm::guided_logits(c, u, 1.0).allclose(2 * c - u));
  Tiny t;
  dlm::SampleConfig s = settings(dlm::Strategy::kConfidence, 6);
  s.length = 12;
  const auto plain = t.run({{"abcd", ""}, {"hhh", ""}}, s);
  s.cfg_scale = 0.0;
  EXPECT_EQ(texts(t.run({{"abcd", ""}, {"hhh", ""}}, s)), texts(plain));
  s.cfg_scale = 3.0;
  const auto guided = t.run({{"abcd", ""}, {"hhh", ""}}, s);
  EXPECT_NE(texts(guided), texts(plain));
  EXPECT_DOUBLE_EQ(guided.samples[0].stats.equivalents, 2.0 * static_cast<double>(guided.samples[0].stats.passes));
}

TEST(Generate, PromptFilesReadAsJsonlOrLinesAndBadOrTooLongPromptsAreRefused) {
  const std::string dir = testing::TempDir();
  std::ofstream(dir + "/p.jsonl") << "{\"prefix\": \"ab\"}\n{\"infill\": \"a<mask:2>b\"}\n";
  const auto p = dlm::read_prompts(dir + "/p.jsonl");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].prefix, "ab");
  EXPECT_EQ(p[1].infill, "a<mask:2>b");
  std::ofstream(dir + "/bad.jsonl") << "{\"prefix\": \"ab\"}\n{\"text\": 1}\n";
  EXPECT_NE(error_of([&] { dlm::read_prompts(dir + "/bad.jsonl"); }).find("bad.jsonl:2"), std::string::npos);
  std::ofstream(dir + "/lines.txt") << "ab\ncd\n";
  EXPECT_EQ(dlm::read_prompts(dir + "/lines.txt").size(), 2u);
  Tiny t;
  EXPECT_NE(error_of([&] {
              t.run({{std::string(30, 'a'), ""}}, dlm::SampleConfig{});
            }).find("context"),
            std::string::npos);
  EXPECT_NE(error_of([&] { t.run({{"", "a<mask:40>"}}, dlm::SampleConfig{}); }).find("context"), std::string::npos);
}

}  // namespace
