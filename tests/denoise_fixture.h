// The denoising tests' setup: a tiny float64 model over a char tokenizer, three rows with every kind of
// position (prompt, generated, infill span, fixed text, padding), and sampling settings that draw.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dlm/config.h"
#include "dlm/data/tokenizer.h"
#include "dlm/diffusion/denoise.h"
#include "dlm/model/model.h"
#include "test_util.h"

namespace dlm_test {

// The length every canvas of these rows is padded to.
inline constexpr int64_t kDenoiseContext = 20;

// The model (seeded, so every test sees the same one), its tokenizer and its special ids.
struct Denoising {
  dlm::CharTokenizer tok = dlm::CharTokenizer::build({"abcdefgh \n"});
  dlm::SpecialIds ids{tok.mask_id(), tok.eos_id(), tok.pad_id(), tok.bos_id(), tok.sep_id()};
  std::shared_ptr<dlm::DenoiserImpl> model;

  explicit Denoising(dlm::ModelType type = dlm::ModelType::kTransformer) {
    dlm::ModelConfig c = dlm_test::tiny_model(2, 2, dlm::ModelConfig{}.dropout);
    c.type = type;
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

// Six steps of `strategy` drawing from the top 4 tokens.
inline dlm::SampleConfig denoise_settings(dlm::Strategy strategy) {
  dlm::SampleConfig s;
  s.strategy = strategy;
  s.steps = 6;
  s.sampling = dlm::Sampling::kTopK;  // draws, so every random stream must line up
  s.top_k = 4;
  return s;
}

}  // namespace dlm_test
