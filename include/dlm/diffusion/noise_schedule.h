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

// masked_fraction rounded to the grid i / time_steps (D3PM's discrete time); time_steps 0 leaves it.
double grid_fraction(Schedule schedule, double s, int64_t time_steps);

// The K values masked_fraction(schedule, i / K), i = 0..K-1. Throws dlm::Error when steps < 1.
std::vector<double> mask_schedule(Schedule schedule, int64_t steps);

// The noise levels a sampler of uniform noise or the simplex visits: mask_schedule's values, then 0,
// so steps + 1 levels from 1 down to 0. With time_steps T > 0 each is rounded to the grid i / T and
// repeats are dropped (D3PM's discrete time), so there may be fewer.
std::vector<double> noise_levels(Schedule schedule, int64_t steps, int64_t time_steps);

}  // namespace dlm
