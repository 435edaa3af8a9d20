// gen_bench: one sampler setting on a checkpoint: continuations of validation prompts, timed, with
// their quality: perplexity of the generated tokens under an autoregressive scorer, and unigram
// entropy (low perplexity with low entropy is repetition). One JSON line (bench/generation.sh).
#include <chrono>
#include <cstdio>
#include <fstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "dlm/blas.h"
#include "dlm/config.h"
#include "dlm/device.h"
#include "dlm/diffusion/process.h"
#include "dlm/error.h"
#include "dlm/generate/generate.h"
#include "dlm/generate/quality.h"
#include "dlm/json.h"
#include "dlm/model/checkpoint.h"
#include "dlm/model/run_dir.h"
#include "dlm/sample_options.h"

namespace {

// The first `prompt_tokens` tokens (or fewer, see below) of consecutive context-sized blocks of the validation
// documents (joined by EOS, as the likelihood evaluation cuts them), as text.
std::vector<dlm::Prompt> validation_prompts(const std::string& path, const dlm::Tokenizer& tok, int64_t block,
                                            int64_t prompt_tokens, int64_t count) {
  std::ifstream in(path);
  if (!in) throw dlm::Error(path + ": cannot open the validation documents");
  std::vector<int64_t> stream;
  for (std::string line; std::getline(in, line) && static_cast<int64_t>(stream.size()) < block * count;) {
    if (line.empty()) continue;
    const std::vector<int64_t> ids = tok.encode(dlm::parse_json(line, path).at("text").get<std::string>());
    stream.insert(stream.end(), ids.begin(), ids.end());
    stream.push_back(tok.eos_id());
  }
  std::vector<dlm::Prompt> prompts;
  for (int64_t b = 0; b < count && (b + 1) * block <= static_cast<int64_t>(stream.size()); ++b) {
    // Decoded text need not encode back to as many tokens (a subword split differently): drop ids
    // until it encodes to at most prompt_tokens, so every continuation gets the same length.
    const auto from = stream.begin() + b * block;
    std::string text;
    for (int64_t n = prompt_tokens; n > 0; --n) {
      text = tok.decode(std::vector<int64_t>(from, from + n));
      if (static_cast<int64_t>(tok.encode(text).size()) <= prompt_tokens) break;
    }
    prompts.push_back({text, ""});
  }
  if (static_cast<int64_t>(prompts.size()) < count) throw dlm::Error(path + ": too little text for the prompts asked");
  return prompts;
}

int run(int argc, char** argv) {
  dlm::ensure_blas_kernels(argv);
  dlm::tune_allocator();
  CLI::App app{"gen_bench: speed and quality of one sampler setting"};
  std::string model_path, scorer_path, val_path, label;
  int64_t n_prompts = 16, prompt_tokens = 16, threads = 0;
  dlm::GenerateOptions go;
  go.seed = 7;
  go.batch_size = 16;
  std::vector<std::string> sets;
  app.add_option("--model", model_path, "checkpoint or run directory that generates")->required();
  app.add_option("--scorer", scorer_path, "autoregressive run that scores the continuations")->required();
  app.add_option("--val", val_path, "validation documents (JSONL with \"text\")")->required();
  app.add_option("--label", label, "name of the setting in the output");
  app.add_option("--prompts", n_prompts, "prompts (default 16)");
  app.add_option("--prompt-tokens", prompt_tokens, "tokens per prompt (default 16)");
  app.add_option("--batch-size", go.batch_size, "rows per batch (default 16)");
  app.add_option("--seed", go.seed, "sampling seed (default 7)");
  app.add_option("--set", sets, "sample.KEY=VALUE over the checkpoint's sampling settings (repeatable)");
  app.add_option("--threads", threads, "CPU threads (default: the core count)");
  CLI11_PARSE(app, argc, argv);
  const int64_t used_threads = dlm::set_threads(threads);

  dlm::LoadedModel gen =
      dlm::load_model_for_inference(dlm::resolve_checkpoint_path(model_path), torch::kCPU, dlm::make_process_model);
  dlm::LoadedModel ar =
      dlm::load_model_for_inference(dlm::resolve_checkpoint_path(scorer_path), torch::kCPU, dlm::make_process_model);
  dlm::TransformerImpl& scorer = dlm::as_scorer(*ar.model, scorer_path);
  for (const auto& s : sets) dlm::apply_override(gen.config, s);
  dlm::check_sample(gen.config.sample);
  go.sample = gen.config.sample;
  const int64_t context = gen.model->max_len();
  const auto prompts = validation_prompts(val_path, *gen.tokenizer, context, prompt_tokens, n_prompts);
  go.sample.length = context - prompt_tokens;

  const dlm::GenerateReport report = dlm::generate_text(*gen.model, *gen.tokenizer, gen.config, prompts, go);
  const std::vector<dlm::TextScore> scores = dlm::score_samples(scorer, *ar.tokenizer, prompts, report.samples);
  dlm::TextScore score;
  double entropy = 0.0, passes = 0.0, equivalents = 0.0;
  int64_t tokens = 0;
  for (size_t i = 0; i < report.samples.size(); ++i) {
    const dlm::TextSample& s = report.samples[i];
    score += scores[i];
    tokens += static_cast<int64_t>(s.ids.size());
    entropy += dlm::unigram_entropy(s.ids);
    passes += static_cast<double>(s.stats.passes);
    equivalents += s.stats.equivalents;
  }
  const double rows = static_cast<double>(report.samples.size());
  const nlohmann::json out = {{"label", label},
                              {"objective", gen.config.objective},
                              {"sample", dlm::sample_json(go.sample)},
                              {"batch_size", go.batch_size},
                              {"prompts", n_prompts},
                              {"threads", used_threads},
                              {"torch", TORCH_VERSION},
                              {"seconds", report.seconds},
                              {"seconds_per_row", report.seconds / rows},
                              {"tokens_per_s", static_cast<double>(tokens) / report.seconds},
                              {"tokens_per_row", static_cast<double>(tokens) / rows},
                              {"passes_per_row", passes / rows},
                              {"equivalents_per_row", equivalents / rows},
                              {"forward_calls", report.forward_calls},
                              {"ar_perplexity", score.perplexity()},
                              {"unigram_entropy", entropy / rows}};
  std::printf("%s\n", dlm::dump_json(out).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return dlm::run_tool("gen_bench", [&] { return run(argc, argv); });
}
