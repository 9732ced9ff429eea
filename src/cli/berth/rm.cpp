// berth rm: containers removed (-f: running ones killed first; -v: their anonymous volumes).
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"

namespace berth::cli {

int cmd_rm(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("rm", {{"force", "f", false}, {"volumes", "v", false}}, argc, argv, first);
  if (a.positional().empty()) throw Error("rm: a container is required");
  auto eng = make_engine(e);
  return for_each_container(a.positional(), [&](const std::string& ref) {
    eng.remove(ref, a.has("force"), a.has("volumes"));
  });
}

}  // namespace berth::cli
