#include <cstdio>

#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "runtime/container.hpp"

namespace berth::cli {

int cmd_list(const Global& g, int argc, char** argv, int first) {
  Args a("list", {{"quiet", "q", false}, {"format", "f", true}}, argc, argv, first);
  if (!a.positional().empty()) throw Error("list: unexpected argument `" + a.positional()[0] + "`");
  std::string format = a.get("format", "table");
  if (format != "table" && format != "json") throw Error("list: --format must be table or json");
  auto entries = runtime::list_containers(g.root);
  if (a.has("quiet")) {
    for (auto& e : entries) std::printf("%s\n", e.state.id.c_str());
    return 0;
  }
  if (format == "json") {
    nlohmann::json arr = nlohmann::json::array();
    for (auto& e : entries) {
      bool stopped = e.status == runtime::Status::stopped;
      arr.push_back({{"ociVersion", "1.2.0"},
                     {"id", e.state.id},
                     {"pid", stopped ? 0 : e.state.pid},
                     {"status", runtime::status_name(e.status)},
                     {"bundle", e.state.bundle},
                     {"rootfs", e.state.rootfs},
                     {"created", e.state.created},
                     {"annotations", e.state.annotations},
                     {"owner", e.state.owner == 0 ? "root" : std::to_string(e.state.owner)}});
    }
    std::puts(arr.dump().c_str());
    return 0;
  }
  std::printf("%-20s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED",
              "OWNER");
  for (auto& e : entries) {
    bool stopped = e.status == runtime::Status::stopped;
    std::printf("%-20s %-8d %-10s %-40s %-30s %s\n", e.state.id.c_str(),
                stopped ? 0 : e.state.pid, runtime::status_name(e.status),
                e.state.bundle.c_str(), e.state.created.c_str(),
                e.state.owner == 0 ? "root" : std::to_string(e.state.owner).c_str());
  }
  return 0;
}

}  // namespace berth::cli
