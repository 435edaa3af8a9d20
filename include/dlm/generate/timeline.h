// How a step of generation is shown: each row's canvas as text, with what is still masked or how
// sure the model is of each token, for dgen's --show-steps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dlm/data/tokenizer.h"

namespace dlm {

// One row of a step, for a timeline: the canvas as text (masks as a shaded block, padding as a dot,
// EOS as a pilcrow, newline as a return sign), its pieces, and its share of generated positions still
// masked. Uniform noise and the simplex have no masks: for them `shade` holds, per piece, the
// probability the model gave the token shown (0 for positions not generated), and `confidence` its
// mean over the generated positions.
struct StepRow {
  int64_t sample = 0;  ///< index of the row in the report's samples
  std::string canvas;
  double masked = 0.0;
  std::vector<std::string> pieces;
  std::vector<double> shade;  ///< empty when the process gives none
  double confidence = -1.0;   ///< -1 when the process gives none
};
// The timeline's view of one token.
std::string show_piece(const Tokenizer& tok, int64_t id);

// A timeline row's canvas: with `color` and shades, each generated piece in a grey from dark
// (probability 0) to white (1), for a terminal; otherwise the plain canvas.
std::string shaded_canvas(const StepRow& row, bool color);

// A timeline row's state: "35% masked", or "p 0.42" (the mean probability) when it has shades.
std::string step_label(const StepRow& row);

}  // namespace dlm
