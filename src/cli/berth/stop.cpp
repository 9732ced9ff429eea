// berth stop: the stop signal, then SIGKILL after the timeout.
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"

namespace berth::cli {

int cmd_stop(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("stop", {{"time", "t", true}, {"timeout", "", true}}, argc, argv, first);
  if (a.positional().empty()) throw Error("stop: a container is required");
  // --timeout is Docker's newer name for --time.
  // None given: the container's own (its --stop-timeout, else 10 s); -1: wait for good.
  std::optional<int> t;
  if (a.has("time")) t = int_flag(a, "time", -1);
  else if (a.has("timeout")) t = int_flag(a, "timeout", -1);
  auto eng = make_engine(e);
  return for_each_container(a.positional(), [&](const std::string& ref) {
    eng.stop(ref, t);
  });
}

}  // namespace berth::cli
