// Hugging Face folders in and out: config.json and the family's tensor names to a dlm Transformer with
// its tokenizer.json, and back.
#include "dlm/hf/hf_folder.h"

#include <sys/mman.h>
#include <unistd.h>
#include <algorithm>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <cstdint>
#include <filesystem>
#include <map>
#include <utility>
#include <vector>

#include "dlm/data/hf_tokenizer.h"
#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/hf/family.h"
#include "dlm/hf/safetensors.h"
#include "dlm/json.h"
#include "dlm/log.h"
#include "dlm/model/run_dir.h"
#include "dlm/random.h"
#include "dlm/sampler_settings.h"

namespace dlm {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool has(const fs::path& dir, const char* name) {
  std::error_code ec;
  return fs::exists(dir / name, ec);
}

std::string shape_text(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The folder's tensors by the name the family's links use; tensors the family has no use for are left out.
std::map<std::string, std::string> canonical_names(const SafetensorsFolder& weights, const HfFamily& family) {
  std::map<std::string, std::string> out;
  for (const std::string& name : weights.names()) {
    const std::string c = family.canonical(name);
    if (!c.empty()) out.emplace(c, name);  // an alias (decoder.bias beside bias) keeps the first
  }
  return out;
}

// Returns the heap's free memory to the system. glibc keeps freed blocks of a few MB in its heap (its
// mmap threshold rises as large blocks are freed), so the fresh initialisation of a model whose
// parameters a load replaces one by one would stay resident beside the folder's weights.
void release_freed_memory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

// Lets the kernel drop the resident pages of a tensor a joined parameter has copied (q/k/v, gate/up):
// on the mapping they are clean pages of the file, read again if ever touched, so the folder's bytes
// are not held twice. Only the pages wholly inside the tensor; a part that is a copy (converted or
// unaligned) is about to be freed, so losing its contents is harmless.
void drop_pages(const torch::Tensor& part) {
#ifdef MADV_DONTNEED
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(part.data_ptr());
  const uintptr_t end = begin + static_cast<uintptr_t>(part.numel() * part.element_size());
  const uintptr_t from = (begin + page - 1) / page * page, to = end / page * page;
  if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
#endif
}

// How the linked tensors become parameters: copied into the model's fp32 parameters (training starts
// from them: model.init_from), or, for inference, the parameters become the folder's tensors in `dtype`:
// a single tensor of that dtype is the memory-mapped one itself (no copy), a joined one is one new tensor.
struct LoadMode {
  bool share = false;
  torch::ScalarType dtype = torch::kFloat32;
};

// The canonical names a model with a tied head may still hold a copy of its decoder under (some versions
// save it): the untied model's head link.
std::vector<std::string> tied_head_names(const HfFamily& family, const ModelConfig& model) {
  if (!model.tie_head) return {};
  ModelConfig untied = model;
  untied.tie_head = false;
  for (const TensorLink& link : family.links(untied)) {
    if (link.dlm == "head.weight") return link.hf;
  }
  return {};
}

// Puts every linked tensor into the model's parameters; `skip_head` leaves the head transform as initialised.
// `names`: canonical_names of the folder, consumed as the links take them.
void load_links(const std::string& dir, const HfFamily& family, const SafetensorsFolder& weights,
                std::map<std::string, std::string> names, const ModelConfig& model, bool skip_head,
                torch::nn::Module& module, LoadMode mode) {
  const auto params = module.named_parameters();
  const torch::ScalarType dtype = mode.share ? mode.dtype : torch::kFloat32;
  torch::NoGradGuard no_grad;
  for (const TensorLink& link : family.links(model)) {
    const bool head = link.dlm.rfind("head_", 0) == 0 || link.dlm == "head.weight";
    if (skip_head && head) continue;
    std::vector<torch::Tensor> parts;
    for (const std::string& hf : link.hf) {
      const auto it = names.find(hf);
      if (it == names.end()) throw Error(dir + ": tensor '" + hf + "' is missing (its config.json needs it)");
      const torch::Tensor stored = weights.tensor(it->second);
      parts.push_back(stored.scalar_type() == dtype ? stored : stored.to(dtype));
      names.erase(it);
    }
    const torch::Tensor value = parts.size() == 1 ? parts[0] : torch::cat(parts, 0);
    if (mode.share && parts.size() > 1) {
      for (const torch::Tensor& part : parts) drop_pages(part);
    }
    const torch::Tensor* param = params.find(link.dlm);
    TORCH_CHECK(param, "hf link to a parameter the model lacks: ", link.dlm);
    if (value.sizes() != param->sizes()) {
      throw Error(dir + ": tensor '" + link.hf[0] + "' has shape " + shape_text(parts[0].sizes()) +
                  ", but config.json implies " + shape_text(param->sizes()) +
                  (parts.size() > 1 ? " for the " + std::to_string(parts.size()) + " joined" : ""));
    }
    if (mode.share) {
      param->set_data(value);  // the parameter is the mapped tensor (or the one joined tensor)
      release_freed_memory();  // the fresh weights it replaces go back to the system, not to the heap
    } else {
      param->copy_(value);  // a handle to the parameter itself
    }
  }
  const std::vector<std::string> tied = tied_head_names(family, model);
  for (const auto& [canonical, name] : names) {
    if (std::find(tied.begin(), tied.end(), canonical) != tied.end()) continue;  // the embeddings hold it
    throw Error(dir + ": tensor '" + name + "' has no place in a " + family.model_type() + " model of its config.json");
  }
}

// A fresh MLM head, the same on every load (a fixed seed): BERT's initialisation, N(0, 0.02) weights,
// zero biases, unit norm.
void fresh_head(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  torch::Generator gen = cpu_generator(0);
  for (auto& p : module.named_parameters()) {
    if (p.key().rfind("head_", 0) != 0) continue;
    if (p.key() == "head_dense.weight") {
      p.value().normal_(0.0, 0.02, gen);
    } else {
      p.value().fill_(p.key() == "head_norm.layer_norm.weight" ? 1.0 : 0.0);
    }
  }
}

}  // namespace

bool is_hf_folder(const std::string& path) {
  std::error_code ec;
  const fs::path dir(path);
  if (path.empty() || !fs::is_directory(dir, ec) || !has(dir, "config.json")) return false;
  return has(dir, "model.safetensors") || has(dir, "model.safetensors.index.json") || has(dir, "pytorch_model.bin") ||
         has(dir, "pytorch_model.bin.index.json");
}

namespace {

// config.json of a folder: its family and the architecture it describes.
std::pair<const HfFamily*, HfArch> read_folder_config(const std::string& dir) {
  const std::string where = (fs::path(dir) / "config.json").string();
  const json config = parse_json(read_file(where), where);
  if (!config.is_object()) throw Error(where + ": expected a JSON object");
  if (!config.contains("model_type") || !config["model_type"].is_string())
    throw Error(where + ": model_type is missing");
  const HfFamily& family = hf_family(config["model_type"].get<std::string>(), where);
  return {&family, family.read_config(config, where)};
}

}  // namespace

std::unique_ptr<Tokenizer> load_hf_folder_tokenizer(const std::string& dir) {
  return load_hf_tokenizer(dir, hf_special_ids(read_folder_config(dir).second));
}

HfSpecialIds hf_special_ids(const HfArch& arch) { return {arch.mask_id, arch.pad_id, arch.bos_id, arch.eos_id}; }

HfArch read_hf_config(const std::string& dir) {
  if (!is_hf_folder(dir)) {
    throw Error(dir + " is not a Hugging Face model folder (config.json beside model.safetensors or its index)");
  }
  return read_folder_config(dir).second;
}

namespace {

// The folder's weights, opened first (a folder of pytorch_model.bin is told to convert it); a mixture of
// experts (LLaDA-MoE's .experts. tensors) is refused before anything else is read.
SafetensorsFolder open_weights(const std::string& dir) {
  SafetensorsFolder weights(dir);
  for (const std::string& name : weights.names()) {
    if (name.find(".experts.") != std::string::npos) {
      throw Error(dir + ": tensor '" + name + "' belongs to a mixture of experts, which dlm does not build");
    }
  }
  return weights;
}

// The folder's tensors (`weights`, opened by open_weights) into `model`, per its family and config.json.
void load_weights(const std::string& dir, const SafetensorsFolder& weights, const HfFamily& family, const HfArch& arch,
                  DenoiserImpl& model, LoadMode mode) {
  std::map<std::string, std::string> names = canonical_names(weights, family);
  const bool has_head = family.head_probe().empty() || names.count(family.head_probe()) > 0;
  load_links(dir, family, weights, std::move(names), arch.model, !has_head, model, mode);
  if (!has_head) {
    fresh_head(model);
    log::info(
        "{}: no masked-LM head; dlm adds one (decoder tied to the word embeddings, transform freshly initialised)",
        dir);
  }
  if (mode.share) {
    torch::NoGradGuard no_grad;
    for (auto& p : model.parameters()) {
      if (p.scalar_type() != mode.dtype) p.set_data(p.to(mode.dtype));  // a fresh head: in the folder's dtype too
    }
  }
}

// The dtype an inference model of the folder runs in: the stored one, but fp16 widens to fp32 on the CPU,
// where LibTorch's kernels lack half-precision matmuls.
torch::ScalarType inference_dtype(const SafetensorsFolder& weights, const torch::Device& device) {
  const torch::ScalarType stored = weights.dtype();
  return stored == torch::kFloat16 && !device.is_cuda() ? torch::kFloat32 : stored;
}

// make_model with its fresh parameters made in `dtype`, so that a bf16 folder is never held as an fp32
// model while it loads (the rotary tables are fp32 whatever the default). fp16 is built in fp32 (LibTorch's
// CPU initialisers may lack it) and converted by load_weights. Costs: bf16's random initialisers are
// slower than fp32's on the CPU (their values are overwritten; the speed issue may skip them).
std::shared_ptr<DenoiserImpl> make_model_in(torch::ScalarType dtype, const ModelConfig& model, int64_t vocab,
                                            int64_t max_len) {
  const caffe2::TypeMeta saved = torch::get_default_dtype();
  torch::set_default_dtype(c10::scalarTypeToTypeMeta(dtype == torch::kFloat16 ? torch::kFloat32 : dtype));
  try {
    auto built = make_model(model, vocab, max_len);
    torch::set_default_dtype(saved);
    return built;
  } catch (...) {
    torch::set_default_dtype(saved);
    throw;
  }
}

}  // namespace

void load_hf_weights(const std::string& dir, DenoiserImpl& model) {
  const SafetensorsFolder weights = open_weights(dir);
  const auto [family, arch] = read_folder_config(dir);
  load_weights(dir, weights, *family, arch, model, LoadMode{});
}

LoadedModel load_hf_folder(const std::string& dir, const torch::Device& device) {
  const SafetensorsFolder weights = open_weights(dir);
  const auto [family, arch] = read_folder_config(dir);
  LoadedModel out;
  out.tokenizer = load_hf_tokenizer(dir, hf_special_ids(arch));
  out.config.name = fs::path(dir).filename().string();
  out.config.model = arch.model;
  out.config.model.max_len = arch.max_len;
  out.config.data.seq_len = arch.max_len;
  out.sampler = arch.sampler;
  // The family's sampler and its defaults (a Dream folder's generation_config.json over them).
  const Sampler sampler = arch.sampler.empty() ? Sampler::kDlm : parse_enum<Sampler>(arch.sampler, "sampler");
  out.config.sample = folder_sample_config(sampler, dir);
  const torch::ScalarType dtype = inference_dtype(weights, device);
  out.model = make_model_in(dtype, out.config.model, out.tokenizer->vocab_size(), arch.max_len);
  load_weights(dir, weights, *family, arch, *out.model, LoadMode{true, dtype});
  out.model->to(device);
  out.model->eval();
  return out;
}

LoadedModel load_any_model(const std::string& given, const torch::Device& device, const ModelBuilder& build) {
  if (is_hf_folder(given)) return load_hf_folder(given, device);
  return load_model_for_inference(resolve_checkpoint_path(given), device, build);
}

namespace {

std::string dtype_name(torch::ScalarType t) {
  if (t == torch::kFloat16) return "float16";
  if (t == torch::kBFloat16) return "bfloat16";
  return "float32";
}

void write_tokenizer(const Tokenizer& tok, int64_t max_len, const std::string& out_dir) {
  const json j = tok.to_json();
  write_atomically((fs::path(out_dir) / "tokenizer.json").string(), dump_json(j["json"], 2));
  // The generic fast tokenizer takes tokenizer.json as it is; BertTokenizerFast would rebuild the normaliser.
  json config = {{"tokenizer_class", "PreTrainedTokenizerFast"}, {"model_max_length", max_len},
                 {"mask_token", tok.piece(tok.mask_id())},       {"pad_token", tok.piece(tok.pad_id())},
                 {"cls_token", tok.piece(tok.bos_id())},         {"sep_token", tok.piece(tok.eos_id())},
                 {"bos_token", tok.piece(tok.bos_id())},         {"eos_token", tok.piece(tok.eos_id())}};
  // A chat model's template goes with it, so the export chats as the folder it came from did.
  if (!tok.chat_template().empty()) config["chat_template"] = tok.chat_template();
  write_atomically((fs::path(out_dir) / "tokenizer_config.json").string(), dump_json(config, 2));
}

}  // namespace

void export_hf(const std::string& source, const std::string& out_dir) {
  const bool folder = is_hf_folder(source);
  // A folder holds weights and no direction of attention: any run's weights are read into the
  // bidirectional form of its model.
  const auto weights_only = [](const Config& c, int64_t vocab) { return make_model(c.model, vocab, model_context(c)); };
  const LoadedModel m = load_any_model(source, torch::kCPU, weights_only);
  const torch::ScalarType dtype = folder ? SafetensorsFolder(source).dtype() : torch::kFloat32;
  std::string why;
  const HfFamily* family = hf_family_for(m.config.model, &why);
  if (!family) throw Error(source + ": no Hugging Face family fits this model (" + why + ")");
  if (m.tokenizer->to_json().value("kind", "") != "hf") {
    throw Error(source + ": its tokenizer is not a tokenizer.json one, which transformers needs beside the weights");
  }
  std::error_code ec;
  if (fs::exists(out_dir, ec) && !(fs::is_directory(out_dir, ec) && fs::is_empty(out_dir, ec))) {
    throw Error(out_dir + " exists and is not an empty folder; export writes into a new one");
  }
  fs::create_directories(out_dir, ec);
  if (ec) throw Error("cannot create " + out_dir + ": " + ec.message());
  HfArch arch;
  arch.model = m.config.model;
  arch.max_len = model_context(m.config);
  if (arch.model.vocab_size == 0) arch.model.vocab_size = m.tokenizer->vocab_size();
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  const auto params = m.model->named_parameters();
  for (const TensorLink& link : family->links(arch.model)) {
    const torch::Tensor value = params[link.dlm].detach().to(torch::kCPU);
    const auto parts =
        link.rows.empty() ? value.chunk(static_cast<int64_t>(link.hf.size()), 0) : value.split_with_sizes(link.rows, 0);
    for (size_t i = 0; i < link.hf.size(); ++i) tensors.emplace_back(link.hf[i], parts[i].to(dtype).contiguous());
  }
  save_safetensors((fs::path(out_dir) / "model.safetensors").string(), tensors);
  write_atomically((fs::path(out_dir) / "config.json").string(),
                   dump_json(family->write_config(arch, *m.tokenizer, dtype_name(dtype)), 2));
  write_tokenizer(*m.tokenizer, arch.max_len, out_dir);
}

}  // namespace dlm
