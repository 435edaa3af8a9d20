// Hugging Face tokenizer.json: reading and checking the file, added tokens, the WordPiece and BPE models,
// and the post-processor's ids around a sequence ("tokenizers" 0.22); the text stages are in hf_normalizer.cpp.
#include "dlm/data/hf_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <queue>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/json.h"
#include "dlm/utf8.h"
#include "hf_model.h"
#include "hf_normalizer.h"
#include "hf_tokenizer_config.h"

namespace dlm {
namespace {

using Json = nlohmann::json;
using hf::AddedMatcher;
using hf::AddedToken;
using hf::id_value;
using hf::Model;
using hf::Piece;
using hf::read_model;

std::string to_utf8(const std::u32string& text) {
  std::string out;
  for (char32_t cp : text) out += utf8_encode(cp);
  return out;
}

std::u32string to_u32(const std::string& text, const std::string& where) {
  const std::vector<char32_t> cps = utf8_decode(text, where);
  return std::u32string(cps.begin(), cps.end());
}

// j[key] when j is an object that has it, else nullptr (nlohmann's own accessors throw or assert).
const Json* member(const Json& j, const char* key) { return j.is_object() && j.contains(key) ? &j[key] : nullptr; }

// The ids the post-processor puts around one sequence; a Sequence of processors nests them in order.
void read_post_processor(const Json& j, const std::string& where, std::vector<int64_t>& before,
                         std::vector<int64_t>& after) {
  if (j.is_null()) return;
  const std::string type = j.is_object() ? hf::json_text(j, "type", "", where) : "";
  std::vector<int64_t> head, tail;
  if (type == "Sequence") {
    const Json* list = member(j, "processors");
    if (!list || !list->is_array()) throw Error(where + ".processors: expected an array");
    for (size_t i = 0; i < list->size(); ++i) {
      read_post_processor((*list)[i], where + ".processors[" + std::to_string(i) + "]", before, after);
    }
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    for (const char* key : {"cls", "sep"}) {
      const Json* v = member(j, key);
      if (!v || !v->is_array() || v->size() != 2 || !(*v)[0].is_string()) {
        throw Error(where + "." + key + ": expected [token, id]");
      }
      (key[0] == 'c' ? head : tail).push_back(id_value((*v)[1], where + "." + key));
    }
  } else if (type == "TemplateProcessing") {
    const Json* single = member(j, "single");
    if (!single || !single->is_array()) throw Error(where + ".single: expected an array of pieces");
    bool seen_a = false;
    for (const Json& piece : *single) {
      const Json* sequence = member(piece, "Sequence");
      const Json* special = member(piece, "SpecialToken");
      if (!seen_a && sequence && member(*sequence, "id") && *member(*sequence, "id") == "A") {
        seen_a = true;
        continue;
      }
      const Json* name = special ? member(*special, "id") : nullptr;
      if (!name || !name->is_string()) {
        throw Error(where + ".single: only special tokens around one Sequence A are supported, got " + piece.dump());
      }
      const std::string& token = name->get_ref<const std::string&>();
      const Json* entry = member(j, "special_tokens") ? member(*member(j, "special_tokens"), token.c_str()) : nullptr;
      const Json* ids = entry ? member(*entry, "ids") : nullptr;
      if (!ids || !ids->is_array()) throw Error(where + ".special_tokens: no ids for " + in_quotes(token));
      for (const Json& id : *ids) (seen_a ? tail : head).push_back(id_value(id, where + ".special_tokens." + token));
    }
    if (!seen_a) throw Error(where + ".single: the template has no Sequence A");
  } else if (type != "ByteLevel") {  // ByteLevel only trims offsets
    throw Error(
        where + " type " + in_quotes(type) +
        " is not supported (supported: TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence)");
  }
  before.insert(before.begin(), head.begin(), head.end());
  after.insert(after.end(), tail.begin(), tail.end());
}

// The special token names of a folder's tokenizer_config.json (empty: not given) and its chat template.
struct FolderExtras {
  std::string bos, eos, pad, mask, chat_template;
};

class HfTokenizer : public Tokenizer {
 public:
  HfTokenizer(Json json, const std::string& where, const HfSpecialIds& given, FolderExtras extras);

  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::string piece(int64_t id) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }
  nlohmann::json to_json() const override;
  std::string chat_template() const override { return chat_template_; }

  int64_t pad_id() const override { return pad_; }
  int64_t mask_id() const override { return mask_; }
  int64_t bos_id() const override { return bos_; }
  int64_t eos_id() const override { return eos_; }
  int64_t sep_id() const override { return eos_; }
  std::vector<int64_t> template_before() const override { return before_; }
  std::vector<int64_t> template_after() const override { return after_; }

 private:
  void read_added_tokens(const Json& j, const std::string& where);
  int64_t find_token(std::initializer_list<const char*> names) const;
  void resolve_specials(const HfSpecialIds& given, const FolderExtras& extras, const std::string& where);

  Json json_;  // the file as read, for to_json
  hf::Normalizer normalizer_;
  hf::PreTokenizer pre_tokenizer_;
  Model model_;
  hf::Decoder decoder_;
  std::vector<AddedToken> added_;
  AddedMatcher raw_matcher_, normalized_matcher_;
  std::vector<std::string> pieces_;  // token string by id: the model's, then the added tokens', then dlm's
  std::vector<bool> dropped_;        // special added tokens and dlm's own specials: decode drops them
  std::vector<int64_t> before_, after_;
  int64_t pad_ = -1, mask_ = -1, bos_ = -1, eos_ = -1;
  HfSpecialIds fixed_;         // ids given or named by tokenizer_config.json that the search would not find
  std::string chat_template_;  // tokenizer_config.json's, for --chat
};

HfTokenizer::HfTokenizer(Json json, const std::string& where, const HfSpecialIds& given, FolderExtras extras)
    : json_(std::move(json)), chat_template_(std::move(extras.chat_template)) {
  if (!json_.is_object()) throw Error(where + ": expected a JSON object");
  if (!json_.contains("model")) throw Error(where + ": no 'model'");
  const auto section = [&](const char* key) { return member(json_, key) ? *member(json_, key) : Json(); };
  normalizer_ = hf::Normalizer::parse(section("normalizer"), where + ": normalizer");
  pre_tokenizer_ = hf::PreTokenizer::parse(section("pre_tokenizer"), where + ": pre_tokenizer");
  model_ = read_model(json_["model"], where + ": model");
  decoder_ = hf::Decoder::parse(section("decoder"), where + ": decoder");
  pieces_ = std::move(model_.pieces);  // the model needs only its map
  dropped_.assign(pieces_.size(), false);
  read_added_tokens(section("added_tokens"), where + ": added_tokens");
  read_post_processor(section("post_processor"), where + ": post_processor", before_, after_);
  for (const auto* list : {&before_, &after_}) {
    for (int64_t id : *list) {
      if (id >= vocab_size()) {
        throw Error(where + ": post_processor: id " + std::to_string(id) + " is not in the vocabulary");
      }
    }
  }

  resolve_specials(given, extras, where);
  const char* const names[] = {"<pad>", "<mask>", "<bos>", "<eos>"};
  int64_t* const ids[] = {&pad_, &mask_, &bos_, &eos_};
  for (int k = 0; k < 4; ++k) {
    if (*ids[k] < 0) {
      *ids[k] = static_cast<int64_t>(pieces_.size());
      pieces_.push_back(names[k]);
      dropped_.push_back(true);
    }
    dropped_[*ids[k]] = true;  // dlm's convention: decode drops every special
  }
}

// Added tokens keep the ids the library gives them on loading: a token in the model's vocabulary has
// that id, the others follow the vocabulary in file order. A file that says otherwise is refused.
void HfTokenizer::read_added_tokens(const Json& j, const std::string& where) {
  if (j.is_null()) return;
  if (!j.is_array()) throw Error(where + ": expected an array");
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    const Json& e = j[i];
    if (!member(e, "content") || !e["content"].is_string() || e["content"] == "") {
      throw Error(at + ": no 'content' text");
    }
    if (!member(e, "id")) throw Error(at + ": no 'id'");
    AddedToken t;
    t.content = e["content"].get<std::string>();
    t.id = id_value(e["id"], at + ".id");
    if (!seen.emplace(t.content, i).second) throw Error(at + ": " + in_quotes(t.content) + " is listed twice");
    t.special = hf::json_flag(e, "special", false, at);
    t.single_word = hf::json_flag(e, "single_word", false, at);
    t.lstrip = hf::json_flag(e, "lstrip", false, at);
    t.rstrip = hf::json_flag(e, "rstrip", false, at);
    t.normalized = hf::json_flag(e, "normalized", !t.special, at);
    const auto in_vocab = model_.vocab.find(t.content);
    const int64_t expected = in_vocab != model_.vocab.end() ? in_vocab->second : static_cast<int64_t>(pieces_.size());
    if (t.id != expected) {
      throw Error(at + ": " + in_quotes(t.content) + " has id " + std::to_string(t.id) +
                  " but the tokenizers library gives it " + std::to_string(expected));
    }
    if (t.id == static_cast<int64_t>(pieces_.size())) {
      pieces_.push_back(t.content);
      dropped_.push_back(false);
    }
    dropped_[t.id] = dropped_[t.id] || t.special;
    added_.push_back(t);
  }
  // Tokens marked normalized are looked for in normalised text, so their pattern is normalised too.
  for (size_t k = 0; k < added_.size(); ++k) {
    const std::u32string pattern = to_u32(added_[k].content, where);
    if (added_[k].normalized) {
      normalized_matcher_.add(normalizer_.apply(pattern), k);
    } else {
      raw_matcher_.add(pattern, k);
    }
  }
}

// Each special id: the one given, else the token tokenizer_config.json names, else the search by name
// (and the post-processor's ends for bos and eos); -1 still means none (the constructor adds one).
void HfTokenizer::resolve_specials(const HfSpecialIds& given, const FolderExtras& extras, const std::string& where) {
  const char* const keys[] = {"mask", "pad", "bos", "eos"};
  const int64_t given_ids[] = {given.mask, given.pad, given.bos, given.eos};
  const std::string* named[] = {&extras.mask, &extras.pad, &extras.bos, &extras.eos};
  int64_t* const fixed[] = {&fixed_.mask, &fixed_.pad, &fixed_.bos, &fixed_.eos};
  for (int k = 0; k < 4; ++k) {
    if (given_ids[k] >= vocab_size()) {
      throw Error(where + ": " + keys[k] + " id " + std::to_string(given_ids[k]) + " is outside the vocabulary of " +
                  std::to_string(vocab_size()) + " tokens");
    }
    *fixed[k] = given_ids[k] >= 0 ? given_ids[k] : -1;
    if (*fixed[k] < 0 && !named[k]->empty()) {
      *fixed[k] = find_token({named[k]->c_str()});
      if (*fixed[k] < 0) {
        throw Error(where + ": tokenizer_config.json's " + keys[k] + "_token " + in_quotes(*named[k]) +
                    " is not in the vocabulary");
      }
    }
  }
  const int64_t found_mask = find_token({"[MASK]", "<mask>"}), found_pad = find_token({"[PAD]", "<pad>"});
  const int64_t found_bos = before_.empty() ? find_token({"[CLS]", "<s>"}) : before_.front();
  const int64_t found_eos = after_.empty() ? find_token({"[SEP]", "</s>"}) : after_.back();
  const int64_t found[] = {found_mask, found_pad, found_bos, found_eos};
  int64_t* const ids[] = {&mask_, &pad_, &bos_, &eos_};
  for (int k = 0; k < 4; ++k) {
    *ids[k] = *fixed[k] >= 0 ? *fixed[k] : found[k];
    if (*fixed[k] == found[k]) *fixed[k] = -1;  // to_json keeps only what the search would not find
  }
}

nlohmann::json HfTokenizer::to_json() const {
  Json j = {{"kind", "hf"}, {"json", json_}};
  Json ids = Json::object();
  for (const auto& [key, id] : {std::pair<const char*, int64_t>{"mask", fixed_.mask},
                                {"pad", fixed_.pad},
                                {"bos", fixed_.bos},
                                {"eos", fixed_.eos}}) {
    if (id >= 0) ids[key] = id;
  }
  if (!ids.empty()) j["special_ids"] = ids;
  if (!chat_template_.empty()) j["chat_template"] = chat_template_;
  return j;
}

int64_t HfTokenizer::find_token(std::initializer_list<const char*> names) const {
  for (const char* name : names) {
    for (const AddedToken& t : added_) {
      if (t.content == name) return t.id;
    }
    const auto it = model_.vocab.find(name);
    if (it != model_.vocab.end()) return it->second;
  }
  return -1;
}

// As the library's encode without the post-processor: added tokens are split out of the raw text, the
// rest is normalised and searched for normalised added tokens, and what remains is pre-tokenised into
// words for the model.
std::vector<int64_t> HfTokenizer::encode(const std::string& text) const {
  std::vector<Piece> raw, normalized;
  raw_matcher_.split(to_u32(text, "text"), added_, raw);
  std::vector<int64_t> ids;
  for (const Piece& piece : raw) {
    if (piece.id >= 0) {
      ids.push_back(piece.id);
      continue;
    }
    normalized.clear();
    normalized_matcher_.split(normalizer_.apply(piece.text), added_, normalized);
    for (const Piece& part : normalized) {
      if (part.id >= 0) {
        ids.push_back(part.id);
        continue;
      }
      for (const std::u32string& word : pre_tokenizer_.apply(part.text)) model_.tokenize(to_utf8(word), ids);
    }
  }
  return ids;
}

std::string HfTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<std::string> tokens;
  for (int64_t id : ids) {
    check_id(id);
    if (!dropped_[id]) tokens.push_back(pieces_[id]);
  }
  return decoder_.apply(tokens);
}

std::string HfTokenizer::piece(int64_t id) const {
  check_id(id);
  return pieces_[id];
}

}  // namespace

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& path, const HfSpecialIds& given) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path + ": does not exist");
  const bool dir = fs::is_directory(path, ec);
  const std::string folder = dir ? path : fs::path(path).parent_path().string();
  const hf::TokenizerConfigFile config = hf::read_tokenizer_config(folder.empty() ? "." : folder);
  const FolderExtras extras{config.bos, config.eos, config.pad, config.mask, config.chat_template};
  const std::string file = dir ? (fs::path(path) / "tokenizer.json").string() : path;
  if (fs::exists(file, ec))
    return std::make_unique<HfTokenizer>(parse_json(read_file(file), file), file, given, extras);
  if (dir && hf::is_slow_qwen2_folder(path)) {
    const std::string where = (fs::path(path) / "vocab.json").string();
    return std::make_unique<HfTokenizer>(hf::slow_qwen2_json(path, config), where, given, extras);
  }
  throw Error(path + ": no tokenizer.json in this folder (nor vocab.json + merges.txt of a Qwen2 tokenizer)");
}

namespace {

// Reads {"special_ids": {"mask": id, ...}} of a saved tokenizer (absent in checkpoints from before them).
HfSpecialIds saved_special_ids(const nlohmann::json& j, const std::string& where) {
  HfSpecialIds ids;
  const Json* saved = member(j, "special_ids");
  if (!saved) return ids;
  for (const auto& [key, id] :
       {std::pair<const char*, int64_t*>{"mask", &ids.mask}, {"pad", &ids.pad}, {"bos", &ids.bos}, {"eos", &ids.eos}}) {
    if (member(*saved, key)) *id = id_value((*saved)[key], where + ": special_ids." + key);
  }
  return ids;
}

}  // namespace

std::unique_ptr<Tokenizer> hf_tokenizer_from_json(const nlohmann::json& j) {
  const std::string where = "hf tokenizer description";
  if (!member(j, "json") || !j["json"].is_object()) throw Error(where + ": no 'json' object");
  FolderExtras extras;
  if (member(j, "chat_template")) {
    if (!j["chat_template"].is_string()) throw Error(where + ": chat_template: expected a string");
    extras.chat_template = j["chat_template"].get<std::string>();
  }
  return std::make_unique<HfTokenizer>(j["json"], where, saved_special_ids(j, where), extras);
}

}  // namespace dlm
