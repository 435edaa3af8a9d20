// The processes' constructors, one per file (absorbing.cpp, uniform.cpp, simplex.cpp), for
// make_process. Private to src/diffusion.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dlm/diffusion/process.h"

namespace dlm {

// The noise streams of n training examples from place `first` on (a place is micro * global_size + row),
// one per example, so a batch split across ranks is noised as one process noises it.
std::vector<torch::Generator> noise_streams(uint64_t seed, int64_t first, int64_t n);

std::unique_ptr<Process> make_absorbing_process(const DiffusionConfig& config, const SpecialIds& ids);
std::unique_ptr<Process> make_uniform_process(const DiffusionConfig& config, const SpecialIds& ids);
std::unique_ptr<Process> make_simplex_process(const DiffusionConfig& config, const SpecialIds& ids);

}  // namespace dlm
