// Noise schedules for sampling: the fraction of generated positions still masked when each of the
// K denoising steps begins (1.0 at the first step; the last step reveals everything).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dlm/config.h"

namespace dlm {

// Masked fraction at progress s in [0, 1) (s = step / K).
double masked_fraction(Schedule schedule, double s);

// The K values masked_fraction(schedule, i / K), i = 0..K-1. Throws dlm::Error when steps < 1.
std::vector<double> mask_schedule(Schedule schedule, int64_t steps);

}  // namespace dlm
