// dgen: generates text from a trained checkpoint (dlm::generate_text) and shows what a tokenizer
// does (--tokenize, --detokenize). Sampling flags come from the library's table of sample.* settings
// (apps/sample_flags.h).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "dlm/blas.h"
#include "dlm/device.h"
#include "dlm/diffusion/process.h"
#include "dlm/error.h"
#include "dlm/generate/chat.h"
#include "dlm/generate/generate.h"
#include "dlm/generate/inspect.h"
#include "dlm/generate/quality.h"
#include "dlm/generate/tokenizer_tools.h"
#include "dlm/hf/hf_folder.h"
#include "dlm/json.h"
#include "dlm/log.h"
#include "dlm/model/checkpoint.h"
#include "dlm/model/run_dir.h"
#include "dlm/sample_options.h"
#include "dlm/sampler_settings.h"
#include "dlm/utf8.h"
#include "sample_flags.h"

namespace {

// The command line as given; the sampling flags are the library's table's (sample_flags.h).
struct Flags {
  std::string checkpoint, prefix, infill, prompts_path, format = "text", device = "auto", tokenizer_path, score_with;
  std::string dump_logits, dump_hidden;
  dlm::ChatOptions chat_options;
  dlm::GenerateOptions go;
  int64_t threads = 0;
  bool show_steps = false, tokenize = false, detokenize = false, verbose = false, chat = false;
  dlm::SampleFlags sample;
};

void add_flags(CLI::App& app, Flags& f) {
  app.add_option("--checkpoint", f.checkpoint,
                 "checkpoint file, run directory or Hugging Face folder (default: the latest run in runs/LATEST)");
  auto* prefix_opt = app.add_option("--prefix", f.prefix, "text the sample starts with; never masked (default: none)");
  auto* infill_opt =
      app.add_option("--infill", f.infill, "template whose <mask:N> spans (N tokens each) alone are generated")
          ->excludes(prefix_opt);
  app.add_option("--prompts", f.prompts_path,
                 "file of prompts: one prefix per line, or JSONL with \"prefix\" or \"infill\"")
      ->excludes(prefix_opt)
      ->excludes(infill_opt);
  auto* chat_flag = app.add_flag("--chat", f.chat,
                                 "make each prompt one user turn plus the assistant's header, per --chat-template; the "
                                 "text printed is the answer, cut at the end of turn (default: off)");
  app.add_option("--chat-template", f.chat_options.template_name,
                 "llada | chatml (default: the one the tokenizer's chat_template is: <|start_header_id|> llada, "
                 "<|im_start|> chatml)")
      ->needs(chat_flag);
  app.add_option("--system", f.chat_options.system,
                 "chatml's system turn; \"\" drops it (default: \"You are a helpful assistant.\")")
      ->needs(chat_flag);
  chat_flag->excludes(infill_opt);
  app.add_option("--num-samples", f.go.num_samples, "samples per prompt (default: 1)");
  app.add_option("--batch-size", f.go.batch_size,
                 "rows per batch (default: 0 = as many as fit in about 1 GiB, at most 64)");
  app.add_option("--seed", f.go.seed, "random seed; a row's stream depends on it and the row's index (default: 1234)");
  dlm::add_sample_flags(app, f.sample);
  app.add_flag("--show-steps", f.show_steps,
               "print the canvas after every step (masks shown as \u2591; for uniform noise and the simplex, tokens "
               "shaded by their probability on a terminal)");
  app.add_option("--format", f.format, "text | jsonl (default: text)")->check(CLI::IsMember({"text", "jsonl"}));
  app.add_option("--device", f.device, "auto | cpu | cuda (default: auto)");
  auto* tok_flag = app.add_flag("--tokenize", f.tokenize,
                                "read UTF-8 text on stdin, print {\"ids\": [...], \"pieces\": [...]} (--format jsonl: "
                                "one JSON string per line, one answer per line)");
  app.add_flag("--detokenize", f.detokenize,
               "read {\"ids\": [...]} or [...] on stdin, print the text (--format jsonl: one request per line, "
               "{\"text\": ...} each)")
      ->excludes(tok_flag);
  app.add_option("--tokenizer", f.tokenizer_path,
                 "for --tokenize/--detokenize: a SentencePiece .model, a tokenizer.json or a folder with one, a folder "
                 "of BPE files, or a checkpoint / run directory (default: --checkpoint)");
  app.add_option("--score-with", f.score_with,
                 "autoregressive run that scores each sample: adds its perplexity and unigram entropy");
  app.add_option("--dump-logits", f.dump_logits,
                 "run the model once over --prefix as its tokenizer encodes it (specials included); write the logits "
                 "[tokens x vocab] as float32 .npy, print {\"ids\": [...]}");
  app.add_option("--dump-hidden", f.dump_hidden,
                 "the same, writing the last hidden state [tokens x width] (with or without --dump-logits)");
  app.add_option("--threads", f.threads, "CPU threads (default: 0 = OMP_NUM_THREADS, else the core count)");
  app.add_flag("--verbose", f.verbose, "print the BLAS library and a summary of the run on stderr");
}

// --tokenize / --detokenize: standard input through the tokenizer to standard output.
int run_tokenizer(const Flags& f) {
  const auto tok = dlm::open_tokenizer(f.tokenizer_path.empty() ? f.checkpoint : f.tokenizer_path);
  if (f.chat && !f.tokenize) throw dlm::Error("--chat goes with --tokenize, not --detokenize");
  const std::optional<dlm::ChatFormat> chat =
      f.chat ? std::optional<dlm::ChatFormat>(dlm::make_chat_format(*tok, f.chat_options)) : std::nullopt;
  const dlm::ChatFormat* format = chat ? &*chat : nullptr;
  const std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (f.format == "jsonl") {
    const std::string out = f.tokenize ? dlm::tokenize_lines(*tok, input, format) : dlm::detokenize_lines(*tok, input);
    return std::fwrite(out.data(), 1, out.size(), stdout), 0;
  }
  if (f.tokenize) {
    const nlohmann::json j = dlm::tokenize_to_json(*tok, input, "standard input", format);
    return std::printf("%s\n", dlm::dump_json(j).c_str()), 0;
  }
  const std::string text = dlm::detokenize_json(*tok, input, "standard input");
  return std::fwrite(text.data(), 1, text.size(), stdout), 0;  // exactly the text, nothing added
}

// --dump-logits / --dump-hidden: one pass over --prefix, the ids on standard output.
int dump_tensors(const CLI::App& app, const Flags& f, dlm::LoadedModel& loaded) {
  if (!app.count("--prefix")) {
    throw dlm::Error("--dump-logits and --dump-hidden run the model over --prefix TEXT; give one");
  }
  if (f.chat) throw dlm::Error("--chat does not apply to --dump-logits and --dump-hidden (they take --prefix as is)");
  const std::vector<int64_t> ids = dlm::dump_forward(loaded, f.prefix, f.dump_logits, f.dump_hidden);
  return std::printf("%s\n", dlm::dump_json({{"ids", ids}}).c_str()), 0;
}

// --show-steps: each step's canvas, a row per sample, on `timeline` (shaded when `color`).
dlm::TimelineCallback step_printer(std::FILE* timeline, bool color, bool many_prompts) {
  return [=](int64_t step, int64_t planned, const std::vector<dlm::StepRow>& rows) {
    for (const auto& r : rows) {
      const std::string row = rows.size() > 1 || many_prompts ? "#" + std::to_string(r.sample) + " " : "";
      const std::string of = planned > 0 ? "/" + std::to_string(planned) : "";
      std::fprintf(timeline, "step %2ld%s [%s] %s%s\n", static_cast<long>(step), of.c_str(), dlm::step_label(r).c_str(),
                   row.c_str(), dlm::shaded_canvas(r, color).c_str());
    }
  };
}

// One sample as a line of --format jsonl; `score` (or null) adds the --score-with figures.
nlohmann::json sample_json(const dlm::TextSample& s, const dlm::Prompt& p, const dlm::GenerateOptions& go,
                           const dlm::GenerateReport& report, const dlm::Config& config, const dlm::TextScore* score) {
  const double passes = static_cast<double>(std::max<int64_t>(1, s.stats.passes));
  nlohmann::json j = {{"text", s.text},
                      {"prompt", s.prompt},
                      {"sample", s.sample},
                      {"seed", go.seed},
                      {"steps", s.stats.steps},
                      {"forward_passes", s.stats.passes},
                      {"equivalents", s.stats.equivalents},
                      {"tokens", static_cast<int64_t>(s.ids.size())},
                      {"seconds", report.seconds},
                      {"tokens_per_pass", static_cast<double>(s.ids.size()) / passes},
                      {"objective", config.objective}};
  j[p.infill.empty() ? "prefix" : "infill"] = p.infill.empty() ? p.prefix : p.infill;
  j.update({{"prompt_ids", s.prompt_ids}, {"gen_ids", s.gen_ids}});
  if (score) j.update({{"perplexity", score->perplexity()}, {"unigram_entropy", dlm::unigram_entropy(s.ids)}});
  return j;
}

// The samples on standard output (text or JSON lines); the scores' summary and --verbose's on stderr.
void print_samples(const Flags& f, const dlm::GenerateOptions& go, const dlm::Config& config,
                   const std::vector<dlm::Prompt>& prompts, const dlm::GenerateReport& report,
                   const std::vector<dlm::TextScore>& scores) {
  const bool scored = !f.score_with.empty();
  for (size_t i = 0; i < report.samples.size(); ++i) {
    const dlm::TextSample& s = report.samples[i];
    if (f.format == "text") {
      std::printf("%s\n", s.text.c_str());
      continue;
    }
    const dlm::Prompt& p = prompts[static_cast<size_t>(s.prompt)];
    const nlohmann::json j = sample_json(s, p, go, report, config, scored ? &scores[i] : nullptr);
    std::printf("%s\n", dlm::dump_json(j).c_str());
  }
  if (scored && f.format == "text") std::fprintf(stderr, "%s\n", dlm::score_summary(scores, report.samples).c_str());
  if (f.verbose) {
    std::fprintf(stderr, "%zu samples in %.3f s, %ld model calls", report.samples.size(), report.seconds,
                 static_cast<long>(report.forward_calls));
    if (report.cache_bytes > 0) std::fprintf(stderr, ", a KV cache of %.1f MiB", report.cache_bytes / 1048576.0);
    std::fprintf(stderr, "\n");
  }
}

// --chat: each prompt becomes its user turn; the text shown is the answer, which ends at the end of turn.
void chat_prompts(const dlm::Tokenizer& tok, const dlm::ChatOptions& options, std::vector<dlm::Prompt>& prompts,
                  dlm::GenerateOptions& go) {
  const dlm::ChatFormat format = dlm::make_chat_format(tok, options);
  for (dlm::Prompt& p : prompts) {
    if (!p.infill.empty()) throw dlm::Error("--chat takes prompts to answer, not infill templates");
    p.prefix = dlm::chat_prompt(format, p.prefix);
    p.answer_only = true;
  }
  go.stop_ids.push_back(format.end_of_turn);
}

// Sampling: the sample.* flags over the model's config, the prompts, the samples and their scores.
int generate_samples(const CLI::App& app, const Flags& f, dlm::LoadedModel& loaded, const torch::Device& dev) {
  loaded.config.sample = dlm::resolve_sample(loaded.config.sample, dlm::given_sample_flags(app, f.sample));
  dlm::GenerateOptions go = f.go;
  go.sample = loaded.config.sample;
  dlm::utf8_decode(f.prefix, "--prefix");  // names the flag when the bytes are not UTF-8
  dlm::utf8_decode(f.infill, "--infill");
  std::vector<dlm::Prompt> prompts = {{f.prefix, f.infill}};
  if (!f.prompts_path.empty()) prompts = dlm::read_prompts(f.prompts_path);
  if (f.chat) chat_prompts(*loaded.tokenizer, f.chat_options, prompts, go);
  std::optional<dlm::LoadedModel> scorer;  // loaded and checked first: a wrong run fails before the sampling
  if (!f.score_with.empty())
    scorer = dlm::load_model_for_inference(dlm::resolve_checkpoint_path(f.score_with), dev, dlm::make_process_model);
  dlm::TransformerImpl* scorer_model = scorer ? &dlm::as_scorer(*scorer->model, f.score_with) : nullptr;

  std::FILE* timeline = f.format == "jsonl" ? stderr : stdout;
  const bool color = isatty(fileno(timeline)) && std::getenv("NO_COLOR") == nullptr;
  const dlm::TimelineCallback on_step = f.show_steps ? step_printer(timeline, color, prompts.size() > 1) : nullptr;
  const bool bar = isatty(2) && static_cast<int64_t>(prompts.size()) * go.num_samples > 64;
  const auto on_progress = [bar](int64_t done, int64_t total) {
    if (bar) {
      std::fprintf(stderr, "\r%ld/%ld samples%s", static_cast<long>(done), static_cast<long>(total),
                   done == total ? "\n" : "");
    }
  };
  const dlm::GenerateReport report =
      dlm::generate_text(*loaded.model, *loaded.tokenizer, loaded.config, prompts, go, on_step, on_progress);
  std::vector<dlm::TextScore> scores;
  if (scorer_model) scores = dlm::score_samples(*scorer_model, *scorer->tokenizer, prompts, report.samples);
  print_samples(f, go, loaded.config, prompts, report, scores);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dgen: generate text with a trained masked diffusion model"};
  Flags flags;
  add_flags(app, flags);
  CLI11_PARSE(app, argc, argv);
  dlm::tune_allocator();
  dlm::log::setup("dgen");  // the library's status lines go to stderr: stdout is the samples' and the ids'

  return dlm::run_tool("dgen", [&] {
    if (flags.tokenize || flags.detokenize) return run_tokenizer(flags);
    if (app.count("--tokenizer")) throw dlm::Error("--tokenizer goes with --tokenize or --detokenize");
    const dlm::BlasStatus blas = dlm::ensure_blas_kernels(argv);  // may restart the program once
    if (flags.verbose || blas.warning) std::fprintf(stderr, "%s\n", blas.line.c_str());
    const torch::Device dev = dlm::resolve_device(dlm::parse_device(flags.device));
    dlm::set_threads(flags.threads);
    dlm::LoadedModel loaded = dlm::load_any_model(flags.checkpoint, dev, dlm::make_process_model);
    const std::string precision = dlm::precision_notice(loaded.config.train.precision, dev, dlm::cpu_has_bf16_dot());
    if (!precision.empty()) dlm::log::info("{}", precision);
    if (!flags.dump_logits.empty() || !flags.dump_hidden.empty()) return dump_tensors(app, flags, loaded);
    return generate_samples(app, flags, loaded, dev);
  });
}
