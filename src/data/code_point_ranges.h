// Sorted, disjoint, inclusive code-point ranges and the lookup in them, private to src/data/: the
// generated Unicode tables of the GPT-2 pre-tokeniser and of tokenizer.json's stages use them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <iterator>

namespace dlm {

struct CodePointRange {
  char32_t first, last;
};

// True when `cp` lies in one of `ranges` (binary search).
template <size_t N>
bool in_ranges(const CodePointRange (&ranges)[N], char32_t cp) {
  const auto* it = std::upper_bound(std::begin(ranges), std::end(ranges), cp,
                                    [](char32_t c, const CodePointRange& r) { return c < r.first; });
  return it != std::begin(ranges) && cp <= std::prev(it)->last;
}

}  // namespace dlm
