// berth container cleanup: what a container's shim runs after the exit (Engine::cleanup).
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"

namespace berth::cli {

int cmd_container_cleanup(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("container cleanup", {{"rm", "", false}, {"network-only", "", false}}, argc, argv, first);
  auto eng = make_engine(e);
  if (a.has("network-only")) eng.release_network(a.id());
  else eng.cleanup(a.id(), a.has("rm"));
  return 0;
}

}  // namespace berth::cli
