// Dockerfile parsing: from text to instructions and stages, as Docker's parser reads it —
// parser directives (`# escape=`, `# syntax=`), comments, line continuations (comment and
// empty lines inside one dropped), case-insensitive instruction names, flags (`--from=x`),
// exec (JSON) and shell forms, heredocs (`RUN <<EOF`, `<<-EOF` strips tabs, a quoted name
// turns substitution off), and ONBUILD's inner instruction. Values are not substituted
// here: that needs the build's variables (build/words.hpp), at each step.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::build {

struct Heredoc {
  std::string name;     // the delimiter ("EOF")
  std::string content;  // the lines between, each ending in \n
  bool expand = true;   // unquoted delimiter: variables are substituted in the content
};

struct Instruction {
  std::string cmd;       // lowercase: "from", "run", "copy", …
  std::string original;  // as written, continuations joined with spaces (history's CreatedBy)
  int line = 0;          // 1-based, where it starts
  int column = 1;        // 1-based, where its keyword is on that line
  // Flags before the arguments, in order, raw ("from" → "builder"); a flag given without a
  // value maps to "" with has_value false.
  struct Flag {
    std::string name, value;
    bool has_value = true;
    int column = 1;  // where its `--` is (on the instruction's first line)
  };
  std::vector<Flag> flags;
  bool json = false;              // exec form: args are the JSON array's strings
  std::vector<std::string> args;  // json: the array; otherwise the raw words (split_raw)
  std::string rest;               // the text after the flags, as written (shell form)
  std::vector<Heredoc> heredocs;  // RUN/COPY/ADD
  std::shared_ptr<Instruction> inner;  // ONBUILD's instruction

  const Flag* flag(std::string_view name) const;
};

struct Dockerfile {
  char escape = '\\';
  std::string syntax;  // the `# syntax=` directive, if any (informational)
  std::vector<Instruction> instructions;
};

// Throws berth::Error (invalid_argument) "Dockerfile:LINE:COLUMN: …" for text that is not a
// Dockerfile: an unknown instruction, a flag an instruction does not take, malformed JSON
// where a JSON array is required (SHELL), a heredoc without its end, ONBUILD of FROM,
// MAINTAINER or ONBUILD, an empty file.
Dockerfile parse_dockerfile(std::string_view text);

struct Stage {
  Instruction from;                 // its FROM
  std::string name;                 // `AS name`, lowercase; "" without one
  size_t index = 0;                 // 0-based position
  std::vector<Instruction> body;    // after FROM, up to the next FROM
};

struct Stages {
  std::vector<Instruction> meta_args;  // ARGs before the first FROM
  std::vector<Stage> stages;
};

// Splits into stages (an instruction before the first FROM other than ARG is an error, as
// is a stage name used twice or one that is not [a-z][a-z0-9-_.]*).
Stages split_stages(const Dockerfile& df);

}  // namespace berth::build
