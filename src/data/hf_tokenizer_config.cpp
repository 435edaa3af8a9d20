// A tokenizer folder's tokenizer_config.json and chat template, and the slow Qwen2 tokenizer's
// vocab.json + merges.txt as a tokenizer.json object (transformers' Qwen2Tokenizer semantics).
#include "hf_tokenizer_config.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/json.h"
#include "hf_model.h"

namespace dlm::hf {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

// Qwen2Tokenizer's pre-tokenizer pattern (transformers' tokenization_qwen2.py, DreamLM's tokenization_dream.py).
constexpr const char* kQwen2Pattern =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// A special token entry: a string, {"content": ...}, or null / absent (empty).
std::string token_name(const Json& config, const char* key, const std::string& where) {
  if (!config.contains(key) || config[key].is_null()) return "";
  const Json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  throw Error(where + ": " + key + ": expected a token string or {\"content\": ...}");
}

std::string chat_template_of(const Json& config, const std::string& where) {
  if (!config.contains("chat_template") || config["chat_template"].is_null()) return "";
  const Json& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  // A list of named templates: the one named "default", as transformers picks it.
  if (t.is_array()) {
    for (const Json& e : t) {
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string()) {
        return e["template"].get<std::string>();
      }
    }
  }
  throw Error(where + ": chat_template: expected a string or a list holding a \"default\" template");
}

}  // namespace

TokenizerConfigFile read_tokenizer_config(const std::string& folder) {
  TokenizerConfigFile out;
  std::error_code ec;
  const std::string file = (fs::path(folder) / "tokenizer_config.json").string();
  if (fs::exists(file, ec)) {
    const Json config = parse_json(read_file(file), file);
    if (!config.is_object()) throw Error(file + ": expected a JSON object");
    out.bos = token_name(config, "bos_token", file);
    out.eos = token_name(config, "eos_token", file);
    out.pad = token_name(config, "pad_token", file);
    out.mask = token_name(config, "mask_token", file);
    out.chat_template = chat_template_of(config, file);
    out.tokenizer_class = config.value("tokenizer_class", Json()).is_string() ? config["tokenizer_class"] : "";
    if (config.contains("added_tokens_decoder")) out.added_tokens_decoder = config["added_tokens_decoder"];
  }
  const std::string jinja = (fs::path(folder) / "chat_template.jinja").string();
  if (fs::exists(jinja, ec)) out.chat_template = read_file(jinja);  // transformers prefers it too
  return out;
}

bool is_slow_qwen2_folder(const std::string& folder) {
  std::error_code ec;
  const fs::path dir(folder);
  if (!fs::exists(dir / "vocab.json", ec) || !fs::exists(dir / "merges.txt", ec)) return false;
  const std::string name = read_tokenizer_config(folder).tokenizer_class;
  return name == "Qwen2Tokenizer" || name == "Qwen2TokenizerFast" || name == "DreamTokenizer";
}

Json slow_qwen2_json(const std::string& folder, const TokenizerConfigFile& config) {
  const fs::path dir(folder);
  const std::string vocab_file = (dir / "vocab.json").string(), merges_file = (dir / "merges.txt").string();
  Json merges = Json::array();
  std::istringstream lines(read_file(merges_file));
  for (std::string line; std::getline(lines, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) merges.push_back(line);  // "#version" lines are skipped by the model's reader
  }
  Json added = Json::array();
  const std::string where = (dir / "tokenizer_config.json").string() + ": added_tokens_decoder";
  if (!config.added_tokens_decoder.is_null()) {
    if (!config.added_tokens_decoder.is_object()) throw Error(where + ": expected an object {id: token}");
    std::map<int64_t, Json> by_id;
    for (const auto& [key, token] : config.added_tokens_decoder.items()) {
      const Json id = parse_json(key, where + ": key " + in_quotes(key));
      if (!token.is_object()) throw Error(where + "." + key + ": expected an object");
      Json entry = token;
      entry["id"] = id_value(id, where + ": key " + in_quotes(key));
      by_id[entry["id"].get<int64_t>()] = entry;
    }
    for (auto& [id, entry] : by_id) added.push_back(entry);
  }
  // Every field the tokenizers library writes, so that an export of this tokenizer loads there too.
  const Json byte_level = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  const Json split = {
      {"type", "Split"}, {"pattern", {{"Regex", kQwen2Pattern}}}, {"behavior", "Isolated"}, {"invert", false}};
  const Json model = {{"type", "BPE"},
                      {"dropout", nullptr},
                      {"unk_token", nullptr},
                      {"continuing_subword_prefix", nullptr},
                      {"end_of_word_suffix", nullptr},
                      {"fuse_unk", false},
                      {"byte_fallback", false},
                      {"ignore_merges", false},
                      {"vocab", parse_json(read_file(vocab_file), vocab_file)},
                      {"merges", merges}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", {{"type", "NFC"}}},
          {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {split, byte_level}}}},
          {"post_processor", byte_level},
          {"decoder", byte_level},
          {"model", model}};
}

}  // namespace dlm::hf
