// Run configuration: one options struct per component, every field with its default.
// Layering: struct defaults, then a JSON file, then `section.key=value` overrides. Unknown keys
// and wrong types are rejected with the key's full path (e.g. `model.n_head: expected integer`).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace dlm {

// Enum-valued settings. Each is read from its config name once, when the config is read.
enum class DataKind { kLines, kDocuments, kPairs, kText, kCorpus };
// How a data file is read; auto picks by its extension (.jsonl, .tsv, else plain).
enum class DataFormat { kAuto, kPlain, kJsonl, kTsv };
// Where running text's training windows start: every seq_len tokens, or drawn anew for each window.
enum class WindowOffsets { kFixed, kRandom };
enum class TokenizerKind { kChar, kByte, kBpe, kSentencePiece, kHf };
enum class SpmModelType { kUnigram, kBpe };  ///< the algorithm of a SentencePiece model trained on the data
enum class ModelType { kTransformer, kMlp };
// Attention arithmetic: fused is LibTorch 2.x's scaled_dot_product_attention, explicit is matmul and
// softmax; auto is fused where LibTorch has it.
enum class AttentionKind { kAuto, kFused, kExplicit };
// How masking rates are drawn for training: from `rates` | t ~ U(eps, 1) | stratified U(eps, 1).
enum class RateDist { kDiscrete, kUniform, kAntithetic };
enum class RatePer { kSample, kBatch };
enum class NormKind { kLayerNorm, kRmsNorm };
enum class PosKind { kLearned, kRotary };
enum class TimeCond { kNone, kAdd, kAdaln };
enum class LossOn { kMasked, kAll };
enum class Weighting { kNone, kElbo };
// MLP activation: gelu(x W1) W2 | gelu with tanh's approximation (BERT's gelu_new) | relu(x W1)^2 W2 |
// (silu(x Wg) * x W1) W2 | (gelu(x Wg) * x W1) W2 (GeGLU, ModernBERT's).
enum class Activation { kGelu, kGeluTanh, kRelu2, kSwiglu, kGeglu };
// Where a block's norms sit: before each sublayer, with a final norm (GPT-2 and later), or after each
// residual sum, without a final norm (BERT, RoBERTa).
enum class NormOrder { kPre, kPost };

// Sampling: the noise schedule (share of generated positions still masked as the steps go), the order
// in which masked positions are revealed, and how a token is drawn at each position.
enum class Schedule { kLinear, kCosine, kExponential, kLogLinear };
// confidence (probability of the drawn token), margin (top-1 minus top-2 probability), entropy
// (lowest first), random, l2r (leftmost first): orders of revealing, never re-masking. remask: seeds
// 002/003's sampler, which predicts every masked position and re-masks a random share of all
// generated ones. origin: Dream's rule (each masked position revealed with the step's probability),
// valid under --sampler dream only. --remasking and --alg name these same values the references' way.
enum class Strategy { kConfidence, kMargin, kEntropy, kRandom, kL2R, kRemask, kOrigin };
enum class Sampling { kGreedy, kTopK, kNucleus };
// Which sampler denoises: dlm's own loop (dlm/diffusion/denoise.h), or the LLaDA or Dream reference's
// rules reproduced (dlm/diffusion/reference_samplers.h), the default for those folders.
enum class Sampler { kDlm, kLlada, kDream };
// The uniform draws of llada's and dream's samplers: dlm's streams, or torch's CPU stream after
// torch.manual_seed(seed), in the references' count and order.
enum class Rng { kDlm, kTorch };
// What a block cache keeps (--kv-cache-mode): dual (Fast-dLLM's: the keys and values before and after
// the block, passes run the block alone) or prefix (those before it; passes run the block and the rest).
enum class KvCacheMode { kDual, kPrefix };

// Arithmetic of the forward pass: fp32, or bf16 autocast (matmuls in bf16; weights, optimizer state
// and reductions stay fp32).
enum class Precision { kFp32, kBf16 };

// The process group of data-parallel training: auto is Gloo on the CPU and NCCL on CUDA.
enum class DistBackend { kAuto, kGloo, kNccl };

// A device setting: auto (CUDA when present), cpu, cuda, or cuda:N (index >= 0).
struct DeviceChoice {
  enum class Kind { kAuto, kCpu, kCuda };
  Kind kind = Kind::kAuto;
  int index = -1;  ///< cuda:N; -1 for plain cuda (the current device)
  bool operator==(const DeviceChoice& o) const { return kind == o.kind && index == o.index; }
};
// Parses auto | cpu | cuda | cuda:N; throws dlm::Error "unknown device 'x' (valid: ...)". Defined in
// src/device.cpp with the rest of device selection; declared here so that config readers need no LibTorch.
DeviceChoice parse_device(const std::string& name);
std::string device_name(const DeviceChoice& device);

// The names of an enum-valued setting, as the config spells them; the config reads and writes
// enums only through these tables, so adding a value touches one place.
template <class E>
using EnumNames = std::vector<std::pair<E, std::string>>;
const EnumNames<DataKind>& enum_names(DataKind*);
const EnumNames<DataFormat>& enum_names(DataFormat*);
const EnumNames<WindowOffsets>& enum_names(WindowOffsets*);
const EnumNames<TokenizerKind>& enum_names(TokenizerKind*);
const EnumNames<SpmModelType>& enum_names(SpmModelType*);
const EnumNames<ModelType>& enum_names(ModelType*);
const EnumNames<AttentionKind>& enum_names(AttentionKind*);
const EnumNames<RateDist>& enum_names(RateDist*);
const EnumNames<RatePer>& enum_names(RatePer*);
const EnumNames<NormKind>& enum_names(NormKind*);
const EnumNames<PosKind>& enum_names(PosKind*);
const EnumNames<TimeCond>& enum_names(TimeCond*);
const EnumNames<LossOn>& enum_names(LossOn*);
const EnumNames<Weighting>& enum_names(Weighting*);
const EnumNames<Activation>& enum_names(Activation*);
const EnumNames<NormOrder>& enum_names(NormOrder*);
const EnumNames<Precision>& enum_names(Precision*);
const EnumNames<DistBackend>& enum_names(DistBackend*);
const EnumNames<Schedule>& enum_names(Schedule*);
const EnumNames<Strategy>& enum_names(Strategy*);
const EnumNames<Sampling>& enum_names(Sampling*);
const EnumNames<Sampler>& enum_names(Sampler*);
const EnumNames<Rng>& enum_names(Rng*);
const EnumNames<KvCacheMode>& enum_names(KvCacheMode*);

// The config name of an enum value (for messages and to_json).
template <class E>
const std::string& enum_name(E value) {
  for (const auto& [v, name] : enum_names(static_cast<E*>(nullptr))) {
    if (v == value) return name;
  }
  static const std::string unnamed = "?";  // a table missing a value: a programming error
  return unnamed;
}

[[noreturn]] void throw_unknown_name(const std::string& what, const std::string& name, const std::string& valid);

// The enum value named `name`; throws dlm::Error "unknown <what> 'name' (valid: ...)".
template <class E>
E parse_enum(const std::string& name, const std::string& what) {
  std::string valid;
  for (const auto& [value, n] : enum_names(static_cast<E*>(nullptr))) {
    if (n == name) return value;
    valid += (valid.empty() ? "" : ", ") + n;
  }
  throw_unknown_name(what, name, valid);
}

struct DataConfig {
  DataKind kind = DataKind::kLines;       ///< lines | documents | pairs | text | corpus (token blocks)
  std::string path;                       ///< training file (relative paths resolve against the config file)
  DataFormat format = DataFormat::kAuto;  ///< auto | plain | jsonl | tsv (auto: by file extension)
  std::string separator = ">";            ///< pairs in plain format: prompt and answer split at the first one
  int64_t seq_len = 32;                   ///< tokens per example (prompt + text + EOS + padding)
  double val_fraction = 0.1;              ///< share of examples held out for validation (text: its last windows)
  int64_t val_max = 512;                  ///< at most this many validation examples
  int64_t shuffle_seed = 1234;            ///< seed of the deterministic shuffle before the split
  std::string val_path;                   ///< corpus: validation file; empty holds out the last documents
  std::string cache_dir;                  ///< corpus: token caches; empty means .token-cache beside the run
  WindowOffsets window_offsets = WindowOffsets::kFixed;  ///< text, corpus: fixed | random (each window's start
                                                         ///< drawn from the seed and its place in training)
};

struct TokenizerConfig {
  TokenizerKind kind = TokenizerKind::kChar;  ///< char (code points seen in the data) | byte (256 bytes) |
                                              ///< bpe (GPT-2/RoBERTa files) | sentencepiece (trained or loaded) |
                                              ///< hf (a Hugging Face tokenizer.json)
  std::string path;                           ///< bpe: folder of vocab.json+merges.txt or encoder.json+vocab.bpe;
                                              ///< sentencepiece: a .model to load (empty: train one on the data);
                                              ///< hf: a tokenizer.json or the folder holding one
  int64_t vocab_size = 8000;                  ///< sentencepiece training: pieces including specials
  SpmModelType model_type = SpmModelType::kUnigram;  ///< sentencepiece training: unigram | bpe
  double character_coverage = 1.0;                   ///< sentencepiece training: share of characters kept as pieces
  int64_t train_max_bytes = 20000000;                ///< sentencepiece training: at most this much text is used
};

struct ModelConfig {
  ModelType type = ModelType::kTransformer;        ///< transformer | mlp (seed 001's toy)
  int64_t d_model = 128;                           ///< width of the residual stream
  int64_t n_layer = 4;                             ///< transformer blocks
  int64_t n_head = 4;                              ///< attention heads; must divide d_model
  int64_t d_ff = 0;                                ///< MLP width; 0 means 4 * d_model
  double dropout = 0.1;                            ///< dropout on attention output, MLP output and embeddings
  NormKind norm = NormKind::kLayerNorm;            ///< layernorm | rmsnorm
  PosKind pos = PosKind::kLearned;                 ///< learned | rotary
  bool tie_head = true;                            ///< output head shares the token embedding
  TimeCond time_cond = TimeCond::kNone;            ///< none | add (embedding of t added) | adaln (DiT-style)
  int64_t mlp_hidden = 256;                        ///< hidden width of the mlp model
  AttentionKind attention = AttentionKind::kAuto;  ///< auto | fused (LibTorch 2.x SDPA) | explicit (matmul, softmax)
  Activation activation = Activation::kGelu;       ///< gelu | relu2 | swiglu (MLP of the transformer blocks)
  bool norm_weight = true;                         ///< norms carry a learned per-channel weight (false: weightless)
  bool emb_norm = false;  ///< model.norm on the embeddings (weightless when norm_weight is false)
  bool qk_norm = false;   ///< weightless RMS norm on each head's queries and keys (after rotary)
  bool bias = true;       ///< biases in the attention projections (and the MLP's unless mlp_bias is given)
  bool mlp_bias = true;   ///< biases in the MLP projections; a config that sets bias alone sets both
  // Knobs of pretrained encoders (the hf stage sets them from a folder's config.json).
  NormOrder norm_order = NormOrder::kPre;  ///< pre | post (BERT: norm after each residual sum, no final norm)
  double norm_eps = 0.0;                   ///< epsilon of every norm; 0 means 1e-5 for layernorm, 1e-6 for rmsnorm
  int64_t type_vocab = 0;                  ///< token-type embeddings (BERT); row 0 is added at every position; 0: none
  int64_t pos_offset = 0;                  ///< learned positions start at this row (RoBERTa: padding_idx + 1)
  bool head_transform = false;  ///< dense -> head_activation -> norm before the output projection (MLM heads)
  Activation head_activation = Activation::kGelu;  ///< of the head transform: gelu | gelu_tanh | relu2
  bool head_bias = false;                          ///< a bias on the output logits
  int64_t vocab_size = 0;           ///< rows of the embeddings and logits; 0: the tokenizer's size, else at least it
  int64_t max_len = 0;              ///< positions the model takes; 0: data.seq_len, else at least it
  bool norm_bias = true;            ///< LayerNorms carry a bias (ModernBERT: none)
  bool head_transform_bias = true;  ///< the head transform's dense layer has a bias
  bool first_norm = true;           ///< layer 0 normalises its attention input (ModernBERT: no, the embedding norm did)
  double rope_theta = 10000.0;      ///< rotary base of the global layers
  double local_rope_theta = 0.0;    ///< rotary base of the local layers; 0: rope_theta
  int64_t local_attention = 0;      ///< window of the local layers: they see keys within local_attention / 2
                                    ///< positions either side; 0: every layer is global
  int64_t global_every = 1;         ///< with local_attention, layer i is global when i % global_every == 0
  int64_t n_kv_head = 0;            ///< key/value heads (grouped-query attention); 0: n_head; must divide n_head
  bool out_bias = true;             ///< with bias, the attention output projection has one too (Qwen2: no)
  bool shift = false;               ///< position i's logits are the output at i - 1, position 0 its own (Dream)
  // A Hugging Face folder (BERT, RoBERTa, ModernBERT) to fine-tune: the run takes its architecture, weights
  // and tokenizer, so a config gives no other model.* key and no tokenizer section beside it.
  std::string init_from;
};

struct DiffusionConfig {
  std::string noise = "absorbing";          ///< objective diffusion's process: absorbing | uniform (names the
                                            ///< process registry resolves, dlm/diffusion/process.h)
  int64_t time_steps = 0;                   ///< D3PM's discrete time: T steps at t = i / T for training, the
                                            ///< bound and the sampler's grid; 0: continuous time
  double simplex_scale = 5.0;               ///< simplex: a token is +K at its id, -K elsewhere (SSD-LM's K)
  int64_t block_length = 0;                 ///< simplex: training noises a block of this many tokens after a
                                            ///< random visible context (SSD-LM); 0: everything after the prefix
  RateDist rate_dist = RateDist::kUniform;  ///< discrete | uniform | antithetic
  std::vector<double> rates = {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1};  ///< for discrete
  double eps = 1e-3;                       ///< uniform/antithetic: t ~ U(eps, 1)
  RatePer rate_per = RatePer::kSample;     ///< sample | batch (seed 003: one rate for the whole batch)
  int64_t prefix_len = 0;                  ///< first tokens of every example never masked (seed 003: 16)
  double prefix_prob = 0.0;                ///< share of examples that keep a random-length prefix unmasked,
                                           ///< so the model learns to continue any prefix (dgen --prefix)
  LossOn loss_on = LossOn::kMasked;        ///< absorbing noise: masked (MDLM, LLaDA) | all (seed 001)
  Weighting weighting = Weighting::kNone;  ///< absorbing noise: none | elbo (1/t, MDLM's bound)
  bool mask_pad = true;                    ///< padding after EOS is masked and scored (else never touched)
  double cfg_dropout = 0.0;                ///< share of examples whose prompt (pair prompt or fixed prefix) is
                                           ///< masked instead of given: the unconditional model of guidance
};

// Sampling settings; dlm/sample_options.h defines each one's checks, flag and help line.
struct SampleConfig {
  int64_t steps = 10;                         ///< denoising steps (per whole canvas; blocks share them)
  Schedule schedule = Schedule::kCosine;      ///< linear | cosine | exponential | loglinear
  Strategy strategy = Strategy::kConfidence;  ///< confidence | margin | entropy | random | l2r | remask
  Sampling sampling = Sampling::kTopK;        ///< greedy | topk | nucleus
  double temperature = 1.0;                   ///< divides the logits before sampling
  int64_t top_k = 10;                         ///< topk sampling
  double top_p = 0.9;                         ///< nucleus sampling
  int64_t length = 0;                         ///< tokens to generate after the prefix; 0 fills the context
  double threshold = 0.0;                     ///< reveal every position whose probability reaches it (0: off)
  double entropy_bound = 0.0;                 ///< reveal the most confident set within this summed entropy (0: off)
  double factor = 0.0;                        ///< reveal the n first, the j-th at least 1 - factor/(j+1) (0: off)
  double order_temperature = 0.0;             ///< draw positions by softmax(score / it) instead of the top (0: off)
  int64_t block_length = 0;                   ///< semi-autoregressive blocks of this many positions (0: one block)
  bool kv_cache = false;                      ///< blocks: reuse the keys and values outside the block (approximate)
  KvCacheMode kv_cache_mode = KvCacheMode::kDual;  ///< dual | prefix: what the cache keeps
  bool cache = true;                               ///< reuse a row's prediction while its canvas is unchanged (exact)
  double cfg_scale = 0.0;                          ///< classifier-free guidance scale (0: plain sampling)
  std::vector<std::string> stop;                   ///< a sample ends at the first occurrence of any of these
  Sampler sampler = Sampler::kDlm;                 ///< dlm | llada | dream (LLaDA's and Dream's folders: theirs)
  double alg_temp = 0.0;                           ///< dream: draw the positions by softmax(confidence / it) (0: top)
  double eps = 1e-3;                               ///< dream: the last of the timesteps linspace(1, eps, steps + 1)
  Rng rng = Rng::kDlm;                             ///< llada/dream: dlm | torch (torch.manual_seed(--seed)'s stream)
  bool stop_at_eos = false;                        ///< llada/dream: blocks after one holding EOS are not decoded
};

struct TrainConfig {
  int64_t steps = 2000;                           ///< optimizer steps
  int64_t batch_size = 64;                        ///< examples per micro-batch
  int64_t grad_accum = 1;                         ///< micro-batches per optimizer step
  double lr = 1e-3;                               ///< peak learning rate
  double min_lr_ratio = 0.1;                      ///< cosine decay floor as a fraction of lr
  int64_t warmup = 100;                           ///< linear warm-up steps
  double weight_decay = 0.01;                     ///< AdamW decoupled weight decay
  double beta1 = 0.9;                             ///< AdamW
  double beta2 = 0.99;                            ///< AdamW
  double grad_clip = 1.0;                         ///< max global gradient norm; 0 disables
  int64_t seed = 1234;                            ///< seeds weights, data order, masking and dropout
  int64_t eval_every = 200;                       ///< steps between validation + checkpoint
  int64_t log_every = 50;                         ///< steps between plain log lines (non-terminal output)
  int64_t threads = 0;                            ///< CPU threads; 0 means OMP_NUM_THREADS, else the core count
  DeviceChoice device;                            ///< auto | cpu | cuda | cuda:N
  Precision precision = Precision::kFp32;         ///< fp32 | bf16 (autocast for training, validation and sampling)
  bool recompute = false;                         ///< rerun each layer in the backward pass instead of keeping
                                                  ///< its activations (less memory, one more forward pass)
  double time_limit = 0.0;                        ///< seconds of training (validation excluded) before a final
                                                  ///< validation and checkpoint; 0: train.steps alone decides
  DistBackend dist_backend = DistBackend::kAuto;  ///< auto | gloo | nccl, under torchrun (see distributed.h)
  double dist_timeout = 300.0;                    ///< seconds a rank waits in a collective before it gives up
};

// Likelihood evaluation (dtrain --eval and the final evaluation of a corpus run).
struct EvalConfig {
  int64_t t_samples = 8;    ///< diffusion bound: masking rates drawn per block (antithetic)
  int64_t seed = 4321;      ///< fixes the rates and masks, so figures repeat exactly
  int64_t batch_size = 32;  ///< blocks per forward pass
  std::vector<double> levels = {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1};  ///< per-level table
};

struct Config {
  std::string name = "run";  ///< run name; default run directory is runs/<name>
  // The process, by a name the registry resolves (dlm/diffusion/process.h): diffusion (discrete noise,
  // diffusion.noise) | ar (the causal next-token twin) | simplex (SSD-LM's Gaussian diffusion on logits).
  std::string objective = "diffusion";
  DataConfig data;
  TokenizerConfig tokenizer;
  ModelConfig model;
  DiffusionConfig diffusion;
  SampleConfig sample;
  TrainConfig train;
  EvalConfig eval;
};

// The positions a config's model takes: model.max_len, else data.seq_len.
int64_t model_context(const Config& config);

nlohmann::json to_json(const Config& config);

// Applies the keys present in `j` on top of `config`. Throws dlm::Error naming the full key path
// for unknown keys and wrong types.
void apply_json(Config& config, const nlohmann::json& j, const std::string& path = "");

// Applies one `section.key=value` override; the value is read as JSON when it parses, else as a string.
void apply_override(Config& config, const std::string& assignment);

// Checks ranges and names of every field; throws dlm::Error with the path and the bad value.
void validate(const Config& config);

// Reads a JSON config file (defaults first), sets `name` from the file name when the file has none,
// and resolves data.path relative to the file's folder.
Config load_config_file(const std::string& path);

}  // namespace dlm
