// train_bench: how fast a config's model trains and runs in dlm, measured the way bench/reference.py
// measures its PyTorch twin (bench/compare.sh runs both): training tokens/s through the library's own
// train_step on a text file's windows, the fp32 matmul rate at the model's forward and backward GEMM
// shapes in the same process, forward latency at batch 1 and 64, and resident memory. One JSON line.
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
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
#include "dlm/model/attention.h"
#include "dlm/model/checkpoint.h"
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

// One of /proc/self/status's sizes ("RssAnon", "RssFile"), MiB.
double status_mib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string key;
  double kib = 0;
  while (in >> key) {
    if (key == field + ":") {
      in >> kib;
      return kib / 1024.0;
    }
    std::getline(in, key);
  }
  return 0.0;
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// Bytes the allocator has handed out and not had back (glibc: arena plus mmapped blocks), MiB: what
// tensors hold now, unlike RSS, which also counts freed memory the allocator keeps.
double in_use_mib() {
  const struct mallinfo2 m = mallinfo2();
  return static_cast<double>(m.uordblks + m.hblkhd) / (1 << 20);
}

// What the allocator holds from the system (MiB), in use or kept free for reuse.
double heap_mib() {
  const struct mallinfo2 m = mallinfo2();
  return static_cast<double>(m.arena + m.hblkhd) / (1 << 20);
}

double tensors_mib(const std::vector<torch::Tensor>& tensors) {
  double bytes = 0;
  for (const auto& t : tensors) bytes += t.defined() ? static_cast<double>(t.numel() * t.element_size()) : 0.0;
  return bytes / (1 << 20);
}

// Where one training step's memory goes (MiB), measured as allocated bytes at the step's stages: the
// parameters, their gradients and AdamW's moments (from the tensors), the activations the forward pass
// keeps for backward (after the hidden states, per layer, and after the head's loss), attention's share
// of a layer (one attend() with gradients alone), the most in use during the step (sampled), and what
// the allocator and the process hold. Run after the warm-up steps, which allocated the moments.
nlohmann::json memory_breakdown(dlm::DenoiserImpl& model, torch::optim::AdamW& optimizer, const dlm::Config& config,
                                const dlm::Batch& batch, const dlm::Process& process) {
  std::vector<torch::Tensor> params = model.parameters(), moments;
  for (const auto& p : params) {
    if (const torch::optim::AdamWParamState* s = dlm::adamw_state(optimizer, p)) {
      moments.push_back(s->exp_avg());
      moments.push_back(s->exp_avg_sq());
    }
  }
  optimizer.zero_grad();
  model.set_recompute(config.train.recompute);
  const double before = in_use_mib();
  // A second thread samples the allocator every millisecond: the step's peak, wherever it falls.
  std::atomic<bool> stepping{true};
  double peak = before;
  std::thread sampler([&] {
    while (stepping.load()) {
      peak = std::max(peak, in_use_mib());
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  torch::Tensor hidden = process.hidden(model, batch, torch::kCPU);
  const double after_hidden = in_use_mib();
  torch::Tensor loss = process.loss(hidden, model, batch);
  const double after_loss = in_use_mib();
  hidden = torch::Tensor();
  loss.backward();
  loss = torch::Tensor();
  stepping = false;
  sampler.join();
  const double after_backward = in_use_mib();

  const dlm::ModelConfig& c = config.model;
  const int64_t B = config.train.batch_size, L = config.data.seq_len, Dh = c.d_model / c.n_head;
  const int64_t Hkv = c.n_kv_head > 0 ? c.n_kv_head : c.n_head;
  const auto leaf = [&](int64_t heads) { return torch::randn({B, heads, L, Dh}).requires_grad_(true); };
  const torch::Tensor q = leaf(c.n_head), k = leaf(Hkv), v = leaf(Hkv);
  const double before_attend = in_use_mib();
  torch::Tensor o = dlm::attend(q, k, v, false, c.dropout, dlm::attention_kernel(c.attention));
  const double attention = in_use_mib() - before_attend - tensors_mib({o});
  return {{"parameters_mib", tensors_mib(params)},
          {"gradients_mib", tensors_mib(params)},
          {"adamw_moments_mib", tensors_mib(moments)},
          {"in_use_before_step_mib", before},
          {"forward_kept_mib", after_hidden - before},
          {"forward_kept_per_layer_mib", (after_hidden - before) / static_cast<double>(c.n_layer)},
          {"attention_kept_per_layer_mib", config.train.recompute ? 0.0 : attention},
          {"head_and_loss_kept_mib", after_loss - after_hidden},
          {"step_peak_in_use_mib", peak},
          {"in_use_after_backward_mib", after_backward},
          {"heap_mib", heap_mib()},
          {"rss_anon_mib", status_mib("RssAnon")},
          {"rss_file_mib", status_mib("RssFile")}};
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

// Batch `micro` of the training windows in order, masked as the config says.
std::function<dlm::Batch(int64_t)> batches(const dlm::Dataset& data, const dlm::Config& config, int64_t mask_id) {
  return [&data, &config, mask_id](int64_t micro) {
    const int64_t B = config.train.batch_size;
    std::vector<const dlm::Example*> group;
    for (int64_t i = 0; i < B; ++i)
      group.push_back(&data.train[static_cast<size_t>((micro * B + i) % data.train.size())]);
    torch::Generator gen = dlm::cpu_generator(dlm::derive_seed(static_cast<uint64_t>(config.train.seed),
                                                               dlm::Stream::kMasking, static_cast<uint64_t>(micro)));
    return dlm::collate(group, config.diffusion, mask_id, gen);
  };
}

// forward_ms at batch 1 (`repeats` passes) and 64 (a third as many); 0 repeats: none.
std::pair<double, double> latencies(dlm::DenoiserImpl& model, const std::vector<dlm::Example>& data,
                                    const dlm::Config& config, int64_t mask_id, int repeats) {
  if (repeats == 0) return {0.0, 0.0};
  return {forward_ms(model, data, config, mask_id, 1, repeats),
          forward_ms(model, data, config, mask_id, 64, std::max(1, repeats / 3))};
}

struct TimedSteps {
  double seconds = 0, loss = 0, rss_start = 0, rss_end = 0;
  std::vector<double> rss_trace;  ///< after every tenth of the steps: growth shows as a rising trace
};

// `warmup` untimed training steps, then `steps` timed ones.
TimedSteps time_steps(dlm::DenoiserImpl& model, torch::optim::AdamW& optimizer, const dlm::TrainConfig& tc,
                      int64_t warmup, int64_t steps, const std::function<dlm::Batch(int64_t)>& batch_at,
                      const dlm::Process& process) {
  for (int64_t s = 0; s < warmup; ++s) dlm::train_step(model, optimizer, tc, s, torch::kCPU, batch_at, process);
  TimedSteps out;
  out.rss_start = rss_mib();
  const auto start = Clock::now();
  const int64_t trace_every = std::max<int64_t>(1, steps / 10);
  for (int64_t s = warmup; s < warmup + steps; ++s) {
    out.loss = dlm::train_step(model, optimizer, tc, s, torch::kCPU, batch_at, process).loss;
    if ((s - warmup + 1) % trace_every == 0) out.rss_trace.push_back(rss_mib());
  }
  out.seconds = since(start);
  out.rss_end = rss_mib();
  return out;
}

// The weights of the linear layers and the head (the embedding's lookups are not products): the
// model FLOPs per trained token are 6 per weight (forward, two backward products), plus attention's.
int64_t linear_weights(dlm::DenoiserImpl& model) {
  int64_t n = 0;
  for (const auto& p : model.named_parameters()) {
    if (p.value().dim() == 2 && p.key().find("tok_emb") == std::string::npos) n += p.value().numel();
  }
  return n;
}

int run(int argc, char** argv) {
  dlm::ensure_blas_kernels(argv);
  dlm::tune_allocator();  // as dtrain does
  CLI::App app{"train_bench: training and inference speed of a config's model (bench/compare.sh)"};
  std::string config_path, text, precision = "fp32";
  int64_t steps = 20, warmup = 3, threads = 0;
  int gemm_repeats = 5, latency_repeats = 10;
  bool memory = false;
  app.add_option("--config", config_path, "JSON config (e.g. configs/char6x384.json)")->required();
  app.add_option("--text", text, "text file to train on (data.path)")->required();
  app.add_option("--steps", steps, "timed training steps (default 20)");
  app.add_option("--warmup", warmup, "untimed steps first (default 3)");
  app.add_option("--precision", precision, "fp32 | bf16 (default fp32)");
  app.add_option("--threads", threads, "CPU threads (default: the core count)");
  app.add_option("--gemm-repeats", gemm_repeats, "timed products per GEMM shape (default 5; 0 skips the peak)");
  app.add_option("--latency-repeats", latency_repeats,
                 "timed forward passes at batch 1 (default 10; batch 64 gets a third; 0 skips them)");
  app.add_flag("--memory", memory, "also break one step's memory down (after the timed steps)");
  std::vector<std::string> overrides;
  app.add_option("--set", overrides, "config override section.key=value (repeatable), e.g. train.recompute=true");
  CLI11_PARSE(app, argc, argv);

  dlm::Config config = dlm::load_config_file(config_path);
  overrides.insert(overrides.begin(), {"data.path=" + text, "train.precision=" + precision});
  for (const auto& o : overrides) dlm::apply_override(config, o);
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

  const auto batch_at = batches(data, config, tok->mask_id());
  const std::unique_ptr<dlm::Process> process = dlm::make_process(config, dlm::special_ids(*tok));
  model->train();
  const TimedSteps timed = time_steps(*model, optimizer, tc, warmup, steps, batch_at, *process);
  const nlohmann::json breakdown =
      memory ? memory_breakdown(*model, optimizer, config, batch_at(warmup + steps), *process) : nlohmann::json();

  const int64_t linear_params = linear_weights(*model);  // attention: 2 + 4 products of L x Dh per head and layer
  const double flops_per_token = 6.0 * static_cast<double>(linear_params) +
                                 12.0 * static_cast<double>(config.model.n_layer * config.model.d_model * L);
  const double tokens_per_s = static_cast<double>(steps * B * L) / timed.seconds;
  // 0 repeats skip a part (bench/profile.sh samples the training steps alone).
  const double peak =
      gemm_repeats > 0 ? gemm_peak(training_gemms(config.model, B, L, tok->vocab_size()), gemm_repeats) : 0.0;
  const double model_gflops = tokens_per_s * flops_per_token / 1e9;
  const auto [latency_1, latency_64] = latencies(*model, data.val, config, tok->mask_id(), latency_repeats);

  nlohmann::json out = {{"impl", "dlm"},
                        {"torch", TORCH_VERSION},
                        {"blas", dlm::blas_report().line},
                        {"threads", used_threads},
                        {"precision", precision},
                        {"recompute", tc.recompute},
                        {"parameters", dlm::count_parameters(*model)},
                        {"linear_parameters", linear_params},
                        {"batch", B},
                        {"context", L},
                        {"steps", steps},
                        {"last_loss", timed.loss},
                        {"tokens_per_s", tokens_per_s},
                        {"model_gflops", model_gflops},
                        {"gemm_peak_gflops", peak},
                        {"share_of_peak", peak > 0 ? model_gflops / peak : 0.0},
                        {"forward_ms_batch1", latency_1},
                        {"forward_ms_batch64", latency_64},
                        {"rss_mib_after_warmup", timed.rss_start},
                        {"rss_mib_after_steps", timed.rss_end},
                        {"rss_mib_trace", timed.rss_trace},
                        {"peak_rss_mib", peak_rss_mib()},
                        {"memory", breakdown}};
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return dlm::run_tool("train_bench", [&] { return run(argc, argv); });
}
