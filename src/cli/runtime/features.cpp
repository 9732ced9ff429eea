#include <cstdio>

#include "cli/runtime/args.hpp"
#include "runtime/container.hpp"

namespace berth::cli {

int cmd_features(const Global&, int argc, char** argv, int first) {
  Args a("features", {}, argc, argv, first);
  std::puts(runtime::features().dump(2).c_str());
  return 0;
}

}  // namespace berth::cli
