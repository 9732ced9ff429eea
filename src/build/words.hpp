// Dockerfile words: variable substitution and quote removal as Docker's builder does them
// (its shell lexer), for the instructions that take variables — ADD COPY ENV EXPOSE FROM
// LABEL STOPSIGNAL USER VOLUME WORKDIR ARG and the flags of ADD/COPY/FROM. RUN, CMD and
// ENTRYPOINT are left to the container's shell.
//
//   $NAME  ${NAME}           the value, "" when unset
//   ${NAME:-word} ${NAME-word}   word when NAME is unset (":" also when empty)
//   ${NAME:+word} ${NAME+word}   word when NAME is set (":" and not empty), else ""
//   ${NAME:?word} ${NAME?word}   an error ("NAME: word") when unset (or empty)
//   'single'   literal;   "double"  variables expanded, the escape character escapes " $ and
//              itself only;   \x  (the escape character, \ or `) x literally
// A `$` not followed by a name or `{` is literal. Words within `word` are expanded too.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::build {

// A variable's value, or nullopt when it is not set.
using Lookup = std::function<std::optional<std::string>(const std::string& name)>;

class Words {
 public:
  explicit Words(char escape = '\\') : escape_(escape) {}

  // `text` as one word: variables expanded, quotes and escapes removed (whitespace kept).
  // Throws berth::Error (invalid_argument) for a malformed substitution.
  std::string word(std::string_view text, const Lookup& env) const;
  // `text` as words: split at whitespace outside quotes (and outside what a variable
  // expanded to, as Docker's builder does not split a value), then as word().
  std::vector<std::string> words(std::string_view text, const Lookup& env) const;

 private:
  char escape_;
};

// Splits an instruction's arguments at whitespace outside quotes, keeping the quotes and
// escapes in each word (Docker's parser step before substitution: `a="x y" b=c` → two words).
std::vector<std::string> split_raw(std::string_view text, char escape);

}  // namespace berth::build
