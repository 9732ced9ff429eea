#include <unistd.h>

#include <charconv>
#include <cstdio>

#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "runtime/container.hpp"

namespace berth::cli {

// `events --stats ID` prints one stats object; without --stats, one every --interval seconds
// until the container stops.
int cmd_events(const Global& g, int argc, char** argv, int first) {
  Args a("events", {{"stats", "", false}, {"interval", "", true}}, argc, argv, first);
  std::string id = a.id();
  if (a.has("stats")) {
    std::puts(runtime::container_stats(g.root, id).dump().c_str());
    return 0;
  }
  std::string iv = a.get("interval", "5");
  if (!iv.empty() && iv.back() == 's') iv.pop_back();
  unsigned secs = 0;
  auto [p, ec] = std::from_chars(iv.data(), iv.data() + iv.size(), secs);
  if (ec != std::errc() || p != iv.data() + iv.size() || secs == 0)
    throw Error("--interval: `" + a.get("interval") + "` is not a positive number of seconds");
  for (;;) {
    std::puts(runtime::container_stats(g.root, id).dump().c_str());
    std::fflush(stdout);
    ::sleep(secs);
    if (runtime::container_state(g.root, id)["status"] == "stopped") return 0;
  }
}

}  // namespace berth::cli
