// dlm's matcher for the Split pre-tokenizer's regular expressions: a recursive-descent parser of the
// supported subset into a node tree, and a backtracking search in continuation-passing style, so that an
// alternative or a repeat count is given up only when the rest of the pattern cannot match after it
// (Oniguruma's leftmost-first order). Repeats of one character count their run first and back off one at
// a time, so long runs cost no recursion.
#include "hf_regex.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "dlm/error.h"
#include "dlm/utf8.h"
#include "hf_unicode.h"

namespace dlm::hf {

using Node = Regex::Node;

class RegexParser {
 public:
  RegexParser(const std::u32string& pattern, const std::string& where, Regex& re)
      : p_(pattern), where_(where), re_(re) {}

  int32_t parse_all() {
    const int32_t root = alternation(false);
    if (pos_ < p_.size()) fail("unmatched ')'", pos_);
    return root;
  }

 private:
  [[noreturn]] void refuse(size_t at, size_t length) {
    std::string construct;
    for (size_t i = at; i < std::min(p_.size(), at + length); ++i) construct += utf8_encode(p_[i]);
    throw Error(where_ + ": unsupported regex construct " + in_quotes(construct) + " at " + std::to_string(at));
  }
  [[noreturn]] void fail(const std::string& what, size_t at) {
    throw Error(where_ + ": malformed regex: " + what + " at " + std::to_string(at));
  }
  int32_t add(Node n) {
    re_.nodes_.push_back(std::move(n));
    return static_cast<int32_t>(re_.nodes_.size() - 1);
  }
  bool at(char32_t c) const { return pos_ < p_.size() && p_[pos_] == c; }

  int32_t alternation(bool icase) {
    Node alt;
    alt.kind = Node::Kind::kAlternation;
    alt.children.push_back(sequence(icase));
    while (at(U'|')) {
      ++pos_;
      alt.children.push_back(sequence(icase));
    }
    return alt.children.size() == 1 ? alt.children[0] : add(std::move(alt));
  }

  int32_t sequence(bool icase) {
    Node seq;
    seq.kind = Node::Kind::kSequence;
    while (pos_ < p_.size() && !at(U'|') && !at(U')')) seq.children.push_back(quantified(atom(icase)));
    return seq.children.size() == 1 ? seq.children[0] : add(std::move(seq));
  }

  // A decimal count of a {n,m} quantifier; -1 when there are no digits.
  int32_t count() {
    int64_t value = -1;
    while (pos_ < p_.size() && p_[pos_] >= U'0' && p_[pos_] <= U'9') {
      value = std::max<int64_t>(value, 0) * 10 + (p_[pos_++] - U'0');
      if (value > 1000) fail("repeat count above 1000", pos_);
    }
    return static_cast<int32_t>(value);
  }

  int32_t quantified(int32_t atom) {
    const size_t start = pos_;
    int32_t min = 0, max = -1;
    if (at(U'?') || at(U'*') || at(U'+')) {
      const char32_t q = p_[pos_++];
      min = q == U'+' ? 1 : 0;
      max = q == U'?' ? 1 : -1;
    } else if (at(U'{')) {
      ++pos_;
      min = count();
      max = min;
      if (at(U',')) {
        ++pos_;
        max = count();
      }
      if (min < 0 || !at(U'}') || (max >= 0 && max < min)) refuse(start, pos_ + 1 - start);
      ++pos_;
    } else {
      return atom;
    }
    if (at(U'?') || at(U'+')) refuse(start, pos_ + 1 - start);  // lazy and possessive repeats
    Node rep;
    rep.kind = Node::Kind::kRepeat;
    rep.children = {atom};
    rep.min = min;
    rep.max = max;
    return add(std::move(rep));
  }

  int32_t atom(bool icase) {
    const size_t start = pos_;
    const char32_t c = p_[pos_];
    if (c == U'(') return group(icase);
    Node set;
    if (c == U'[') return class_set(icase);
    if (c == U'\\') {
      escape(set, icase);
      return add(std::move(set));
    }
    if (c == U'.' || c == U'^' || c == U'$' || c == U'?' || c == U'*' || c == U'+' || c == U'{') refuse(start, 1);
    ++pos_;
    add_literal(set, c, icase);
    return add(std::move(set));
  }

  int32_t group(bool icase) {
    const size_t open = pos_++;
    bool inner_icase = icase;
    Node look;
    look.kind = Node::Kind::kLookahead;
    bool lookahead = false;
    if (at(U'?')) {
      const std::u32string head = p_.substr(pos_, 3);
      if (head.rfind(U"?:", 0) == 0) {
        pos_ += 2;
      } else if (head == U"?i:") {
        pos_ += 3;
        inner_icase = true;
      } else if (head.rfind(U"?!", 0) == 0 || head.rfind(U"?=", 0) == 0) {
        lookahead = true;
        look.negated = head[1] == U'!';
        pos_ += 2;
      } else {
        refuse(open, 3);
      }
    }
    const int32_t inner = alternation(inner_icase);
    if (!at(U')')) fail("unclosed '('", open);
    ++pos_;
    if (!lookahead) return inner;
    look.children = {inner};
    return add(std::move(look));
  }

  int32_t class_set(bool icase) {
    const size_t open = pos_++;
    Node set;
    if (at(U'^')) {
      set.negated = true;
      ++pos_;
    }
    if (at(U']')) refuse(open, pos_ + 1 - open);  // an empty class, or ']' first
    while (!at(U']')) {
      if (pos_ >= p_.size()) fail("unclosed '['", open);
      if (at(U'[')) refuse(pos_, 2);  // nested classes, POSIX brackets
      if (at(U'&') && pos_ + 1 < p_.size() && p_[pos_ + 1] == U'&') refuse(pos_, 2);
      if (at(U'\\')) {
        escape(set, icase);
        continue;
      }
      const char32_t first = p_[pos_++];
      if (at(U'-') && pos_ + 1 < p_.size() && p_[pos_ + 1] != U']') {
        const size_t dash = pos_++;
        const char32_t last = p_[pos_++];
        if (last == U'\\' || last == U'[' || last < first || icase) refuse(dash - 1, 3);
        set.ranges.emplace_back(first, last);
      } else {
        add_literal(set, first, icase);
      }
    }
    ++pos_;
    return add(std::move(set));
  }

  // One escape at pos_ into `set`: a class (\p{L}, \p{N}, \s, \S), a control character or a literal.
  void escape(Node& set, bool icase) {
    const size_t start = pos_;
    if (pos_ + 1 >= p_.size()) fail("a trailing '\\'", start);
    const char32_t c = p_[pos_ + 1];
    pos_ += 2;
    if (c == U'p') {
      const std::u32string name = p_.substr(pos_, 3);
      const size_t close = p_.find(U'}', start);
      if (name != U"{L}" && name != U"{N}") refuse(start, close == std::u32string::npos ? 2 : close + 1 - start);
      set.classes |= name[1] == U'L' ? Regex::kLetter : Regex::kNumber;
      pos_ += 3;
    } else if (c == U's' || c == U'S') {
      set.classes |= c == U's' ? Regex::kSpace : Regex::kNotSpace;
    } else if (c == U'r' || c == U'n' || c == U't' || c == U'f' || c == U'v') {
      const char32_t control = c == U'r' ? U'\r' : c == U'n' ? U'\n' : c == U't' ? U'\t' : c == U'f' ? U'\f' : U'\v';
      set.ranges.emplace_back(control, control);
    } else if (c < 0x80 && !std::isalnum(static_cast<int>(c)) && c != U'_' && c > 0x20) {
      add_literal(set, c, icase);  // escaped punctuation stands for itself
    } else {
      refuse(start, 2);
    }
  }

  static void add_literal(Node& set, char32_t c, bool icase) {
    if (!icase) return set.ranges.emplace_back(c, c), void();
    for (char32_t v : case_variants(c)) set.ranges.emplace_back(v, v);
  }

  const std::u32string& p_;
  const std::string& where_;
  Regex& re_;
  size_t pos_ = 0;
};

// A continuation: what must match after a node, given where the node ended. A non-owning view of a
// callable (the callables live on the stack of the call that makes them).
class Next {
 public:
  template <class F>
  explicit Next(const F& f)
      : self_(&f), call_([](const void* s, size_t p) { return (*static_cast<const F*>(s))(p); }) {}
  bool operator()(size_t pos) const { return call_(self_, pos); }

 private:
  const void* self_;
  bool (*call_)(const void*, size_t);
};

class RegexRun {
 public:
  RegexRun(const std::vector<Node>& nodes, const std::u32string& text) : nodes_(nodes), text_(text) {}

  bool match(int32_t index, size_t pos, const Next& next) const {
    const Node& n = nodes_[static_cast<size_t>(index)];
    switch (n.kind) {
      case Node::Kind::kSet:
        return pos < text_.size() && in_set(n, text_[pos]) && next(pos + 1);
      case Node::Kind::kSequence:
        return sequence(n, 0, pos, next);
      case Node::Kind::kAlternation:
        for (int32_t child : n.children) {
          if (match(child, pos, next)) return true;
        }
        return false;
      case Node::Kind::kRepeat:
        return nodes_[static_cast<size_t>(n.children[0])].kind == Node::Kind::kSet ? repeat_set(n, pos, next)
                                                                                   : repeat(n, 0, pos, next);
      case Node::Kind::kLookahead: {
        const auto accept = [](size_t) { return true; };
        return match(n.children[0], pos, Next(accept)) != n.negated && next(pos);
      }
    }
    return false;
  }

 private:
  static bool in_set(const Node& n, char32_t cp) {
    bool hit = ((n.classes & Regex::kLetter) && is_letter(cp)) || ((n.classes & Regex::kNumber) && is_number(cp)) ||
               ((n.classes & Regex::kSpace) && is_white_space(cp)) ||
               ((n.classes & Regex::kNotSpace) && !is_white_space(cp));
    for (size_t i = 0; !hit && i < n.ranges.size(); ++i) hit = n.ranges[i].first <= cp && cp <= n.ranges[i].second;
    return hit != n.negated;
  }

  bool sequence(const Node& n, size_t i, size_t pos, const Next& next) const {
    if (i == n.children.size()) return next(pos);
    const auto rest = [&](size_t p) { return sequence(n, i + 1, p, next); };
    return match(n.children[i], pos, Next(rest));
  }

  // A repeated single character: the longest run first, then one shorter at a time.
  bool repeat_set(const Node& n, size_t pos, const Next& next) const {
    const Node& set = nodes_[static_cast<size_t>(n.children[0])];
    size_t run = 0;
    while (pos + run < text_.size() && (n.max < 0 || run < static_cast<size_t>(n.max)) &&
           in_set(set, text_[pos + run])) {
      ++run;
    }
    for (size_t k = run + 1; k-- > static_cast<size_t>(n.min);) {
      if (next(pos + k)) return true;
    }
    return false;
  }

  // Any other repeat: one more iteration first (greedy), else stop here once the minimum is reached. An
  // iteration that matched nothing ends the loop (it would repeat forever).
  bool repeat(const Node& n, int32_t done, size_t pos, const Next& next) const {
    if (n.max < 0 || done < n.max) {
      const auto again = [&](size_t p) {
        if (p == pos) return done + 1 >= n.min ? next(p) : repeat(n, done + 1, p, next);
        return repeat(n, done + 1, p, next);
      };
      if (match(n.children[0], pos, Next(again))) return true;
    }
    return done >= n.min && next(pos);
  }

  const std::vector<Node>& nodes_;
  const std::u32string& text_;
};

Regex Regex::compile(const std::u32string& pattern, const std::string& where) {
  Regex re;
  RegexParser parser(pattern, where, re);
  re.root_ = parser.parse_all();
  return re;
}

Regex Regex::literal(const std::u32string& text) {
  Regex re;
  Node seq;
  seq.kind = Node::Kind::kSequence;
  for (char32_t c : text) {
    Node set;
    set.ranges.emplace_back(c, c);
    re.nodes_.push_back(std::move(set));
    seq.children.push_back(static_cast<int32_t>(re.nodes_.size() - 1));
  }
  re.nodes_.push_back(std::move(seq));
  re.root_ = static_cast<int32_t>(re.nodes_.size() - 1);
  return re;
}

bool Regex::find(const std::u32string& text, size_t from, size_t& start, size_t& end) const {
  const RegexRun run(nodes_, text);
  for (size_t s = from; s < text.size(); ++s) {
    size_t stop = s;
    const auto accept = [&stop](size_t p) {
      stop = p;
      return true;
    };
    if (run.match(root_, s, Next(accept)) && stop > s) {
      start = s;
      end = stop;
      return true;
    }
  }
  return false;
}

}  // namespace dlm::hf
