// berth rm: containers removed (-f: running ones killed first; -v: their anonymous volumes).
#include <cstdio>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"

namespace berth::cli {

int cmd_rm(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("rm", {{"force", "f", false}, {"volumes", "v", false}}, argc, argv, first);
  if (a.positional().empty()) throw Error("rm: a container is required");
  auto eng = make_engine(e);
  int rc = 0;
  for (auto& ref : a.positional()) {
    try {
      eng.remove(ref, a.has("force"), a.has("volumes"));
      std::puts(ref.c_str());
    } catch (const Error& ex) {
      std::fprintf(stderr, "berth: %s\n", ex.what());
      // Docker's CLI: with -f, a container that is not there is said, not a failure.
      if (!(a.has("force") && ex.kind() == ErrorKind::not_found)) rc = 1;
    }
  }
  return rc;
}

}  // namespace berth::cli
