#include <charconv>

#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "runtime/container.hpp"

namespace berth::cli {

int cmd_exec(const Global& g, int argc, char** argv, int first) {
  Args a("exec",
         {{"process", "p", true},        {"tty", "t", false},           {"console-socket", "", true},
          {"detach", "d", false},        {"pid-file", "", true},        {"cwd", "", true},
          {"env", "e", true, true},      {"user", "u", true},           {"additional-gids", "g", true, true},
          {"cap", "c", true, true},      {"no-new-privs", "", false},   {"preserve-fds", "", true},
          {"process-label", "", true},   {"apparmor", "", true},        {"ignore-paused", "", false},
          {"cgroup", "", true, true},    {"no-subreaper", "", false}},
         argc, argv, first, /*stop_at_positional=*/true);
  if (a.positional().empty()) throw Error("exec: a container id is required");
  runtime::ExecOptions o;
  o.root = g.root;
  o.id = a.positional()[0];
  o.args.assign(a.positional().begin() + 1, a.positional().end());
  o.process_file = a.get("process");
  o.tty = a.has("tty");
  o.console_socket = a.get("console-socket");
  o.detach = a.has("detach");
  o.pid_file = a.get("pid-file");
  o.cwd = a.get("cwd");
  o.env = a.all("env");
  for (auto& e : o.env)
    if (e.find('=') == std::string::npos || e[0] == '=') throw Error("--env: `" + e + "` must have the form KEY=value");
  o.user = a.get("user");
  o.caps = a.all("cap");
  o.no_new_privs = a.has("no-new-privs");
  o.apparmor = a.get("apparmor");
  o.process_label = a.get("process-label");
  for (auto& gid : a.all("additional-gids")) {
    uint32_t v;
    auto [p, ec] = std::from_chars(gid.data(), gid.data() + gid.size(), v);
    if (ec != std::errc() || p != gid.data() + gid.size())
      throw Error("--additional-gids: `" + gid + "` is not a number");
    o.additional_gids.push_back(v);
  }
  if (a.has("preserve-fds")) {
    std::string v = a.get("preserve-fds");
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), o.preserve_fds);
    if (ec != std::errc() || p != v.data() + v.size() || o.preserve_fds < 0)
      throw Error("--preserve-fds: `" + v + "` is not a non-negative number");
  }
  if (!o.process_file.empty() && !o.args.empty())
    throw Error("exec: give either --process or a command, not both");
  return runtime::exec_container(o);
}

}  // namespace berth::cli
