// Dockerfile parsing: directives, continuations, forms, flags, heredocs, stages, errors.
#include "build/dockerfile.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"

namespace berth::build {
namespace {

std::string error_of(std::string_view text) {
  try {
    split_stages(parse_dockerfile(text));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Dockerfile, InstructionsFormsAndContinuations) {
  const auto df = parse_dockerfile(
      "# a comment\n"
      "FROM busybox AS base\n"
      "\n"
      "run echo a \\\n"
      "  # a comment inside is dropped\n"
      "\n"
      "    && echo b\n"
      "CMD [\"sh\", \"-c\", \"echo $HOME\"]\n"
      "ENTRYPOINT [\"broken json\"\n"
      "ENV A=1 B=\"two words\" C=\\ x\n"
      "ENV LEGACY value with spaces\n"
      "COPY --from=base --chown=1:2 a b /dst/\n"
      "HEALTHCHECK --interval=5s CMD [\"true\"]\n"
      "ONBUILD RUN echo later\n");
  ASSERT_EQ(df.instructions.size(), 9u);
  const auto& run = df.instructions[1];
  EXPECT_EQ(run.cmd, "run");
  EXPECT_EQ(run.line, 4);
  EXPECT_FALSE(run.json);
  EXPECT_EQ(run.rest, "echo a     && echo b");
  EXPECT_EQ(run.original, "run echo a     && echo b");
  const auto& cmd = df.instructions[2];
  EXPECT_TRUE(cmd.json);
  EXPECT_EQ(cmd.args, (std::vector<std::string>{"sh", "-c", "echo $HOME"}));
  EXPECT_FALSE(df.instructions[3].json);  // not JSON: the shell form
  EXPECT_EQ(df.instructions[4].args, (std::vector<std::string>{"A", "1", "B", "\"two words\"", "C", "\\ x"}));
  EXPECT_EQ(df.instructions[5].args, (std::vector<std::string>{"LEGACY", "value with spaces"}));
  const auto& copy = df.instructions[6];
  ASSERT_NE(copy.flag("from"), nullptr);
  EXPECT_EQ(copy.flag("from")->value, "base");
  EXPECT_EQ(copy.flag("chown")->value, "1:2");
  EXPECT_EQ(copy.args, (std::vector<std::string>{"a", "b", "/dst/"}));
  const auto& hc = df.instructions[7];
  EXPECT_EQ(hc.flag("interval")->value, "5s");
  EXPECT_TRUE(hc.json);
  EXPECT_EQ(hc.args, (std::vector<std::string>{"CMD", "true"}));
  ASSERT_TRUE(df.instructions[8].inner);
  EXPECT_EQ(df.instructions[8].inner->cmd, "run");
}

TEST(Dockerfile, EscapeDirectiveAndSyntax) {
  const auto df = parse_dockerfile("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN dir c:\\ `\n  /w\n");
  EXPECT_EQ(df.escape, '`');
  EXPECT_EQ(df.syntax, "docker/dockerfile:1");
  EXPECT_EQ(df.instructions[1].rest, "dir c:\\   /w");
  // a directive after an instruction is a comment
  EXPECT_EQ(parse_dockerfile("FROM x\n# escape=`\nRUN a \\\nb\n").instructions[1].rest, "a b");
}

TEST(Dockerfile, Heredocs) {
  const auto df = parse_dockerfile(
      "FROM x\n"
      "RUN <<EOF\n"
      "echo $HOME\n"
      "  indented\n"
      "EOF\n"
      "COPY <<-'A' <<B /dst/\n"
      "\tliteral $X\n"
      "\tA\n"
      "b\n"
      "B\n"
      "CMD true\n");
  ASSERT_EQ(df.instructions.size(), 4u);
  ASSERT_EQ(df.instructions[1].heredocs.size(), 1u);
  EXPECT_EQ(df.instructions[1].heredocs[0].content, "echo $HOME\n  indented\n");
  EXPECT_TRUE(df.instructions[1].heredocs[0].expand);
  const auto& c = df.instructions[2];
  ASSERT_EQ(c.heredocs.size(), 2u);
  EXPECT_EQ(c.heredocs[0].content, "literal $X\n");
  EXPECT_FALSE(c.heredocs[0].expand);
  EXPECT_EQ(c.heredocs[1].content, "b\n");
  EXPECT_EQ(df.instructions[3].cmd, "cmd");
}

TEST(Dockerfile, Stages) {
  const auto s = split_stages(parse_dockerfile(
      "ARG V=1\nFROM busybox:$V AS Build\nRUN a\nFROM scratch\nCOPY --from=build /x /x\nFROM build AS final\n"));
  ASSERT_EQ(s.meta_args.size(), 1u);
  ASSERT_EQ(s.stages.size(), 3u);
  EXPECT_EQ(s.stages[0].name, "build");
  EXPECT_EQ(s.stages[0].body.size(), 1u);
  EXPECT_EQ(s.stages[1].name, "");
  EXPECT_EQ(s.stages[1].index, 1u);
  EXPECT_EQ(s.stages[2].from.args[0], "build");
}

TEST(Dockerfile, ErrorsNameTheLine) {
  EXPECT_EQ(error_of("FROM x\nFOO bar\n"), "Dockerfile:2:1: unknown instruction: FOO");
  EXPECT_EQ(error_of(""), "the Dockerfile has no instructions (it cannot be empty)");
  EXPECT_EQ(error_of("# only a comment\n"), "the Dockerfile has no instructions (it cannot be empty)");
  EXPECT_EQ(error_of("RUN x\nFROM y\n"), "Dockerfile:1:1: run before the first FROM (only ARG may come before it)");
  EXPECT_EQ(error_of("FROM x\nCOPY --nope=1 a b\n"), "Dockerfile:2:6: unknown flag: --nope (for copy)");
  // Columns count from the line's start: indented instructions, a later flag.
  EXPECT_EQ(error_of("FROM x\n   FOO bar\n"), "Dockerfile:2:4: unknown instruction: FOO");
  EXPECT_EQ(error_of("FROM x\n  COPY --from=a   --bad=1 a b\n"), "Dockerfile:2:19: unknown flag: --bad (for copy)");
  // RUN takes BuildKit's --mount and --network (the builder judges their values); not --security.
  EXPECT_EQ(error_of("FROM x\nRUN --mount=type=cache,target=/c true\n"), "");
  EXPECT_EQ(error_of("FROM x\nRUN --security=insecure true\n"), "Dockerfile:2:5: RUN --security is BuildKit's; berth build does not support it yet");
  EXPECT_EQ(error_of("FROM x\nSHELL sh -c\n"),
            "Dockerfile:2:1: SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]");
  EXPECT_EQ(error_of("FROM x\nRUN <<EOF\nno end\n"), "Dockerfile:2:1: heredoc <<EOF has no end (a line `EOF`)");
  EXPECT_EQ(error_of("FROM x\nONBUILD FROM y\n"), "Dockerfile:2:1: ONBUILD from is not allowed");
  EXPECT_EQ(error_of("FROM x AS a\nFROM y AS A\n"), "Dockerfile:2:1: duplicate name for build stage: a");
  EXPECT_EQ(error_of("FROM x AS 1a\n"), "Dockerfile:1:1: invalid name for build stage: \"1a\", name can't start with a number or contain symbols");
  EXPECT_EQ(error_of("FROM x\nENV\n"), "Dockerfile:2:1: ENV requires at least one argument");
  EXPECT_EQ(error_of("FROM x\nENV a=1 b\n"), "Dockerfile:2:1: Syntax error - can't find = in \"b\". Must be of the form: name=value");
  EXPECT_EQ(error_of("FROM x\nWORKDIR\n"), "Dockerfile:2:1: WORKDIR requires at least one argument");
  EXPECT_EQ(error_of("# escape=x\nFROM y\n"), "Dockerfile:1:1: invalid escape token 'x' does not match ` or \\");
}

TEST(Dockerfile, CarriageReturnsAndBom) {
  const auto df = parse_dockerfile("\xEF\xBB\xBF" "FROM x\r\nRUN a \\\r\n b\r\n");
  ASSERT_EQ(df.instructions.size(), 2u);
  EXPECT_EQ(df.instructions[0].cmd, "from");
  EXPECT_EQ(df.instructions[1].rest, "a  b");
}

}  // namespace
}  // namespace berth::build
