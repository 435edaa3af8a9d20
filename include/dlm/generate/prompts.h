// What a user asks for: a prefix to continue or an infill template with <mask:N> spans, one on the
// command line or many from a file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlm {

struct Prompt {
  std::string prefix;        ///< text the sample starts with; never masked
  std::string infill;        ///< or, when not empty: a template whose <mask:N> spans alone are generated
  bool answer_only = false;  ///< the text is the generated part alone (chat: the prefix is the formatted turn)
};

// An infill template: texts[0] span[0] texts[1] ... span[n-1] texts[n].
struct InfillTemplate {
  std::vector<std::string> texts;
  std::vector<int64_t> spans;
};
// Parses "<mask:N>" spans (N >= 1); throws dlm::Error naming the offset of a malformed one.
InfillTemplate parse_infill(const std::string& text);

// Prompts from a file: JSONL objects with "prefix" or "infill" when the first line is an object,
// else one prefix per line. Throws dlm::Error naming the file and line.
std::vector<Prompt> read_prompts(const std::string& path);

}  // namespace dlm
