// dgen's tokenizer tools: which tokenizer a path names, and ids to and from JSON.
#include "dlm/generate/tokenizer_tools.h"

#include <filesystem>
#include <functional>

#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/json.h"
#include "dlm/model/checkpoint.h"
#include "dlm/model/run_dir.h"
#include "dlm/utf8.h"

namespace dlm {

std::unique_ptr<Tokenizer> open_tokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool dir = !path.empty() && fs::is_directory(path, ec);
  const fs::path folder(path);
  // A Hugging Face model folder holds tokenizer.json; one that also holds a dlm checkpoint is a run directory.
  const bool has_checkpoint = dir && (fs::exists(folder / "best.pt", ec) || fs::exists(folder / "last.pt", ec));
  const bool vocab_dir = dir && ((fs::exists(folder / "tokenizer.json", ec) && !has_checkpoint) ||
                                 fs::exists(folder / "vocab.json", ec) || fs::exists(folder / "encoder.json", ec));
  const bool checkpoint = path.empty() || (dir && !vocab_dir) || fs::path(path).extension() == ".pt";
  if (checkpoint) return CheckpointReader(resolve_checkpoint_path(path)).tokenizer();
  return load_tokenizer_files(path);
}

nlohmann::json tokenize_to_json(const Tokenizer& tok, const std::string& text, const std::string& where,
                                const ChatFormat* chat) {
  utf8_decode(text, where);  // names the offset of a bad byte
  // With the specials a model's tokenizer adds (and, for --chat, the turn around the text).
  const std::vector<int64_t> ids = tok.encode_for_model(chat ? chat_prompt(*chat, text) : text);
  nlohmann::json pieces = nlohmann::json::array();
  for (int64_t id : ids) pieces.push_back(tok.piece(id));
  return {{"ids", ids}, {"pieces", pieces}};
}

std::string detokenize_json(const Tokenizer& tok, const std::string& json_text, const std::string& where) {
  const nlohmann::json j = parse_json(json_text, where);
  const nlohmann::json* ids = j.is_array() ? &j : (j.is_object() && j.contains("ids") ? &j["ids"] : nullptr);
  if (!ids || !ids->is_array()) throw Error(where + ": expected {\"ids\": [...]} or a JSON array of ids");
  std::vector<int64_t> values;
  for (size_t i = 0; i < ids->size(); ++i) {
    if (!(*ids)[i].is_number_integer()) throw Error(where + ": ids[" + std::to_string(i) + "] is not an integer");
    values.push_back((*ids)[i].get<int64_t>());
  }
  return tok.decode(values);
}

namespace {

// Runs `one` on every non-blank line of `input`, named "standard input, line N", and joins its JSON answers.
std::string per_line(const std::string& input,
                     const std::function<nlohmann::json(const std::string&, const std::string&)>& one) {
  std::string out;
  const std::vector<std::string> lines = split_lines(input);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find_first_not_of(" \t") == std::string::npos) continue;
    out += dump_json(one(lines[i], "standard input, line " + std::to_string(i + 1))) + "\n";
  }
  return out;
}

}  // namespace

std::string tokenize_lines(const Tokenizer& tok, const std::string& input, const ChatFormat* chat) {
  return per_line(input, [&](const std::string& line, const std::string& where) {
    const nlohmann::json j = parse_json(line, where);
    const nlohmann::json* text = j.is_string() ? &j : (j.is_object() && j.contains("text") ? &j["text"] : nullptr);
    if (!text || !text->is_string()) throw Error(where + ": expected a JSON string or {\"text\": \"...\"}");
    return tokenize_to_json(tok, text->get<std::string>(), where, chat);
  });
}

std::string detokenize_lines(const Tokenizer& tok, const std::string& input) {
  return per_line(input, [&](const std::string& line, const std::string& where) {
    return nlohmann::json{{"text", detokenize_json(tok, line, where)}};
  });
}

}  // namespace dlm
