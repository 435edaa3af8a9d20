// A step's rows as text, plain or shaded in greys for a terminal.
#include "dlm/generate/timeline.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dlm {

std::string show_piece(const Tokenizer& tok, int64_t id) {
  if (id == tok.mask_id()) return "\u2591";
  if (id == tok.pad_id()) return "\u00B7";
  if (id == tok.eos_id()) return "\u00B6";
  const std::string p = tok.piece(id);
  return p == "\n" ? "\u23CE" : p;
}

std::string shaded_canvas(const StepRow& row, bool color) {
  if (!color || row.shade.empty()) return row.canvas;
  std::string out;
  for (size_t i = 0; i < row.pieces.size(); ++i) {
    if (row.shade[i] <= 0.0) {
      out += row.pieces[i];
      continue;
    }
    // xterm's 24 greys run from 232 (darkest) to 255; the darkest few are unreadable on black.
    const int grey = 238 + static_cast<int>(std::lround(17.0 * std::clamp(row.shade[i], 0.0, 1.0)));
    out += "\033[38;5;" + std::to_string(grey) + "m" + row.pieces[i] + "\033[0m";
  }
  return out;
}

std::string step_label(const StepRow& row) {
  char buf[32];
  if (row.confidence >= 0.0) {
    std::snprintf(buf, sizeof(buf), "p %.2f", row.confidence);
  } else {
    std::snprintf(buf, sizeof(buf), "%3.0f%% masked", row.masked * 100);
  }
  return buf;
}

}  // namespace dlm
