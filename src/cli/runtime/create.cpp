#include <cstdio>
#include <string>

#include "cli/runtime/args.hpp"
#include "cli/runtime/create_options.hpp"
#include "runtime/container.hpp"

namespace berth::cli {

int cmd_create(const Global& g, int argc, char** argv, int first) {
  Args a("create", create_flags(), argc, argv, first);
  runtime::create_container(create_options(g, a));
  return 0;
}

}  // namespace berth::cli
