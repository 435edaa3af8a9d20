// Quality of generated text, measured without Python: the perplexity of a continuation under an
// autoregressive scorer (usually the diffusion model's twin) and the entropy of its token
// frequencies. Both are needed: low perplexity with low entropy is repetition.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dlm/data/tokenizer.h"
#include "dlm/generate/generate.h"
#include "dlm/model/model.h"

namespace dlm {

// Negative log-likelihood (nats) summed over the scored tokens, and their count.
struct TextScore {
  double nll = 0.0;
  int64_t tokens = 0;
  TextScore& operator+=(const TextScore& o) { return nll += o.nll, tokens += o.tokens, *this; }
  double perplexity() const;  ///< exp(nll / tokens); 1 when nothing was scored
};

// The model as a causal scorer; throws dlm::Error naming `what` when it is not autoregressive.
TransformerImpl& as_scorer(DenoiserImpl& model, const std::string& what);

// Scores the tokens of `text` after `prefix` (text starts with prefix; "" scores all of it) under
// the scorer given [BOS] and the prefix, both encoded by the scorer's own tokenizer. Text beyond
// the scorer's context is not scored.
TextScore score_continuation(TransformerImpl& scorer, const Tokenizer& tok, const std::string& prefix,
                             const std::string& text);

// One score per sample of a generate_text report: a prefix prompt's continuation after its prefix,
// an infill prompt's whole text.
std::vector<TextScore> score_samples(TransformerImpl& scorer, const Tokenizer& tok, const std::vector<Prompt>& prompts,
                                     const std::vector<TextSample>& samples);

// One line for a person: the perplexity over all scored tokens and the mean unigram entropy.
std::string score_summary(const std::vector<TextScore>& scores, const std::vector<TextSample>& samples);

// Entropy (nats) of the token frequencies of one sample; 0 for an empty one.
double unigram_entropy(const std::vector<int64_t>& ids);

}  // namespace dlm
