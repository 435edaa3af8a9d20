// Random streams derived from the run's seed and a position (step, micro-batch, level, example),
// never carried as generator state: a resumed run, a run on another device and a run split across
// processes draw the same numbers for the same position.
#pragma once

#include <cstdint>
#include <optional>

#include <torch/torch.h>

namespace dlm {

// Named streams, so two uses of the same position never share numbers.
enum class Stream : uint64_t {
  kMasking = 1,
  kDropout = 2,
  kSampling = 3,
  kExampleMasking = 4,
  kNoise = 5,
  kWindows = 6
};

// A 64-bit seed mixed from (seed, stream, index) with SplitMix64; nearby inputs give unrelated seeds.
uint64_t derive_seed(uint64_t seed, Stream stream, uint64_t index);

// A fresh CPU generator (the collator and the samplers draw on the CPU).
torch::Generator cpu_generator(uint64_t seed);

// `device`'s default generator, which dropout draws from; none for a device without one dlm seeds
// (meta).
std::optional<at::Generator> default_generator(const torch::Device& device);

// Reseeds `device`'s default generator, which dropout draws from; devices without one (meta) are
// left alone.
void seed_default_generator(const torch::Device& device, uint64_t seed);

}  // namespace dlm
