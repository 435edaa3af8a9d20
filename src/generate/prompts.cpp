// Infill templates and prompt files, checked as they are read.
#include "dlm/generate/prompts.h"

#include <fstream>

#include "dlm/error.h"
#include "dlm/json.h"
#include "dlm/utf8.h"

namespace dlm {

InfillTemplate parse_infill(const std::string& text) {
  InfillTemplate t;
  const std::string open = "<mask:";
  size_t from = 0;
  while (true) {
    const size_t at = text.find(open, from);
    if (at == std::string::npos) break;
    const size_t close = text.find('>', at);
    const std::string digits =
        close == std::string::npos ? "" : text.substr(at + open.size(), close - at - open.size());
    const bool ok =
        !digits.empty() && digits.size() <= 6 && digits.find_first_not_of("0123456789") == std::string::npos;
    if (!ok || std::stoll(digits) < 1) {
      throw Error("infill template: malformed span at byte " + std::to_string(at) + " (write <mask:N> with N >= 1)");
    }
    t.texts.push_back(text.substr(from, at - from));
    t.spans.push_back(std::stoll(digits));
    from = close + 1;
  }
  t.texts.push_back(text.substr(from));
  if (t.spans.empty()) throw Error("infill template has no <mask:N> span to fill");
  return t;
}

std::vector<Prompt> read_prompts(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the prompts file");
  std::vector<Prompt> prompts;
  std::string line;
  bool jsonl = false;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string where = path + ":" + std::to_string(n);
    utf8_decode(line, where);
    if (n == 1) jsonl = !line.empty() && line[0] == '{';
    if (!jsonl) {
      prompts.push_back({line, ""});
      continue;
    }
    if (line.empty()) continue;
    const nlohmann::json j = parse_json(line, where);
    const bool has_prefix = j.is_object() && j.contains("prefix"), has_infill = j.is_object() && j.contains("infill");
    if (has_prefix == has_infill)
      throw Error(where + ": expected an object with \"prefix\" or \"infill\" (one of them)");
    const nlohmann::json& v = has_prefix ? j["prefix"] : j["infill"];
    if (!v.is_string())
      throw Error(where + ": \"" + std::string(has_prefix ? "prefix" : "infill") + "\" must be a string");
    prompts.push_back(has_prefix ? Prompt{v.get<std::string>(), ""} : Prompt{"", v.get<std::string>()});
  }
  if (prompts.empty()) throw Error(path + ": no prompts");
  return prompts;
}

}  // namespace dlm
