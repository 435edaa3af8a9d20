// C interface of libdlm_spm, the shim that holds SentencePiece. Debian's libsentencepiece carries its
// own protobuf 3.14 and exports it, which clashes with the protobuf 3.21 that LibTorch loads; dlm
// therefore opens the shim with dlopen(RTLD_LOCAL | RTLD_DEEPBIND) so each side binds to its own
// copy, and only plain C types cross the boundary. Buffers the shim returns are freed with
// dlm_spm_free_buffer; on failure a call returns non-zero and sets *error (also freed that way).
#pragma once

#include <stddef.h>

extern "C" {

void* dlm_spm_load(const char* model, size_t model_size, char** error);
void dlm_spm_free(void* processor);
void dlm_spm_free_buffer(void* buffer);

int dlm_spm_piece_size(void* processor);
// which: 0 pad, 1 unk, 2 bos, 3 eos; -1 when the model has none.
int dlm_spm_special_id(void* processor, int which);
int dlm_spm_piece_to_id(void* processor, const char* piece);
int dlm_spm_is_control(void* processor, int id);
int dlm_spm_is_unknown(void* processor, int id);
int dlm_spm_id_to_piece(void* processor, int id, char** piece, size_t* size);
int dlm_spm_encode(void* processor, const char* text, size_t size, int** ids, size_t* n_ids, char** error);
int dlm_spm_decode(void* processor, const int* ids, size_t n_ids, char** text, size_t* size, char** error);

// Trains a model from `n_sentences` sentences with the trainer flags keys[i]=values[i]; the
// serialized model is returned in *model.
int dlm_spm_train(const char* const* keys, const char* const* values, size_t n_args, const char* const* sentences,
                  const size_t* sentence_sizes, size_t n_sentences, char** model, size_t* model_size, char** error);
}
