#include "build/words.hpp"

#include <cctype>

#include "common/error.hpp"

namespace berth::build {

namespace {
// A value that doubles at every ENV (ENV A=$A$A) would reach gigabytes in thirty steps: an
// expansion past this is an error, not memory exhausted.
constexpr size_t kMaxExpansion = 1 << 20;

void check_size(size_t n, std::string_view text) {
  if (n > kMaxExpansion)
    throw Error(ErrorKind::invalid_argument, "the expansion of `" + std::string(text.substr(0, 40)) +
                                                 (text.size() > 40 ? "…" : "") + "` is larger than 1 MiB");
}
}  // namespace


namespace {

bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Words as Docker's lexer collects them: a character outside quotes that is whitespace ends
// the word (a variable's value is split the same way); quoted text never does, and an
// escaped character is always part of the word.
struct Collector {
  std::vector<std::string> out;
  std::string word;
  bool in_word = false;
  void raw(char c) {
    word += c;
    in_word = true;
  }
  void plain(char c) {
    if (space(c)) {
      if (in_word && !word.empty()) {
        out.push_back(word);
        word.clear();
        in_word = false;
      }
    } else {
      raw(c);
    }
  }
  void plain(std::string_view s) {
    for (char c : s) plain(c);
  }
  void raw(std::string_view s) {
    for (char c : s) raw(c);
  }
  std::vector<std::string> finish() {
    if (!word.empty()) out.push_back(word);
    return out;
  }
};

class Lexer {
 public:
  Lexer(std::string_view s, char escape, const Lookup& env) : s_(s), esc_(escape), env_(env) {}

  // Up to `stop` (consumed; 0: the end), the text as one word and as words.
  std::string run(char stop, Collector* words) {
    std::string result;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (stop && c == stop) {
        ++pos_;
        return result;
      }
      if (c == '\'') {
        const std::string t = single_quote();
        result += t;
        if (words) words->raw(t);
      } else if (c == '"') {
        const std::string t = double_quote();
        result += t;
        if (words) words->raw(t);
      } else if (c == '$') {
        const std::string t = dollar();
        result += t;
        if (words) words->plain(t);
      } else {
        ++pos_;
        if (c == esc_) {
          if (pos_ >= s_.size()) break;  // an escape at the very end is dropped
          const char n = s_[pos_++];
          result += n;
          if (words) words->raw(n);
        } else {
          result += c;
          if (words) words->plain(c);
        }
      }
    }
    if (stop) fail(std::string("unexpected end of statement while looking for matching ") + stop);
    return result;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(ErrorKind::invalid_argument, why + " in `" + std::string(s_) + "`");
  }

  std::string single_quote() {
    ++pos_;
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail("unexpected end of statement while looking for matching single-quote");
      const char c = s_[pos_++];
      if (c == '\'') return out;
      out += c;
    }
  }

  std::string double_quote() {
    ++pos_;
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail("unexpected end of statement while looking for matching double-quote");
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c == '$') {
        out += dollar();
        check_size(out.size(), s_);
        continue;
      }
      ++pos_;
      if (c == esc_ && pos_ < s_.size() && (s_[pos_] == '"' || s_[pos_] == '$' || s_[pos_] == esc_)) {
        out += s_[pos_++];
        continue;
      }
      out += c;
    }
  }

  std::string name() {
    std::string n;
    if (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) n += s_[pos_++];
      return n;
    }
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) n += s_[pos_++];
    return n;
  }

  std::string dollar() {
    ++pos_;  // $
    if (pos_ >= s_.size() || s_[pos_] != '{') {
      const std::string n = name();
      if (n.empty()) return "$";
      return env_(n).value_or("");
    }
    ++pos_;  // {
    const std::string n = name();
    if (n.empty()) fail("bad substitution: a variable name must follow ${");
    if (pos_ >= s_.size()) fail("unexpected end of statement while looking for matching }");
    const char c = s_[pos_++];
    const std::optional<std::string> value = env_(n);
    if (c == '}') return value.value_or("");
    bool colon = false;
    char mod = c;
    if (c == ':') {
      if (pos_ >= s_.size()) fail("unexpected end of statement while looking for matching }");
      colon = true;
      mod = s_[pos_++];
    }
    if (mod != '-' && mod != '+' && mod != '?')
      fail(std::string("unsupported modifier (") + mod + ") in substitution");
    const std::string word = run('}', nullptr);
    const bool set = colon ? value && !value->empty() : value.has_value();
    switch (mod) {
      case '-': return set ? *value : word;
      case '+': return set ? word : "";
      default:
        if (!set) {
          throw Error(ErrorKind::invalid_argument,
                      n + ": " + (word.empty() ? std::string(colon ? "is not allowed to be unset or empty" : "is not allowed to be unset") : word));
        }
        return *value;
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
  char esc_;
  const Lookup& env_;
};

}  // namespace

std::string Words::word(std::string_view text, const Lookup& env) const {
  Lexer lx(text, escape_, env);
  std::string out = lx.run(0, nullptr);
  check_size(out.size(), text);
  return out;
}

std::vector<std::string> Words::words(std::string_view text, const Lookup& env) const {
  Lexer lx(text, escape_, env);
  Collector c;
  lx.run(0, &c);
  std::vector<std::string> out = c.finish();
  size_t total = 0;
  for (auto& w : out) total += w.size();
  check_size(total, text);
  return out;
}

std::vector<std::string> split_raw(std::string_view rest, char escape) {
  enum { spaces, in_word, in_quote } phase = spaces;
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool blank_ok = false;  // a word that was quoted counts even when empty ("")
  for (size_t pos = 0; pos <= rest.size(); ++pos) {
    const bool end = pos == rest.size();
    char c = end ? 0 : rest[pos];
    if (phase == spaces) {
      if (end) break;
      if (space(c)) continue;
      phase = in_word;
    }
    if (end) {
      if (blank_ok || !word.empty()) words.push_back(word);
      break;
    }
    if (phase == in_word) {
      if (space(c)) {
        phase = spaces;
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (c == '\'' || c == '"') {
        quote = c;
        blank_ok = true;
        phase = in_quote;
      }
      if (c == escape) {
        if (pos + 1 == rest.size()) continue;  // an escape at the end of the line is dropped
        word += c;  // kept with what it escapes, for the substitution to read
        c = rest[++pos];
      }
      word += c;
      continue;
    }
    // in_quote
    if (c == quote) phase = in_word;
    if (c == escape && quote != '\'') {
      if (pos + 1 == rest.size()) {
        phase = in_word;
        continue;
      }
      word += c;
      c = rest[++pos];
    }
    word += c;
  }
  return words;
}

}  // namespace berth::build
