// Checkpoints: model weights, optimizer state, step, the resolved config and the
// tokenizer in one file. Writes go to a temporary file that is renamed into place, so a checkpoint
// is never half-written; a truncated or foreign file is reported as such, never as a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "dlm/config.h"
#include "dlm/data/tokenizer.h"
#include "dlm/model/model.h"

namespace dlm {

struct TrainState {
  int64_t step = 0;                                           ///< optimizer steps done
  double best_val = std::numeric_limits<double>::infinity();  ///< best validation loss so far
  int64_t world_size = 1;                                     ///< ranks that trained the last steps
  // The data order, the masks and dropout need no state: they are functions of the seed and the
  // step (see random.h).
};

// The AdamW state of `param` in `optimizer`, or null before its first step.
torch::optim::AdamWParamState* adamw_state(torch::optim::AdamW& optimizer, const torch::Tensor& param);
// The same, made as LibTorch's AdamW makes it before a parameter's first step (step 0, zero moments).
torch::optim::AdamWParamState& adamw_state_or_new(torch::optim::AdamW& optimizer, const torch::Tensor& param);

// Saves atomically to `path` (via `path`.tmp + rename). `optimizer` may be null. Every tensor is
// stored on the CPU by name, so the file reads alike in LibTorch 1.13 and 2.x and off a GPU.
void save_checkpoint(const std::string& path, const Config& config, const Tokenizer& tokenizer, DenoiserImpl& model,
                     torch::optim::AdamW* optimizer, const TrainState& state);

// Opens a checkpoint; the config and tokenizer are read at once, tensors on demand.
class CheckpointReader {
 public:
  explicit CheckpointReader(const std::string& path);
  const Config& config() const { return config_; }
  const TrainState& state() const { return state_; }
  std::unique_ptr<Tokenizer> tokenizer() const;
  // Loads weights; throws dlm::Error when the shapes do not match the model.
  void load_model(DenoiserImpl& model, const torch::Device& device);
  // Loads AdamW's moments for `model`'s parameters onto the parameters' devices; hyperparameters are
  // not stored.
  void load_optimizer(torch::optim::AdamW& optimizer, DenoiserImpl& model);

 private:
  std::string path_;
  torch::serialize::InputArchive archive_;
  Config config_;
  nlohmann::json tokenizer_json_;
  TrainState state_;
  std::vector<std::string> model_keys_;
  nlohmann::json adamw_;  ///< names and steps of the stored AdamW moments; null in older files
};

// Builds the model a config trains, for `vocab_size` ids: causal or not is its process's to say, so
// the stages above pass dlm::make_process_model (dlm/diffusion/process.h).
using ModelBuilder = std::function<std::shared_ptr<DenoiserImpl>(const Config& config, int64_t vocab_size)>;

// Everything dgen needs: the model rebuilt from the checkpoint's own config by `build`, in eval mode.
struct LoadedModel {
  Config config;
  std::unique_ptr<Tokenizer> tokenizer;
  std::shared_ptr<DenoiserImpl> model;
  int64_t step = 0;  ///< optimizer steps the weights were trained for
  // The sampler a Hugging Face folder's family generates with ("llada", "dream"); "" for the encoders and
  // dlm's own checkpoints (dlm's samplers).
  std::string sampler;
};
LoadedModel load_model_for_inference(const std::string& path, const torch::Device& device, const ModelBuilder& build);

}  // namespace dlm
