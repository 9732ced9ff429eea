// berth pause and unpause: the container's processes frozen and thawed.
#include <cstdio>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"

namespace berth::cli {

int cmd_pause(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("pause", {}, argc, argv, first);
  auto eng = make_engine(e);
  for (auto& r : a.positional()) eng.pause(r, true), std::puts(r.c_str());
  return 0;
}

int cmd_unpause(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("unpause", {}, argc, argv, first);
  auto eng = make_engine(e);
  for (auto& r : a.positional()) eng.pause(r, false), std::puts(r.c_str());
  return 0;
}

}  // namespace berth::cli
