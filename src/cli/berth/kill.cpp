// berth kill: a signal to the container's init.
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "engine/engine.hpp"
#include "runtime/signals.hpp"

namespace berth::cli {

int cmd_kill(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("kill", {{"signal", "s", true}}, argc, argv, first);
  if (a.positional().empty()) throw Error("kill: a container is required");
  int sig = engine::parse_signal(a.get("signal", "KILL"));
  auto eng = make_engine(e);
  return for_each_container(a.positional(), [&](const std::string& ref) {
    eng.kill(ref, sig);
  });
}

}  // namespace berth::cli
