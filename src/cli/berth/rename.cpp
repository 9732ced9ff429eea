// berth rename.
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"

namespace berth::cli {

int cmd_rename(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("rename", {}, argc, argv, first);
  if (a.positional().size() != 2) throw Error("rename: CONTAINER NEW_NAME");
  auto eng = make_engine(e);
  eng.rename(a.positional()[0], a.positional()[1]);
  return 0;
}

}  // namespace berth::cli
