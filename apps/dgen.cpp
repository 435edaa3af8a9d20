// dgen: generates text from a trained checkpoint by iterative denoising (or token by token from the
// autoregressive twin), and shows what a tokenizer does (--tokenize, --detokenize).
// The model is rebuilt from the checkpoint; flags only override the sampling settings.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "dlm/blas.h"
#include "dlm/checkpoint.h"
#include "dlm/config.h"
#include "dlm/device.h"
#include "dlm/error.h"
#include "dlm/sampler.h"
#include "dlm/utf8.h"

namespace {

// One position of the canvas as the timeline shows it: masks as a visible block, padding as a dot.
std::string show_piece(const dlm::Tokenizer& tok, int64_t id) {
  if (id == tok.mask_id()) return "\u2591";
  if (id == tok.pad_id()) return "\u00B7";
  if (id == tok.eos_id()) return "\u00B6";
  const std::string p = tok.piece(id);
  if (p == "\n") return "\u23CE";
  return p;
}

// The tokenizer at `path`: a SentencePiece .model, a folder of BPE vocabulary files, or a checkpoint
// or run directory (empty: the latest run).
std::unique_ptr<dlm::Tokenizer> open_tokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool dir = !path.empty() && fs::is_directory(path, ec);
  const bool vocab_dir = dir && (fs::exists(fs::path(path) / "vocab.json", ec) || fs::exists(fs::path(path) / "encoder.json", ec));
  const bool checkpoint = path.empty() || (dir && !vocab_dir) || fs::path(path).extension() == ".pt";
  if (checkpoint) return dlm::CheckpointReader(dlm::resolve_checkpoint_path(path)).tokenizer();
  return dlm::load_tokenizer_files(path);
}

// --tokenize: UTF-8 text on stdin to {"ids": [...], "pieces": [...]}.
// --detokenize: {"ids": [...]} (or a bare array) on stdin to the text (--format jsonl: {"text": "..."}).
int run_tokenizer_tool(const std::string& path, bool tokenize, bool json_out) {
  const auto tok = open_tokenizer(path);
  const std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (tokenize) {
    dlm::utf8_decode(input, "standard input");  // names the offset of a bad byte
    const std::vector<int64_t> ids = tok->encode(input);
    nlohmann::json pieces = nlohmann::json::array();
    for (int64_t id : ids) pieces.push_back(tok->piece(id));
    std::printf("%s\n", dlm::dump_json({{"ids", ids}, {"pieces", pieces}}).c_str());
    return 0;
  }
  const nlohmann::json j = dlm::parse_json(input, "standard input");
  const nlohmann::json* ids = j.is_array() ? &j : (j.is_object() && j.contains("ids") ? &j["ids"] : nullptr);
  if (!ids || !ids->is_array()) throw dlm::Error("standard input: expected {\"ids\": [...]} or a JSON array of ids");
  std::vector<int64_t> values;
  for (size_t i = 0; i < ids->size(); ++i) {
    if (!(*ids)[i].is_number_integer()) throw dlm::Error("standard input: ids[" + std::to_string(i) + "] is not an integer");
    values.push_back((*ids)[i].get<int64_t>());
  }
  const std::string text = tok->decode(values);
  if (json_out) {
    std::printf("%s\n", dlm::dump_json({{"text", text}}).c_str());
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);  // exactly the text, nothing added
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const dlm::SampleConfig d;  // built-in defaults, shown in --help; the checkpoint's own come first
  CLI::App app{"dgen: generate text with a trained masked diffusion model"};
  std::string checkpoint, prefix, schedule, strategy, sampling, format = "text", device = "auto";
  int64_t length = 0, steps = 0, top_k = 0, num_samples = 1, threads = 0;
  double temperature = 0, top_p = 0;
  uint64_t seed = 1234;
  bool show_steps = false, tokenize = false, detokenize = false, verbose = false;
  std::string tokenizer_path;
  app.add_option("--checkpoint", checkpoint, "checkpoint file or run directory (default: the latest run in runs/LATEST)");
  app.add_option("--prefix", prefix, "text the sample starts with; never masked (default: none)");
  app.add_option("--length", length, "tokens to generate after the prefix (default: fill the context)");
  app.add_option("--steps", steps, "denoising steps (default: checkpoint's sample.steps, built-in " + std::to_string(d.steps) + ")");
  app.add_option("--schedule", schedule, "linear | cosine | exponential | loglinear (default: checkpoint's, built-in " + d.schedule + ")");
  app.add_option("--strategy", strategy, "random | confidence | l2r (default: checkpoint's, built-in " + d.strategy + ")");
  app.add_option("--sampling", sampling, "greedy | topk | nucleus (default: checkpoint's, built-in " + d.sampling + ")");
  app.add_option("--temperature", temperature, "softmax temperature (default: checkpoint's, built-in 1.0)");
  app.add_option("--top-k", top_k, "k for topk sampling (default: checkpoint's, built-in " + std::to_string(d.top_k) + ")");
  app.add_option("--top-p", top_p, "p for nucleus sampling (default: checkpoint's, built-in 0.9)");
  app.add_option("--num-samples", num_samples, "samples, generated as one batch (default: 1)");
  app.add_option("--seed", seed, "random seed; same seed and flags give the same output (default: 1234)");
  app.add_flag("--show-steps", show_steps, "print the canvas after every step (masks shown as \u2591)");
  app.add_option("--format", format, "text | jsonl (default: text)")->check(CLI::IsMember({"text", "jsonl"}));
  app.add_option("--device", device, "auto | cpu | cuda (default: auto)");
  auto* tok_flag = app.add_flag("--tokenize", tokenize, "read UTF-8 text on stdin, print {\"ids\": [...], \"pieces\": [...]}");
  app.add_flag("--detokenize", detokenize, "read {\"ids\": [...]} or [...] on stdin, print the text (--format jsonl: {\"text\": ...})")->excludes(tok_flag);
  app.add_option("--tokenizer", tokenizer_path,
                 "for --tokenize/--detokenize: a SentencePiece .model, a folder with vocab.json + merges.txt or "
                 "encoder.json + vocab.bpe, or a checkpoint / run directory (default: --checkpoint)");
  app.add_option("--threads", threads, "CPU threads (default: 0 = core count)");
  app.add_flag("--verbose", verbose, "print the BLAS library and its kernels on stderr (default: only when they are slow)");
  CLI11_PARSE(app, argc, argv);
  dlm::tune_allocator();

  return dlm::run_tool("dgen", [&] {
    if (tokenize || detokenize) return run_tokenizer_tool(tokenizer_path.empty() ? checkpoint : tokenizer_path, tokenize, format == "jsonl");
    if (app.count("--tokenizer")) throw dlm::Error("--tokenizer goes with --tokenize or --detokenize");
    // After the tokenizer tools, which multiply no matrices: a restart costs them half a second.
    const dlm::BlasStatus blas = dlm::ensure_blas_kernels(argv);  // may restart the program once
    if (verbose || blas.warning) std::fprintf(stderr, "%s\n", blas.line.c_str());
    const torch::Device dev = dlm::resolve_device(device);
    dlm::set_threads(threads);
    const std::string path = dlm::resolve_checkpoint_path(checkpoint);
    dlm::LoadedModel loaded = dlm::load_model_for_inference(path, dev);
    const dlm::Tokenizer& tok = *loaded.tokenizer;

    dlm::SampleConfig sc = loaded.config.sample;
    if (app.count("--steps")) sc.steps = steps;
    if (app.count("--schedule")) sc.schedule = schedule;
    if (app.count("--strategy")) sc.strategy = strategy;
    if (app.count("--sampling")) sc.sampling = sampling;
    if (app.count("--temperature")) sc.temperature = temperature;
    if (app.count("--top-k")) sc.top_k = top_k;
    if (app.count("--top-p")) sc.top_p = top_p;
    if (app.count("--length")) sc.length = length;
    dlm::SamplerOptions so = dlm::sampler_options(sc);
    if (num_samples < 1) throw dlm::Error("--num-samples must be >= 1, got " + std::to_string(num_samples));

    dlm::utf8_decode(prefix, "--prefix");  // names the flag when the bytes are not UTF-8
    const std::vector<int64_t> prefix_ids = tok.encode(prefix);
    const int64_t P = static_cast<int64_t>(prefix_ids.size());
    const int64_t context = loaded.model->max_len();
    if (P >= context) {
      throw dlm::Error("prefix is " + std::to_string(P) + " tokens but the model's context is " +
                       std::to_string(context) + "; shorten --prefix");
    }
    const int64_t n_new = sc.length > 0 ? sc.length : context - P;
    if (P + n_new > context) {
      throw dlm::Error("prefix (" + std::to_string(P) + " tokens) + --length " + std::to_string(n_new) +
                       " exceed the model's context of " + std::to_string(context) + " tokens");
    }
    so.counted_fixed = dlm::counted_prefix_tokens(loaded.config, P);
    const int64_t N = num_samples;
    const bool ar = loaded.config.objective == dlm::Objective::kAr;
    // The autoregressive twin starts from [BOS] + prefix and grows by one token per step; the
    // denoiser fills a canvas of prefix + masks.
    const dlm::Canvas canvas = dlm::prefix_canvas(prefix_ids, n_new, N, tok.mask_id(), dev);
    std::FILE* timeline = format == "jsonl" ? stderr : stdout;
    const auto show = [&](int64_t step, const torch::Tensor& x) {
      const torch::Tensor cpu = x.cpu();
      const int64_t first = ar ? 0 : P;
      const double masked = ar ? 1.0 - static_cast<double>(cpu.size(1)) / static_cast<double>(n_new)
                               : cpu.narrow(1, first, n_new).eq(tok.mask_id()).to(torch::kFloat64).mean().item<double>();
      for (int64_t r = 0; r < N; ++r) {
        std::string line;
        if (ar) for (int64_t id : prefix_ids) line += show_piece(tok, id);
        for (int64_t i = 0; i < cpu.size(1); ++i) line += show_piece(tok, cpu[r][i].item<int64_t>());
        if (N > 1) {
          std::fprintf(timeline, "step %2ld/%ld [%3.0f%% masked] #%ld %s\n", static_cast<long>(step),
                       static_cast<long>(so.steps), masked * 100, static_cast<long>(r), line.c_str());
        } else {
          std::fprintf(timeline, "step %2ld/%ld [%3.0f%% masked] %s\n", static_cast<long>(step),
                       static_cast<long>(so.steps), masked * 100, line.c_str());
        }
      }
    };
    if (ar) so.steps = n_new;  // one step per token, for the timeline's counter
    if (show_steps) show(0, ar ? torch::empty({N, 0}, torch::kInt64) : canvas.tokens);

    at::Generator gen = at::detail::createCPUGenerator(seed);
    dlm::StepCallback on_step = nullptr;
    if (show_steps) on_step = [&](int64_t step, const torch::Tensor& x) { show(step + 1, x); };
    const auto t0 = std::chrono::steady_clock::now();
    dlm::GenerateResult result;
    const auto autocast = dlm::autocast_for(loaded.config.train.precision, dev);
    if (ar) {
      auto* causal = dynamic_cast<dlm::TransformerImpl*>(loaded.model.get());
      if (!causal) throw dlm::Error(path + ": an ar checkpoint must hold a transformer");
      std::vector<int64_t> start = {tok.bos_id()};
      start.insert(start.end(), prefix_ids.begin(), prefix_ids.end());
      const torch::Tensor rows = torch::tensor(start, torch::kInt64).unsqueeze(0).expand({N, P + 1}).contiguous().to(dev);
      result = dlm::generate_ar(*causal, rows, n_new, so, tok.eos_id(), gen, /*use_cache=*/true, on_step);
    } else {
      result = dlm::generate(*loaded.model, canvas.tokens, canvas.fixed, so, tok.mask_id(), gen, on_step);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    const torch::Tensor out = result.tokens.cpu();
    const int64_t first = ar ? 0 : P;
    for (int64_t r = 0; r < N; ++r) {
      std::vector<int64_t> ids(out[r].data_ptr<int64_t>(), out[r].data_ptr<int64_t>() + out.size(1));
      std::vector<int64_t> body(ids.begin() + first, ids.end());
      body = dlm::cut_at_eos(body, tok.eos_id(), tok.pad_id());
      // Decoded together with the prefix, so a subword tokenizer keeps the space that starts the first
      // new word; the prefix itself is printed exactly as typed.
      std::vector<int64_t> both = prefix_ids;
      both.insert(both.end(), body.begin(), body.end());
      const std::string joined = tok.decode(both), head = tok.decode(prefix_ids);
      const std::string text = joined.compare(0, head.size(), head) == 0 ? prefix + joined.substr(head.size())
                                                                        : prefix + tok.decode(body);
      if (format == "jsonl") {
        const nlohmann::json j = {{"text", text},   {"prefix", prefix},
                                  {"steps", result.steps}, {"forward_passes", result.forward_passes},
                                  {"tokens", static_cast<int64_t>(body.size())}, {"seed", seed},
                                  {"sample", r}, {"seconds", seconds}, {"objective", dlm::enum_name(loaded.config.objective)}};
        std::printf("%s\n", dlm::dump_json(j).c_str());
      } else {
        std::printf("%s\n", text.c_str());
      }
    }
    return 0;
  });
}
