#include <cstdio>

#include "cli/runtime/args.hpp"
#include "runtime/container.hpp"

namespace berth::cli {

int cmd_state(const Global& g, int argc, char** argv, int first) {
  Args a("state", {}, argc, argv, first);
  std::puts(runtime::container_state(g.root, a.id()).dump(2).c_str());
  return 0;
}

}  // namespace berth::cli
