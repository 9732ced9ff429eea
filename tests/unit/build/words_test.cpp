// Variable substitution and quote removal as Docker's builder does them (expected values are
// what docker build 20.10 gives for the same text).
#include "build/words.hpp"

#include <gtest/gtest.h>

#include <map>

#include "common/error.hpp"

namespace berth::build {
namespace {

const std::map<std::string, std::string> kEnv = {{"A", "a"}, {"EMPTY", ""}, {"SP", "x y"}, {"P", "/usr/bin"}};

Lookup env() {
  return [](const std::string& n) -> std::optional<std::string> {
    auto it = kEnv.find(n);
    if (it == kEnv.end()) return std::nullopt;
    return it->second;
  };
}

std::string w(std::string_view s, char esc = '\\') { return Words(esc).word(s, env()); }
std::vector<std::string> ws(std::string_view s) { return Words('\\').words(s, env()); }

TEST(Words, SubstitutesPlainAndBracedNames) {
  EXPECT_EQ(w("$A"), "a");
  EXPECT_EQ(w("${A}b"), "ab");
  EXPECT_EQ(w("$Ab"), "");  // the name is Ab
  EXPECT_EQ(w("x$NOPE.y"), "x.y");
  EXPECT_EQ(w("$P:/bin"), "/usr/bin:/bin");
  EXPECT_EQ(w("cost $"), "cost $");
  EXPECT_EQ(w("a$/b"), "a$/b");
}

TEST(Words, Modifiers) {
  EXPECT_EQ(w("${NOPE:-def}"), "def");
  EXPECT_EQ(w("${EMPTY:-def}"), "def");
  EXPECT_EQ(w("${EMPTY-def}"), "");
  EXPECT_EQ(w("${A:-def}"), "a");
  EXPECT_EQ(w("${A:+alt}"), "alt");
  EXPECT_EQ(w("${EMPTY:+alt}"), "");
  EXPECT_EQ(w("${EMPTY+alt}"), "alt");
  EXPECT_EQ(w("${NOPE:+alt}"), "");
  EXPECT_EQ(w("${NOPE:-${A}-nested}"), "a-nested");
  EXPECT_THROW(w("${NOPE:?must be set}"), Error);
  EXPECT_EQ(w("${A:?must be set}"), "a");
  EXPECT_THROW(w("${A:x}"), Error);
  EXPECT_THROW(w("${A"), Error);
  EXPECT_THROW(w("${}"), Error);
}

TEST(Words, QuotesAndEscapes) {
  EXPECT_EQ(w("'$A'"), "$A");
  EXPECT_EQ(w("\"$A\""), "a");
  EXPECT_EQ(w("\"a \\\"q\\\" \\$A \\n\""), "a \"q\" $A \\n");  // inside "": only \" \$ \\ escape
  EXPECT_EQ(w("\\$A"), "$A");
  EXPECT_EQ(w("a\\ b"), "a b");
  EXPECT_EQ(w("end\\"), "end");
  EXPECT_EQ(w("`$A", '`'), "$A");  // the escape directive's character
  EXPECT_EQ(w("c:\\dir", '`'), "c:\\dir");
  EXPECT_THROW(w("'open"), Error);
  EXPECT_THROW(w("\"open"), Error);
}

TEST(Words, SplitsOutsideQuotesAndSplitsValues) {
  EXPECT_EQ(ws("a  b\tc"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ws("\"a b\" 'c d'"), (std::vector<std::string>{"a b", "c d"}));
  EXPECT_EQ(ws("$SP z"), (std::vector<std::string>{"x", "y", "z"}));  // a value splits
  EXPECT_EQ(ws("\"$SP\" z"), (std::vector<std::string>{"x y", "z"}));
  EXPECT_EQ(ws("a\\ b c"), (std::vector<std::string>{"a b", "c"}));
  EXPECT_TRUE(ws("  ").empty());
}

TEST(Words, SplitRawKeepsQuotesAndEscapes) {
  EXPECT_EQ(split_raw("a=\"x y\" b='z' c=\\ d", '\\'), (std::vector<std::string>{"a=\"x y\"", "b='z'", "c=\\ d"}));
  EXPECT_EQ(split_raw("  one   two  ", '\\'), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(split_raw("\"\" x", '\\'), (std::vector<std::string>{"\"\"", "x"}));
  EXPECT_EQ(split_raw("'a \\' b", '\\'), (std::vector<std::string>{"'a \\'", "b"}));
}

}  // namespace
}  // namespace berth::build
