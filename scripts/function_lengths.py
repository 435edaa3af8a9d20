#!/usr/bin/env python3
"""Lists the C++ functions whose bodies are longer than a limit, for keeping functions short by hand.

Usage: function_lengths.py [--max N] FILE...   (N defaults to 80)
Prints `path:line: name: L lines` for each function body longer than N lines, in file order, and exits 1
when there is one (0 when there is none, 2 on a usage error).

How it counts. A body's length is the number of lines from the line of its opening `{` to the line of
its closing `}`, both included: `int main() {` on line 10 and its `}` on line 19 is 10 lines.
Braces are matched on a token stream that leaves out comments, string literals (raw strings
included), character literals (not digit separators such as 1'000) and preprocessor lines (with their
backslash continuations), so a brace in any of those counts for nothing.
What is a function: a `{` at namespace scope (the file's top, a namespace, extern "C" { }) or class
scope (class, struct, union) whose head (the tokens since the previous `;`, `{` or `}` of that scope,
less a leading `template <...>` and access specifier) has a parameter list `(`, no `=` outside
parentheses, and ends in `)`, in const, override, final, noexcept, mutable, try, & or &&, in the `{}`
of a constructor's last brace-initialised member, or in a trailing `-> type`. So a lambda is counted
only as part of the function around it, and namespaces, classes, enums, brace initialisers (also a
constructor's `member{...}`) and lambdas assigned at namespace scope are never functions.
"""
import argparse
import re
import sys

TOKEN = re.compile(
    r"(?P<ident>[A-Za-z_]\w*)"
    r"|(?P<number>\.?\d(?:[eEpP][+-]|'(?=\w)|[\w.])*)"
    r"|(?P<punct>->|::|==|!=|<=|>=|&&|\|\||[^\s\w])"
)
LITERAL_PREFIXES = {"u8", "u", "U", "L", "R", "u8R", "uR", "UR", "LR"}
TRAILING = {")", "const", "override", "final", "noexcept", "mutable", "try", "&", "&&", "{}"}


def skip_quoted(text, pos, quote):
    """The position after the literal that opens at `pos` with `quote`, honouring backslash escapes."""
    pos += 1
    while pos < len(text) and text[pos] != quote:
        if text[pos] == "\\":
            pos += 1
        elif text[pos] == "\n":
            break  # an unterminated literal ends at the line's end
        pos += 1
    return pos + 1


def tokens(text):
    """Yields (token, line) for the code of a C++ file; every literal comes out as "" or ''."""
    pos, line, line_start = 0, 1, True
    while pos < len(text):
        c = text[pos]
        if c == "\n":
            line, line_start, pos = line + 1, True, pos + 1
            continue
        if c.isspace():
            pos += 1
            continue
        if line_start and c == "#":  # a preprocessor line and its continuations
            while pos < len(text) and not (text[pos] == "\n" and text[pos - 1] != "\\"):
                line += text[pos] == "\n"
                pos += 1
            continue
        line_start = False
        if text.startswith("//", pos):
            pos = text.find("\n", pos)
            pos = len(text) if pos < 0 else pos
            continue
        if text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            end = len(text) if end < 0 else end + 2
            line += text.count("\n", pos, end)
            pos = end
            continue
        if c in "\"'":
            end = skip_quoted(text, pos, c)
            yield c * 2, line
            pos = end
            continue
        m = TOKEN.match(text, pos)
        if m.lastgroup == "ident" and m.group() in LITERAL_PREFIXES and m.end() < len(text) and text[m.end()] in "\"'":
            if m.group().endswith("R") and text[m.end()] == '"':  # R"delim( ... )delim"
                open_paren = text.find("(", m.end())
                close = ")" + text[m.end() + 1:open_paren] + '"'
                end = text.find(close, open_paren)
                end = len(text) if end < 0 else end + len(close)
            else:
                end = skip_quoted(text, m.end(), text[m.end()])
            line += text.count("\n", pos, end)
            yield '""', line
            pos = end
            continue
        yield m.group(), line
        pos = m.end()


def strip_head(head):
    """The head without a leading template <...> and access specifier (public:, ...)."""
    while True:
        if head[:2] == ["template", "<"]:
            depth, i = 0, 1
            while i < len(head):
                depth += {"<": 1, ">": -1}.get(head[i], 0)
                i += 1
                if depth == 0:
                    break
            head = head[i:]
        elif len(head) >= 2 and head[0] in ("public", "private", "protected") and head[1] == ":":
            head = head[2:]
        else:
            return head


def top_level(head):
    """(index, token) of the head's tokens outside parentheses, less those between operator and its `(`."""
    depth, skipping = 0, False
    for i, t in enumerate(head):
        if t == "operator":
            skipping = True
        elif skipping and t == "(" and head[i - 1] != "operator":
            skipping = False
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
        elif depth == 0 and not skipping:
            yield i, t


def kind_of(head):
    """What a `{` at namespace or class scope opens, from its head: "namespace", "class", "function" or "init"."""
    head = strip_head(head)
    if not head or head[0] == "namespace" or head[:2] == ["inline", "namespace"] or head == ["extern", '""']:
        return "namespace"
    if head[0] in ("class", "struct", "union"):
        return "class"
    if head[0] == "enum" or "(" not in head or any(t == "=" for _, t in top_level(head)):
        return "init"
    outer = [t for _, t in top_level(head)]
    if head[-1] in TRAILING or "->" in outer:
        # A constructor's `: a_(x), b_{` opens b_'s initialiser: its head ends in a name.
        return "function"
    return "init"


def name_of(head):
    """The function's (qualified) name: the tokens before its parameter list."""
    head = strip_head(head)
    for i, t in enumerate(head):
        if t != "(" or i == 0 or head[i - 1] == "operator":
            continue
        start = i - 1
        if "operator" in head[:i]:  # operator(), operator==, ...: the name is `operator` and its symbols
            start = len(head[:i]) - 1 - head[:i][::-1].index("operator")
        elif start > 0 and head[start - 1] == "~":
            start -= 1
        while start >= 2 and head[start - 1] == "::" and re.match(r"\w", head[start - 2]):
            start -= 2
        return "".join(head[start:i])
    return "(anonymous)"


def functions(text):
    """Yields (name, first line, last line) of every function body in a C++ file."""
    stack = []  # (kind, name, line) per open brace
    head = []  # tokens since the last `;`, `{` or `}` of the innermost namespace or class scope
    for tok, line in tokens(text):
        in_code = stack and stack[-1][0] in ("function", "block", "init")
        if tok == "{":
            if in_code:
                stack.append(("block" if stack[-1][0] != "init" else "init", "", line))
            elif "(" in head and head.count("(") > head.count(")"):  # a default argument's {}
                stack.append(("init", "", line))
            else:
                kind = kind_of(head)
                stack.append((kind, name_of(head) if kind == "function" else "", line))
                if kind != "init":
                    head = []
        elif tok == "}":
            if not stack:
                continue  # unbalanced: a brace in a macro left out with its line
            kind, name, first = stack.pop()
            if kind == "function":
                yield name, first, line
            if not stack or stack[-1][0] in ("namespace", "class"):
                head = head + ["{}"] if kind == "init" else []
        elif not in_code:
            head = [] if tok == ";" else head + [tok]


def main():
    parser = argparse.ArgumentParser(description="List C++ function bodies longer than --max lines.")
    parser.add_argument("--max", type=int, default=80, help="longest body allowed, in lines (default: 80)")
    parser.add_argument("files", nargs="+", help="C++ sources and headers")
    args = parser.parse_args()
    found = False
    for path in args.files:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for name, first, last in functions(text):
            if last - first + 1 > args.max:
                print(f"{path}:{first}: {name}: {last - first + 1} lines")
                found = True
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
