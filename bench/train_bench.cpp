// train_bench: how fast a config's model trains and runs in dlm, measured the way bench/reference.py
// measures its PyTorch twin (bench/compare.sh runs both): training tokens/s through the library's own
// train_step on a text file's windows, the fp32 matmul rate at the model's forward and backward GEMM
// shapes in the same process, forward latency at batch 1 and 64, and resident memory. One JSON line.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <torch/version.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "dlm/blas.h"
#include "dlm/config.h"
#include "dlm/data/dataset.h"
#include "dlm/data/tokenizer.h"
#include "dlm/device.h"
#include "dlm/diffusion/collator.h"
#include "dlm/error.h"
#include "dlm/random.h"
#include "dlm/train/trainer.h"
#include "median.h"

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Resident set size now, from /proc (MiB).
double rss_mib() {
  std::ifstream in("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  in >> pages_total >> pages_resident;
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

struct Gemm {
  int64_t batch, m, k, n, count;  // `count` products of (batch x) [m,k] @ [k,n] per training step
};

// Every matrix product of one training step: each linear layer's forward, input-gradient and
// weight-gradient products, and attention's two products forward and four backward per layer.
std::vector<Gemm> training_gemms(const dlm::ModelConfig& c, int64_t batch, int64_t len, int64_t vocab) {
  const int64_t M = batch * len, D = c.d_model, F = c.d_ff > 0 ? c.d_ff : 4 * D, H = c.n_head, Dh = D / H;
  const int64_t F_in = c.activation == dlm::Activation::kSwiglu ? 2 * F : F;
  std::vector<std::pair<int64_t, int64_t>> linears = {{D, 3 * D}, {D, D}, {D, F_in}, {F, D}};
  std::vector<Gemm> out;
  for (const auto& [in, o] : linears) {
    out.push_back({1, M, in, o, c.n_layer});
    out.push_back({1, M, o, in, c.n_layer});
    out.push_back({1, o, M, in, c.n_layer});
  }
  out.push_back({1, M, D, vocab, 1});
  out.push_back({1, M, vocab, D, 1});
  out.push_back({1, vocab, M, D, 1});
  out.push_back({batch * H, len, Dh, len, 2 * c.n_layer});  // Q K^T; dP = dO V^T
  out.push_back({batch * H, len, len, Dh, 4 * c.n_layer});  // P V; dQ, dK, dV
  return out;
}

// fp32 matmul rate (GFLOP/s) over the given shapes, weighted as one training step uses them: the
// step's matmul FLOPs over the time these products alone take.
double gemm_peak(const std::vector<Gemm>& gemms, int repeats) {
  torch::Generator gen = dlm::cpu_generator(7);
  double flops = 0, seconds = 0;
  for (const auto& g : gemms) {
    const torch::Tensor a = torch::randn({g.batch, g.m, g.k}, gen), b = torch::randn({g.batch, g.k, g.n}, gen);
    torch::matmul(a, b);
    std::vector<double> t;
    for (int i = 0; i < repeats; ++i) {
      const auto start = Clock::now();
      torch::matmul(a, b);
      t.push_back(since(start));
    }
    flops += 2.0 * static_cast<double>(g.batch * g.m * g.k * g.n * g.count);
    seconds += median(t) * static_cast<double>(g.count);
  }
  return flops / seconds / 1e9;
}

// Forward latency (ms, median) of a batch of `batch` windows with about half their positions masked.
double forward_ms(dlm::DenoiserImpl& model, const std::vector<dlm::Example>& data, const dlm::Config& config,
                  int64_t mask_id, int64_t batch, int repeats) {
  torch::NoGradGuard no_grad;
  model.eval();
  std::vector<const dlm::Example*> group;
  for (int64_t i = 0; i < batch; ++i) group.push_back(&data[static_cast<size_t>(i) % data.size()]);
  torch::Generator gen = dlm::cpu_generator(11);
  const torch::Tensor rates = torch::full({batch}, 0.5, torch::kFloat64);  // cpu: the collator's input
  const dlm::Batch b = dlm::collate_at_rates(group, rates, config.diffusion, mask_id, gen);
  const auto autocast = dlm::autocast_for(config.train.precision, torch::kCPU);
  model.forward(b.input, b.t);
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const auto start = Clock::now();
    model.forward(b.input, b.t);
    t.push_back(since(start) * 1e3);
  }
  model.train();
  return median(t);
}

int run(int argc, char** argv) {
  dlm::ensure_blas_kernels(argv);
  dlm::tune_allocator();  // as dtrain does
  CLI::App app{"train_bench: training and inference speed of a config's model (bench/compare.sh)"};
  std::string config_path, text, precision = "fp32";
  int64_t steps = 20, warmup = 3, threads = 0;
  int gemm_repeats = 5, latency_repeats = 10;
  app.add_option("--config", config_path, "JSON config (e.g. configs/char6x384.json)")->required();
  app.add_option("--text", text, "text file to train on (data.path)")->required();
  app.add_option("--steps", steps, "timed training steps (default 20)");
  app.add_option("--warmup", warmup, "untimed steps first (default 3)");
  app.add_option("--precision", precision, "fp32 | bf16 (default fp32)");
  app.add_option("--threads", threads, "CPU threads (default: the core count)");
  app.add_option("--gemm-repeats", gemm_repeats, "timed products per GEMM shape (default 5; 0 skips the peak)");
  app.add_option("--latency-repeats", latency_repeats,
                 "timed forward passes at batch 1 (default 10; batch 64 gets a third; 0 skips them)");
  CLI11_PARSE(app, argc, argv);

  dlm::Config config = dlm::load_config_file(config_path);
  dlm::apply_override(config, "data.path=" + text);
  dlm::apply_override(config, "train.precision=" + precision);
  dlm::validate(config);
  const dlm::TrainConfig& tc = config.train;
  const int64_t used_threads = dlm::set_threads(threads);
  const auto raw = dlm::read_examples(config.data);
  const auto tok = dlm::build_tokenizer(config.tokenizer, dlm::vocabulary_texts(raw));
  const dlm::Dataset data = dlm::make_dataset(config.data, *tok, raw);
  torch::manual_seed(static_cast<uint64_t>(tc.seed));
  auto model = dlm::make_model(config.model, tok->vocab_size(), config.data.seq_len, false);
  const auto optimizer_owner = dlm::make_optimizer(*model, tc);
  torch::optim::AdamW& optimizer = *optimizer_owner;
  const int64_t B = tc.batch_size, L = config.data.seq_len;

  const auto batch_at = [&](int64_t micro) {
    std::vector<const dlm::Example*> group;
    for (int64_t i = 0; i < B; ++i)
      group.push_back(&data.train[static_cast<size_t>((micro * B + i) % data.train.size())]);
    torch::Generator gen = dlm::cpu_generator(
        dlm::derive_seed(static_cast<uint64_t>(tc.seed), dlm::Stream::kMasking, static_cast<uint64_t>(micro)));
    return dlm::collate(group, config.diffusion, tok->mask_id(), gen);
  };
  const std::unique_ptr<dlm::Process> process = dlm::make_process(config, dlm::special_ids(*tok));
  model->train();
  for (int64_t s = 0; s < warmup; ++s) dlm::train_step(*model, optimizer, tc, s, torch::kCPU, batch_at, *process);
  const double rss_start = rss_mib();
  const auto start = Clock::now();
  double loss = 0;
  // Resident memory after every tenth of the timed steps: growth shows as a rising trace, not one end point.
  std::vector<double> rss_trace;
  const int64_t trace_every = std::max<int64_t>(1, steps / 10);
  for (int64_t s = warmup; s < warmup + steps; ++s) {
    loss = dlm::train_step(*model, optimizer, tc, s, torch::kCPU, batch_at, *process).loss;
    if ((s - warmup + 1) % trace_every == 0) rss_trace.push_back(rss_mib());
  }
  const double train_s = since(start);
  const double rss_end = rss_mib();

  // Model FLOPs per trained token: 6 per linear weight (forward, two backward products), plus attention's
  // 2 forward and 4 backward products of L x Dh per head and layer.
  int64_t linear_params = 0;
  for (const auto& p : model->named_parameters()) {
    if (p.value().dim() == 2 && p.key().find("tok_emb") == std::string::npos) linear_params += p.value().numel();
  }
  const double flops_per_token = 6.0 * static_cast<double>(linear_params) +
                                 12.0 * static_cast<double>(config.model.n_layer * config.model.d_model * L);
  const double tokens_per_s = static_cast<double>(steps * B * L) / train_s;
  // 0 repeats skip a part (bench/profile.sh samples the training steps alone).
  const double peak =
      gemm_repeats > 0 ? gemm_peak(training_gemms(config.model, B, L, tok->vocab_size()), gemm_repeats) : 0.0;
  const double model_gflops = tokens_per_s * flops_per_token / 1e9;
  const double latency_1 =
      latency_repeats > 0 ? forward_ms(*model, data.val, config, tok->mask_id(), 1, latency_repeats) : 0.0;
  const double latency_64 =
      latency_repeats > 0 ? forward_ms(*model, data.val, config, tok->mask_id(), 64, std::max(1, latency_repeats / 3))
                          : 0.0;

  const dlm::BlasStatus blas = dlm::blas_report();
  nlohmann::json out = {{"impl", "dlm"},
                        {"torch", TORCH_VERSION},
                        {"blas", blas.line},
                        {"threads", used_threads},
                        {"precision", precision},
                        {"parameters", dlm::count_parameters(*model)},
                        {"linear_parameters", linear_params},
                        {"batch", B},
                        {"context", L},
                        {"steps", steps},
                        {"last_loss", loss},
                        {"tokens_per_s", tokens_per_s},
                        {"model_gflops", model_gflops},
                        {"gemm_peak_gflops", peak},
                        {"share_of_peak", peak > 0 ? model_gflops / peak : 0.0},
                        {"forward_ms_batch1", latency_1},
                        {"forward_ms_batch64", latency_64},
                        {"rss_mib_after_warmup", rss_start},
                        {"rss_mib_after_steps", rss_end},
                        {"rss_mib_trace", rss_trace},
                        {"peak_rss_mib", peak_rss_mib()}};
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return dlm::run_tool("train_bench", [&] { return run(argc, argv); });
}
