// What the process files share, private to src/diffusion: the noise streams of training examples and
// the report's wording of a bound.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dlm/diffusion/process.h"

namespace dlm {

// The noise streams of n training examples from place `first` on (a place is micro * global_size + row),
// one per example, so a batch split across ranks is noised as one process noises it.
std::vector<torch::Generator> noise_streams(uint64_t seed, int64_t first, int64_t n);

// "continuous-time NELBO of uniform noise, 8 draws of t per block (stratified), seed 4321", or with
// "D3PM discrete-time (T steps)" when time_steps is T > 0.
std::string nelbo_method(const std::string& process, int64_t time_steps, int64_t t_samples, uint64_t seed);

}  // namespace dlm
