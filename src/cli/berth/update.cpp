// berth update: new resource limits and restart policy for containers.
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/berth/create_request.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"

namespace berth::cli {

using nlohmann::json;

// Docker's update: new limits and restart policy for containers, running or not.
int cmd_update(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("update",
                      {{"memory", "m", true}, {"memory-swap", "", true}, {"cpus", "", true}, {"cpu-shares", "c", true},
                       {"cpuset-cpus", "", true}, {"pids-limit", "", true}, {"restart", "", true},
                       {"cpu-period", "", true}, {"cpu-quota", "", true}, {"cpu-rt-period", "", true},
                       {"cpu-rt-runtime", "", true}, {"cpuset-mems", "", true}, {"memory-reservation", "", true},
                       {"kernel-memory", "", true}, {"blkio-weight", "", true}},
                      argc, argv, first);
  if (a.positional().empty()) throw UsageError("update: at least one container is required");
  json changes = json::object();
  resource_flags(a, changes);
  if (a.has("restart")) changes["RestartPolicy"] = restart_flag(a.get("restart"));
  if (changes.empty())
    throw UsageError("update: nothing to change (--memory, --memory-swap, --memory-reservation, --cpus, --cpu-shares, "
                     "--cpu-period, --cpu-quota, --cpu-rt-period, --cpu-rt-runtime, --cpuset-cpus, --cpuset-mems, "
                     "--pids-limit, --blkio-weight, --restart)");
  auto eng = make_engine(e);
  return for_each_container(a.positional(), [&](const std::string& ref) { eng.update(ref, changes); });
}

}  // namespace berth::cli
