#include "cli/runtime/args.hpp"
#include "runtime/container.hpp"

namespace berth::cli {

int cmd_start(const Global& g, int argc, char** argv, int first) {
  Args a("start", {}, argc, argv, first);
  runtime::start_container(g.root, a.id());
  return 0;
}

}  // namespace berth::cli
