// The processes' constructors, one per file (absorbing.cpp, uniform.cpp, simplex.cpp), for
// make_process. Private to src/diffusion.
#pragma once

#include <memory>

#include "dlm/diffusion/process.h"

namespace dlm {

std::unique_ptr<Process> make_absorbing_process(const DiffusionConfig& config, const SpecialIds& ids);
std::unique_ptr<Process> make_uniform_process(const DiffusionConfig& config, const SpecialIds& ids);
std::unique_ptr<Process> make_simplex_process(const DiffusionConfig& config, const SpecialIds& ids);

}  // namespace dlm
