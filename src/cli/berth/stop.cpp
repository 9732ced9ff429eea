// berth stop: the stop signal, then SIGKILL after the timeout.
#include <cstdlib>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"

namespace berth::cli {

int cmd_stop(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("stop", {{"time", "t", true}, {"timeout", "", true}}, argc, argv, first);
  if (a.positional().empty()) throw Error("stop: a container is required");
  int t = -1;
  if (a.has("time") || a.has("timeout")) {
    std::string v = a.get("time", a.get("timeout"));
    char* end = nullptr;
    long x = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end) throw Error("stop: invalid --time `" + v + "`");
    t = static_cast<int>(x);
  }
  auto eng = make_engine(e);
  return for_each_container(a.positional(), [&](const std::string& ref) {
    eng.stop(ref, t);
  });
}

}  // namespace berth::cli
