// berth start: detached, or attached (-a, -i) as run does.
#include <cstdio>
#include <string>

#include "cli/berth/attach_io.hpp"
#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"

namespace berth::cli {

using nlohmann::json;

int cmd_start(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("start", {{"attach", "a", false}, {"interactive", "i", false}, {"detach-keys", "", true}}, argc, argv, first);
  if (a.positional().empty()) throw Error("start: a container is required");
  auto eng = make_engine(e);
  if (a.has("attach")) {
    if (a.positional().size() > 1) throw Error("start: --attach takes one container");
    auto c = eng.lookup(a.positional()[0]);
    const engine::ContainerConfig cfg = c.config();
    const engine::HostConfig host = c.host_config();
    const bool rm = host.auto_remove;
    const bool owner = engine::restart_policy(host).name == "no";
    AttachOptions o;
    o.use_stdin = a.has("interactive") && cfg.open_stdin;
    o.tty = cfg.tty;
    o.detach_keys = detach_keys(a);
    return run_attached(eng, c, o, rm, owner);
  }
  return for_each_container(a.positional(), [&](const std::string& ref) {
    // Docker: starting a running container is no error (the API's 304); its name is printed.
    // Also when it ran only by the time its lock was ours (a start under way elsewhere).
    engine::Container c = eng.lookup(ref);
    if (eng.state(c).running()) return;
    try {
      eng.start(ref, false);
    } catch (const engine::AlreadyRunning&) {
    }
  });
}

// What Docker's daemon does as it comes up, for a host without one: the containers whose
// restart policy wants them running are started (Engine::autostart). A boot unit runs it
// (contrib/systemd/berth-autostart.service); berthd does it itself when it starts.
int cmd_system_autostart(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("system autostart", {}, argc, argv, first);
  if (!a.positional().empty()) throw Error(ErrorKind::invalid_argument, "\"berth system autostart\" accepts no arguments");
  const auto r = make_engine(e).autostart();
  for (const std::string& name : r.started) std::puts(name.c_str());
  std::fflush(stdout);
  for (const auto& [name, why] : r.failed) std::fprintf(stderr, "berth: system autostart: %s: %s\n", name.c_str(), why.c_str());
  return r.failed.empty() ? 0 : 1;
}

}  // namespace berth::cli
