// Noise schedules as pure functions of progress s = step / K.
#include "dlm/diffusion/noise_schedule.h"

#include <cmath>

#include "dlm/error.h"

namespace dlm {

double masked_fraction(Schedule schedule, double s) {
  constexpr double kPi = 3.14159265358979323846;
  switch (schedule) {
    case Schedule::kLinear:
      return 1.0 - s;
    case Schedule::kCosine:
      // Slow at both ends, fast in the middle. Seed 002 publishes this curve only as a rounded list
      // (1.0, 0.99, 0.95, 0.88, 0.76, 0.59, 0.38, 0.19, 0.05, 0.01 for K = 10) that no plain cosine
      // reproduces; cos(pi/2 s^q)^p with q = 1.46, p = 3.2 is the closest such curve, within 0.015.
      return std::pow(std::cos(kPi / 2 * std::pow(s, 1.46)), 3.2);
    case Schedule::kExponential:
      // exp(-3 s): seed 002's list 1.0, 0.74, 0.55, ... 0.07 for K = 10.
      return std::exp(-3.0 * s);
    case Schedule::kLogLinear:
      // MDLM's log-linear noise, sigma(t) = -log(1 - (1 - eps) t), masks (1 - eps) t at time t = 1 - s.
      return (1.0 - 1e-3) * (1.0 - s);
  }
  return 1.0 - s;
}

double grid_fraction(Schedule schedule, double s, int64_t time_steps) {
  const double f = masked_fraction(schedule, s);
  if (time_steps <= 0) return f;
  return std::round(f * static_cast<double>(time_steps)) / static_cast<double>(time_steps);
}

std::vector<double> mask_schedule(Schedule schedule, int64_t steps) {
  if (steps < 1) throw Error("steps must be >= 1, got " + std::to_string(steps));
  std::vector<double> out(static_cast<size_t>(steps));
  for (int64_t i = 0; i < steps; ++i) out[i] = masked_fraction(schedule, static_cast<double>(i) / steps);
  out[0] = 1.0;  // every schedule starts from a fully masked canvas
  return out;
}

std::vector<double> noise_levels(Schedule schedule, int64_t steps, int64_t time_steps) {
  std::vector<double> out = mask_schedule(schedule, steps);
  out.push_back(0.0);
  if (time_steps <= 0) return out;
  const double T = static_cast<double>(time_steps);
  std::vector<double> snapped = {1.0};
  for (double t : out) {
    const double on_grid = std::round(t * T) / T;
    if (on_grid < snapped.back()) snapped.push_back(on_grid);
  }
  return snapped;
}

}  // namespace dlm
