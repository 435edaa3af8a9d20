// libdlm_spm: SentencePiece behind a C interface (see spm_shim.h for why it is a separate library).
#include "spm_shim.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

// Exported by libsentencepiece but missing from its installed headers: silences the training log.
namespace sentencepiece::logging {
void SetMinLogLevel(int level);
}

namespace {

char* copy_out(const std::string& s, size_t* size = nullptr) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) return nullptr;
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  if (size) *size = s.size();
  return out;
}

int fail(char** error, const std::string& message) {
  if (error) *error = copy_out(message);
  return 1;
}

sentencepiece::SentencePieceProcessor& sp(void* p) { return *static_cast<sentencepiece::SentencePieceProcessor*>(p); }

// Hands the sentences to the trainer without copying them again.
class Sentences : public sentencepiece::SentenceIterator {
 public:
  Sentences(const char* const* data, const size_t* sizes, size_t n) : data_(data), sizes_(sizes), n_(n) { load(); }
  bool done() const override { return i_ >= n_; }
  void Next() override {
    ++i_;
    load();
  }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

 private:
  void load() {
    if (i_ < n_) value_.assign(data_[i_], sizes_[i_]);
  }
  const char* const* data_;
  const size_t* sizes_;
  size_t n_, i_ = 0;
  std::string value_;
};

}  // namespace

extern "C" {

void* dlm_spm_load(const char* model, size_t model_size, char** error) {
  auto* p = new sentencepiece::SentencePieceProcessor();
  const auto status = p->LoadFromSerializedProto(std::string(model, model_size));
  if (!status.ok()) {
    delete p;
    fail(error, status.ToString());
    return nullptr;
  }
  return p;
}

void dlm_spm_free(void* processor) { delete &sp(processor); }
void dlm_spm_free_buffer(void* buffer) { std::free(buffer); }

int dlm_spm_piece_size(void* p) { return sp(p).GetPieceSize(); }

int dlm_spm_special_id(void* p, int which) {
  switch (which) {
    case 0:
      return sp(p).pad_id();
    case 1:
      return sp(p).unk_id();
    case 2:
      return sp(p).bos_id();
    case 3:
      return sp(p).eos_id();
    default:
      return -1;
  }
}

int dlm_spm_piece_to_id(void* p, const char* piece) { return sp(p).PieceToId(piece); }
int dlm_spm_is_control(void* p, int id) { return sp(p).IsControl(id) ? 1 : 0; }
int dlm_spm_is_unknown(void* p, int id) { return sp(p).IsUnknown(id) ? 1 : 0; }

int dlm_spm_id_to_piece(void* p, int id, char** piece, size_t* size) {
  *piece = copy_out(sp(p).IdToPiece(id), size);
  return *piece ? 0 : 1;
}

int dlm_spm_encode(void* p, const char* text, size_t size, int** ids, size_t* n_ids, char** error) {
  std::vector<int> out;
  const auto status = sp(p).Encode(std::string(text, size), &out);
  if (!status.ok()) return fail(error, status.ToString());
  *ids = static_cast<int*>(std::malloc(std::max<size_t>(1, out.size()) * sizeof(int)));
  if (!*ids) return fail(error, "out of memory");
  if (!out.empty()) std::memcpy(*ids, out.data(), out.size() * sizeof(int));
  *n_ids = out.size();
  return 0;
}

int dlm_spm_decode(void* p, const int* ids, size_t n_ids, char** text, size_t* size, char** error) {
  std::string out;
  const auto status = sp(p).Decode(std::vector<int>(ids, ids + n_ids), &out);
  if (!status.ok()) return fail(error, status.ToString());
  *text = copy_out(out, size);
  return *text ? 0 : fail(error, "out of memory");
}

int dlm_spm_train(const char* const* keys, const char* const* values, size_t n_args, const char* const* sentences,
                  const size_t* sentence_sizes, size_t n_sentences, char** model, size_t* model_size, char** error) {
  try {
    sentencepiece::logging::SetMinLogLevel(2);
    sentencepiece::SetRandomGeneratorSeed(1234);
    std::unordered_map<std::string, std::string> args;
    for (size_t i = 0; i < n_args; ++i) args[keys[i]] = values[i];
    Sentences it(sentences, sentence_sizes, n_sentences);
    std::string serialized;
    const auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, &serialized);
    if (!status.ok()) return fail(error, status.ToString());
    *model = copy_out(serialized, model_size);
    return *model ? 0 : fail(error, "out of memory");
  } catch (const std::exception& e) {
    return fail(error, e.what());
  }
}

}  // extern "C"
