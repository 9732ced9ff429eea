// berth diff: what a container changed in its image's files.
#include <cstdio>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"

namespace berth::cli {

// Docker's diff: A (added), C (changed), D (deleted), one path per line.
int cmd_diff(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("diff", {}, argc, argv, first);
  auto eng = make_engine(e);
  for (const auto& c : eng.changes(a.id())) std::printf("%c %s\n", c.kind, c.path.c_str());
  return 0;
}

}  // namespace berth::cli
