#!/usr/bin/env python3
"""Writes src/data/hf_unicode.inc: the Unicode tables dlm's tokenizer.json reader (src/data/hf_normalizer.cpp)
needs to split and normalise text as Hugging Face's `tokenizers` library (0.22) does.

The library takes its character classes from several places, each with its own Unicode version:
  - BertNormalizer / BertPreTokenizer use the unicode_categories 0.1.1 crate, whose tables are Unicode 8.0:
    Mn (accents to strip), P* (punctuation) and Cc/Cf/Co (characters clean_text drops). Python's database
    is newer, so the code points whose membership differs are listed below (read off the crate's tables).
  - ByteLevel's GPT-2 pattern runs on Oniguruma: \\p{L}, \\p{N} (and \\s, hard-coded in C++ as White_Space).
  - Added tokens' single_word test uses the Rust regex crate's \\w.
  - Split's regex runs on Oniguruma: (?i:...) compares by Unicode simple case folding (one character to one).
  - NFC composes by the primary composites: two-character canonical decompositions that are not
    composition exclusions (Python's NFC of the pair gives the character back).
  - Lowercase is Rust's char::to_lowercase (per character, no final-sigma context: Python's str.lower() on a
    single character gives the same mapping); NFD and StripAccents follow the Unicode database.
Usage: python3 scripts/gen_hf_unicode.py [output path]   (default: src/data/hf_unicode.inc)
"""
import os
import sys
import unicodedata

MAX_CP = 0x110000

# Membership in unicode_categories 0.1.1 (Unicode 8.0) that differs from Python's Unicode 14.0 database:
# characters assigned after 8.0, plus three that changed category (U+1734 Mn->Mc, U+166D Po->So,
# U+111C9 Po->Mn). Pairs are inclusive ranges.
CRATE_8_ONLY = {"Mn": [(0x1734, 0x1734)], "P": [(0x166D, 0x166D), (0x111C9, 0x111C9)], "Cf": []}
PYTHON_14_ONLY = {
    "Mn": [(0x7FD, 0x7FD), (0x898, 0x89F), (0x8CA, 0x8E1), (0x9FE, 0x9FE), (0xAFA, 0xAFF), (0xB55, 0xB55),
           (0xC04, 0xC04), (0xC3C, 0xC3C), (0xD00, 0xD00), (0xD3B, 0xD3C), (0xD81, 0xD81), (0xEBA, 0xEBA),
           (0x180F, 0x180F), (0x1885, 0x1886), (0x1ABF, 0x1ACE), (0x1DF6, 0x1DFB), (0xA82C, 0xA82C),
           (0xA8C5, 0xA8C5), (0xA8FF, 0xA8FF), (0xA9BD, 0xA9BD), (0x10D24, 0x10D27), (0x10EAB, 0x10EAC),
           (0x10F46, 0x10F50), (0x10F82, 0x10F85), (0x11070, 0x11070), (0x11073, 0x11074), (0x110C2, 0x110C2),
           (0x111C9, 0x111C9), (0x111CF, 0x111CF), (0x1123E, 0x1123E), (0x1133B, 0x1133B), (0x11438, 0x1143F),
           (0x11442, 0x11444), (0x11446, 0x11446), (0x1145E, 0x1145E), (0x1182F, 0x11837), (0x11839, 0x1183A),
           (0x1193B, 0x1193C), (0x1193E, 0x1193E), (0x11943, 0x11943), (0x119D4, 0x119D7), (0x119DA, 0x119DB),
           (0x119E0, 0x119E0), (0x11A01, 0x11A0A), (0x11A33, 0x11A38), (0x11A3B, 0x11A3E), (0x11A47, 0x11A47),
           (0x11A51, 0x11A56), (0x11A59, 0x11A5B), (0x11A8A, 0x11A96), (0x11A98, 0x11A99), (0x11C30, 0x11C36),
           (0x11C38, 0x11C3D), (0x11C3F, 0x11C3F), (0x11C92, 0x11CA7), (0x11CAA, 0x11CB0), (0x11CB2, 0x11CB3),
           (0x11CB5, 0x11CB6), (0x11D31, 0x11D36), (0x11D3A, 0x11D3A), (0x11D3C, 0x11D3D), (0x11D3F, 0x11D45),
           (0x11D47, 0x11D47), (0x11D90, 0x11D91), (0x11D95, 0x11D95), (0x11D97, 0x11D97), (0x11EF3, 0x11EF4),
           (0x16F4F, 0x16F4F), (0x16FE4, 0x16FE4), (0x1CF00, 0x1CF2D), (0x1CF30, 0x1CF46), (0x1E000, 0x1E006),
           (0x1E008, 0x1E018), (0x1E01B, 0x1E021), (0x1E023, 0x1E024), (0x1E026, 0x1E02A), (0x1E130, 0x1E136),
           (0x1E2AE, 0x1E2AE), (0x1E2EC, 0x1E2EF), (0x1E944, 0x1E94A)],
    "Cf": [(0x890, 0x891), (0x8E2, 0x8E2), (0x110CD, 0x110CD), (0x13430, 0x13438)],
    "P": [(0x61D, 0x61D), (0x9FD, 0x9FD), (0xA76, 0xA76), (0xC77, 0xC77), (0xC84, 0xC84), (0x1B7D, 0x1B7E),
          (0x2E43, 0x2E4F), (0x2E52, 0x2E5D), (0x10EAD, 0x10EAD), (0x10F55, 0x10F59), (0x10F86, 0x10F89),
          (0x1144B, 0x1144F), (0x1145A, 0x1145B), (0x1145D, 0x1145D), (0x11660, 0x1166C), (0x116B9, 0x116B9),
          (0x1183B, 0x1183B), (0x11944, 0x11946), (0x119E2, 0x119E2), (0x11A3F, 0x11A46), (0x11A9A, 0x11A9C),
          (0x11A9E, 0x11AA2), (0x11C41, 0x11C45), (0x11C70, 0x11C71), (0x11EF7, 0x11EF8), (0x11FFF, 0x11FFF),
          (0x12FF1, 0x12FF2), (0x16E97, 0x16E9A), (0x16FE2, 0x16FE2), (0x1E95E, 0x1E95F)],
}

# Alphabetic characters outside L, Nl and M (PropList.txt's Other_Alphabetic: circled and squared
# letters), and Join_Control: both are in the regex crate's \w.
OTHER_ALPHABETIC_SYMBOLS = [(0x24B6, 0x24E9), (0x1F130, 0x1F149), (0x1F150, 0x1F169), (0x1F170, 0x1F189)]
JOIN_CONTROL = [(0x200C, 0x200D)]


def category(cp):
    return unicodedata.category(chr(cp))


def code_points(pred):
    return {cp for cp in range(MAX_CP) if pred(cp)}


def expand(ranges):
    return {cp for a, b in ranges for cp in range(a, b + 1)}


def crate_8(python_set, key):
    """The unicode_categories 0.1.1 (Unicode 8.0) set from Python's set of the same category."""
    return (python_set - expand(PYTHON_14_ONLY[key])) | expand(CRATE_8_ONLY[key])


def to_ranges(cps):
    out = []
    for cp in sorted(cps):
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def hx(v):
    return "0x%04X" % v


def rows(items, per_row):
    return ["    " + ", ".join(items[i:i + per_row]) + "," for i in range(0, len(items), per_row)]


def range_table(name, what, cps):
    rs = to_ranges(cps)
    lines = ["", "// %s: %d ranges." % (what, len(rs)), "constexpr CodePointRange %s[] = {" % name]
    lines += rows(["{%s, %s}" % (hx(a), hx(b)) for a, b in rs], 6)
    return lines + ["};"]


def lowercase_table():
    items = []
    for cp in range(MAX_CP):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        low = chr(cp).lower()
        if low == chr(cp):
            continue
        if len(low) > 2:
            sys.exit("gen_hf_unicode: lowercase of U+%04X has %d characters; the table holds 2" % (cp, len(low)))
        second = ord(low[1]) if len(low) == 2 else 0
        items.append("{%s, %s, %s}" % (hx(cp), hx(ord(low[0])), hx(second)))
    lines = ["", "// Rust's char::to_lowercase where it changes the character (second = 0: one character).",
             "constexpr LowercaseMapping kLowercase[] = {"]
    return lines + rows(items, 4) + ["};"]


def decomposition_tables():
    # Full canonical decompositions (already in canonical order); Hangul syllables are algorithmic in C++.
    entries, pool = [], []
    for cp in range(MAX_CP):
        if 0xAC00 <= cp <= 0xD7A3 or 0xD800 <= cp <= 0xDFFF:
            continue
        d = unicodedata.normalize("NFD", chr(cp))
        if d == chr(cp):
            continue
        entries.append("{%s, %d, %d}" % (hx(cp), len(pool), len(d)))
        pool.extend(ord(c) for c in d)
    ccc = {}
    for cp in range(MAX_CP):
        c = unicodedata.combining(chr(cp))
        if c:
            ccc[cp] = c
    runs = []
    for cp in sorted(ccc):
        if runs and runs[-1][1] == cp - 1 and runs[-1][2] == ccc[cp]:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp, ccc[cp]])
    lines = ["", "// Canonical decompositions (NFD of one character): %d, into a pool of %d code points."
             % (len(entries), len(pool)), "constexpr Decomposition kDecompositions[] = {"]
    lines += rows(entries, 6) + ["};", "constexpr char32_t kDecompositionPool[] = {"]
    lines += rows([hx(c) for c in pool], 10) + ["};"]
    lines += ["", "// Canonical combining classes other than 0, for the canonical reordering of NFD.",
              "constexpr CombiningClass kCombiningClasses[] = {"]
    lines += rows(["{%s, %s, %d}" % (hx(a), hx(b), c) for a, b, c in runs], 6) + ["};"]
    return lines


def case_fold_table():
    # Simple (one-to-one) case folding: str.casefold() where it gives one other character.
    items = []
    for cp in range(MAX_CP):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        folded = chr(cp).casefold()
        if len(folded) == 1 and folded != chr(cp):
            items.append("{%s, %s}" % (hx(cp), hx(ord(folded))))
    lines = ["", "// Simple case folding where it changes the character (Oniguruma's (?i:...)).",
             "constexpr CaseFold kCaseFolds[] = {"]
    return lines + rows(items, 6) + ["};"]


def composition_table():
    # Primary composites, sorted by (first, second); Hangul syllables compose by arithmetic in C++.
    items = []
    for cp in range(MAX_CP):
        if 0xAC00 <= cp <= 0xD7A3 or 0xD800 <= cp <= 0xDFFF:
            continue
        d = unicodedata.decomposition(chr(cp))
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        if len(parts) == 2 and unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) == chr(cp):
            items.append((parts[0], parts[1], cp))
    items.sort()
    lines = ["", "// Canonical compositions (NFC): %d pairs, sorted by (first, second)." % len(items),
             "constexpr Composition kCompositions[] = {"]
    return lines + rows(["{%s, %s, %s}" % (hx(a), hx(b), hx(c)) for a, b, c in items], 4) + ["};"]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src", "data",
                                                              "hf_unicode.inc")
    if unicodedata.unidata_version != "14.0.0":
        # The Unicode 8.0 difference lists above were read against Unicode 14.0.
        sys.exit("gen_hf_unicode: needs Python's Unicode 14.0.0 database, this Python has %s"
                 % unicodedata.unidata_version)
    cats = {}
    for cp in range(MAX_CP):
        cats.setdefault(category(cp), set()).add(cp)
    union = lambda *names: set().union(*(cats.get(n, set()) for n in names))
    letters = union("Lu", "Ll", "Lt", "Lm", "Lo")
    numbers = union("Nd", "Nl", "No")
    marks = union("Mn", "Mc", "Me")
    punct = union("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po")
    word = letters | cats["Nl"] | marks | cats["Nd"] | cats["Pc"] | expand(OTHER_ALPHABETIC_SYMBOLS + JOIN_CONTROL)
    other_8 = cats["Cc"] | crate_8(cats["Cf"], "Cf") | cats["Co"]

    lines = ["// Generated by scripts/gen_hf_unicode.py from Python %s's unicodedata (Unicode %s); do not edit."
             % (sys.version.split()[0], unicodedata.unidata_version),
             "// Unicode tables for the tokenizer.json reader, included by src/data/hf_normalizer.cpp, which declares",
             "// LowercaseMapping {cp, first, second}, Decomposition {cp, offset, length}, CombiningClass {first, last,",
             "// ccc}, CaseFold {cp, folded} and Composition {first, second, composite} (CodePointRange comes from",
             "// code_point_ranges.h). The Bert tables follow unicode_categories 0.1.1 (Unicode 8.0)."]
    lines += range_table("kLetterRanges", "\\p{L} (Oniguruma, GPT-2 pattern)", letters)
    lines += range_table("kNumberRanges", "\\p{N} (Oniguruma, GPT-2 pattern)", numbers)
    lines += range_table("kWordRanges", "\\w (Rust regex: Alphabetic, M, Nd, Pc, Join_Control)", word)
    lines += range_table("kMarkRanges", "M (StripAccents)", marks)
    lines += range_table("kBertNonspacingRanges", "Mn, Unicode 8.0 (BertNormalizer strip_accents)",
                         crate_8(cats["Mn"], "Mn"))
    lines += range_table("kBertPunctuationRanges", "P*, Unicode 8.0 (BertPreTokenizer)", crate_8(punct, "P"))
    lines += range_table("kBertOtherRanges", "Cc, Cf, Co, Unicode 8.0 (BertNormalizer clean_text)", other_8)
    lines += lowercase_table()
    lines += decomposition_tables()
    lines += case_fold_table()
    lines += composition_table()
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s (%d lines)" % (out, len(lines)))


if __name__ == "__main__":
    main()
