// berth-shim: the monitor of one container (see protocol.hpp for what it leaves on disk).
//
//   berth-shim STATE_DIR CTRL_FD
//
// Started by berth ahead of the container's spec (spawn.hpp), it detaches (double fork, own
// session, subreaper) and waits on CTRL_FD for the word to go; then it creates and starts the
// container —
// through the runtime library in a short-lived helper child, or by running an external OCI
// runtime — holds its stdio (pipes, or the pty master with a terminal), writes its log in
// Docker's json-file format, records each exit, applies the restart policy and serves a
// control socket (attach, signal, stop, wait, exec). CTRL_FD receives "ok PID\n" or
// "error MSG\n" once the container runs. The word to go may carry an already attached owner
// connection (berth run in the foreground) and a gate, the word to start on (protocol.hpp).
//
// Memory: the parent never runs the runtime code itself (the helper child does), so it touches
// little more than this loop.
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <optional>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "events/events.hpp"
#include "logs/json_file.hpp"
#include "common/time.hpp"
#include "runtime/cgroup.hpp"
#include "runtime/container.hpp"
#include "runtime/exe_seal.hpp"
#include "runtime/process.hpp"
#include "runtime/signals.hpp"
#include "runtime/terminal.hpp"
#include "shim/dns.hpp"
#include "shim/spawn.hpp"
#include "shim/frames.hpp"
#include "shim/files.hpp"
#include "shim/protocol.hpp"

using namespace berth;

namespace {

using shim::Orders;




void shed_text();
UniqueFd listen_unix(const std::string& dir, const char* name);

// Bytes bound for a process's stdin (a pipe or its terminal): written without blocking, the
// rest kept here and written when the fd takes more (POLLOUT). Above kStdinHigh its clients are
// not read: the sender waits, as with a pipe. A blocking write here would stall the whole
// shim — and with the process blocked on its own full stdout, never end.
struct StdinQueue {
  std::string buf;
  bool close_when_empty = false;  // its close was asked while bytes were still waiting
};
inline constexpr size_t kStdinHigh = 1 << 20;

// Writes what `fd` takes now; what it refuses for good (the reader is gone) is dropped.
void pump_stdin(int fd, StdinQueue& q) {
  while (!q.buf.empty()) {
    ssize_t w = ::write(fd, q.buf.data(), q.buf.size());
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return;
    if (w <= 0) {
      q.buf.clear();
      return;
    }
    q.buf.erase(0, static_cast<size_t>(w));
  }
}

// Reads of one output stream per turn of the serve loop (32 KiB each).
constexpr int kReadsPerTurn = 16;
// Reads of what an ended process left in a stream (32 KiB each): more than a pipe holds
// (fs.pipe-max-size, 1 MiB), but a bound — a background process of its may write on without end.
constexpr int kReadsAtExit = 40;

struct Client {
  UniqueFd fd;
  std::string in;         // the request line, until it is complete
  shim::FrameReader frames;  // then frames
  bool has_request = false;
  bool attached = false, owner = false, waiting = false;
  bool exec = false;      // an exec client: its own process's stream, not the container's
  int exec_id = 0;        // its process (Shim::Exec::id), once started
  bool done = false;      // owner said it cleaned up
  std::string leftovers;  // with its done: "umount PATH" / "rm PATH" lines left to us
  // Frames the socket did not take yet (output, exit codes): sent as it takes more, never
  // blocking the shim's loop on a client that stopped reading (a CLI suspended with Ctrl-Z
  // kept every other caller — stop, kill, exec — waiting). Over kQueueHigh the output it
  // waits for is not read: the container's writes wait instead, as with Docker's attach.
  shim::FrameQueue out;
  bool close_when_sent = false;  // closed once `out` is sent (an exec's exit, a detach)
};

class Shim {
 public:
  // `gate_fd`: the first start waits for "g" on it (berth sets up the network meanwhile).
  // The log file exists before the container starts (a reader right after `start` — the
  // kubelet, critest — opens it at once).
  Shim(std::string dir, Orders o, int gate_fd) : dir_(std::move(dir)), o_(std::move(o)), gate_fd_(gate_fd) {
    if (!o_.log_path.empty())
      log_ = std::make_unique<logs::Writer>(o_.log_path, o_.log_max_size, o_.log_max_files,
                                            o_.log_cri ? logs::Format::cri : logs::Format::json_file, o_.log_attrs,
                                            o_.log_compress);
  }

  // Creates and starts the container; returns its pid or throws.
  pid_t launch();
  // The container's DNS server (on a user network), served with the control socket.
  void set_dns(std::unique_ptr<shim::dns::Server> d) { dns_ = std::move(d); }
  // Serves until the container is gone for good; returns the process exit code of the shim.
  void serve(UniqueFd listen_fd);
  // The zombies among our children that are neither the container's init nor an exec's
  // process nor `running` (see g_while_waiting).
  void reap_strays(pid_t running);
  void add_client(UniqueFd fd, bool owner) {
    Client c;
    c.fd = std::move(fd);
    c.has_request = true;
    c.attached = true;
    c.owner = owner;
    clients_.push_back(std::move(c));
  }

 private:
  void open_stdio();
  // What a stream has to give, at most `max_reads` reads of it: the serve loop's turn, so that
  // a container writing without pause (`yes ''`) cannot keep the shim from its control socket.
  void on_output(int fd, uint8_t type, int max_reads);
  void broadcast(uint8_t type, const char* data, size_t n);
  // A frame to a client: sent now as far as its socket takes it, the rest queued (Client::out).
  static void send(Client& c, uint8_t type, std::string_view data);
  // Closes the client once what is queued for it is sent.
  static void finish(Client& c);
  // Sends what the client's socket takes now of its queue (POLLOUT); closes it when the peer
  // is gone, or when all is sent and finish() asked for it.
  static void flush(Client& c);
  // Whether a client that gets the container's output (or exec `x`'s) has too much queued:
  // that output is not read until it takes some.
  bool output_backed_up() const;
  // Sends what clients have queued, for at most `ms`; then closes those that asked for it.
  void flush_clients(int ms);
  void on_client(Client& c);
  bool handle_frame(Client& c, uint8_t type, const std::string& data);
  void reap();
  void drain_output();
  void finish_exit(int code);
  void runtime_delete();
  // Sends `sig` to the container's init; what went wrong, or "". An external runtime's own
  // `kill` does it (a sandbox's pid is not the process the signal is meant for).
  std::string signal_container(int sig);
  bool should_restart(int code);
  // Exec sessions: processes started in the container for a client ("exec").
  struct Exec {
    int id = 0;
    pid_t pid = 0;
    UniqueFd out, err, master, in_w;
    StdinQueue in_q;
    bool exited = false;
    int code = 0;
    std::string cmd;  // for its events
    bool probe = false;  // the health check's: its output is the probe's
  };
  // The health check (o_.health): one probe at a time, an exec session of the shim's own,
  // scheduled on the monotonic clock while the container runs and is not paused.
  struct Probe {
    int exec_id = 0;
    int64_t start = 0;       // unix ns, for its result
    int64_t start_mono = 0;  // the same on the monotonic clock, for the start period
    int64_t deadline = 0;  // monotonic ns: killed then
    std::string out;
    bool cut = false, timed_out = false;
    bool cancelled = false;  // the container was paused meanwhile: no result
  };
  bool frozen_ = false;  // the engine is pausing the container, or has
  std::optional<Probe> probe_;
  int64_t next_probe_ = 0;        // monotonic ns; 0: none due
  int64_t run_started_mono_ = 0;  // this run's start, for the start period
  shim::Health health_;
  void health_reset();           // at each start
  // Probing stops (an exit, a pause): unhealthy, as Docker's daemon says then "for
  // compatibility" — until a probe after a start or an unpause says otherwise.
  void health_stopped();
  void schedule_probe();
  void start_probe();
  void finish_probe(int code, const std::string& error);
  // Timeouts and due probes; the ms until the next such moment (-1: none).
  int probe_tick();
  // A container event with the orders' attributes and `extra`, if events are kept.
  void event(const std::string& action, std::map<std::string, std::string> extra = {});
  // Starts the process an exec spec asks for (its pipes or terminal in `x`); throws Error.
  void spawn_exec(const nlohmann::json& j, Exec& x);
  void start_exec(Client& c, const std::string& spec);
  Client* exec_client(int id);
  bool exec_backed_up(const Exec& x);
  void exec_output(Exec& x, UniqueFd& fd, uint8_t type, int max_reads);
  void finish_execs();

  std::string dir_;
  Orders o_;
  int gate_fd_ = -1;
  pid_t pid_ = 0;
  UniqueFd out_, err_, master_, stdin_w_;
  StdinQueue in_q_;  // the container's stdin
  std::unique_ptr<shim::dns::Server> dns_;
  // The stdin a client's frames go to (nullptr: its process is gone).
  StdinQueue* stdin_of(const Client& c);
  // The fd a stdin is written to: the terminal, else the pipe (-1: none now).
  int stdin_fd() const { return master_ ? master_.get() : stdin_w_.get(); }
  static int stdin_fd(const Exec& x) { return x.master ? x.master.get() : x.in_w.get(); }
  void stdin_write(StdinQueue& q, int fd, std::string_view data);
  void stdin_close(StdinQueue& q, UniqueFd* pipe);
  UniqueFd child_stdin_, child_out_, child_err_, console_peer_;
  std::unique_ptr<logs::Output> log_;  // the log file, or the syslog once launch() connected
  std::string pend_out_, pend_err_;
  std::vector<Client> clients_;
  std::vector<Exec> execs_;
  int exec_seq_ = 0;
  bool exited_ = false, stopping_ = false;
  int restarts_ = 0;
};

void Shim::open_stdio() {
  int p[2];
  if (o_.terminal) {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0) throw_errno("socketpair");
    console_peer_.reset(p[0]);
    child_out_.reset(p[1]);  // the helper sends the pty master through this
    return;
  }
  if (o_.stdin_open) {
    if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
    child_stdin_.reset(p[0]);
    stdin_w_.reset(p[1]);
  }
  if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
  out_.reset(p[0]);
  child_out_.reset(p[1]);
  if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
  err_.reset(p[0]);
  child_err_.reset(p[1]);
}

// Called while run_command waits, with the command's pid: the shim reaps the children that
// are none of its own meanwhile (a sandbox runtime's gofer and helpers end up ours, as the
// subreaper, and its `delete` waits for them to be gone — a zombie is not).
void (*g_while_waiting)(pid_t running) = nullptr;

// Runs `argv` and waits; returns its exit status and what it wrote on stderr. Without
// capture, the command keeps our stderr (a runtime's `create` hands it to the container).
// With a timeout (ms), a command still running then is killed with its process group and
// berth::Error says so.
int run_command(const std::vector<std::string>& argv, std::string& err_out, bool capture = true, int timeout_ms = 0) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    if (capture) ::dup2(p[1], 2);
    ::setpgid(0, 0);  // what it starts and leaves hanging goes with it at a timeout
    runtime::reset_signals();  // an external runtime's container must not inherit SIGINT ignored
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execvp(a[0], a.data());
    dprintf(2, "exec %s: %s", a[0], std::strerror(errno));
    _exit(127);
  }
  ::close(p[1]);
  UniqueFd out(p[0]), done(runtime::pidfd_open(pid));
  int status = 0;
  const int64_t deadline = timeout_ms > 0 ? now_ns() + int64_t{timeout_ms} * 1000000 : 0;
  for (;;) {
    if (deadline && now_ns() > deadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      throw Error(ErrorKind::internal, argv[0] + " " + [&] {
        for (size_t i = 1; i < argv.size(); ++i)  // the command's verb, past the global flags
          for (const char* verb : {"create", "run", "start", "exec", "kill", "delete"})
            if (argv[i] == verb) return argv[i];
        return std::string("");
      }() + " did not finish within " + std::to_string(timeout_ms / 1000) + " s: killed");
    }
    if (!done) {  // no pidfd (a kernel before 5.3): the command's end, blocking
      char buf[4096];
      ssize_t n;
      while ((n = ::read(out.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) err_out.append(buf, static_cast<size_t>(n));
      break;
    }
    pollfd pf[2] = {{out.get(), POLLIN, 0}, {done.get(), POLLIN, 0}};
    const int r = ::poll(pf, 2, 100);
    if (r < 0 && errno != EINTR) throw_errno("poll");
    if (r == 0 && g_while_waiting) g_while_waiting(pid);
    if (out && (pf[0].revents & (POLLIN | POLLHUP))) {
      char buf[4096];
      const ssize_t n = ::read(out.get(), buf, sizeof buf);
      if (n > 0) err_out.append(buf, static_cast<size_t>(n));
      else if (n == 0 || errno != EINTR) out.reset();  // poll ignores a negative fd
    }
    if (pf[1].revents & POLLIN) {
      // Exited: what it wrote is in the pipe (a process it left behind may hold the pipe).
      if (out) {
        ::fcntl(out.get(), F_SETFL, O_NONBLOCK);
        char buf[4096];
        ssize_t n;
        while ((n = ::read(out.get(), buf, sizeof buf)) > 0) err_out.append(buf, static_cast<size_t>(n));
      }
      break;
    }
  }
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  while (!err_out.empty() && (err_out.back() == '\n' || err_out.back() == ' ')) err_out.pop_back();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The helper child: container stdio on 0-2, create (+ start), report through `report`.
// It creates, says "created PID", waits for a byte on `go` (the shim sets the terminal size
// in between), starts and says "ok" — or says "error MSG" at any point.
// An external runtime (runc, crun) says why a create or start failed only in words; the words
// all of them use for a missing or unusable command give its kind here, where the text comes
// in (the daemons of Docker and Podman read runc's messages the same way).
ErrorKind foreign_runtime_kind(const std::string& why) {
  auto has = [&](std::initializer_list<const char*> words) {
    return std::any_of(words.begin(), words.end(), [&](const char* w) { return why.find(w) != std::string::npos; });
  };
  // Only words about running the command (runc: `exec: "x": …`, crun: "executable file `x`
  // not found", runsc: "error finding executable", "failed to load /x"): a runtime that
  // cannot open one of its own files is no missing command.
  if (!has({"exec: \"", "exec `", "executable", "failed to load"})) return ErrorKind::internal;
  if (has({"not found", "no such file or directory", "No such file or directory"})) return ErrorKind::command_not_found;
  // (crun on a directory: "open executable: Operation not permitted")
  if (has({"permission denied", "Permission denied", "exec format error", "is a directory", "Operation not permitted"}))
    return ErrorKind::command_not_executable;
  return ErrorKind::internal;
}

// What to do about a runtime's failure, when its words are known to need a setting.
std::string runtime_hint(const std::string& why) {
  if (why.find("cannot run with network enabled in root network namespace") != std::string::npos)
    return " (runsc: give it --network=host in the runtime's runtimeArgs: it then uses the container's network namespace)";
  return "";
}

// An external runtime's command line: its path, its global flags, --root, then `cmd`.
std::vector<std::string> runtime_argv(const Orders& o, std::vector<std::string> cmd) {
  std::vector<std::string> argv = {o.runtime};
  argv.insert(argv.end(), o.runtime_args.begin(), o.runtime_args.end());
  argv.insert(argv.end(), {"--root", o.runtime_root});
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  return argv;
}

// Why an external runtime failed: the last error of its JSON log (--log-format json), where
// a command that hands its stdio to the container's process writes it.
std::string runtime_log_error(const std::string& log_file) {
  std::string log_text, why;
  fs::read_file_if_exists(log_file, log_text);
  size_t pos = 0;
  while (pos < log_text.size()) {
    size_t nl = log_text.find('\n', pos);
    auto j = nlohmann::json::parse(log_text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos),
                                   nullptr, false);
    if (j.is_object() && j.value("level", "") == "error") why = j.value("msg", "");
    pos = nl == std::string::npos ? log_text.size() : nl + 1;
  }
  return why;
}

// The runtime-spec process an exec request asks for, for an external runtime's
// `exec --process`: the container's process (config.json) with the request's command, tty,
// size, working directory, environment (over the container's), user, groups and added
// capabilities (never inheritable). What the runtime library does for its own exec.
nlohmann::json exec_process(const std::string& bundle, const nlohmann::json& req) {
  auto spec = nlohmann::json::parse(fs::read_file(bundle + "/config.json"), nullptr, false);
  nlohmann::json p = spec.is_object() && spec.contains("process") ? spec["process"] : nlohmann::json::object();
  p["args"] = req["args"];
  p["terminal"] = req.value("tty", false);
  p.erase("consoleSize");
  unsigned rows = 0, cols = 0;
  if (p["terminal"] == true && std::sscanf(req.value("winsize", "").c_str(), "%u %u", &rows, &cols) == 2 && rows && cols)
    p["consoleSize"] = {{"height", rows}, {"width", cols}};
  if (!req.value("cwd", "").empty()) p["cwd"] = req["cwd"];
  if (req.contains("env")) {
    auto& env = p["env"];
    if (!env.is_array()) env = nlohmann::json::array();
    for (const auto& kv : req["env"]) {
      const std::string e = kv.get<std::string>();
      if (e.find('=') == std::string::npos) {  // a bare name unsets (Docker's exec -e NAME, NAME unset)
        nlohmann::json kept = nlohmann::json::array();
        for (auto& have : env)
          if (!have.is_string() || have.get<std::string>().rfind(e + "=", 0) != 0) kept.push_back(have);
        env = std::move(kept);
        continue;
      }
      const std::string key = e.substr(0, e.find('=') + 1);
      bool set = false;
      for (auto& have : env)
        if (have.is_string() && have.get<std::string>().compare(0, key.size(), key) == 0) {
          have = e;
          set = true;
          break;
        }
      if (!set) env.push_back(e);
    }
  }
  if (const std::string u = req.value("user", ""); !u.empty()) {
    const auto colon = u.find(':');
    p["user"]["uid"] = std::stoul(u.substr(0, colon));
    p["user"]["gid"] = colon == std::string::npos ? 0ul : std::stoul(u.substr(colon + 1));
    p["user"].erase("additionalGids");
  }
  if (req.contains("additional_gids") && !req["additional_gids"].empty()) p["user"]["additionalGids"] = req["additional_gids"];
  if (req.contains("caps"))
    for (const char* set : {"bounding", "effective", "permitted"}) {
      auto& have = p["capabilities"][set];
      if (!have.is_array()) have = nlohmann::json::array();
      for (const auto& c : req["caps"])
        if (std::find(have.begin(), have.end(), c) == have.end()) have.push_back(c);
    }
  return p;
}

[[noreturn]] void helper(const Orders& o, const std::string& dir, int in, int out, int err,
                         int console, int report, int go, bool gated) {
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  ::dup2(in >= 0 ? in : devnull, 0);
  ::dup2(o.terminal ? devnull : out, 1);
  ::dup2(o.terminal ? devnull : err, 2);
  std::string msg;
  auto created = [&](pid_t pid) {
    std::string line = "created " + std::to_string(pid) + "\n";
    fs::write_all(report, line);
    char b = 0;
    ssize_t n;
    while ((n = ::read(go, &b, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1 || b != 'g') throw Error("start cancelled");
  };
  try {
    log::init(dir + "/shim.log", log::Format::text, false, "berth-shim");
    if (o.runtime.empty()) {
      runtime::CreateOptions c;
      c.root = o.runtime_root;
      c.id = o.id;
      c.bundle = o.bundle;
      c.console_fd = o.terminal ? console : -1;
      c.parent_death_signal = SIGKILL;  // the container dies with its shim
      pid_t pid = runtime::create_container(c);
      created(pid);
      runtime::start_container(o.runtime_root, o.id);
      msg = "ok";
    } else {
      const std::string log_file = dir + "/runtime.log";
      // Nothing to do between create and start (no network to attach on berth's word, no
      // terminal to size): `run --detach`, one runtime process instead of two (runsc's start
      // alone costs ~80 ms here, runc's ~25).
      const bool one_step = !gated && !o.terminal;
      std::vector<std::string> argv = runtime_argv(o, {"--log", log_file, "--log-format", "json", one_step ? "run" : "create"});
      if (one_step) argv.push_back("--detach");
      argv.insert(argv.end(), {"--bundle", o.bundle, "--pid-file", dir + "/runtime.pid"});
      // Relative to the state dir (our cwd from here on): its path may not fit in sun_path.
      if (::chdir(dir.c_str()) < 0) throw_errno("chdir `" + dir + "`");
      std::string sock_path = "console.sock";
      UniqueFd listener;
      if (o.terminal) {
        listener.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        ::unlink(sock_path.c_str());
        std::memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
        if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
            ::listen(listener.get(), 1) < 0)
          throw_errno("console socket");
        argv.insert(argv.end(), {"--console-socket", sock_path});
      }
      argv.push_back(o.id);
      std::string err_text;
      if (run_command(argv, err_text, false, o.runtime_timeout_ms) != 0) {
        // The runtime's last error line in its JSON log says why.
        const std::string why = runtime_log_error(log_file);
        throw Error(foreign_runtime_kind(why), why.empty() ? o.runtime + " create failed" : why + runtime_hint(why));
      }
      if (o.terminal) {
        UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!conn) throw_errno("accept console");
        UniqueFd master = runtime::recv_fd(conn.get());
        runtime::send_fd(console, master.get(), "pty master");
        ::unlink(sock_path.c_str());
      }
      std::string pid_text = fs::read_file(dir + "/runtime.pid");
      created(std::atoi(pid_text.c_str()));
      if (one_step) {
        fs::write_all(report, "ok\n");
        _exit(0);
      }
      err_text.clear();
      if (run_command(runtime_argv(o, {"start", o.id}), err_text, true, o.runtime_timeout_ms) != 0)
        throw Error(foreign_runtime_kind(err_text), err_text.empty() ? o.runtime + " start failed" : err_text + runtime_hint(err_text));
      msg = "ok";
    }
  } catch (const std::exception& e) {
    msg = "error " + encode_error(e);
  }
  msg += '\n';
  fs::write_all(report, msg);
  _exit(0);
}

pid_t Shim::launch() {
  // Connected before the first start: a syslog that takes nothing fails the start (Docker's
  // "failed to initialize logging driver").
  if (o_.syslog && !log_) {
    try {
      log_ = std::make_unique<logs::Syslog>(*o_.syslog);
    } catch (const Error& e) {
      throw Error(std::string("failed to initialize logging driver: ") + e.what(), e.code());
    }
  }
  open_stdio();
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd report_r(p[0]), report_w(p[1]);
  if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd go_r(p[0]), go_w(p[1]);
  pid_t h = ::fork();
  if (h < 0) throw_errno("fork");
  if (h == 0) {
    report_r.reset();
    go_w.reset();
    helper(o_, dir_, child_stdin_.get(), child_out_.get(), child_err_.get(), child_out_.get(),
           report_w.get(), go_r.get(), gate_fd_ >= 0);
  }
  report_w.reset();
  go_r.reset();
  auto read_line = [&] { return fs::read_line(report_r.get()); };
  std::string msg = read_line();
  if (msg.rfind("created ", 0) == 0) {
    pid_ = static_cast<pid_t>(std::atoi(msg.c_str() + 8));
    // The container's stdio is its own now; with a terminal, the pty master arrives and gets
    // its size before the user program runs.
    if (o_.terminal) {
      master_ = runtime::recv_fd(console_peer_.get());
      unsigned rows = 0, cols = 0;
      if (std::sscanf(o_.winsize.c_str(), "%u %u", &rows, &cols) == 2 && rows && cols)
        runtime::set_winsize(master_.get(), rows, cols);
    }
    // berth's word first when it asked for one (it attaches the networks while we create).
    bool go = true;
    if (gate_fd_ >= 0) {
      char b = 0;
      ssize_t n;
      while ((n = ::read(gate_fd_, &b, 1)) < 0 && errno == EINTR) {
      }
      go = n == 1 && b == 'g';
      ::close(gate_fd_);
      gate_fd_ = -1;
    }
    if (go) fs::write_all(go_w.get(), "g");
    go_w.reset();
    msg = read_line();
  }
  go_w.reset();
  int status;
  while (::waitpid(h, &status, 0) < 0 && errno == EINTR) {
  }
  // The container's ends of its stdio now belong to the container alone: EOF on our ends
  // comes when its last process closes them.
  child_stdin_.reset();
  child_err_.reset();
  child_out_.reset();
  console_peer_.reset();
  if (msg != "ok") {
    // The init (if it was created) is gone with the failed start; reap it. An external
    // runtime may have made its state (a sandbox's cgroups) before it failed: deleted too.
    if (pid_ > 0) ::waitpid(pid_, &status, WNOHANG);
    const bool made = pid_ > 0;
    pid_ = 0;  // if it ends only now, its zombie is reaped while the runtime deletes
    if (made || !o_.runtime.empty()) runtime_delete();
    master_.reset();
    Error e = msg.rfind("error ", 0) == 0 ? decode_error(std::string_view(msg).substr(6))
                                          : Error("the container could not be created");
    // An external runtime that failed before its log (a bad flag) said why on its stderr,
    // which is the container's: its last line.
    if (!o_.runtime.empty() && err_ && std::string_view(e.what()).ends_with(" create failed")) {
      ::fcntl(err_.get(), F_SETFL, O_NONBLOCK);
      std::string text;
      char buf[4096];
      ssize_t n;
      while ((n = ::read(err_.get(), buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
      std::string last;
      for (const auto& line : split(text, '\n'))
        if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
      // runc's logrus line: its msg="…"
      if (auto m = last.find("msg=\""); m != std::string::npos) last = last.substr(m + 5, last.rfind('"') - m - 5);
      if (!last.empty()) e = Error(e.kind(), o_.runtime + " create failed: " + last);
    }
    throw e;
  }
  // PID RESTARTS STARTED_NS; then the previous run's exit record goes (a restart): a record
  // next to a live shim means "ended, restarting or finishing".
  shim::write_run_record(dir_, {pid_, restarts_, now_ns()});
  ::unlink((dir_ + "/exit").c_str());
  health_reset();
  // The start (and every restart) is recorded here, before the exit can be: a process that
  // ends at once still has its `start` before its `die`.
  event("start");
  if (master_) ::fcntl(master_.get(), F_SETFL, O_NONBLOCK);
  if (stdin_w_) ::fcntl(stdin_w_.get(), F_SETFL, O_NONBLOCK);
  in_q_ = {};
  if (out_) ::fcntl(out_.get(), F_SETFL, O_NONBLOCK);
  if (err_) ::fcntl(err_.get(), F_SETFL, O_NONBLOCK);
  exited_ = false;
  return pid_;
}

void Shim::send(Client& c, uint8_t type, std::string_view data) {
  if (!c.fd) return;
  c.out.push(type, data);
  if (!c.out.flush(c.fd.get())) c.fd.reset();
}

void Shim::finish(Client& c) {
  if (c.out.pending() == 0) c.fd.reset();
  else c.close_when_sent = true;
}

void Shim::flush(Client& c) {
  if (c.fd && c.out.pending() && !c.out.flush(c.fd.get())) c.fd.reset();
  if (c.fd && c.close_when_sent && c.out.pending() == 0) c.fd.reset();
}

bool Shim::output_backed_up() const {
  return std::any_of(clients_.begin(), clients_.end(), [](const Client& c) {
    return c.attached && !c.exec && c.fd && c.out.pending() > shim::FrameQueue::kQueueHigh;
  });
}

bool Shim::exec_backed_up(const Exec& x) {
  const Client* c = exec_client(x.id);
  return c && c->out.pending() > shim::FrameQueue::kQueueHigh;
}

void Shim::flush_clients(int ms) {
  const int64_t deadline = now_ns() + int64_t{ms} * 1000000;
  for (;;) {
    std::vector<pollfd> p;
    for (auto& c : clients_) {
      flush(c);
      if (c.fd && c.out.pending()) p.push_back({c.fd.get(), POLLOUT, 0});
    }
    const int64_t left = (deadline - now_ns()) / 1000000;
    if (p.empty() || left <= 0) return;
    if (::poll(p.data(), p.size(), static_cast<int>(left)) < 0 && errno != EINTR) return;
  }
}

void Shim::broadcast(uint8_t type, const char* data, size_t n) {
  for (auto& c : clients_)
    if (c.attached && c.fd && !c.exec) send(c, type, {data, n});
}

Client* Shim::exec_client(int id) {
  for (auto& c : clients_)
    if (c.exec && c.exec_id == id && c.fd) return &c;
  return nullptr;
}

void Shim::spawn_exec(const nlohmann::json& j, Exec& x) {
  const bool tty = j.value("tty", false), in = j.value("stdin", false), detach = j.value("detach", false);
  const int id = ++exec_seq_;
  const std::string sock_name = "exec-" + std::to_string(id) + ".sock";
  const std::string pid_file = dir_ + "/exec-" + std::to_string(id) + ".pid";
  x.id = id;
  for (auto& a : j["args"]) x.cmd += (x.cmd.empty() ? "" : " ") + (a.is_string() ? a.get<std::string>() : a.dump());
  UniqueFd child_in, child_out, child_err, console;
  int p[2];
  if (tty) {
    console = listen_unix(dir_, sock_name.c_str());
  } else if (!detach) {
    if (in) {
      if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
      child_in.reset(p[0]);
      x.in_w.reset(p[1]);
    }
    if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
    x.out.reset(p[0]);
    child_out.reset(p[1]);
    if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
    x.err.reset(p[0]);
    child_err.reset(p[1]);
  }
  if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd report_r(p[0]), report_w(p[1]);
  pid_t h = ::fork();
  if (h < 0) throw Error(std::string("fork: ") + std::strerror(errno));
  if (h == 0) {
    // The helper: the process's stdio on 0-2, then the runtime library's exec, detached (the
    // process outlives us and is reparented to the shim, the subreaper).
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(child_in ? child_in.get() : devnull, 0);
    ::dup2(child_out ? child_out.get() : devnull, 1);
    ::dup2(child_err ? child_err.get() : devnull, 2);
    std::string msg = "ok\n";
    try {
      if (::chdir(dir_.c_str()) < 0) throw_errno("chdir");  // the console socket is relative
      if (!o_.runtime.empty()) {
        // An external runtime: the whole process as a runtime-spec object (--process).
        const std::string base = "exec-" + std::to_string(id);
        fs::write_file_atomic(dir_ + "/" + base + ".json", exec_process(o_.bundle, j).dump(), 0600);
        std::vector<std::string> cmd = {"--log", base + ".log", "--log-format", "json", "exec", "--process",
                                        base + ".json", "--detach", "--pid-file", pid_file};
        if (tty) cmd.insert(cmd.end(), {"--console-socket", sock_name});
        cmd.push_back(o_.id);
        std::string ignored;
        const int rc = run_command(runtime_argv(o_, cmd), ignored, false, o_.runtime_timeout_ms);
        const std::string why = rc != 0 ? runtime_log_error(base + ".log") : "";
        ::unlink((base + ".json").c_str());
        ::unlink((base + ".log").c_str());
        if (rc != 0) throw Error(foreign_runtime_kind(why), why.empty() ? o_.runtime + " exec failed" : why);
        fs::write_all(report_w.get(), msg);
        _exit(0);
      }
      runtime::ExecOptions o;
      o.root = o_.runtime_root;
      o.id = o_.id;
      o.args = j["args"].get<std::vector<std::string>>();
      if (j.contains("env")) o.env = j["env"].get<std::vector<std::string>>();
      if (j.contains("caps")) o.caps = j["caps"].get<std::vector<std::string>>();
      if (j.contains("additional_gids")) o.additional_gids = j["additional_gids"].get<std::vector<uint32_t>>();
      o.user = j.value("user", "");
      o.cwd = j.value("cwd", "");
      o.tty = tty;
      o.detach = true;
      o.pid_file = pid_file;
      if (tty) o.console_socket = sock_name;
      // Sized before the process runs (the shim sizing the master after it got it is late
      // for a program that asks at once).
      std::sscanf(j.value("winsize", "").c_str(), "%u %u", &o.console_rows, &o.console_cols);
      runtime::exec_container(o);
    } catch (const std::exception& e) {
      msg = "error " + encode_error(e) + "\n";
    }
    fs::write_all(report_w.get(), msg);
    _exit(0);
  }
  report_w.reset();
  child_in.reset();
  child_out.reset();
  child_err.reset();
  // The helper reports once the process runs. A process the container stops before its
  // execve (`kill -STOP -1` inside) would hold us — and every request — for good: after
  // 10 s the exec is given up (the helper killed; its child, if it ever goes on, finds
  // nobody to sync with and exits).
  std::string line;
  pollfd pf{report_r.get(), POLLIN, 0};
  const int64_t give_up = mono_ns() + 10'000'000'000LL;
  int ready;
  do {
    ready = ::poll(&pf, 1, static_cast<int>(std::max<int64_t>(0, (give_up - mono_ns()) / 1000000)));
  } while (ready < 0 && errno == EINTR);
  if (ready == 1) line = fs::read_line(report_r.get());
  else ::kill(h, SIGKILL);
  int status;
  while (::waitpid(h, &status, 0) < 0 && errno == EINTR) {
  }
  if (ready != 1) {
    ::unlink(pid_file.c_str());
    ::unlink((dir_ + "/" + sock_name).c_str());
    throw Error(ErrorKind::unavailable, "exec: the process did not start within 10 s (stopped by the container?)");
  }
  std::string pid_text;
  fs::read_file_if_exists(pid_file, pid_text);
  ::unlink(pid_file.c_str());
  if (line != "ok" || std::atoi(pid_text.c_str()) <= 0) {
    ::unlink((dir_ + "/" + sock_name).c_str());
    throw line.rfind("error ", 0) == 0 ? decode_error(std::string_view(line).substr(6)) : Error("exec failed");
  }
  x.pid = std::atoi(pid_text.c_str());
  if (tty) {
    pollfd pf{console.get(), POLLIN, 0};
    UniqueFd conn;
    if (::poll(&pf, 1, 5000) == 1) conn.reset(::accept4(console.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ::unlink((dir_ + "/" + sock_name).c_str());
    try {
      if (!conn) throw Error("no terminal from the runtime");
      x.master = runtime::recv_fd(conn.get());
    } catch (const std::exception& e) {
      ::kill(x.pid, SIGKILL);
      throw Error(std::string("exec: ") + e.what());
    }
    unsigned rows = 0, cols = 0;
    if (std::sscanf(j.value("winsize", "").c_str(), "%u %u", &rows, &cols) == 2 && rows && cols)
      runtime::set_winsize(x.master.get(), rows, cols);
  }
  for (auto* f : {&x.out, &x.err, &x.master, &x.in_w})
    if (*f) ::fcntl(f->get(), F_SETFL, O_NONBLOCK);
  event("exec_create: " + x.cmd, {{"execID", std::to_string(id)}});
  event("exec_start: " + x.cmd, {{"execID", std::to_string(id)}});
}

void Shim::start_exec(Client& c, const std::string& spec) {
  // The error frame carries the error's kind (encode_error): the engine's exit codes come from it.
  auto fail = [&](const Error& why) {
    send(c, shim::kError, encode_error(why));
    finish(c);
  };
  auto j = nlohmann::json::parse(spec, nullptr, false);
  if (!j.is_object() || !j.contains("args") || !j["args"].is_array() || j["args"].empty())
    return fail(Error(ErrorKind::invalid_argument, "exec: no command"));
  if (frozen_) return fail(Error(ErrorKind::conflict, "the container is paused, unpause the container before exec"));
  Exec x;
  try {
    spawn_exec(j, x);
  } catch (const Error& e) {
    return fail(e);
  }
  send(c, shim::kStarted, std::to_string(x.pid));
  if (j.value("detach", false)) finish(c);
  else c.exec_id = x.id;
  execs_.push_back(std::move(x));
}

// Docker's health monitor: the first probe one interval after the start; while the container
// is starting within its start period, every start interval (and one right at its end);
// failures within the start period do not count until a probe has passed.
void Shim::health_reset() {
  frozen_ = false;  // a new run
  if (!o_.health) return;
  // A start after a stop keeps the last results (Docker's log outlives the runs).
  if (!run_started_mono_)
    if (auto old = shim::read_health(dir_)) health_.log = std::move(old->log);
  health_.status = "starting";
  health_.failing_streak = 0;
  run_started_mono_ = mono_ns();
  probe_.reset();
  try {
    shim::write_health(dir_, health_);
  } catch (const std::exception& e) {
    log::warn(e.what());
  }
  schedule_probe();
}

void Shim::health_stopped() {
  if (!o_.health || !run_started_mono_ || health_.status == "unhealthy") return;
  health_.status = "unhealthy";
  try {
    shim::write_health(dir_, health_);
  } catch (const std::exception& e) {
    log::warn(e.what());
  }
}

void Shim::schedule_probe() {
  const auto& h = *o_.health;
  const int64_t now = mono_ns(), elapsed = now - run_started_mono_;
  int64_t wait = h.interval;
  if (elapsed < h.start_period) {
    const int64_t rest = h.start_period - elapsed;
    wait = std::min(health_.status == "starting" ? h.start_interval : h.interval, rest);
  }
  next_probe_ = now + std::max<int64_t>(wait, 1);
}

void Shim::start_probe() {
  next_probe_ = 0;
  Probe pr;
  pr.start = now_ns();
  pr.start_mono = mono_ns();
  auto j = nlohmann::json::parse(o_.health->exec, nullptr, false);
  if (!j.is_object() || !j.contains("args") || !j["args"].is_array() || j["args"].empty()) {
    probe_ = pr;
    return finish_probe(-1, "the health check has no command");
  }
  Exec x;
  x.probe = true;
  try {
    spawn_exec(j, x);
  } catch (const std::exception& e) {
    probe_ = pr;
    return finish_probe(-1, e.what());
  }
  pr.exec_id = x.id;
  pr.deadline = mono_ns() + o_.health->timeout;
  probe_ = std::move(pr);
  execs_.push_back(std::move(x));
}

void Shim::finish_probe(int code, const std::string& error) {
  Probe pr = std::move(*probe_);
  probe_.reset();
  // Ended with the container (or cut short by a stop): no result, as Docker cancels it.
  if (exited_ || pid_ <= 0) return;
  // Paused meanwhile: none either; the next one an interval after the unpause.
  if (pr.cancelled) {
    if (!frozen_) schedule_probe();
    return;
  }
  shim::HealthResult r;
  r.start = pr.start;
  r.end = now_ns();
  r.exit_code = code;
  r.output = pr.out + (pr.cut ? "..." : "");
  if (pr.timed_out) {
    r.exit_code = -1;
    r.output = "Health check exceeded timeout (" + go_duration(o_.health->timeout) + ")" + (r.output.empty() ? "" : ": " + r.output);
  } else if (!error.empty()) {
    r.output = error;
  }
  const std::string before = health_.status;
  health_.log.push_back(std::move(r));
  if (health_.log.size() > 5) health_.log.erase(health_.log.begin());
  if (code == 0 && !pr.timed_out && error.empty()) {
    health_.failing_streak = 0;
    health_.status = "healthy";
  } else if (!(health_.status == "starting" && pr.start_mono - run_started_mono_ < o_.health->start_period)) {
    if (++health_.failing_streak >= o_.health->retries) health_.status = "unhealthy";
  }
  try {
    shim::write_health(dir_, health_);
  } catch (const std::exception& e) {
    log::warn(e.what());
  }
  if (health_.status != before) event("health_status: " + health_.status);
  schedule_probe();
}

int Shim::probe_tick() {
  if (!o_.health || exited_ || pid_ <= 0) return -1;
  const int64_t now = mono_ns();
  if (probe_) {
    if (!probe_->timed_out && now >= probe_->deadline) {
      for (auto& x : execs_)
        if (x.id == probe_->exec_id && !x.exited) ::kill(x.pid, SIGKILL);
      probe_->timed_out = true;
    }
    return probe_->timed_out ? -1 : static_cast<int>((probe_->deadline - now) / 1000000 + 1);
  }
  if (frozen_) return -1;
  if (next_probe_ && now >= next_probe_) {
    // Paused (the engine's mark): no probe into a frozen container; the next one an interval on.
    if (::access((dir_ + "/paused").c_str(), F_OK) == 0) schedule_probe();
    else start_probe();
    return probe_tick();
  }
  return next_probe_ ? static_cast<int>((next_probe_ - now) / 1000000 + 1) : -1;
}

void Shim::exec_output(Exec& x, UniqueFd& fd, uint8_t type, int max_reads) {
  char buf[32768];
  for (int reads = 0; reads < max_reads; ++reads) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) fd.reset();
      return;
    }
    if (x.probe) {
      if (probe_ && probe_->exec_id == x.id) {
        const size_t room = 4096 - std::min<size_t>(4096, probe_->out.size());
        probe_->out.append(buf, std::min(room, static_cast<size_t>(n)));
        if (static_cast<size_t>(n) > room) probe_->cut = true;
      }
      continue;
    }
    // No client (detached, or it went away): the output is dropped, the process goes on.
    if (Client* c = exec_client(x.id)) send(*c, type, {buf, static_cast<size_t>(n)});
  }
}

// Exited exec processes: what is left of their output, then their exit frame.
void Shim::event(const std::string& action, std::map<std::string, std::string> extra) {
  if (o_.events.empty()) return;
  auto a = o_.event_attributes;
  for (auto& [k, v] : extra) a[k] = v;
  events::append(o_.events, {"container", action, o_.id, std::move(a), 0});
}

void Shim::finish_execs() {
  for (auto& x : execs_) {
    if (!x.exited) continue;
    for (auto* f : {&x.out, &x.err, &x.master})
      if (*f) exec_output(x, *f, f == &x.err ? shim::kStderr : shim::kStdout, kReadsAtExit);
    event("exec_die", {{"execID", std::to_string(x.id)}, {"exitCode", std::to_string(x.code)}});
    if (x.probe && probe_ && probe_->exec_id == x.id) finish_probe(x.code, "");
    if (Client* c = exec_client(x.id)) {
      send(*c, shim::kExit, std::to_string(x.code));
      finish(*c);
    }
  }
  execs_.erase(std::remove_if(execs_.begin(), execs_.end(), [](const Exec& x) { return x.exited; }), execs_.end());
}

void Shim::on_output(int fd, uint8_t type, int max_reads) {
  char buf[32768];
  for (int reads = 0; reads < max_reads; ++reads) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // EOF (pipes) or EIO (pty without slave): this stream is over.
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        if (fd == out_.get()) out_.reset();
        else if (fd == err_.get()) err_.reset();
        else if (fd == master_.get()) master_.reset();
        if (log_) log_->flush(type == shim::kStderr ? "stderr" : "stdout",
                                   type == shim::kStderr ? pend_err_ : pend_out_);
      }
      return;
    }
    if (log_) log_->add(type == shim::kStderr ? "stderr" : "stdout", buf, static_cast<size_t>(n),
                        type == shim::kStderr ? pend_err_ : pend_out_);
    broadcast(type, buf, static_cast<size_t>(n));
  }
}

void Shim::stdin_write(StdinQueue& q, int fd, std::string_view data) {
  if (fd < 0 || q.close_when_empty) return;
  q.buf.append(data);
  pump_stdin(fd, q);
}

void Shim::stdin_close(StdinQueue& q, UniqueFd* pipe) {
  if (q.buf.empty()) pipe->reset();
  else q.close_when_empty = true;
}

StdinQueue* Shim::stdin_of(const Client& c) {
  if (!c.exec) return &in_q_;
  for (auto& x : execs_)
    if (x.id == c.exec_id && !x.exited) return &x.in_q;
  return nullptr;
}

bool Shim::handle_frame(Client& c, uint8_t type, const std::string& data) {
  if (c.exec) {
    if (type == shim::kExecSpec && c.exec_id == 0) {
      start_exec(c, data);
      return c.exec_id != 0 && c.fd;
    }
    Exec* x = nullptr;
    for (auto& e : execs_)
      if (e.id == c.exec_id) x = &e;
    if (!x) return type == shim::kStdin || type == shim::kStdinClose;  // it is over
    unsigned rows = 0, cols = 0;
    switch (type) {
      case shim::kStdin:
        stdin_write(x->in_q, stdin_fd(*x), data);
        return true;
      case shim::kStdinClose:
        stdin_close(x->in_q, &x->in_w);
        return true;
      case shim::kResize:
        if (x->master && std::sscanf(data.c_str(), "%u %u", &rows, &cols) == 2)
          runtime::set_winsize(x->master.get(), rows, cols);
        return true;
      case shim::kSignal:
        if (!x->exited) ::kill(x->pid, std::atoi(data.c_str()));
        return true;
    }
    return false;
  }
  switch (type) {
    case shim::kStdin:
      stdin_write(in_q_, stdin_fd(), data);
      return true;
    case shim::kStdinClose:
      if (o_.stdin_once) stdin_close(in_q_, &stdin_w_);
      return true;
    case shim::kResize: {
      unsigned rows = 0, cols = 0;
      if (master_ && std::sscanf(data.c_str(), "%u %u", &rows, &cols) == 2)
        runtime::set_winsize(master_.get(), rows, cols);
      return true;
    }
    case shim::kSignal:
      if (pid_ > 0 && !exited_) signal_container(std::atoi(data.c_str()));
      return true;
    case shim::kDone:
      c.done = true;
      c.leftovers = data;
      return false;
  }
  return true;
}

void Shim::on_client(Client& c) {
  char buf[16384];
  ssize_t n = ::read(c.fd.get(), buf, sizeof buf);
  if (n < 0 && errno == EINTR) return;
  if (n <= 0) {
    c.fd.reset();
    return;
  }
  if (c.has_request) {
    c.frames.feed({buf, static_cast<size_t>(n)});
  } else {
    c.in.append(buf, static_cast<size_t>(n));
    auto nl = c.in.find('\n');
    if (nl == std::string::npos) {
      if (c.in.size() > 256) c.fd.reset();
      return;
    }
    std::string req = c.in.substr(0, nl);
    c.frames.feed(std::string_view(c.in).substr(nl + 1));  // frames sent right behind it
    c.in.clear();
    c.has_request = true;
    auto reply = [&](const std::string& r) {
      fs::write_all(c.fd.get(), r);
      c.fd.reset();
    };
    if (req == "attach" || req == "attach-owner") {
      c.attached = true;
      c.owner = req == "attach-owner";
      if (exited_) c.fd.reset();
    } else if (req.rfind("signal ", 0) == 0) {
      int sig = std::atoi(req.c_str() + 7);
      if (exited_ || pid_ <= 0) reply("error container is not running\n");
      else if (std::string why = signal_container(sig); !why.empty()) reply("error " + why + "\n");
      else reply("ok\n");
      return;
    } else if (req == "stop") {
      stopping_ = true;
      reply("ok\n");
      return;
    } else if (req.rfind("restart-policy ", 0) == 0) {
      // `berth update --restart`: the policy for the exits to come (shim.json has it too).
      char name[32] = {};
      int max = 0;
      if (std::sscanf(req.c_str() + 15, "%31s %d", name, &max) != 2 || max < 0) {
        reply("error bad restart policy\n");
        return;
      }
      o_.restart.name = name;
      o_.restart.max = max;
      reply("ok\n");
      return;
    } else if (req.rfind("name ", 0) == 0) {
      // `berth rename`: its events carry the new name from now on.
      o_.event_attributes["name"] = req.substr(5);
      reply("ok\n");
      return;
    } else if (req == "pause" || req == "resume") {
      // The engine freezes the container's cgroup after our answer: from now on no exec or
      // probe is started (one half set up would wait on the frozen process, and us with it,
      // while the engine waits on us to signal it); a running probe's result will not count.
      frozen_ = req == "pause";
      if (frozen_) {
        next_probe_ = 0;
        if (probe_) probe_->cancelled = true;
        health_stopped();
      } else if (o_.health && !exited_ && pid_ > 0 && !probe_) {
        schedule_probe();  // Docker's monitor starts again: one interval from now
      }
      reply("ok\n");
      return;
    } else if (req.rfind("dns ", 0) == 0) {
      // A network connect gave the container its first user network: serve 127.0.0.11 from
      // now on ({"netns","hosts","servers"}, the orders' dns). Once is enough.
      if (!dns_) {
        try {
          const auto j = nlohmann::json::parse(req.substr(4));
          set_dns(std::make_unique<shim::dns::Server>(shim::dns::Server::Options{
              j.at("netns").get<std::string>(), j.at("hosts").get<std::string>(), j.at("servers").get<std::vector<std::string>>()}));
        } catch (const std::exception& e) {
          reply("error " + std::string(e.what()) + "\n");
          return;
        }
      }
      reply("ok\n");
      return;
    } else if (req == "reopen-log") {
      // The kubelet rotated the log (renamed the file): write to a new one at the path.
      if (log_) log_->reopen();
      reply(log_ ? "ok\n" : "error the container has no log\n");
      return;
    } else if (req == "wait") {
      c.waiting = true;
    } else if (req == "exec") {
      if (exited_) {
        reply("error container is not running\n");
        return;
      }
      c.attached = true;
      c.exec = true;
    } else {
      reply("error unknown request\n");
      return;
    }
  }
  try {
    while (c.attached && c.fd) {
      auto f = c.frames.next();
      if (!f) break;
      if (!handle_frame(c, f->type, f->data)) c.fd.reset();
    }
  } catch (const Error&) {  // a frame over the limit: a broken or hostile client
    c.fd.reset();
  }
}

void Shim::runtime_delete() {
  try {
    if (o_.runtime.empty()) {
      runtime::delete_container(o_.runtime_root, o_.id, true);
    } else {
      std::string err;
      try {
        run_command(runtime_argv(o_, {"delete", "--force", o_.id}), err, true, o_.runtime_timeout_ms);
      } catch (const std::exception& e) {
        log::warn(std::string("delete: ") + e.what());
      }
      // What the runtime's delete did not know of (a sandbox whose create was killed at the
      // timeout, in a session of its own): whatever is left in the container's cgroup.
      if (!runtime::kill_foreign_cgroup(runtime::bundle_cgroups_path(o_.bundle)))
        log::warn("delete: processes are left in the container's cgroup");
    }
  } catch (const std::exception& e) {
    log::warn(std::string("delete: ") + e.what());
  }
}

std::string Shim::signal_container(int sig) {
  if (!o_.runtime.empty()) {
    std::string err;
    try {
      if (run_command(runtime_argv(o_, {"kill", o_.id, std::to_string(sig)}), err, true, o_.runtime_timeout_ms) == 0) return "";
    } catch (const std::exception& e) {
      err = e.what();
    }
    log::debug("runtime kill: " + err);  // gone meanwhile, or a runtime without kill: our own
  }
  return ::kill(pid_, sig) < 0 ? std::strerror(errno) : "";
}

bool Shim::should_restart(int code) { return !stopping_ && o_.restart.due(code, restarts_); }

// The container's last processes may still write: read what is left (bounded).
void Shim::drain_output() {
  int64_t deadline = now_ns() + 2'000'000'000;
  while ((out_ || err_ || master_) && now_ns() < deadline) {
    pollfd p[3];
    int n = 0;
    for (auto* f : {&out_, &err_, &master_})
      if (*f) p[n++] = {f->get(), POLLIN, 0};
    int r = ::poll(p, static_cast<nfds_t>(n), 100);
    if (r < 0 && errno != EINTR) break;
    // In turns, so that the deadline holds against a writer that never pauses (a process that
    // outlives the init: --pid host, a shared PID namespace).
    if (out_) on_output(out_.get(), shim::kStdout, kReadsPerTurn);
    if (err_) on_output(err_.get(), shim::kStderr, kReadsPerTurn);
    if (master_) on_output(master_.get(), shim::kStdout, kReadsPerTurn);
  }
  out_.reset();
  err_.reset();
  master_.reset();
  stdin_w_.reset();
  if (log_) {
    log_->flush("stdout", pend_out_);
    log_->flush("stderr", pend_err_);
  }
}

void Shim::finish_exit(int code) {
  exited_ = true;
  next_probe_ = 0;
  health_stopped();
  drain_output();
  // The runtime's state (with the cgroup) is still there: did the OOM killer end it?
  const bool oom = o_.runtime.empty() ? runtime::container_oom_killed(o_.runtime_root, o_.id)
                                      : runtime::cgroup_oom_killed(runtime::bundle_cgroups_path(o_.bundle));
  try {
    shim::write_exit_record(dir_, {code, now_ns(), restarts_, oom, ""});
  } catch (const std::exception& e) {
    log::warn(e.what());
  }
  // Recorded before anyone hears of the exit: a `destroy` after it comes after the `die`.
  if (oom) event("oom");
  event("die", {{"exitCode", std::to_string(code)}});
  // Report first, then delete the runtime's state: an attached owner unmounts and removes the
  // container meanwhile (it leaves the runtime's state to us).
  std::string text = std::to_string(code);
  broadcast(shim::kExit, text.data(), text.size());
  for (auto& c : clients_) {
    if (c.waiting && c.fd) {
      std::string line = text + "\n";
      fs::write_all(c.fd.get(), line);
      c.fd.reset();
    }
  }
  runtime_delete();
}

void Shim::reap_strays(pid_t running) {
  std::string kids;
  fs::read_file_if_exists("/proc/self/task/" + std::to_string(::syscall(SYS_gettid)) + "/children", kids);
  for (const auto& word : split(kids, ' ')) {
    const pid_t p = std::atoi(word.c_str());
    if (p <= 0 || p == running || p == pid_) continue;
    if (std::any_of(execs_.begin(), execs_.end(), [&](const Exec& x) { return x.pid == p; })) continue;
    std::string stat;
    fs::read_file_if_exists("/proc/" + word + "/stat", stat);
    const auto rp = stat.rfind(')');
    int st;
    if (rp != std::string::npos && rp + 2 < stat.size() && stat[rp + 2] == 'Z') ::waitpid(p, &st, WNOHANG);
  }
}

void Shim::reap() {
  int status;
  pid_t p;
  while ((p = ::waitpid(-1, &status, WNOHANG)) > 0) {
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    for (auto& x : execs_)
      if (x.pid == p) x.exited = true, x.code = code;
    if (p != pid_ || exited_) continue;
    finish_exit(code);
  }
  finish_execs();
}

void Shim::serve(UniqueFd listen_fd) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  UniqueFd sigfd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigfd) throw_errno("signalfd");
  // The set-up's heap and code pages are given back once the container has run for 100 ms
  // (busy or not), not right away: a container that ends at once (`run --rm … true`) would
  // find its exit waiting behind the trim and the shedding, and its handling faulting the
  // code back in.
  bool shed_due = true;  // something ran since the last shed_text()
  bool first_shed = true;
  const int64_t first_shed_at = now_ns() + 100 * 1000000LL;
  // Waiting to restart (the policy's delay): the control socket is served meanwhile, so that
  // a `stop` cancels the restart.
  bool restart_pending = false;
  int64_t restart_at = 0;
  for (;;) {
    reap();
    if (exited_ && !restart_pending) {
      const auto rec = shim::read_exit_record(dir_);
      if (!should_restart(rec ? rec->code : 0)) break;
      ++restarts_;
      restart_pending = true;
      restart_at = now_ns() + std::min<int64_t>(100LL << std::min(restarts_ - 1, 10), 60000) * 1000000;
    }
    if (restart_pending) {
      if (stopping_) break;
      if (now_ns() >= restart_at) {
        restart_pending = false;
        try {
          launch();
          shed_text();
          continue;
        } catch (const std::exception& e) {
          log::error(std::string("restart: ") + e.what());
          break;
        }
      }
    }
    if (first_shed && now_ns() >= first_shed_at) {
      ::malloc_trim(0);
      shed_text();
      first_shed = false;
    }
    // A due health check starts here, before its pipes are polled.
    const int probe_ms = probe_tick();
    std::vector<pollfd> p;
    p.push_back({sigfd.get(), POLLIN, 0});
    p.push_back({listen_fd.get(), POLLIN, 0});
    // The container's output waits while a client is behind taking it (Client::out).
    if (!output_backed_up())
      for (auto* f : {&out_, &err_, &master_})
        if (*f) p.push_back({f->get(), POLLIN, 0});
    size_t first_client = p.size();
    for (auto& c : clients_) {
      // A client whose stdin is backed up is not read until the process takes some.
      StdinQueue* q = c.has_request ? stdin_of(c) : nullptr;
      short events = q && q->buf.size() > kStdinHigh ? 0 : POLLIN;
      if (c.out.pending()) events |= POLLOUT;
      p.push_back({c.fd.get(), events, 0});
    }
    size_t first_exec = p.size();
    for (auto& x : execs_)
      if (!exec_backed_up(x))
        for (auto* f : {&x.out, &x.err, &x.master})
          if (*f) p.push_back({f->get(), POLLIN, 0});
    size_t first_stdin = p.size();
    {
      if (stdin_fd() >= 0 && !in_q_.buf.empty()) p.push_back({stdin_fd(), POLLOUT, 0});
      for (auto& x : execs_)
        if (stdin_fd(x) >= 0 && !x.in_q.buf.empty()) p.push_back({stdin_fd(x), POLLOUT, 0});
    }
    const size_t first_dns = p.size();
    if (dns_)
      for (const pollfd& f : dns_->poll_fds()) p.push_back(f);
    int timeout = -1;
    if (restart_pending) timeout = static_cast<int>(std::max<int64_t>(1, (restart_at - now_ns()) / 1000000 + 1));
    else if (shed_due) timeout = 1000;
    if (first_shed) {
      const int left = static_cast<int>(std::max<int64_t>(1, (first_shed_at - now_ns()) / 1000000 + 1));
      if (timeout < 0 || left < timeout) timeout = left;
    }
    const bool probe_first = probe_ms >= 0 && (timeout < 0 || probe_ms < timeout);
    if (probe_first) timeout = probe_ms;
    // A query passed on to an upstream server that times out (the next server), an idle TCP
    // client of the DNS server.
    const int dns_ms = dns_ ? dns_->timeout_ms() : -1;
    const bool dns_first = dns_ms >= 0 && (timeout < 0 || dns_ms < timeout);
    if (dns_first) timeout = dns_ms;
    int r = ::poll(p.data(), p.size(), timeout);
    if (r == 0 && shed_due && !restart_pending && !probe_first && !dns_first) {
      // A second without anything to do (the first time: until 100 ms after the start): give
      // back the code pages the last activity touched and wait right here, so that next to
      // nothing runs between the two (what does comes back in the kernel's 64 KiB
      // fault-around windows: the loop above would bring ~10).
      // Until the next health check, if one is due (or a query passed on times out).
      if (first_shed) ::malloc_trim(0);
      first_shed = false;
      shed_text();
      shed_due = false;
      // (the poll above waited `timeout` ms: a second, or less for the first shed)
      int wait = probe_ms < 0 ? -1 : std::max(0, probe_ms - timeout);
      if (dns_ms >= 0) wait = wait < 0 ? std::max(0, dns_ms - timeout) : std::min(wait, std::max(0, dns_ms - timeout));
      r = ::poll(p.data(), p.size(), wait);
    }
    if (r > 0) shed_due = true;
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    if (p[0].revents) {
      signalfd_siginfo si;
      while (::read(sigfd.get(), &si, sizeof si) > 0) {
      }
    }
    if (p[1].revents & POLLIN) {
      int fd = ::accept4(listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        Client c;
        c.fd.reset(fd);
        clients_.push_back(std::move(c));
      }
    }
    for (size_t i = 2; i < first_client; ++i) {
      if (!p[i].revents) continue;
      int fd = p[i].fd;
      on_output(fd, fd == err_.get() ? shim::kStderr : shim::kStdout, kReadsPerTurn);
    }
    for (size_t i = first_client; i < first_exec; ++i) {
      if (!p[i].revents) continue;
      for (auto& c : clients_) {
        if (!c.fd || c.fd.get() != p[i].fd) continue;
        if (p[i].revents & POLLOUT) flush(c);
        // (POLLOUT alone: nothing to read, and the socket blocks.)
        if (c.fd && (p[i].revents & ~POLLOUT)) on_client(c);
      }
    }
    for (size_t i = first_exec; i < first_stdin; ++i) {
      if (!p[i].revents) continue;
      for (auto& x : execs_)
        for (auto* f : {&x.out, &x.err, &x.master})
          if (*f && f->get() == p[i].fd) exec_output(x, *f, f == &x.err ? shim::kStderr : shim::kStdout, kReadsPerTurn);
    }
    for (size_t i = first_stdin; i < first_dns; ++i) {
      if (!p[i].revents) continue;
      auto drain = [&](StdinQueue& q, int fd, UniqueFd& pipe) {
        if (fd != p[i].fd || q.buf.empty()) return;
        if (p[i].revents & (POLLERR | POLLHUP | POLLNVAL)) q.buf.clear();  // nobody reads it any more
        else pump_stdin(fd, q);
        if (q.buf.empty() && q.close_when_empty) pipe.reset();
      };
      drain(in_q_, stdin_fd(), stdin_w_);
      for (auto& x : execs_) drain(x.in_q, stdin_fd(x), x.in_w);
    }
    if (dns_) dns_->step(std::vector<pollfd>(p.begin() + static_cast<long>(first_dns), p.end()));  // its timeouts too
    clients_.erase(std::remove_if(clients_.begin(), clients_.end(),
                                  [](const Client& c) { return !c.fd && !c.owner; }),
                   clients_.end());
  }
  // No more requests. The listening socket and the clients but the owners go now: a request
  // that raced the exit (a stop that holds the container's lock while it waits for our answer)
  // gets its end of file at once, rather than waiting on the cleanup below, which takes that
  // lock (a deadlock of berthd's StopPodSandbox with a container exiting, found by critest).
  listen_fd.reset();
  for (auto& c : clients_)
    if (!c.owner && !c.out.pending()) c.fd.reset();
  // What attached clients have not taken yet (the end of the output, the exit code): a while
  // to take it, not more — one that stopped reading must not hold the end.
  flush_clients(2000);
  for (auto& c : clients_)
    if (!c.owner) c.fd.reset();
  // The end: owners get their say (cleanup done by them, or gone), then the cleanup command.
  bool owner_done = false;
  int64_t deadline = now_ns() + 30'000'000'000LL;
  for (;;) {
    bool owner_live = false;
    for (auto& c : clients_) {
      if (c.owner && c.done) owner_done = true;
      if (c.owner && c.fd) owner_live = true;
    }
    if (owner_done || !owner_live || now_ns() > deadline) break;
    std::vector<pollfd> p;
    for (auto& c : clients_)
      if (c.owner && c.fd) p.push_back({c.fd.get(), static_cast<short>(POLLIN | (c.out.pending() ? POLLOUT : 0)), 0});
    ::poll(p.data(), p.size(), 1000);
    for (size_t i = 0; i < p.size(); ++i)
      for (auto& c : clients_) {
        if (!c.owner || !c.fd || c.fd.get() != p[i].fd || !p[i].revents) continue;
        if (p[i].revents & POLLOUT) flush(c);
        if (c.fd && (p[i].revents & ~POLLOUT)) on_client(c);
      }
  }
  ::unlink((dir_ + "/shim.sock").c_str());
  // What the owner left to us: only paths under its own --root/--state (it named them).
  for (auto& c : clients_) {
    if (!c.owner || !c.done) continue;
    size_t pos = 0;
    while (pos < c.leftovers.size()) {
      size_t nl = c.leftovers.find('\n', pos);
      std::string line = c.leftovers.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? c.leftovers.size() : nl + 1;
      try {
        if (line.rfind("umount /", 0) == 0) {
          ::umount2(line.c_str() + 7, MNT_DETACH);
        } else if (line.rfind("rm /", 0) == 0) {
          fs::remove_all(line.substr(3));
        } else if (line == "network" && !o_.cleanup.empty()) {
          // The container's networks (CNI DEL): our cleanup command, for them only.
          std::vector<std::string> argv = o_.cleanup;
          argv.insert(argv.end() - 1, "--network-only");
          std::string err;
          if (run_command(argv, err) != 0) log::warn("network cleanup: " + err);
        }
      } catch (const std::exception& e) {
        log::warn(std::string("cleanup: ") + e.what());
      }
    }
  }
  if (!owner_done && !o_.cleanup.empty()) {
    std::string err;
    int rc = run_command(o_.cleanup, err);
    if (rc != 0) log::warn("cleanup: " + err);
  }
  ::unlink((dir_ + "/shim.pid").c_str());
}

// Drops the pages of our own code from the resident set: setup touched most of the runtime
// library's code, the loop needs a few pages of it. Read-only file pages come back from the
// page cache on their next use (they are shared with every other shim anyway).
// Only mappings none of whose pages were ever written: a read-only mapping may hold copied
// pages (RELRO: the GOT, relocated by the loader and then made read-only), and dropping those
// brings back the file's unrelocated bytes — a crash at the next call through them (seen in a
// dynamically linked shim). smaps says so per mapping: "Anonymous: 0 kB".
void shed_text() {
  std::string maps;
  if (!fs::read_file_if_exists("/proc/self/smaps", maps)) return;
  // Parsed first, dropped last: the parsing (sscanf, string code) would fault back in what
  // was dropped before it ran. After the loop below only the madvise calls and our return
  // path run, and the kernel maps what they touch back in 64 KiB fault-around windows.
  struct Range {
    unsigned long lo, hi;
  } ranges[32];
  size_t n = 0;
  bool candidate = false;  // the mapping whose fields are being read is a file's, read-only
  Range current{};
  size_t pos = 0;
  while (pos < maps.size() && n < std::size(ranges)) {
    size_t nl = maps.find('\n', pos);
    std::string line = maps.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? maps.size() : nl + 1;
    unsigned long lo = 0, hi = 0, kb = 0;
    char perms[8] = {};
    if (std::sscanf(line.c_str(), "%lx-%lx %7s", &lo, &hi, perms) == 3) {
      current = {lo, hi};
      candidate = perms[1] == '-' && line.find('/') != std::string::npos;
    } else if (candidate && std::sscanf(line.c_str(), "Anonymous: %lu kB", &kb) == 1) {
      if (kb == 0) ranges[n++] = current;
      candidate = false;
    }
  }
  // Data first, code last (this very function is in it).
  std::sort(ranges, ranges + n, [](const Range& a, const Range& b) { return a.lo > b.lo; });
  for (size_t i = 0; i < n; ++i)
    ::madvise(reinterpret_cast<void*>(ranges[i].lo), ranges[i].hi - ranges[i].lo, MADV_DONTNEED);
}

UniqueFd listen_unix(const std::string& dir, const char* name) {
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) throw_errno("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, name);
  if (::chdir(dir.c_str()) < 0) throw_errno("chdir `" + dir + "`");
  ::unlink(name);
  int rc = ::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  if (::chdir("/") < 0) throw_errno("chdir /");
  errno = err;
  if (rc < 0) throw_errno("bind `" + dir + "/" + name + "`");
  if (::listen(s.get(), 16) < 0) throw_errno("listen");
  return s;
}

// A container of an external runtime is not ours to tie to our life: its init is the
// runtime's child, without our parent-death signal. A guard process does it instead: forked
// from us, it holds the read end of a pipe whose write end only we have; EOF without our
// goodbye means we died (a crash, the OOM killer, kill -9), and it deletes the container by
// force. It renames itself (comm and command line: "berth-guard DIR"), so that killing every
// berth-shim leaves it to do its job.
class Guard {
 public:
  Guard() = default;
  Guard(const Orders& o, int argc, char** argv) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
    pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork");
    if (pid > 0) {
      ::close(p[0]);
      w_.reset(p[1]);
      return;
    }
    ::close(p[1]);
    ::dup2(p[0], 3);  // without O_CLOEXEC: nothing is exec'd but the runtime, which closes 3
    ::syscall(SYS_close_range, 4U, ~0U, 0U);
    // The whole argument area becomes "berth-guard DIR": it is contiguous from argv[0] on.
    char* lo = argv[0];
    char* hi = argv[argc - 1] + std::strlen(argv[argc - 1]);
    const std::string title = "berth-guard " + std::string(argv[1]);
    std::memset(lo, 0, static_cast<size_t>(hi - lo));
    std::memcpy(lo, title.data(), std::min(title.size(), static_cast<size_t>(hi - lo)));
    ::prctl(PR_SET_NAME, "berth-guard");
    char b = 0;
    ssize_t n;
    while ((n = ::read(3, &b, 1)) < 0 && errno == EINTR) {
    }
    if (n == 1) _exit(0);
    std::fprintf(stderr, "berth-guard: the shim is gone: deleting the container by force\n");
    std::string err;
    ::fcntl(3, F_SETFD, FD_CLOEXEC);
    int rc = -1;
    try {
      rc = run_command(runtime_argv(o, {"delete", "--force", o.id}), err, true, o.runtime_timeout_ms);
    } catch (const std::exception& e) {
      err = e.what();
    }
    if (rc != 0) std::fprintf(stderr, "berth-guard: %s delete: %s\n", o.runtime.c_str(), err.c_str());
    runtime::kill_foreign_cgroup(runtime::bundle_cgroups_path(o.bundle));
    _exit(0);
  }
  // We end normally: the guard goes without doing anything.
  void release() {
    if (w_) fs::write_all(w_.get(), "x");
    w_.reset();
  }

 private:
  UniqueFd w_;
};

}  // namespace

// `berth-shim --pause EMPTY_DIR`: the init of a CRI pod's shared PID namespace (the pod's
// containers join it): it only reaps the processes that end up its children, until SIGTERM,
// SIGINT or SIGKILL (the pod's stop). The containers see it as their PID 1, so it gives them
// nothing to reach through it: its root is EMPTY_DIR, it runs as nobody without
// capabilities, and it is not dumpable (its /proc files are closed to them).
int pause_main(const char* root) {
  if (::chdir(root) < 0 || ::chroot(".") < 0 || ::chdir("/") < 0) return 1;
  if (::setgroups(0, nullptr) < 0 || ::setgid(65534) < 0 || ::setuid(65534) < 0) return 1;
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, nullptr);
  for (;;) {
    int sig = 0;
    if (sigwait(&all, &sig) != 0) continue;
    if (sig == SIGTERM || sig == SIGINT) return 0;
    if (sig == SIGCHLD)
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
  }
}

int main(int argc, char** argv) {
  if (argc == 3 && std::string_view(argv[1]) == "--pause") return pause_main(argv[2]);
  if (argc != 3) {
    std::fprintf(stderr, "usage: berth-shim STATE_DIR CTRL_FD (started by berth: shim/spawn.hpp)\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int ready = std::atoi(argv[2]);  // berth's word comes on it, our answer goes back
  // Nothing of the spawner's stays open in us but the control socket: a daemon's accepted
  // connections (its clients would wait on us for EOF after it died), a shell's pipes (a
  // `$(berth run -d …)` would wait for the container's end).
  close_fds_except(3, {ready});
  auto fail = [&](const std::string& msg) {
    std::string line = "error " + msg + "\n";
    fs::write_all(ready, line);
    _exit(1);
  };
  // Our processes enter the container (its init until it execs, every exec session): run
  // from a view of this binary that nothing can write (CVE-2019-5736 through the shim). The
  // control socket is still inheritable here and survives the re-exec.
  try {
    runtime::reexec_from_sealed_exe(argv, "berth-shim");
  } catch (const std::exception& e) {
    fail(e.what());
  }
  ::fcntl(ready, F_SETFD, FD_CLOEXEC);
  // Detach: the child leads a session of its own (it never opens a terminal device, so it
  // cannot acquire a controlling tty) and is reparented when we exit; the caller reaps us.
  pid_t p = ::fork();
  if (p < 0) fail(std::string("fork: ") + std::strerror(errno));
  if (p > 0) _exit(0);
  ::setsid();
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  if (::chdir("/") < 0) fail("chdir /");
  int devnull = ::open("/dev/null", O_RDWR);
  ::dup2(devnull, 0);
  ::dup2(devnull, 1);
  ::dup2(devnull, 2);
  ::close(devnull);
  // Started ahead: berth is still preparing the container. Nothing is made in its directory
  // before the word (berth may give up and remove it). Meanwhile, what the runtime library
  // would learn of the host in our helper, on the way to the container's start: the cgroup
  // hierarchies (/proc/self/mountinfo, ~0.4 ms), learnt once here (the helper is a fork).
  try {
    runtime::host_cgroup_mode();
  } catch (const std::exception&) {
    // told again, and handled, where the runtime needs it
  }
  shim::GoWord go;
  try {
    if (!shim::receive_go(ready, go)) _exit(0);
  } catch (const std::exception& e) {
    fail(e.what());
  }
  const int attach = go.attach.release(), gate = go.gate.release();
  const bool attach_owner = go.attach_owner;
  Orders orders;
  try {
    orders = shim::read_orders(dir);
  } catch (const std::exception& e) {
    fail(std::string("shim.json: ") + e.what());
  }
  int logfd = ::open((dir + "/shim.log").c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (logfd >= 0) ::dup2(logfd, 2), ::close(logfd);
  log::init("", log::Format::text, false, "berth-shim");
  try {
    shim::write_shim_record(dir, ::getpid());
    UniqueFd listener = listen_unix(dir, "shim.sock");
    Shim shim(dir, orders, gate);
    // Listening before the container runs: its first lookup finds the server there.
    if (orders.dns)
      shim.set_dns(std::make_unique<berth::shim::dns::Server>(
          berth::shim::dns::Server::Options{orders.dns->netns, orders.dns->hosts_file, orders.dns->servers}));
    static Shim* the_shim = &shim;
    g_while_waiting = [](pid_t running) { the_shim->reap_strays(running); };
    if (attach >= 0) {
      ::fcntl(attach, F_SETFD, FD_CLOEXEC);
      shim.add_client(UniqueFd(attach), attach_owner);
    }
    Guard guard;
    if (!orders.runtime.empty()) guard = Guard(orders, argc, argv);
    pid_t pid;
    try {
      pid = shim.launch();
    } catch (const std::exception& e) {
      ::unlink((dir + "/shim.sock").c_str());
      ::unlink((dir + "/shim.pid").c_str());
      // Closed before the cleanup below: a request that connected meanwhile (an rm -f holding
      // the container's lock) gets its answer — reset — instead of waiting on us while our
      // cleanup waits for that lock.
      listener.reset();
      std::string line = "error " + encode_error(e) + "\n";
      if (ready >= 0 && fs::write_all(ready, line)) _exit(1);
      // berth is gone (killed while it set up the networks): nobody else will clean up. The
      // exit record says why, the cleanup command releases what was made.
      shim::write_exit_record(dir, {125, now_ns(), 0, false, std::string("not started: ") + e.what()});
      if (!orders.cleanup.empty()) {
        std::string err;
        if (run_command(orders.cleanup, err) != 0) log::warn("cleanup: " + err);
      }
      _exit(1);
    }
    if (ready >= 0) {
      std::string line = "ok " + std::to_string(pid) + "\n";
      fs::write_all(ready, line);
      ::close(ready);
    }
    shim.serve(std::move(listener));
    guard.release();
  } catch (const std::exception& e) {
    fail(e.what());
  }
  return 0;
}
