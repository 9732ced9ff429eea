// berth restart: stop, then start (a --rm container stays for its start).
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"

namespace berth::cli {

int cmd_restart(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("restart", {{"time", "t", true}}, argc, argv, first);
  std::optional<int> t;  // none given: the container's own stop timeout; -1: wait for good
  if (a.has("time")) t = int_flag(a, "time", -1);
  if (a.positional().empty()) throw Error("restart: a container is required");
  auto eng = make_engine(e);
  return for_each_container(a.positional(), [&](const std::string& ref) {
    eng.restart(ref, t);
  });
}

}  // namespace berth::cli
