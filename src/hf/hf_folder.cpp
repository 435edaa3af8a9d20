// Hugging Face folders in and out: config.json and the family's tensor names to a dlm Transformer with
// its tokenizer.json, and back.
#include "dlm/hf/hf_folder.h"

#include <filesystem>
#include <map>
#include <utility>

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

// Copies every linked tensor into the model's parameters; `skip_head` leaves the head transform as initialised.
// `names`: canonical_names of the folder, consumed as the links take them.
void load_links(const std::string& dir, const HfFamily& family, const SafetensorsFolder& weights,
                std::map<std::string, std::string> names, const ModelConfig& model, bool skip_head,
                torch::nn::Module& module) {
  const auto params = module.named_parameters();
  torch::NoGradGuard no_grad;
  for (const TensorLink& link : family.links(model)) {
    const bool head = link.dlm.rfind("head_", 0) == 0 || link.dlm == "head.weight";
    if (skip_head && head) continue;
    std::vector<torch::Tensor> parts;
    for (const std::string& hf : link.hf) {
      const auto it = names.find(hf);
      if (it == names.end()) throw Error(dir + ": tensor '" + hf + "' is missing (its config.json needs it)");
      parts.push_back(weights.tensor(it->second).to(torch::kFloat32));
      names.erase(it);
    }
    const torch::Tensor value = parts.size() == 1 ? parts[0] : torch::cat(parts, 0);
    const torch::Tensor* param = params.find(link.dlm);
    TORCH_CHECK(param, "hf link to a parameter the model lacks: ", link.dlm);
    if (value.sizes() != param->sizes()) {
      throw Error(dir + ": tensor '" + link.hf[0] + "' has shape " + shape_text(parts[0].sizes()) +
                  ", but config.json implies " + shape_text(param->sizes()) +
                  (parts.size() > 1 ? " for the " + std::to_string(parts.size()) + " joined" : ""));
    }
    param->copy_(value);  // a handle to the parameter itself
  }
  for (const auto& [canonical, name] : names) {
    // A decoder tied to the word embeddings is saved by some versions; the embeddings already hold it.
    if (model.tie_head && canonical.size() >= 14 && canonical.compare(canonical.size() - 14, 14, "decoder.weight") == 0)
      continue;
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

HfArch read_hf_config(const std::string& dir) {
  if (!is_hf_folder(dir)) {
    throw Error(dir + " is not a Hugging Face model folder (config.json beside model.safetensors or its index)");
  }
  return read_folder_config(dir).second;
}

void load_hf_weights(const std::string& dir, DenoiserImpl& model) {
  const SafetensorsFolder weights(dir);  // first: a folder of pytorch_model.bin is told to convert it
  const auto [family, arch] = read_folder_config(dir);
  std::map<std::string, std::string> names = canonical_names(weights, *family);
  const bool has_head = names.count(family->head_probe()) > 0;
  load_links(dir, *family, weights, std::move(names), arch.model, !has_head, model);
  if (!has_head) {
    fresh_head(model);
    log::info(
        "{}: no masked-LM head; dlm adds one (decoder tied to the word embeddings, transform freshly initialised)",
        dir);
  }
}

LoadedModel load_hf_folder(const std::string& dir, const torch::Device& device) {
  (void)SafetensorsFolder(dir);  // first: a folder of pytorch_model.bin is told to convert it
  const HfArch arch = read_folder_config(dir).second;
  LoadedModel out;
  out.tokenizer = load_hf_tokenizer(dir);
  out.config.name = fs::path(dir).filename().string();
  out.config.model = arch.model;
  out.config.model.max_len = arch.max_len;
  out.config.data.seq_len = arch.max_len;
  out.config.sample = folder_sample_config(arch.sampler, dir);  // the family's sampler, its defaults
  out.model = make_model(out.config.model, out.tokenizer->vocab_size(), arch.max_len);
  load_hf_weights(dir, *out.model);
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
  const json config = {{"tokenizer_class", "PreTrainedTokenizerFast"}, {"model_max_length", max_len},
                       {"mask_token", tok.piece(tok.mask_id())},       {"pad_token", tok.piece(tok.pad_id())},
                       {"cls_token", tok.piece(tok.bos_id())},         {"sep_token", tok.piece(tok.eos_id())},
                       {"bos_token", tok.piece(tok.bos_id())},         {"eos_token", tok.piece(tok.eos_id())}};
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
  HfArch arch{m.config.model, model_context(m.config)};
  if (arch.model.vocab_size == 0) arch.model.vocab_size = m.tokenizer->vocab_size();
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  const auto params = m.model->named_parameters();
  for (const TensorLink& link : family->links(arch.model)) {
    const torch::Tensor value = params[link.dlm].detach().to(torch::kCPU);
    const auto parts = value.chunk(static_cast<int64_t>(link.hf.size()), 0);
    for (size_t i = 0; i < link.hf.size(); ++i) tensors.emplace_back(link.hf[i], parts[i].to(dtype).contiguous());
  }
  save_safetensors((fs::path(out_dir) / "model.safetensors").string(), tensors);
  write_atomically((fs::path(out_dir) / "config.json").string(),
                   dump_json(family->write_config(arch, *m.tokenizer, dtype_name(dtype)), 2));
  write_tokenizer(*m.tokenizer, arch.max_len, out_dir);
}

}  // namespace dlm
