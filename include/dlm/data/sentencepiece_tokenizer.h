// SentencePiece tokenizer (unigram or BPE): trained on the training texts by dtrain, or loaded from a
// `.model` file. The serialized model travels inside the checkpoint.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dlm/config.h"
#include "dlm/data/tokenizer.h"

namespace dlm {

std::unique_ptr<Tokenizer> load_sentencepiece_model(const std::string& path);
std::unique_ptr<Tokenizer> train_sentencepiece(const TokenizerConfig& config, const std::vector<std::string>& texts,
                                               const std::string& work_dir);
std::unique_ptr<Tokenizer> sentencepiece_from_json(const nlohmann::json& j);

}  // namespace dlm
