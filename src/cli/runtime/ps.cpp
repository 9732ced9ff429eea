#include <cstdio>

#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "runtime/container.hpp"

namespace berth::cli {

int cmd_ps(const Global& g, int argc, char** argv, int first) {
  Args a("ps", {{"format", "f", true}}, argc, argv, first, /*stop_at_positional=*/true);
  if (a.positional().empty()) throw Error("ps: a container id is required");
  std::string format = a.get("format", "table");
  if (format != "table" && format != "json") throw Error("ps: --format must be table or json");
  auto pids = runtime::container_pids(g.root, a.positional()[0]);
  if (format == "json") {
    std::puts(nlohmann::json(pids).dump().c_str());
    return 0;
  }
  std::printf("%-8s %s\n", "PID", "CMD");
  for (pid_t p : pids) {
    std::string cmd;
    fs::read_file_if_exists("/proc/" + std::to_string(p) + "/cmdline", cmd);
    for (auto& c : cmd)
      if (c == '\0') c = ' ';
    while (!cmd.empty() && cmd.back() == ' ') cmd.pop_back();
    std::printf("%-8d %s\n", p, cmd.c_str());
  }
  return 0;
}

}  // namespace berth::cli
