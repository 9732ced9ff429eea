// .dockerignore rules as Docker applies them.
#include "build/ignore.hpp"

#include <gtest/gtest.h>

namespace berth::build {
namespace {

TEST(Ignore, PatternsExceptionsAndParents) {
  const auto r = IgnoreRules::parse(
      "# comment\n"
      "\n"
      "*.log\n"
      "!keep.log\n"
      "/build/\n"
      "docs/**/*.tmp\n"
      "**/cache\n"
      "secret?.txt\n"
      "node_modules\n"
      "!node_modules/keep/**\n");
  EXPECT_TRUE(r.excluded("a.log"));
  EXPECT_FALSE(r.excluded("keep.log"));
  EXPECT_FALSE(r.excluded("sub/a.log"));  // * stays within one element
  EXPECT_TRUE(r.excluded("build"));
  EXPECT_TRUE(r.excluded("build/out/bin"));  // under an excluded directory
  EXPECT_TRUE(r.excluded("docs/x.tmp"));     // ** is zero elements too
  EXPECT_TRUE(r.excluded("docs/a/b/x.tmp"));
  EXPECT_FALSE(r.excluded("docs/a/b/x.md"));
  EXPECT_TRUE(r.excluded("cache"));
  EXPECT_TRUE(r.excluded("a/b/cache/f"));
  EXPECT_TRUE(r.excluded("secret1.txt"));
  EXPECT_FALSE(r.excluded("secret12.txt"));
  EXPECT_TRUE(r.excluded("node_modules/x/y.js"));
  EXPECT_FALSE(r.excluded("node_modules/keep/y.js"));
  EXPECT_TRUE(r.has_exceptions());
}

TEST(Ignore, LastMatchWinsAndCleaning) {
  const auto r = IgnoreRules::parse("!a.txt\n*.txt\n./dir//sub/\n.git\nDockerfile\n");
  EXPECT_TRUE(r.excluded("a.txt"));  // the later *.txt wins over the earlier exception
  EXPECT_TRUE(r.excluded("dir/sub/f"));
  EXPECT_TRUE(r.excluded("./dir/sub"));
  EXPECT_TRUE(r.excluded(".git/HEAD"));
  EXPECT_TRUE(r.excluded("Dockerfile"));
  EXPECT_FALSE(r.excluded("dir/other"));
  EXPECT_TRUE(r.has_exceptions());  // !a.txt, though a later pattern overrules it
}

TEST(Ignore, CleanRelative) {
  EXPECT_EQ(clean_relative("./a//b/../c/"), "a/c");
  EXPECT_EQ(clean_relative(""), ".");
  EXPECT_EQ(clean_relative("../x"), "../x");
}

}  // namespace
}  // namespace berth::build
