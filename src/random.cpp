// Derived random streams and generator seeding.
#include "dlm/random.h"

#include <mutex>

#include <ATen/CPUGeneratorImpl.h>

namespace dlm {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t derive_seed(uint64_t seed, Stream stream, uint64_t index) {
  return splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(stream)) ^ index);
}

torch::Generator cpu_generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

std::optional<at::Generator> default_generator(const torch::Device& device) {
  if (!device.is_cpu() && !device.is_cuda()) return std::nullopt;
  return at::globalContext().defaultGenerator(device);
}

void seed_default_generator(const torch::Device& device, uint64_t seed) {
  std::optional<at::Generator> gen = default_generator(device);
  if (!gen) return;
  std::lock_guard<std::mutex> lock(gen->mutex());
  gen->set_current_seed(seed);
}

}  // namespace dlm
