// berth port: the container's published ports.
#include <cstdio>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "engine/engine.hpp"

namespace berth::cli {

using nlohmann::json;

int cmd_port(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("port", {}, argc, argv, first);
  if (a.positional().empty() || a.positional().size() > 2) throw Error("port: CONTAINER [PRIVATE_PORT[/PROTO]]");
  auto eng = make_engine(e);
  engine::Container c = eng.lookup(a.positional()[0]);
  std::string want;
  if (a.positional().size() == 2) {
    want = a.positional()[1];
    if (want.find('/') == std::string::npos) want += "/tcp";
  }
  const json ports = c.data.value("NetworkSettings", json::object()).value("Ports", json::object());
  bool found = false;
  for (auto& [key, binds] : ports.items()) {
    if (!want.empty() && key != want) continue;
    if (!binds.is_array()) continue;
    for (auto& b : binds) {
      found = true;
      std::string where = b.value("HostIp", "") + ":" + b.value("HostPort", "");
      if (want.empty()) std::printf("%s -> %s\n", key.c_str(), where.c_str());
      else std::puts(where.c_str());
    }
  }
  if (!want.empty() && !found) throw Error("no public port '" + want + "' published for " + c.rec.name);
  return 0;
}

}  // namespace berth::cli
