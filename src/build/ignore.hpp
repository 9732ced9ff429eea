// .dockerignore: which paths of a build context COPY and ADD cannot see, by Docker's rules.
// One pattern per line; `#` lines and blank lines skipped; a leading `!` re-includes; each
// pattern is cleaned (`./a//b/` → `a/b`) and a leading `/` dropped; `*` and `?` match within
// one path element, `[…]` a class, `\` escapes, `**` any number of elements (zero too). A
// path is excluded when the last pattern that matches it — or one of its parent directories —
// is not a `!` one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace berth::build {

class IgnoreRules {
 public:
  static IgnoreRules parse(std::string_view text);

  // `path` relative to the context root ("a/b/c.txt", no leading "./" or "/").
  bool excluded(std::string_view path) const;
  // Whether some `!` pattern could re-include a path under an excluded directory (then a
  // walk must still look inside it).
  bool has_exceptions() const { return exceptions_; }
  bool empty() const { return patterns_.empty(); }

 private:
  struct Pattern {
    std::vector<std::string> parts;  // split at '/'
    bool exclusion = false;          // a `!` pattern
  };
  std::vector<Pattern> patterns_;
  bool exceptions_ = false;
};

// Go's path.Clean for a relative path: "." for nothing.
std::string clean_relative(std::string_view path);

}  // namespace berth::build
