#include <signal.h>

#include "cli/runtime/args.hpp"
#include "runtime/container.hpp"
#include "runtime/signals.hpp"

namespace berth::cli {

int cmd_kill(const Global& g, int argc, char** argv, int first) {
  Args a("kill", {{"all", "a", false}}, argc, argv, first);
  std::string id = a.id(2);
  int sig = a.positional().size() > 1 ? runtime::parse_signal(a.positional()[1]) : SIGTERM;
  runtime::kill_container(g.root, id, sig, a.has("all"));
  return 0;
}

}  // namespace berth::cli
