// Attach and exec: a hijacked client connection pumped to and from a shim connection.
//   client → shim: stdin (kStdin frames; the client's half-close is kStdinClose), unless the
//                  detach keys (ctrl-p ctrl-q) come, which end the attachment;
//   shim → client: stdout/stderr frames, raw with a terminal, else Docker's 8-byte frames;
//                  the exit frame ends the stream (the client's connection is shut down).
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "api/docker/api.hpp"
#include "api/docker/internal.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "engine/volumes.hpp"
#include "shim/frames.hpp"

namespace berth::api::docker {

using nlohmann::json;

namespace {

const std::string kDefaultDetachKeys = "\x10\x11";  // ctrl-p ctrl-q

// Sends all of `data` to the client; false when it is gone (or reads nothing for five minutes).
bool to_client(int fd, std::string_view data) { return send_all_polled(fd, data, std::chrono::minutes(5)); }

// Reads a shim connection's frames to the exit frame: its code (137 when the connection ends
// without one: the shim was killed).
int drain_to_exit(int fd) {
  shim::FrameReader frames;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 137;
    frames.feed(std::string_view(buf, static_cast<size_t>(n)));
    while (auto f = frames.next())
      if (f->type == shim::kExit) return std::atoi(f->data.c_str());
  }
}

}  // namespace

struct Pump {
  int client = -1, shim = -1;
  bool tty = false, use_stdin = false, out = true, err = true;
  // A container attachment without StdinOnce (or with a terminal): the end of the client's
  // stdin ends it (Docker's). An exec's or a StdinOnce one's closes the process's stdin.
  bool end_at_stdin_eof = false;
  std::mutex* shim_mu = nullptr;  // frames to the shim from other threads (resize)
  std::string detach_keys = kDefaultDetachKeys;

  struct Result {
    int exit_code = -1;  // -1: no exit frame (shim gone, client gone, detached)
    size_t frames = 0;   // output frames passed on
    bool client_gone = false, detached = false;
  };

  // Frames for the shim from this thread: queued, sent as its socket takes them (never a
  // blocking write while the shim may be sending us output: FrameQueue). While some wait,
  // this thread holds shim_mu, so a resize from another thread cannot land inside a frame.
  shim::FrameQueue queue;
  std::unique_lock<std::mutex> queue_lock;
  // A failed send is not the end: the shim may have closed its side after the process exited,
  // with the output and the exit frame still to read (what waited is dropped).
  bool to_shim(uint8_t type, std::string_view data) {
    if (shim_mu && !queue_lock.owns_lock()) queue_lock = std::unique_lock<std::mutex>(*shim_mu);
    queue.push(type, data);
    flush();
    return true;
  }
  bool flush() {
    bool ok = queue.flush(shim);
    if (!queue.pending() && queue_lock.owns_lock()) queue_lock.unlock();
    return ok;
  }

  // Stdin bytes from the client: forwarded, the detach keys looked for across reads — with a
  // terminal only, as Docker's: without one stdin is data (a pipe's bytes 0x10 0x11 are bytes).
  size_t matched = 0;
  bool stdin_bytes(std::string_view d, Result& r) {
    if (!use_stdin) return true;
    if (!tty) return d.empty() || to_shim(shim::kStdin, d);
    std::string pass;
    for (char ch : d) {
      if (!detach_keys.empty() && ch == detach_keys[matched]) {
        if (++matched == detach_keys.size()) {
          if (!pass.empty()) to_shim(shim::kStdin, pass);
          r.detached = true;
          return false;
        }
        continue;
      }
      if (matched) pass.append(detach_keys, 0, matched);
      matched = 0;
      if (!detach_keys.empty() && ch == detach_keys[0]) {  // a new start ("\x10\x10\x11" detaches)
        matched = 1;  // (a one-key sequence matched above)
        continue;
      }
      pass += ch;
    }
    return pass.empty() || to_shim(shim::kStdin, pass);
  }

  Result run(std::string pending) {
    Result r = pump(std::move(pending));
    // What still waits goes if the shim takes it within a second (a detach's last stdin).
    for (int i = 0; i < 10 && queue.pending() && !r.client_gone; ++i) {
      pollfd q{shim, POLLOUT, 0};
      ::poll(&q, 1, 100);
      if (!flush()) break;
    }
    // Then the frame partly sent goes whole (the rest dropped) before the lock goes: a resize
    // from another thread must not land inside it.
    queue.finish(shim, 1000);
    if (queue_lock.owns_lock()) queue_lock.unlock();
    return r;
  }

 private:
  Result pump(std::string pending) {
    Result r;
    if (!pending.empty() && !stdin_bytes(pending, r)) return r;
    shim::FrameReader frames;
    bool client_reading = true;
    std::vector<char> buf(64 * 1024);
    for (;;) {
      // The client is not read while its stdin waits for the container (backpressure).
      const bool take = client_reading && queue.pending() < shim::FrameQueue::kQueueHigh;
      pollfd p[2] = {{shim, static_cast<short>(POLLIN | (queue.pending() ? POLLOUT : 0)), 0},
                     {client, static_cast<short>(take ? POLLIN : 0), 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return r;
      }
      if (p[0].revents & POLLOUT) flush();
      if (take && (p[1].revents & POLLIN)) {
        ssize_t n = ::recv(client, buf.data(), buf.size(), 0);
        if (n > 0) {
          if (!stdin_bytes(std::string_view(buf.data(), static_cast<size_t>(n)), r)) return r;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          // The client closed its writing side (the docker CLI does when it sends no stdin):
          // without stdin, the output goes on.
          client_reading = false;
          // The start of a detach sequence that never finished is input too.
          if (use_stdin && matched) to_shim(shim::kStdin, std::string_view(detach_keys).substr(0, matched));
          matched = 0;
          // The end of its stdin: with StdinOnce (no terminal) the container's stdin closes and
          // its output goes on; else (Docker's) the attachment ends, output too — the
          // container keeps its stdin for the next one (a client that half-closes and reads
          // to EOF waited for the container's end).
          if (use_stdin && end_at_stdin_eof) return r;
          if (use_stdin) to_shim(shim::kStdinClose, "");
        }
      } else if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
        // Both directions closed: the client is gone (a unix socket says POLLHUP only then).
        r.client_gone = true;
        return r;
      }
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::read(shim, buf.data(), buf.size());
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return r;  // the shim went away without an exit frame
        frames.feed(std::string_view(buf.data(), static_cast<size_t>(n)));
        while (auto f = frames.next()) {
          if (f->type == shim::kExit) {
            r.exit_code = std::atoi(f->data.c_str());
            return r;
          }
          if (f->type != shim::kStdout && f->type != shim::kStderr) continue;
          const bool is_err = f->type == shim::kStderr;
          if ((is_err && !err) || (!is_err && !out)) continue;
          ++r.frames;
          if (!to_client(client, tty ? f->data : mux_frame(is_err ? 2 : 1, f->data))) {
            r.client_gone = true;
            return r;
          }
        }
      }
    }
  }
};

namespace {

// The detach keys of a request ("" → Docker's ctrl-p,ctrl-q).
std::string detach_sequence(const std::string& spec) {
  return spec.empty() ? kDefaultDetachKeys : engine::parse_detach_keys(spec);
}

// The client is still there: it may have closed its writing side (the docker CLI does when
// it attaches without stdin), not both.
bool client_alive(int fd) {
  pollfd p{fd, 0, 0};
  return ::poll(&p, 1, 0) == 0 || !(p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

}  // namespace

void Api::container_attach(Exchange& ex, const Params& p) {
  const auto& q = ex.req();
  engine::Container c = eng_.lookup(p["id"]);
  const engine::ContainerConfig config = c.config();
  Pump pump;
  pump.tty = config.tty;
  pump.use_stdin = q.flag("stdin") && config.open_stdin;
  pump.end_at_stdin_eof = !config.stdin_once || config.tty;
  pump.out = q.flag("stdout");
  pump.err = q.flag("stderr");
  pump.detach_keys = detach_sequence(q.param("detachKeys"));
  const bool stream = q.flag("stream"), logs = q.flag("logs");
  const std::string id = c.id();
  const bool auto_remove = c.host_config().auto_remove;

  // Not running: the attachment waits for the next start (the docker CLI attaches, then
  // starts), which hands it the container's output from the first byte.
  std::shared_ptr<PendingAttach> pa;
  UniqueFd shim_conn;
  if (stream) {
    if (eng_.state(c).running()) {
      shim_conn = eng_.attach(id).conn;
    } else {
      pa = std::make_shared<PendingAttach>();
      std::lock_guard<std::mutex> l(mu_);
      pending_[id] = pa;
    }
  }
  auto forget = [&] {
    if (!pa) return;
    std::lock_guard<std::mutex> l(mu_);
    auto it = pending_.find(id);
    if (it != pending_.end() && it->second == pa) pending_.erase(it);
  };
  Exchange::Hijacked h;
  try {
    h = ex.hijack(tty_content_type(pump.tty), !q.header("upgrade").empty());
  } catch (...) {
    forget();
    throw;
  }
  if (stream) eng_.emit(c, "attach");  // Docker's event (a `docker run`'s comes before its start)
  pump.client = h.fd.get();
  if (logs) {
    engine::LogOptions o;
    eng_.logs(id, o, [&](const logs::Entry& l) {
      const bool is_err = l.stream == "stderr";
      if ((is_err && !pump.err) || (!is_err && !pump.out)) return true;
      return to_client(h.fd.get(), pump.tty ? l.log : mux_frame(is_err ? 2 : 1, l.log));
    });
  }
  if (!stream) {
    ::shutdown(h.fd.get(), SHUT_RDWR);
    return;
  }
  bool owner = false;
  if (pa) {
    std::unique_lock<std::mutex> l(pa->mu);
    while (!pa->given && !pa->gone) {
      pa->cv.wait_for(l, std::chrono::milliseconds(200));
      if (!pa->given && !client_alive(h.fd.get())) pa->gone = true;
    }
    if (!pa->given) {
      log::debug("attach " + id.substr(0, 12) + ": no start came (client gone)");
      l.unlock();
      forget();
      ::shutdown(h.fd.get(), SHUT_RDWR);
      return;
    }
    shim_conn = std::move(pa->shim);
    owner = true;
  }
  pump.shim = shim_conn.get();
  const Pump::Result r = pump.run(std::move(h.pending));
  log::debug("attach " + id.substr(0, 12) + (owner ? " (owner)" : "") + ": exit " + std::to_string(r.exit_code) + ", " + std::to_string(r.frames) + " frames" +
             (r.client_gone ? ", client gone" : "") + (r.detached ? ", detached" : ""));
  ::shutdown(h.fd.get(), SHUT_RDWR);
  h.fd.reset();
  // The owner's part after the exit (what `berth run` does in the foreground): the records go
  // now, the shim unmounts and removes the directories once it has our word. Without an exit
  // (client gone, detached) the owner connection just closes: the shim cleans up at the end.
  if (owner && r.exit_code >= 0) {
    if (auto_remove) {
      std::lock_guard<std::mutex> l(mu_);
      removed_exits_[id] = r.exit_code;
      if (removed_exits_.size() > 1000) removed_exits_.erase(removed_exits_.begin());
    }
    std::vector<std::string> deferred;
    try {
      eng_.cleanup(id, auto_remove, false, &deferred);
    } catch (const std::exception& e) {
      log::warn("cleanup of " + id + ": " + e.what());
    }
    std::string done;
    for (auto& line : deferred) done += line + "\n";
    shim::send_frame(shim_conn.get(), shim::kDone, done);
  }
}

std::string tty_content_type(bool tty) {
  return tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream";
}

// --- exec --------------------------------------------------------------------------------

void Api::ExecInstance::finish(int code) {
  std::lock_guard<std::mutex> l(mu);
  running = false;
  exited = true;
  exit_code = code;
  conn = -1;
  finished = std::chrono::steady_clock::now();
}

std::shared_ptr<Api::ExecInstance> Api::find_exec(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = execs_.find(id);
  if (it == execs_.end()) throw Error(ErrorKind::not_found, "No such exec instance: " + id);
  return it->second;
}

void Api::forget_old_execs() {
  // Finished ones are kept ten minutes for their inspect (Docker keeps them with the container).
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = execs_.begin(); it != execs_.end();) {
    std::lock_guard<std::mutex> il(it->second->mu);
    if (it->second->exited && now - it->second->finished > std::chrono::minutes(10)) it = execs_.erase(it);
    else ++it;
  }
}

void Api::exec_create(Exchange& ex, const Params& p) {
  forget_old_execs();
  const json body = ex.json_body();
  if (!body.is_object()) throw Error(ErrorKind::invalid_argument, "exec: a JSON object is required");
  engine::Container c = eng_.lookup(p["id"]);
  const engine::State s = eng_.state(c);
  if (!s.running()) throw Error(ErrorKind::conflict, "Container " + c.id() + " is not running");
  if (s.status == engine::Status::paused)
    throw Error(ErrorKind::conflict, "Container " + c.id() + " is paused, unpause the container before exec");
  auto e = std::make_shared<ExecInstance>();
  e->id = engine::random_id();
  e->container_id = c.id();
  auto strings = [&](const char* key) {
    std::vector<std::string> out;
    const json v = body.value(key, json());
    if (v.is_null()) return out;
    if (!v.is_array()) throw Error(ErrorKind::invalid_argument, std::string(key) + ": want an array of strings");
    for (auto& x : v) {
      if (!x.is_string()) throw Error(ErrorKind::invalid_argument, std::string(key) + ": want an array of strings");
      out.push_back(x.get<std::string>());
    }
    return out;
  };
  auto str = [&](const char* key) {
    const json v = body.value(key, json(""));
    if (v.is_null()) return std::string();
    if (!v.is_string()) throw Error(ErrorKind::invalid_argument, std::string(key) + ": want a string");
    return v.get<std::string>();
  };
  auto flag = [&](const char* key) {
    const json v = body.value(key, json(false));
    if (v.is_null()) return false;
    if (!v.is_boolean()) throw Error(ErrorKind::invalid_argument, std::string(key) + ": want a boolean");
    return v.get<bool>();
  };
  e->req.args = strings("Cmd");
  if (e->req.args.empty()) throw Error(ErrorKind::invalid_argument, "No exec command specified");
  e->req.env = strings("Env");
  e->req.user = str("User");
  e->req.workdir = str("WorkingDir");
  e->req.tty = flag("Tty");
  e->req.privileged = flag("Privileged");
  e->attach_stdin = flag("AttachStdin");
  e->attach_stdout = flag("AttachStdout");
  e->attach_stderr = flag("AttachStderr");
  e->req.stdin_open = e->attach_stdin;
  detach_sequence(str("DetachKeys"));  // checked now
  {
    std::lock_guard<std::mutex> l(mu_);
    execs_[e->id] = e;
  }
  ex.reply(201, json{{"Id", e->id}});
}

void Api::exec_start(Exchange& ex, const Params& p) {
  auto e = find_exec(p["id"]);
  const json body = ex.json_body();
  const bool detach = body.is_object() && body.value("Detach", json(false)).is_boolean() && body.value("Detach", false);
  {
    std::lock_guard<std::mutex> l(e->mu);
    if (e->started) throw Error(ErrorKind::conflict, "exec " + e->id + " has already been started");
    e->started = true;
    e->running = true;
  }
  engine::ExecRequest req = e->req;
  if (body.is_object() && body.contains("ConsoleSize") && body["ConsoleSize"].is_array() &&
      body["ConsoleSize"].size() == 2 && body["ConsoleSize"][0].is_number_unsigned() &&
      body["ConsoleSize"][0].get<uint64_t>() > 0)
    req.winsize = std::to_string(body["ConsoleSize"][0].get<uint64_t>()) + " " +
                  std::to_string(body["ConsoleSize"][1].get<uint64_t>());
  auto finish = [&](int code) { e->finish(code); };
  // A process that could not be started — no such command, not executable, no such user or
  // working directory — exits 126, as Docker's exec (its `run` says 127 for a missing command;
  // its exec does not); a container gone meanwhile, 1.
  auto failed = [&](const Error& err) {
    const ErrorKind k = err.kind();
    finish(k == ErrorKind::not_found || k == ErrorKind::not_running || k == ErrorKind::conflict ? 1 : 126);
  };
  Pump pump;
  pump.tty = req.tty;
  pump.use_stdin = e->attach_stdin;
  pump.out = e->attach_stdout;
  pump.err = e->attach_stderr;
  pump.shim_mu = &e->mu;
  Exchange::Hijacked h;
  if (!detach) h = ex.hijack(tty_content_type(req.tty), !ex.req().header("upgrade").empty());
  engine::ExecSession session;
  try {
    session = eng_.exec(e->container_id, req);
  } catch (const Error& err) {
    failed(err);
    if (detach) throw;
    // Docker writes the runtime's failure into the stream; the client reads the code from
    // exec inspect.
    std::string msg = std::string("berth: ") + err.what() + (req.tty ? "\r\n" : "\n");
    to_client(h.fd.get(), req.tty ? msg : mux_frame(2, msg));
    ::shutdown(h.fd.get(), SHUT_RDWR);
    return;
  }
  {
    std::lock_guard<std::mutex> l(e->mu);
    e->pid = session.pid;
    e->conn = session.conn.get();
    if (!e->winsize.empty() && req.tty) shim::send_frame(session.conn.get(), shim::kResize, e->winsize);
  }
  if (detach) {
    // Its output is dropped; its exit code is kept for inspect.
    ex.reply_empty(200);
    std::thread([e, conn = std::make_shared<UniqueFd>(std::move(session.conn))]() {
      e->finish(drain_to_exit(conn->get()));
    }).detach();
    return;
  }
  pump.client = h.fd.get();
  pump.shim = session.conn.get();
  const Pump::Result r = pump.run(std::move(h.pending));
  // The code first, then the end of the stream: the client inspects the exec once it sees EOF.
  if (r.exit_code >= 0) finish(r.exit_code);
  ::shutdown(h.fd.get(), SHUT_RDWR);
  if (r.exit_code < 0) {
    // Client gone or detached: the process runs on; its code is read when it ends.
    {
      std::lock_guard<std::mutex> l(e->mu);
      e->conn = -1;
    }
    finish(drain_to_exit(session.conn.get()));
  }
}

void Api::exec_resize(Exchange& ex, const Params& p) {
  auto e = find_exec(p["id"]);
  const int64_t h = int_param(ex.req(), "h", 0), w = int_param(ex.req(), "w", 0);
  if (h <= 0 || w <= 0) throw Error(ErrorKind::invalid_argument, "resize: h and w must be positive");
  std::lock_guard<std::mutex> l(e->mu);
  e->winsize = std::to_string(h) + " " + std::to_string(w);
  if (e->conn >= 0 && e->req.tty) shim::send_frame(e->conn, shim::kResize, e->winsize);
  ex.reply_empty(200);
}

void Api::exec_inspect(Exchange& ex, const Params& p) {
  auto e = find_exec(p["id"]);
  std::lock_guard<std::mutex> l(e->mu);
  json args = json::array();
  for (size_t i = 1; i < e->req.args.size(); ++i) args.push_back(e->req.args[i]);
  ex.reply(200, json{{"ID", e->id},
                     {"Running", e->running},
                     {"ExitCode", e->exited ? json(e->exit_code) : json(nullptr)},
                     {"ProcessConfig", {{"tty", e->req.tty}, {"entrypoint", e->req.args.empty() ? "" : e->req.args[0]},
                                        {"arguments", args}, {"privileged", e->req.privileged}, {"user", e->req.user}}},
                     {"OpenStdin", e->attach_stdin},
                     {"OpenStderr", e->attach_stderr},
                     {"OpenStdout", e->attach_stdout},
                     {"CanRemove", false},
                     {"ContainerID", e->container_id},
                     {"DetachKeys", ""},
                     {"Pid", e->pid}});
}

}  // namespace berth::api::docker
