// berth exec: a process in a running container through its shim (Engine::exec).
#include <unistd.h>

#include <cstdio>
#include <string>

#include "cli/berth/attach_io.hpp"
#include "cli/berth/commands.hpp"
#include "cli/berth/create_request.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "engine/engine.hpp"

namespace berth::cli {

int cmd_exec(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("exec",
         {{"detach", "d", false}, {"interactive", "i", false}, {"tty", "t", false}, {"env", "e", true, true},
          {"user", "u", true}, {"workdir", "w", true}, {"privileged", "", false}, {"env-file", "", true, true},
          {"detach-keys", "", true}},
         argc, argv, first, true);
  if (a.positional().size() < 2) throw Error("exec: a container and a command are required");
  if (!a.has("detach") && a.has("interactive") && a.has("tty") && !::isatty(0)) {
    std::fprintf(stderr, "berth: the input device is not a TTY\n");
    return 1;
  }
  auto eng = make_engine(e);
  engine::ExecRequest req;
  req.args.assign(a.positional().begin() + 1, a.positional().end());
  req.env = env_flags(a);
  req.user = a.get("user");
  req.workdir = a.get("workdir");
  req.tty = a.has("tty");
  req.stdin_open = a.has("interactive");
  req.detach = a.has("detach");
  req.privileged = a.has("privileged");
  if (req.tty) req.winsize = winsize_text();
  engine::ExecSession x;
  try {
    x = eng.exec(a.positional()[0], req);
  } catch (const Error& err) {
    std::fprintf(stderr, "berth: %s\n", err.what());
    // Docker: 1 when there is no such container or it does not run; 126 when the process
    // could not be started in it (no such command, user or working directory, …: exec says
    // 126 where run says 127).
    switch (err.kind()) {
      case ErrorKind::not_found:
      case ErrorKind::not_running:
      case ErrorKind::conflict:
      case ErrorKind::unavailable:
        return 1;
      default:
        return 126;
    }
  }
  if (req.detach) return 0;
  AttachOptions o;
  o.use_stdin = req.stdin_open;
  o.tty = req.tty;
  o.detach_keys = detach_keys(a);
  int code = attach_loop(x.conn.get(), o);
  if (code == kDetached) {  // the session runs on; Docker's CLI says so and exits 1
    std::fprintf(stderr, "read escape sequence\n");
    return 1;
  }
  // The shim went away without an exit frame: the container ended under the process.
  return code < 0 ? 137 : code;
}

}  // namespace berth::cli
