// berth attach: to a running container's stdio through its shim.
#include <cstdio>
#include <string>

#include "cli/berth/attach_io.hpp"
#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"

namespace berth::cli {

int cmd_attach(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("attach", {{"no-stdin", "", false}, {"sig-proxy", "", true, false, true}, {"detach-keys", "", true}}, argc, argv, first);
  AttachOptions o;
  o.sig_proxy = sig_proxy_flag(a);
  o.detach_keys = detach_keys(a);
  auto eng = make_engine(e);
  auto s = eng.attach(a.id());
  eng.emit(eng.lookup(a.id()), "attach");
  o.use_stdin = !a.has("no-stdin") && s.stdin_open;
  o.tty = s.tty;
  o.send_size = true;
  int code = attach_loop(s.conn.get(), o);
  if (code == kDetached) {
    // Docker's CLI: a detach from attach (and exec) is its "error", exit 1 (run and start -a: 0).
    std::fprintf(stderr, "read escape sequence\n");
    return 1;
  }
  if (code < 0) {
    auto c = eng.lookup(a.id());
    code = eng.state(c).exit_code;
  }
  return code;
}

}  // namespace berth::cli
