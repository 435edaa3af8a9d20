// Perplexity under an autoregressive scorer and unigram entropy of generated text (see quality.h).
#include "dlm/generate/quality.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "dlm/error.h"

namespace dlm {

double TextScore::perplexity() const { return tokens > 0 ? std::exp(nll / static_cast<double>(tokens)) : 1.0; }

TransformerImpl& as_scorer(DenoiserImpl& model, const std::string& what) {
  auto* scorer = dynamic_cast<TransformerImpl*>(&model);
  if (!scorer || !scorer->causal()) throw Error(what + ": the scorer must be an autoregressive run (objective \"ar\")");
  return *scorer;
}

TextScore score_continuation(TransformerImpl& scorer, const Tokenizer& tok, const std::string& prefix,
                             const std::string& text) {
  std::vector<int64_t> ids = {tok.bos_id()};
  const std::vector<int64_t> all = tok.encode(text);
  ids.insert(ids.end(), all.begin(), all.end());
  const int64_t first =
      1 + static_cast<int64_t>(prefix.empty() ? 0 : tok.encode(prefix).size());  // first scored position
  const int64_t T = std::min<int64_t>(static_cast<int64_t>(ids.size()), scorer.max_len() + 1);
  if (T <= first) return {};
  const torch::Device device = module_device(scorer);
  const torch::Tensor input =
      torch::tensor(std::vector<int64_t>(ids.begin(), ids.begin() + T - 1)).unsqueeze(0).to(device);
  const torch::Tensor target = torch::tensor(std::vector<int64_t>(ids.begin() + first, ids.begin() + T)).to(device);
  InferenceScope scope(scorer);
  const torch::Tensor logits =
      scorer.forward(input, torch::zeros({1}, torch::TensorOptions(device))).squeeze(0).narrow(0, first - 1, T - first);
  const torch::Tensor logp = torch::log_softmax(logits.to(torch::kFloat64), -1);
  return {-logp.gather(1, target.unsqueeze(1)).sum().item<double>(), T - first};
}

std::vector<TextScore> score_samples(TransformerImpl& scorer, const Tokenizer& tok, const std::vector<Prompt>& prompts,
                                     const std::vector<TextSample>& samples) {
  std::vector<TextScore> scores;
  for (const auto& s : samples) {
    const Prompt& p = prompts.at(static_cast<size_t>(s.prompt));
    scores.push_back(score_continuation(scorer, tok, p.infill.empty() ? p.prefix : "", s.text));
  }
  return scores;
}

std::string score_summary(const std::vector<TextScore>& scores, const std::vector<TextSample>& samples) {
  TextScore total;
  double entropy = 0.0;
  for (const auto& s : scores) total += s;
  for (const auto& s : samples) entropy += unigram_entropy(s.ids);
  char line[160];
  std::snprintf(line, sizeof line,
                "scored: perplexity %.2f over %ld tokens; unigram entropy %.3f nats (mean of %zu samples)",
                total.perplexity(), static_cast<long>(total.tokens),
                samples.empty() ? 0.0 : entropy / static_cast<double>(samples.size()), samples.size());
  return line;
}

double unigram_entropy(const std::vector<int64_t>& ids) {
  std::map<int64_t, double> counts;
  for (int64_t id : ids) counts[id] += 1.0;
  const double n = static_cast<double>(ids.size());
  double h = 0.0;
  for (const auto& [id, c] : counts) h -= c / n * std::log(c / n);
  return h;
}

}  // namespace dlm
