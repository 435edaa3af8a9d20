// Checkpoint files: one TorchScript archive holding a JSON "meta" string (format tag, config,
// tokenizer, training state, tensor names), the model tensors and the optimizer state.
#include "dlm/model/checkpoint.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <torch/version.h>

#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/json.h"

namespace dlm {
namespace {

constexpr const char* kFormat = "dlm-checkpoint";
constexpr int kVersion = 1;

std::vector<std::pair<std::string, torch::Tensor>> model_tensors(DenoiserImpl& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : model.named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

uint32_t crc32(const char* data, size_t size) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = table[(c ^ static_cast<unsigned char>(data[i])) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint64_t read_le(const std::string& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<size_t>(i)]);
  return v;
}

// LibTorch parses a checkpoint's records without checking them, and some corruptions crash its
// parser. A checkpoint is a zip of stored (uncompressed) records, each with a CRC-32: verify every
// record before LibTorch sees the file, so a damaged file is an error, not a crash.
void verify_archive(const std::string& path, const std::string& bytes) {
  const auto corrupt = [&](const std::string& why) {
    return Error(path + ": not a readable checkpoint (truncated, corrupted or not a dlm file): " + why);
  };
  constexpr size_t kEocd = 22;
  if (bytes.size() < kEocd) throw corrupt("file too short");
  size_t eocd = std::string::npos;
  const size_t lowest = bytes.size() > kEocd + 65535 ? bytes.size() - kEocd - 65535 : 0;
  for (size_t i = bytes.size() - kEocd + 1; i-- > lowest;) {
    if (read_le(bytes, i, 4) == 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd == std::string::npos) throw corrupt("no zip directory");
  uint64_t entries = read_le(bytes, eocd + 10, 2);
  uint64_t dir_offset = read_le(bytes, eocd + 16, 4);
  if (entries == 0xFFFF || dir_offset == 0xFFFFFFFF) {
    // Zip64: the locator sits just before the classic record.
    if (eocd < 20 || read_le(bytes, eocd - 20, 4) != 0x07064b50) throw corrupt("bad zip64 locator");
    const uint64_t z64 = read_le(bytes, eocd - 20 + 8, 8);
    if (z64 + 56 > bytes.size() || read_le(bytes, z64, 4) != 0x06064b50) throw corrupt("bad zip64 directory");
    entries = read_le(bytes, z64 + 32, 8);
    dir_offset = read_le(bytes, z64 + 48, 8);
  }
  size_t at = dir_offset;
  for (uint64_t e = 0; e < entries; ++e) {
    if (at + 46 > bytes.size() || read_le(bytes, at, 4) != 0x02014b50) throw corrupt("bad zip directory entry");
    const uint64_t method = read_le(bytes, at + 10, 2);
    const uint32_t crc = static_cast<uint32_t>(read_le(bytes, at + 16, 4));
    uint64_t size = read_le(bytes, at + 20, 4);
    const uint64_t name_len = read_le(bytes, at + 28, 2), extra_len = read_le(bytes, at + 30, 2),
                   comment_len = read_le(bytes, at + 32, 2);
    uint64_t local = read_le(bytes, at + 42, 4);
    if (at + 46 + name_len + extra_len > bytes.size()) throw corrupt("bad zip directory entry");
    if (size == 0xFFFFFFFF || local == 0xFFFFFFFF) {
      // Zip64 extra field: the 8-byte values that overflowed, in a fixed order.
      size_t x = at + 46 + name_len;
      const size_t x_end = x + extra_len;
      bool found = false;
      while (x + 4 <= x_end) {
        const uint64_t id = read_le(bytes, x, 2), len = read_le(bytes, x + 2, 2);
        if (id == 0x0001) {
          size_t f = x + 4;
          if (read_le(bytes, at + 24, 4) == 0xFFFFFFFF) f += 8;  // uncompressed size comes first
          if (size == 0xFFFFFFFF && f + 8 <= x_end) size = read_le(bytes, f, 8), f += 8;
          if (local == 0xFFFFFFFF && f + 8 <= x_end) local = read_le(bytes, f, 8);
          found = true;
          break;
        }
        x += 4 + len;
      }
      if (!found) throw corrupt("bad zip64 entry");
    }
    if (local + 30 > bytes.size() || read_le(bytes, local, 4) != 0x04034b50) throw corrupt("bad zip record header");
    const uint64_t data = local + 30 + read_le(bytes, local + 26, 2) + read_le(bytes, local + 28, 2);
    if (data > bytes.size() || size > bytes.size() - data) throw corrupt("record runs past the end of the file");
    // Compressed records (TorchScript code) are checked by the zip reader as it inflates them.
    if (method == 0 && crc32(bytes.data() + data, size) != crc) {
      throw corrupt("record '" + bytes.substr(at + 46, name_len) + "' fails its checksum");
    }
    at += 46 + name_len + extra_len + comment_len;
  }
}

// The optimizer's key for a parameter's state: its address, as a string in 1.13, as a pointer in 2.x.
auto state_key(const torch::Tensor& param) {
#if TORCH_VERSION_MAJOR >= 2
  return static_cast<void*>(param.unsafeGetTensorImpl());
#else
  return c10::guts::to_string(param.unsafeGetTensorImpl());
#endif
}

// AdamW's moments by parameter name, on the CPU. LibTorch's own optimizer archive keys each state by
// the parameter's address, printed in hex by 1.13 and parsed as decimal by 2.x: a 1.13 file loses
// every state but one in 2.x. Names and plain tensors read alike in every version and from any device.
void write_adamw_state(torch::serialize::OutputArchive& archive, nlohmann::json& meta, DenoiserImpl& model,
                       torch::optim::AdamW& optimizer) {
  std::vector<std::string> names;
  std::vector<int64_t> steps;
  c10::List<at::Tensor> exp_avg, exp_avg_sq;
  for (const auto& p : model.named_parameters()) {
    const torch::optim::AdamWParamState* s = adamw_state(optimizer, p.value());
    if (!s) continue;
    names.push_back(p.key());
    steps.push_back(s->step());
    exp_avg.push_back(s->exp_avg().detach().to(torch::kCPU));
    exp_avg_sq.push_back(s->exp_avg_sq().detach().to(torch::kCPU));
  }
  meta["adamw"] = {{"names", names}, {"steps", steps}};
  archive.write("adamw_exp_avg", c10::IValue(exp_avg));
  archive.write("adamw_exp_avg_sq", c10::IValue(exp_avg_sq));
}

}  // namespace

torch::optim::AdamWParamState* adamw_state(torch::optim::AdamW& optimizer, const torch::Tensor& param) {
  const auto it = optimizer.state().find(state_key(param));
  return it == optimizer.state().end() ? nullptr : static_cast<torch::optim::AdamWParamState*>(it->second.get());
}

torch::optim::AdamWParamState& adamw_state_or_new(torch::optim::AdamW& optimizer, const torch::Tensor& param) {
  if (torch::optim::AdamWParamState* s = adamw_state(optimizer, param)) return *s;
  auto state = std::make_unique<torch::optim::AdamWParamState>();
  state->step(0);
  state->exp_avg(torch::zeros_like(param, torch::MemoryFormat::Preserve));
  state->exp_avg_sq(torch::zeros_like(param, torch::MemoryFormat::Preserve));
  torch::optim::AdamWParamState& out = *state;
  optimizer.state()[state_key(param)] = std::move(state);
  return out;
}

void save_checkpoint(const std::string& path, const Config& config, const Tokenizer& tokenizer, DenoiserImpl& model,
                     torch::optim::AdamW* optimizer, const TrainState& state) {
  const auto tensors = model_tensors(model);
  nlohmann::json meta = {
      {"format", kFormat},
      {"version", kVersion},
      {"config", to_json(config)},
      {"tokenizer", tokenizer.to_json()},
      {"step", state.step},
      {"world_size", state.world_size},
      {"best_val", std::isfinite(state.best_val) ? nlohmann::json(state.best_val) : nlohmann::json()}};
  c10::List<at::Tensor> values;
  std::vector<std::string> names;
  for (const auto& [name, tensor] : tensors) {
    names.push_back(name);
    values.push_back(tensor.detach().to(torch::kCPU));
  }
  meta["model_keys"] = names;

  torch::serialize::OutputArchive archive;
  archive.write("model", c10::IValue(values));
  if (optimizer) write_adamw_state(archive, meta, model, *optimizer);
  archive.write("meta", c10::IValue(dump_json(meta)));

  write_atomically(path, [&](const std::string& tmp) {
    try {
      archive.save_to(tmp);
    } catch (const c10::Error& e) {
      throw Error("cannot write checkpoint " + tmp + ": " + first_line(e.what()));
    }
  });
}

CheckpointReader::CheckpointReader(const std::string& path) : path_(path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(path + ": checkpoint not found");
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a directory, expected a checkpoint file");
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open checkpoint (permission denied?)");
    std::ostringstream os;
    os << in.rdbuf();
    bytes = os.str();
  }
  verify_archive(path, bytes);
  try {
    // The bytes just verified, not a second read. Every tensor lands on the CPU whatever device wrote
    // it (a CUDA run's optimizer moments included); the caller moves it where it is needed.
    archive_.load_from(bytes.data(), bytes.size(), torch::Device(torch::kCPU));
  } catch (const c10::Error& e) {
    throw Error(path + ": not a readable checkpoint (truncated, corrupted or not a dlm file): " + first_line(e.what()));
  } catch (const std::exception& e) {
    throw Error(path + ": not a readable checkpoint (truncated, corrupted or not a dlm file): " + first_line(e.what()));
  }
  c10::IValue meta_value;
  if (!archive_.try_read("meta", meta_value) || !meta_value.isString()) {
    throw Error(path + ": not a dlm checkpoint (no metadata)");
  }
  nlohmann::json meta = nlohmann::json::parse(meta_value.toStringRef(), nullptr, false);
  if (meta.is_discarded() || !meta.is_object() || meta.value("format", "") != kFormat) {
    throw Error(path + ": not a dlm checkpoint (unknown format)");
  }
  if (meta.value("version", 0) != kVersion) {
    throw Error(path + ": checkpoint format version " + dump_json(meta["version"]) + " is not supported (expected " +
                std::to_string(kVersion) + ")");
  }
  try {
    apply_json(config_, meta.at("config"));
    validate(config_);
  } catch (const Error& e) {
    throw Error(path + ": checkpoint config is invalid: " + e.what());
  } catch (const nlohmann::json::exception&) {
    throw Error(path + ": checkpoint has no config");
  }
  tokenizer_json_ = meta.value("tokenizer", nlohmann::json());
  state_.step = meta.value("step", int64_t{0});
  state_.world_size = meta.value("world_size", int64_t{1});
  if (meta.contains("best_val") && meta["best_val"].is_number()) state_.best_val = meta["best_val"].get<double>();
  model_keys_ = meta.value("model_keys", std::vector<std::string>());
  adamw_ = meta.value("adamw", nlohmann::json());
}

std::unique_ptr<Tokenizer> CheckpointReader::tokenizer() const {
  try {
    return tokenizer_from_json(tokenizer_json_);
  } catch (const Error& e) {
    throw Error(path_ + ": " + e.what());
  }
}

void CheckpointReader::load_model(DenoiserImpl& model, const torch::Device& device) {
  c10::IValue value;
  if (!archive_.try_read("model", value) || !value.isTensorList())
    throw Error(path_ + ": checkpoint has no model weights");
  const c10::List<at::Tensor> values = value.toTensorList();
  if (values.size() != model_keys_.size()) throw Error(path_ + ": checkpoint weights and their names disagree");
  std::unordered_map<std::string, at::Tensor> stored;
  for (size_t i = 0; i < values.size(); ++i) stored.emplace(model_keys_[i], values.get(i));
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : model_tensors(model)) {
    const auto it = stored.find(name);
    if (it == stored.end()) throw Error(path_ + ": checkpoint lacks tensor '" + name + "' (a different model type?)");
    if (it->second.sizes() != tensor.sizes()) {
      std::ostringstream os;
      os << path_ << ": tensor '" << name << "' has shape " << it->second.sizes() << " in the checkpoint but "
         << tensor.sizes() << " in the model";
      throw Error(os.str());
    }
    tensor.copy_(it->second);
  }
  model.to(device);
}

void CheckpointReader::load_optimizer(torch::optim::AdamW& optimizer, DenoiserImpl& model) {
  c10::IValue avg, avg_sq;
  if (adamw_.is_null()) {
    // Written before dlm stored the moments by name: LibTorch's own archive (same-version only).
    torch::serialize::InputArchive opt;
    if (!archive_.try_read("optimizer", opt)) throw Error(path_ + ": checkpoint has no optimizer state");
    try {
      optimizer.load(opt);
    } catch (const c10::Error& e) {
      throw Error(path_ + ": optimizer state does not match: " + first_line(e.what()));
    }
    // Those moments load on the CPU; they must live where the parameters do.
    for (const auto& p : model.parameters()) {
      if (torch::optim::AdamWParamState* s = adamw_state(optimizer, p)) {
        s->exp_avg(s->exp_avg().to(p.device()));
        s->exp_avg_sq(s->exp_avg_sq().to(p.device()));
      }
    }
    return;
  }
  const auto names = adamw_.value("names", std::vector<std::string>());
  const auto steps = adamw_.value("steps", std::vector<int64_t>());
  if (!archive_.try_read("adamw_exp_avg", avg) || !archive_.try_read("adamw_exp_avg_sq", avg_sq) ||
      !avg.isTensorList() || !avg_sq.isTensorList() || avg.toTensorList().size() != names.size() ||
      avg_sq.toTensorList().size() != names.size() || steps.size() != names.size()) {
    throw Error(path_ + ": checkpoint optimizer state is incomplete");
  }
  const c10::List<at::Tensor> avgs = avg.toTensorList(), avg_sqs = avg_sq.toTensorList();
  const auto params = model.named_parameters();
  for (size_t i = 0; i < names.size(); ++i) {
    const torch::Tensor* p = params.find(names[i]);
    if (!p || avgs.get(i).sizes() != p->sizes()) {
      throw Error(path_ + ": optimizer state for '" + names[i] + "' does not match the model");
    }
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->step(steps[i]);
    state->exp_avg(avgs.get(i).to(p->device()));
    state->exp_avg_sq(avg_sqs.get(i).to(p->device()));
    optimizer.state()[state_key(*p)] = std::move(state);
  }
}

LoadedModel load_model_for_inference(const std::string& path, const torch::Device& device, const ModelBuilder& build) {
  CheckpointReader reader(path);
  LoadedModel out;
  out.config = reader.config();
  out.tokenizer = reader.tokenizer();
  out.model = build(out.config, out.tokenizer->vocab_size());
  reader.load_model(*out.model, device);
  out.model->eval();
  out.step = reader.state().step;
  return out;
}

}  // namespace dlm
