// SentencePiece tokenizer: native piece ids, dlm's special tokens mapped onto the model's own
// (pad, bos, eos, <mask>, <sep>) or appended after its vocabulary when the model has none.
// SentencePiece itself lives in the shim library libdlm_spm, opened here with dlopen (why: spm_shim.h).
#include "dlm/data/sentencepiece_tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <array>
#include <climits>
#include <filesystem>
#include <mutex>

#include "dlm/error.h"
#include "dlm/files.h"
#include "dlm/utf8.h"
#include "spm_shim/spm_shim.h"

namespace dlm {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// The shim's entry points, resolved once.
struct Shim {
  decltype(&dlm_spm_load) load;
  decltype(&dlm_spm_free) free;
  decltype(&dlm_spm_free_buffer) free_buffer;
  decltype(&dlm_spm_piece_size) piece_size;
  decltype(&dlm_spm_special_id) special_id;
  decltype(&dlm_spm_piece_to_id) piece_to_id;
  decltype(&dlm_spm_is_control) is_control;
  decltype(&dlm_spm_is_unknown) is_unknown;
  decltype(&dlm_spm_id_to_piece) id_to_piece;
  decltype(&dlm_spm_encode) encode;
  decltype(&dlm_spm_decode) decode;
  decltype(&dlm_spm_train) train;
};

// Candidates: $DLM_SPM_LIBRARY, beside the running program, and its parent folder (tests run from
// build/tests).
std::vector<std::string> shim_candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("DLM_SPM_LIBRARY")) out.push_back(env);
  char exe[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    const std::filesystem::path dir = std::filesystem::path(std::string(exe, static_cast<size_t>(n))).parent_path();
    out.push_back((dir / "libdlm_spm.so").string());
    out.push_back((dir.parent_path() / "libdlm_spm.so").string());
  }
  return out;
}

const Shim& shim() {
  static std::once_flag once;
  static Shim s{};
  static std::string failure;
  std::call_once(once, [] {
    if (kSanitized) {
      failure =
          "SentencePiece is not available in sanitizer builds (its library must be opened with "
          "RTLD_DEEPBIND, which AddressSanitizer does not allow)";
      return;
    }
    void* handle = nullptr;
    std::string tried;
    for (const auto& path : shim_candidates()) {
      std::error_code ec;
      if (!std::filesystem::exists(path, ec)) {
        tried += (tried.empty() ? "" : ", ") + path;
        continue;
      }
      handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (!handle) {
        failure = "cannot load " + path + ": " + ::dlerror();
        return;
      }
      break;
    }
    if (!handle) {
      failure = "SentencePiece support library libdlm_spm.so not found (looked in " + tried + ")";
      return;
    }
    const auto get = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(handle, name));
      if (!fn && failure.empty()) failure = std::string("libdlm_spm.so lacks ") + name;
    };
    get(s.load, "dlm_spm_load");
    get(s.free, "dlm_spm_free");
    get(s.free_buffer, "dlm_spm_free_buffer");
    get(s.piece_size, "dlm_spm_piece_size");
    get(s.special_id, "dlm_spm_special_id");
    get(s.piece_to_id, "dlm_spm_piece_to_id");
    get(s.is_control, "dlm_spm_is_control");
    get(s.is_unknown, "dlm_spm_is_unknown");
    get(s.id_to_piece, "dlm_spm_id_to_piece");
    get(s.encode, "dlm_spm_encode");
    get(s.decode, "dlm_spm_decode");
    get(s.train, "dlm_spm_train");
  });
  if (!failure.empty()) throw Error(failure);
  return s;
}

// Takes ownership of a buffer the shim allocated.
std::string take(const Shim& sh, char* buffer, size_t size) {
  std::string out(buffer ? buffer : "", buffer ? size : 0);
  sh.free_buffer(buffer);
  return out;
}
std::string take_error(const Shim& sh, char* error) {
  return error ? take(sh, error, std::char_traits<char>::length(error)) : "unknown error";
}

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

std::string base64_decode(const std::string& in) {
  std::array<int, 256> value;
  value.fill(-1);
  for (int i = 0; i < 64; ++i) value[static_cast<unsigned char>(kAlphabet[i])] = i;
  if (in.size() % 4 != 0) throw Error("sentencepiece tokenizer: model data is not base64");
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      const int d = value[static_cast<unsigned char>(c)];
      if (d < 0 || pad > 0) throw Error("sentencepiece tokenizer: model data is not base64");
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    out += static_cast<char>((v >> 16) & 255);
    if (pad < 2) out += static_cast<char>((v >> 8) & 255);
    if (pad < 1) out += static_cast<char>(v & 255);
  }
  return out;
}

class SentencePieceTokenizer : public Tokenizer {
 public:
  // `where` names the source in messages (a file, or "checkpoint").
  SentencePieceTokenizer(const std::string& serialized, const std::string& where)
      : shim_(shim()), serialized_(serialized) {
    char* error = nullptr;
    sp_ = shim_.load(serialized_.data(), serialized_.size(), &error);
    if (!sp_) throw Error(where + " is not a SentencePiece model (" + take_error(shim_, error) + ")");
    n_pieces_ = shim_.piece_size(sp_);
    if (n_pieces_ <= 0) throw Error(where + " has an empty SentencePiece vocabulary");
    int64_t next = n_pieces_;
    const int unk = shim_.special_id(sp_, 1);
    const auto control = [&](const char* name) -> int64_t {
      const int id = shim_.piece_to_id(sp_, name);
      return id != unk && shim_.is_control(sp_, id) ? id : -1;
    };
    const auto pick = [&](int64_t native, const char* name) {
      if (native >= 0) return native;
      extra_.push_back(name);
      return next++;
    };
    pad_ = pick(shim_.special_id(sp_, 0), "<pad>");
    mask_ = pick(control("<mask>"), "<mask>");
    bos_ = pick(shim_.special_id(sp_, 2), "<s>");
    eos_ = pick(shim_.special_id(sp_, 3), "</s>");
    sep_ = pick(control("<sep>"), "<sep>");
    vocab_ = next;
    const std::vector<int64_t> specials = {pad_, mask_, bos_, eos_, sep_};
    for (size_t i = 0; i < specials.size(); ++i) {
      for (size_t j = i + 1; j < specials.size(); ++j) {
        if (specials[i] == specials[j])
          throw Error(where + ": two special tokens share id " + std::to_string(specials[i]));
      }
    }
    for (int64_t id = 0; id < n_pieces_; ++id) {
      char* piece = nullptr;
      size_t size = 0;
      if (shim_.id_to_piece(sp_, static_cast<int>(id), &piece, &size) != 0)
        throw Error(where + ": cannot read piece " + std::to_string(id));
      pieces_.push_back(take(shim_, piece, size));
      control_.push_back(shim_.is_control(sp_, static_cast<int>(id)) != 0);
    }
  }
  ~SentencePieceTokenizer() override { shim_.free(sp_); }
  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;

  std::vector<int64_t> encode(const std::string& text) const override {
    if (!utf8_valid(text)) utf8_decode(text, "text");  // throws with the offset of the bad byte
    int* ids = nullptr;
    size_t n = 0;
    char* error = nullptr;
    if (shim_.encode(sp_, text.data(), text.size(), &ids, &n, &error) != 0) {
      throw Error("sentencepiece could not encode the text: " + take_error(shim_, error));
    }
    std::vector<int64_t> out(ids, ids + n);
    shim_.free_buffer(ids);
    return out;
  }

  std::string decode(const std::vector<int64_t>& ids) const override {
    std::vector<int> native;
    for (int64_t id : ids) {
      check_id(id);
      if (id < n_pieces_ && !is_special(id) && !control_[static_cast<size_t>(id)])
        native.push_back(static_cast<int>(id));
    }
    char* text = nullptr;
    size_t size = 0;
    char* error = nullptr;
    if (shim_.decode(sp_, native.data(), native.size(), &text, &size, &error) != 0) {
      throw Error("sentencepiece could not decode the ids: " + take_error(shim_, error));
    }
    return take(shim_, text, size);
  }

  std::string piece(int64_t id) const override {
    check_id(id);
    if (id >= n_pieces_) return extra_[static_cast<size_t>(id - n_pieces_)];
    return pieces_[static_cast<size_t>(id)];
  }

  int64_t vocab_size() const override { return vocab_; }
  int64_t pad_id() const override { return pad_; }
  int64_t mask_id() const override { return mask_; }
  int64_t bos_id() const override { return bos_; }
  int64_t eos_id() const override { return eos_; }
  int64_t sep_id() const override { return sep_; }
  const std::string& serialized() const { return serialized_; }

  nlohmann::json to_json() const override { return {{"kind", "sentencepiece"}, {"model", base64_encode(serialized_)}}; }

 private:
  const Shim& shim_;
  std::string serialized_;
  void* sp_ = nullptr;
  int64_t n_pieces_ = 0, vocab_ = 0;
  int64_t pad_ = -1, mask_ = -1, bos_ = -1, eos_ = -1, sep_ = -1;
  std::vector<std::string> extra_;  // names of the specials appended after the model's pieces
  std::vector<std::string> pieces_;
  std::vector<bool> control_;
};

// Feeds the training texts to the trainer line by line (SentencePiece trains on sentences). Lines
// longer than kMaxPiece bytes (a whole address on one line, say) are cut at spaces, since the
// trainer skips sentences over its max_sentence_length instead of learning from them.
class LineIterator {
 public:
  static constexpr size_t kMaxPiece = 4096;
  LineIterator(const std::vector<std::string>& texts, int64_t max_bytes) {
    int64_t total = 0;
    for (const auto& text : texts) {
      size_t start = 0;
      while (start < text.size() && total < max_bytes) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        if (end - start > kMaxPiece) {
          // Cut before the last space in range; a run without spaces is cut at a UTF-8 boundary.
          size_t cut = text.rfind(' ', start + kMaxPiece);
          if (cut == std::string::npos || cut <= start) {
            cut = start + kMaxPiece;
            while (cut > start && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
          }
          end = cut;
        }
        if (end > start) {
          lines_.push_back(text.substr(start, end - start));
          total += static_cast<int64_t>(end - start);
        }
        start = end < text.size() && (text[end] == '\n' || text[end] == ' ') ? end + 1 : end;
      }
    }
  }
  bool empty() const { return lines_.empty(); }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::vector<std::string> lines_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_model(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error("sentencepiece model '" + path + "' does not exist");
  return std::make_unique<SentencePieceTokenizer>(read_file(path), "'" + path + "'");
}

std::unique_ptr<Tokenizer> train_sentencepiece(const TokenizerConfig& config, const std::vector<std::string>& texts,
                                               const std::string& work_dir) {
  LineIterator lines(texts, config.train_max_bytes);
  if (lines.empty()) throw Error("sentencepiece: no training text to learn a vocabulary from");
  const Shim& sh = shim();
  // Ids 0..3 are pad, unk, bos, eos, then <mask> and <sep>; byte fallback makes every string encodable.
  // Newlines are pieces of their own: paragraph structure is part of the text a model must learn.
  const std::vector<std::pair<std::string, std::string>> args = {
      {"model_type", enum_name(config.model_type)},
      {"vocab_size", std::to_string(config.vocab_size)},
      {"character_coverage", std::to_string(config.character_coverage)},
      {"pad_id", "0"},
      {"unk_id", "1"},
      {"bos_id", "2"},
      {"eos_id", "3"},
      {"control_symbols", "<mask>,<sep>"},
      {"user_defined_symbols", "\n"},
      {"byte_fallback", "true"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"split_digits", "true"},
      {"max_sentence_length", std::to_string(LineIterator::kMaxPiece * 2)},
      {"num_threads", "2"},
      // A small corpus gets the pieces it supports instead of an error; the size is logged.
      {"hard_vocab_limit", "false"},
      {"model_prefix", ""},
  };
  std::vector<const char*> keys, values, sentences;
  std::vector<size_t> sizes;
  for (const auto& [k, v] : args) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  for (const auto& line : lines.lines()) {
    sentences.push_back(line.data());
    sizes.push_back(line.size());
  }
  char* model = nullptr;
  size_t model_size = 0;
  char* error = nullptr;
  if (sh.train(keys.data(), values.data(), keys.size(), sentences.data(), sizes.data(), sentences.size(), &model,
               &model_size, &error) != 0) {
    throw Error("sentencepiece training failed: " + take_error(sh, error));
  }
  const std::string serialized = take(sh, model, model_size);
  if (!work_dir.empty()) {
    std::filesystem::create_directories(work_dir);
    write_atomically((std::filesystem::path(work_dir) / "tokenizer.model").string(), serialized);
  }
  return std::make_unique<SentencePieceTokenizer>(serialized, "trained model");
}

std::unique_ptr<Tokenizer> sentencepiece_from_json(const nlohmann::json& j) {
  if (!j.contains("model") || !j["model"].is_string()) throw Error("sentencepiece tokenizer has no 'model'");
  return std::make_unique<SentencePieceTokenizer>(base64_decode(j["model"].get<std::string>()), "checkpoint tokenizer");
}

}  // namespace dlm
