#include "cli/runtime/args.hpp"
#include "cli/runtime/create_options.hpp"
#include "runtime/container.hpp"

namespace berth::cli {

int cmd_run(const Global& g, int argc, char** argv, int first) {
  auto flags = create_flags();
  flags.push_back({"detach", "d", false});
  flags.push_back({"keep", "", false});
  Args a("run", flags, argc, argv, first);
  return runtime::run_container(create_options(g, a), a.has("detach"), a.has("keep"));
}

}  // namespace berth::cli
