// Hugging Face folders' weights: model.safetensors, or the shards its index names.
#include <algorithm>
#include <filesystem>
#include <map>

#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/hf/safetensors.h"
#include "hf/safetensors_json.h"

namespace dlm {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Shards are files inside the folder: an absolute path or ".." in an index would read elsewhere. (A
// shard that is a symlink out of the folder is fine: the Hugging Face cache links every file to a blob.)
bool inside_folder(const std::string& file) {
  const fs::path p(file);
  if (file.empty() || p.is_absolute() || p.has_root_name()) return false;
  return std::none_of(p.begin(), p.end(), [](const fs::path& part) { return part == ".."; });
}

// Opens the shards that the index of `root` names, and which shard holds each tensor.
void read_index(const fs::path& root, std::vector<SafetensorsFile>& shards, std::map<std::string, size_t>& shard_of) {
  const std::string where = (root / kSafetensorsIndex).string();
  const std::string text = read_file(where);
  const json index = parse_unique_json(text.data(), text.data() + text.size(), where, "index", "key");
  const auto map = index.find("weight_map");  // end() when the index is no object
  if (map == index.end() || !map->is_object()) throw Error(where + ": no \"weight_map\" object (tensor -> shard file)");
  std::map<std::string, size_t> shard_number;  // shard file -> index in shards
  for (auto it = map->begin(); it != map->end(); ++it) {
    const std::string at = where + ": \"weight_map\" places tensor " + quote_name(it.key());
    if (!it->is_string()) throw Error(at + " in a " + it->type_name() + ", not in a shard file");
    const auto& file = it->get_ref<const std::string&>();
    if (!shard_number.count(file)) {
      std::error_code ec;
      if (!inside_folder(file)) throw Error(at + " in " + quote_name(file) + ", a path that escapes the folder");
      if (!fs::is_regular_file(root / file, ec)) throw Error(at + " in " + quote_name(file) + ", which is missing");
      shard_number[file] = shards.size();
      shards.emplace_back((root / file).string());
    }
    const size_t s = shard_number[file];
    if (!shards[s].contains(it.key())) throw Error(at + " in " + quote_name(file) + ", which does not hold it");
    shard_of[it.key()] = s;
  }
  // A tensor in two shards: whichever copy the index names, the other may silently differ.
  std::map<std::string, size_t> holder;
  for (size_t s = 0; s < shards.size(); ++s) {
    for (const auto& e : shards[s].entries()) {
      const auto [first, fresh] = holder.emplace(e.name, s);
      if (!fresh) {
        throw Error(where + ": tensor " + quote_name(e.name) + " is in two shards, " + shards[first->second].path() +
                    " and " + shards[s].path());
      }
    }
  }
}

// What a folder without safetensors weights holds instead, for the message.
Error no_safetensors_weights(const std::string& dir) {
  const fs::path root(dir);
  std::error_code ec;
  std::string pickle;  // transformers' older format: dlm does not unpickle
  for (const char* name : {"pytorch_model.bin", "pytorch_model.bin.index.json"}) {
    if (pickle.empty() && fs::exists(root / name, ec)) pickle = name;
  }
  for (fs::directory_iterator it(root, ec), end; pickle.empty() && !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const bool shard =
        name.rfind("pytorch_model-", 0) == 0 && name.size() > 18 && name.substr(name.size() - 4) == ".bin";
    if (shard) pickle = name;
  }
  if (!pickle.empty()) {
    return Error(
        dir + " holds " + pickle + " but no model.safetensors: dlm reads safetensors only; convert it in Python " +
        "with model.save_pretrained(\"" + dir + "\", safe_serialization=True) on the model that transformers' " +
        "from_pretrained(\"" + dir + "\") loads");
  }
  return Error(dir + ": no model.safetensors or " + kSafetensorsIndex + " (not a Hugging Face model folder?)");
}

}  // namespace

SafetensorsFolder::SafetensorsFolder(const std::string& dir) : dir_(dir) {
  const fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error(dir + ": " + (fs::exists(root, ec) ? "not a folder" : "no such folder"));
  // The single file first, as transformers looks: an index beside it is left over from an older save.
  if (fs::exists(root / "model.safetensors", ec)) {
    shards_.emplace_back((root / "model.safetensors").string());
    for (const auto& e : shards_[0].entries()) shard_of_[e.name] = 0;
  } else if (fs::exists(root / kSafetensorsIndex, ec)) {
    read_index(root, shards_, shard_of_);
  } else {
    throw no_safetensors_weights(dir);
  }
}

std::vector<std::string> SafetensorsFolder::names() const {
  std::vector<std::string> out;
  for (const auto& [name, shard] : shard_of_) out.push_back(name);
  return out;
}

const SafetensorsFile& SafetensorsFolder::file_of(const std::string& name) const {
  const auto it = shard_of_.find(name);
  if (it == shard_of_.end()) throw Error(dir_ + ": no tensor " + quote_name(name) + " in this folder's weights");
  return shards_[it->second];
}

const SafetensorsEntry& SafetensorsFolder::entry(const std::string& name) const { return file_of(name).entry(name); }

torch::Tensor SafetensorsFolder::tensor(const std::string& name) const { return file_of(name).tensor(name); }

torch::ScalarType SafetensorsFolder::dtype() const {
  const torch::ScalarType floats[] = {torch::kFloat32, torch::kBFloat16, torch::kFloat16, torch::kFloat64};
  size_t count[4] = {0, 0, 0, 0};
  for (const auto& [name, shard] : shard_of_) {
    for (size_t i = 0; i < 4; ++i) count[i] += shards_[shard].entry(name).dtype == floats[i];
  }
  // The most common; a tie goes to the type earlier in `floats`, and a folder without floats gets F32.
  return floats[std::max_element(count, count + 4) - count];
}

}  // namespace dlm
