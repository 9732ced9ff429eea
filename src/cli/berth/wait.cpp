// berth wait: blocks until the containers stop; prints their exit codes.
#include <cstdio>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"

namespace berth::cli {

int cmd_wait(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("wait", {}, argc, argv, first);
  if (a.positional().empty()) throw Error("wait: a container is required");
  auto eng = make_engine(e);
  int rc = 0;
  for (auto& ref : a.positional()) {
    try {
      std::printf("%d\n", eng.wait(ref));
      std::fflush(stdout);
    } catch (const Error& ex) {
      std::fprintf(stderr, "berth: %s\n", ex.what());
      rc = 1;
    }
  }
  return rc;
}

}  // namespace berth::cli
