// A bound on the nesting of untrusted JSON (image documents, API bodies), checked on the
// text before it is parsed: nlohmann's parser is iterative, but copying or comparing a value
// recurses once per level — a 600 KB config of nested brackets overflowed the stack.
#pragma once

#include <string>
#include <string_view>

#include "common/error.hpp"

namespace berth {

inline constexpr int kMaxJsonDepth = 200;

// invalid_argument naming `what` when arrays and objects nest deeper than `max` in `text`
// (brackets inside strings do not count). Says nothing of whether the text is JSON.
inline void check_json_depth(std::string_view text, const std::string& what, int max = kMaxJsonDepth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max)
        throw Error(ErrorKind::invalid_argument, what + ": JSON nested deeper than " + std::to_string(max) + " levels");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

}  // namespace berth
