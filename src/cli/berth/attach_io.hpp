// Attached I/O (attach_io.cpp), shared by run, start, attach and exec.
#pragma once

#include <exception>
#include <string>

#include "cli/runtime/args.hpp"
#include "engine/engine.hpp"

namespace berth::cli {

struct AttachOptions {
  bool use_stdin = false, tty = false;
  bool send_size = false;    // tell the shim our terminal size first (attach to a running one)
  bool sig_proxy = true;     // signals to us go to the container (else they act on us)
  bool out = true, err = true;  // which output streams to print (-a)
  std::string detach_keys = "\x10\x11";  // ctrl-p,ctrl-q; only with a terminal
};

// attach_loop's result when the user typed the detach keys.
constexpr int kDetached = -2;

// "ROWS COLS" of our terminal, "" without one.
std::string winsize_text();
// Docker's --detach-keys: "ctrl-p,ctrl-q" (the default), ctrl-a … ctrl-z, ctrl-@ [ \ ] ^ _, or
// single characters, comma-separated. The bytes of the sequence.
std::string parse_detach_keys(const std::string& spec);
// The detach keys of a command: --detach-keys, else the user's default — "detachKeys" in
// $BERTH_CONFIG, ~/.config/berth/config.json or Docker's ~/.docker/config.json (the first that
// exists) —, else ctrl-p,ctrl-q. A bad value names where it came from.
std::string detach_keys(const Args& a);
// Relays between our stdio and the shim connection `sock` until the process ends. Returns
// the exit code, kDetached when the user typed the detach keys, or -1 when the shim went
// away without an exit code.
int attach_loop(int sock, const AttachOptions& o);
// --sig-proxy true|false (Docker's default: true).
bool sig_proxy_flag(const Args& a);
// Docker's exit codes for a container that could not run its command (127: it does not
// exist, 126: it cannot be executed), from the error's kind; `otherwise` for the rest (125
// for run/create/start, 1 for exec).
int command_failure_code(const std::exception& e, int otherwise);
// Starts container `c` attached (the foreground run, start -a): its exit code. With `owner`,
// this process cleans up after the exit (with `rm`, removes it).
int run_attached(engine::Engine& eng, const engine::Container& c, const AttachOptions& o, bool rm, bool owner);
// -a/--attach (stdin, stdout, stderr), --sig-proxy, --detach-keys of run/start/attach/exec.
AttachOptions attach_options(const Args& a, bool use_stdin, bool tty);

}  // namespace berth::cli
