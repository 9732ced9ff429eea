#include "cli/runtime/args.hpp"
#include "runtime/container.hpp"

namespace berth::cli {

int cmd_pause(const Global& g, int argc, char** argv, int first) {
  Args a("pause", {}, argc, argv, first);
  runtime::pause_container(g.root, a.id());
  return 0;
}

int cmd_resume(const Global& g, int argc, char** argv, int first) {
  Args a("resume", {}, argc, argv, first);
  runtime::resume_container(g.root, a.id());
  return 0;
}

}  // namespace berth::cli
