// Attached I/O for run, start -a, attach and exec: frames from the shim to our stdout/stderr,
// our stdin (raw on a terminal) to the shim, signals proxied, the detach keys.
#include "cli/berth/attach_io.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "engine/engine.hpp"
#include "engine/model.hpp"
#include "shim/frames.hpp"

namespace berth::cli {

namespace {

class RawTerminal {
 public:
  explicit RawTerminal(bool on) {
    if (!on || !::isatty(0) || ::tcgetattr(0, &old_) < 0) return;
    termios raw = old_;
    // Fully raw, as Docker's CLI: the container's pty does its own output processing. Ours
    // on top would turn its "\r\n" into "\r\r\n", and a full-screen program's bare "\n"
    // (a cursor down, its pty raw) into a carriage return as well.
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(0, TCSANOW, &old_);
  }

 private:
  termios old_{};
  bool active_ = false;
};

}  // namespace

std::string winsize_text() {
  winsize ws{};
  if (::ioctl(1, TIOCGWINSZ, &ws) < 0 && ::ioctl(0, TIOCGWINSZ, &ws) < 0) return "";
  return std::to_string(ws.ws_row) + " " + std::to_string(ws.ws_col);
}

// Docker's --detach-keys (engine::parse_detach_keys); a bad one is a usage error here.
std::string parse_detach_keys(const std::string& spec) {
  try {
    return engine::parse_detach_keys(spec);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

std::string detach_keys(const Args& a) {
  if (a.has("detach-keys")) return parse_detach_keys(a.get("detach-keys"));
  // The user's default: berth's client config, else Docker's (the same key).
  std::string path;
  if (const char* c = std::getenv("BERTH_CONFIG"); c && *c) {
    path = c;
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    for (const std::string& p : {std::string(home) + "/.config/berth/config.json", std::string(home) + "/.docker/config.json"})
      if (::access(p.c_str(), F_OK) == 0) {
        path = p;
        break;
      }
  }
  std::string text;
  if (path.empty() || !fs::read_file_if_exists(path, text)) return AttachOptions{}.detach_keys;
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw UsageError(path + ": not a JSON object");
  auto it = j.find("detachKeys");
  if (it == j.end()) return AttachOptions{}.detach_keys;
  if (!it->is_string()) throw UsageError(path + ": detachKeys must be a string");
  try {
    return parse_detach_keys(it->get<std::string>());
  } catch (const UsageError& e) {
    throw UsageError(path + ": detachKeys: " + e.what());
  }
}

// Returns the exit code, kDetached when the user typed the detach keys, or -1 when the shim
// went away without an exit code.
int attach_loop(int sock, const AttachOptions& o) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGWINCH);
  if (o.sig_proxy)
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
  ::sigprocmask(SIG_BLOCK, &set, &old);
  UniqueFd sfd(::signalfd(-1, &set, SFD_CLOEXEC));
  RawTerminal raw(o.tty && o.use_stdin);
  if (o.tty && o.send_size) {
    std::string ws = winsize_text();
    if (!ws.empty()) shim::send_frame(sock, shim::kResize, ws);
  }
  // The detach keys are looked for in what we read from a terminal; bytes that begin the
  // sequence wait until it is complete (we leave) or broken (they go to the container).
  const std::string keys = o.tty ? o.detach_keys : "";
  std::string held;
  bool stdin_open = o.use_stdin;
  shim::FrameReader frames;
  // Frames to the shim go through a queue, never a blocking write (FrameQueue): the output
  // keeps being read while a large stdin waits for the container to take it.
  shim::FrameQueue to_shim;
  int code = -1;
  char buf[65536];
  for (;;) {
    const bool read_stdin = stdin_open && to_shim.pending() < shim::FrameQueue::kQueueHigh;
    pollfd p[3] = {{sock, static_cast<short>(POLLIN | (to_shim.pending() ? POLLOUT : 0)), 0},
                   {sfd.get(), POLLIN, 0},
                   {read_stdin ? 0 : -1, POLLIN, 0}};
    if (::poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    // A failed send is not the end: the shim may have closed its side after the process
    // exited, with the output and the exit frame still to read (what waited is dropped).
    if (p[0].revents & POLLOUT) to_shim.flush(sock);
    if (p[1].revents & POLLIN) {
      signalfd_siginfo si{};
      if (::read(sfd.get(), &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGWINCH) {
          std::string ws = winsize_text();
          if (!ws.empty()) to_shim.push(shim::kResize, ws);
        } else {
          to_shim.push(shim::kSignal, std::to_string(si.ssi_signo));
        }
      }
    }
    if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n > 0) {
        std::string out;
        bool detach = false;
        for (ssize_t i = 0; i < n && !detach; ++i) {
          const char b = buf[i];
          if (!keys.empty() && b == keys[held.size()]) {
            held += b;
            detach = held.size() == keys.size();
            continue;
          }
          if (!held.empty()) {
            out += held;
            held.clear();
            if (!keys.empty() && b == keys[0]) {
              held += b;
              continue;
            }
          }
          out += b;
        }
        if (!out.empty()) to_shim.push(shim::kStdin, out);
        if (detach) {
          code = kDetached;
          break;
        }
      } else if (n == 0 || errno != EINTR) {
        stdin_open = false;
        if (!o.tty) to_shim.push(shim::kStdinClose, "");
      }
    }
    if (to_shim.pending()) to_shim.flush(sock);
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(sock, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      frames.feed({buf, static_cast<size_t>(n)});
      while (auto f = frames.next()) {
        if ((f->type == shim::kStdout && o.out) || (f->type == shim::kStderr && o.err)) {
          try {
            fs::write_fd(f->type == shim::kStdout ? 1 : 2, f->data, "output");
          } catch (const Error&) {
          }
        } else if (f->type == shim::kExit) {
          code = std::atoi(f->data.c_str());
        }
      }
      if (code >= 0) break;
    }
  }
  // Detached: what still waits goes (the keystrokes before the detach keys), for up to a second.
  for (int i = 0; code == kDetached && i < 10 && to_shim.pending(); ++i) {
    pollfd q{sock, POLLOUT, 0};
    ::poll(&q, 1, 100);
    if (!to_shim.flush(sock)) break;
  }
  // The frame partly sent goes whole, the rest is dropped: the owner's `done` comes next on
  // this socket, and must not be read as the rest of a piece of stdin.
  to_shim.finish(sock, 2000);
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  return code;
}

// --sig-proxy true|false (Docker's default: true).
bool sig_proxy_flag(const Args& a) {
  const std::string v = a.get("sig-proxy", "true");
  if (v != "true" && v != "false") throw UsageError("invalid --sig-proxy `" + v + "`: true or false");
  return v == "true";
}

// Docker's exit codes for a container that could not run its command (127: it does not
// exist, 126: it cannot be executed), from the error's kind; `otherwise` for the rest (125
// for run/create/start, 1 for exec).
int command_failure_code(const std::exception& e, int otherwise) {
  const auto* err = dynamic_cast<const Error*>(&e);
  if (!err) return otherwise;
  if (err->kind() == ErrorKind::command_not_found) return 127;
  if (err->kind() == ErrorKind::command_not_executable) return 126;
  return otherwise;
}

int run_attached(engine::Engine& eng, const engine::Container& c, const AttachOptions& o, bool rm, bool owner) {
  UniqueFd sock;
  engine::Refill refill;
  eng.emit(c, "attach");  // Docker's event: the client attaches, then starts
  try {
    sock = eng.start(c.id(), owner, o.tty ? winsize_text() : "", &refill, true);
  } catch (const Error& e) {
    std::fprintf(stderr, "berth: %s\n", e.what());
    if (rm) eng.cleanup(c.id(), true);
    return command_failure_code(e, 125);
  }
  int code = attach_loop(sock.get(), o);
  log::debug("exit code " + std::to_string(code) + " received");
  // Detached: the container runs on; its shim, left without an owner, cleans up when it ends
  // (--rm included), as after a killed berth.
  if (code == kDetached) return 0;
  if (owner) {
    // The records go now; the shim, still waiting for this word, unmounts and removes the
    // directories after we have returned the exit code.
    std::vector<std::string> deferred;
    eng.cleanup(c.id(), rm, false, code >= 0 ? &deferred : nullptr);
    std::string done;
    for (auto& l : deferred) done += l + "\n";
    shim::send_frame(sock.get(), shim::kDone, done);
    eng.refill_spares(refill);
  }
  if (code < 0) {
    auto cc = eng.lookup(c.id());
    code = eng.state(cc).exit_code;
  }
  return code;
}

// -a/--attach (stdin, stdout, stderr), --sig-proxy, --detach-keys of run/start/attach/exec.
AttachOptions attach_options(const Args& a, bool use_stdin, bool tty) {
  AttachOptions o;
  o.use_stdin = use_stdin;
  o.tty = tty;
  if (a.has("sig-proxy")) o.sig_proxy = sig_proxy_flag(a);
  o.detach_keys = detach_keys(a);
  if (a.has("attach") && !a.all("attach").empty() && a.all("attach")[0] != "") {
    o.out = o.err = false;
    bool in = false;
    for (auto s : a.all("attach")) {
      for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (s == "stdin") in = true;
      else if (s == "stdout") o.out = true;
      else if (s == "stderr") o.err = true;
      else throw UsageError("invalid -a/--attach `" + s + "`: stdin, stdout or stderr");
    }
    o.use_stdin = o.use_stdin && in;
  }
  return o;
}

}  // namespace berth::cli
