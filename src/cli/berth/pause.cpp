// berth pause and unpause: the container's processes frozen and thawed.
#include <cstdio>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"

namespace berth::cli {

// Docker's: each container in turn, an error printed and the next one tried (exit 1 if any
// failed); none named is an error.
int cmd_pause(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("pause", {}, argc, argv, first);
  if (a.positional().empty()) throw Error("pause: a container is required");
  auto eng = make_engine(e);
  return for_each_container(a.positional(), [&](const std::string& r) { eng.pause(r, true); });
}

int cmd_unpause(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("unpause", {}, argc, argv, first);
  if (a.positional().empty()) throw Error("unpause: a container is required");
  auto eng = make_engine(e);
  return for_each_container(a.positional(), [&](const std::string& r) { eng.pause(r, false); });
}

}  // namespace berth::cli
