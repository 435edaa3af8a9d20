// The layers above a config's defaults: a JSON file (its paths resolved against its folder) and
// `section.key=value` overrides, with the rule that model.init_from stands alone.
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "dlm/config.h"
#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/json.h"
#include "dlm/utf8.h"

namespace dlm {

namespace {

using nlohmann::json;

// model.init_from takes the architecture and the tokenizer from its folder: a config that also sets
// one of them would be silently overruled, so it is refused. `model` and `tokenizer` are the config's
// sections (null when absent); `where` prefixes the message.
void check_init_from_alone(const json* model, const json* tokenizer, const std::string& where) {
  if (!model || !model->is_object() || !model->contains("init_from")) return;
  for (const auto& item : model->items()) {
    if (item.key() != "init_from") {
      throw Error(where + "model." + item.key() +
                  " cannot be set beside model.init_from (the folder's config.json gives the architecture)");
    }
  }
  if (tokenizer) {
    throw Error(where +
                "the tokenizer section cannot be given beside model.init_from (the folder's tokenizer.json is used)");
  }
}

}  // namespace

void apply_override(Config& c, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw Error("override '" + assignment + "' must look like section.key=value (e.g. model.d_model=256)");
  }
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  const bool arch_key = key.rfind("model.", 0) == 0 || key.rfind("tokenizer.", 0) == 0;
  if (!c.model.init_from.empty() && arch_key && key != "model.init_from") {
    throw Error("override '" + key + "': the model and tokenizer come from model.init_from (" + c.model.init_from +
                ")");
  }
  if (key == "model.init_from" && (to_json(c)["model"] != to_json(Config{})["model"] ||
                                   to_json(c)["tokenizer"] != to_json(Config{})["tokenizer"])) {
    throw Error(
        "override 'model.init_from': the config already sets model.* or tokenizer.* keys, which the folder "
        "would overrule");
  }
  if (!utf8_valid(assignment)) throw Error("override '" + key + "=...': value is not valid UTF-8");
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;  // bare words such as cosine are strings
  // Build {"a": {"b": value}} from "a.b" and apply it like a file.
  json nested = value;
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (it->empty()) throw Error("override '" + assignment + "': empty key segment");
    nested = json{{*it, nested}};
  }
  apply_json(c, nested);
}

Config load_config_file(const std::string& path) {
  const json j = parse_json(read_file(path), path);
  Config c;
  try {
    apply_json(c, j);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  if (j.is_object()) {
    check_init_from_alone(j.contains("model") ? &j["model"] : nullptr,
                          j.contains("tokenizer") ? &j["tokenizer"] : nullptr, path + ": ");
  }
  if (!j.contains("name")) c.name = std::filesystem::path(path).stem().string();
  // Paths in a config file are relative to the file, not to where dtrain runs.
  for (std::string* p : {&c.data.path, &c.data.val_path, &c.tokenizer.path, &c.model.init_from}) {
    if (!p->empty() && std::filesystem::path(*p).is_relative()) {
      *p = (std::filesystem::path(path).parent_path() / *p).lexically_normal().string();
    }
  }
  return c;
}

}  // namespace dlm
