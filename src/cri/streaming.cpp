#include "cri/streaming.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/log.hpp"
#include "cri/spdy.hpp"
#include "engine/volumes.hpp"
#include "shim/frames.hpp"

namespace berth::cri {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTokenTtl = std::chrono::minutes(1);
constexpr size_t kMaxWaiting = 1000;
constexpr size_t kMaxSessions = 256;
constexpr auto kStreamWait = std::chrono::seconds(30);  // the kubelet's stream-creation timeout
constexpr size_t kMaxHead = 16 << 10;
constexpr size_t kChunk = 32 << 10;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> comma_list(const std::string& v) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= v.size()) {
    size_t e = v.find(',', at);
    if (e == std::string::npos) e = v.size();
    std::string item = trim(std::string_view(v).substr(at, e - at));
    if (!item.empty()) out.push_back(item);
    at = e + 1;
  }
  return out;
}

// A plain HTTP answer (before any upgrade), then the connection ends.
void http_error(int fd, int code, const char* reason, const std::string& body, const std::string& extra = "") {
  std::string r = "HTTP/1.1 " + std::to_string(code) + " " + reason +
                  "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " + std::to_string(body.size() + 1) +
                  "\r\nConnection: close\r\n" + extra + "\r\n" + body + "\n";
  shim::send_all(fd, r);
}

// localhost:port in the network namespace `netns` ("" = this one): the dialling thread alone
// enters it (setns on a network namespace is per thread), the socket stays there.
UniqueFd dial(const std::string& netns, int port, std::string& why) {
  UniqueFd out;
  std::thread t([&] {
    if (!netns.empty()) {
      UniqueFd ns(::open(netns.c_str(), O_RDONLY | O_CLOEXEC));
      if (!ns || ::setns(ns.get(), CLONE_NEWNET) != 0) {
        why = std::string("enter the pod's network namespace: ") + std::strerror(errno);
        return;
      }
    }
    for (int family : {AF_INET, AF_INET6}) {
      UniqueFd s(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!s) {
        why = std::strerror(errno);
        continue;
      }
      int rc;
      if (family == AF_INET) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
      } else {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(static_cast<uint16_t>(port));
        a.sin6_addr = in6addr_loopback;
        rc = ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
      }
      if (rc == 0) {
        out = std::move(s);
        return;
      }
      if (family == AF_INET) why = std::string("IPv4: connect: ") + std::strerror(errno);
    }
  });
  t.join();
  return out;
}

// One upgraded connection: the codec and the writes to the peer.
class Conn {
 public:
  explicit Conn(int fd) : fd_(fd) {}
  int fd() const { return fd_; }
  spdy::Codec& codec() { return codec_; }
  // false when the peer is gone.
  bool send(const std::string& bytes) { return ok_ = ok_ && shim::send_all(fd_, bytes); }
  bool ok() const { return ok_; }
  bool reply(uint32_t stream) { return send(codec_.syn_reply(stream, {})); }
  bool data(uint32_t stream, std::string_view bytes) {
    while (bytes.size() > kChunk) {
      if (!send(codec_.data(stream, bytes.substr(0, kChunk)))) return false;
      bytes.remove_prefix(kChunk);
    }
    return bytes.empty() || send(codec_.data(stream, bytes));
  }
  bool fin(uint32_t stream) { return stream == 0 || send(codec_.data(stream, {}, true)); }
  // Reads what is there into the codec; false at the peer's end (or an error).
  bool read() {
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (n <= 0) return false;
    codec_.feed(std::string_view(buf, static_cast<size_t>(n)));
    return true;
  }
  // Reads what is there and hands each whole frame to `on`; false when the session is over:
  // the peer's end, `on` saying so, or frames that break the protocol (they are dropped).
  template <class F>
  bool receive(F&& on) {
    if (!read()) return false;
    try {
      while (auto f = codec_.next())
        if (!on(*f)) return false;
    } catch (const Error& e) {
      log::debug(std::string("cri streaming: ") + e.what());
      return false;
    }
    return ok_;
  }
  // The end: GOAWAY, our side shut, what the peer still sends read and dropped (a close with
  // unread data would reset the connection and could cut what we sent), for up to a second.
  void close(uint32_t last_stream) {
    if (ok_) send(codec_.goaway(last_stream));
    ::shutdown(fd_, SHUT_WR);
    auto until = Clock::now() + std::chrono::seconds(1);
    char buf[4096];
    while (Clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      if (::recv(fd_, buf, sizeof buf, 0) <= 0) break;
    }
  }

 private:
  int fd_;
  spdy::Codec codec_;
  bool ok_ = true;
};

// The remotecommand side of exec and attach.
class CommandSession {
 public:
  CommandSession(engine::Engine& eng, Conn& c, const StreamRequest& r, std::string protocol)
      : eng_(eng), c_(c), r_(r), v4_(protocol == "v4.channel.k8s.io"), resize_(protocol != "v2.channel.k8s.io") {}

  void run() {
    if (!wait_for_streams()) return finish();
    UniqueFd conn;
    bool stdin_open = r_.in;
    try {
      if (r_.kind == StreamRequest::Kind::exec) {
        engine::ExecRequest er;
        er.args = r_.cmd;
        er.tty = r_.tty;
        er.stdin_open = r_.in;
        if (r_.tty && !winsize_.empty()) er.winsize = winsize_;
        conn = std::move(eng_.exec(r_.container, er).conn);
      } else {
        engine::AttachSession as = eng_.attach(r_.container);
        stdin_open = r_.in && as.stdin_open;
        conn = std::move(as.conn);
      }
    } catch (const std::exception& e) {
      status_error(e.what());
      return finish();
    }
    if (!pending_stdin_.empty() && stdin_open) to_shim_.push(shim::kStdin, pending_stdin_);
    if (stdin_closed_ && stdin_open) to_shim_.push(shim::kStdinClose, "");
    if (!winsize_.empty() && r_.kind == StreamRequest::Kind::attach) to_shim_.push(shim::kResize, winsize_);
    pending_stdin_.clear();
    pump(conn.get(), stdin_open);
    finish();
  }

 private:
  bool wanted(const std::string& type) const {
    if (type == "error") return true;
    if (type == "stdin") return r_.in;
    if (type == "stdout") return r_.out;
    if (type == "stderr") return r_.err && !r_.tty;
    if (type == "resize") return r_.tty && resize_;
    return false;
  }
  uint32_t* slot(const std::string& type) {
    if (type == "error") return &error_;
    if (type == "stdin") return &in_;
    if (type == "stdout") return &out_;
    if (type == "stderr") return &err_;
    if (type == "resize") return &resize_stream_;
    return nullptr;
  }
  bool complete() const {
    return error_ && (!r_.in || in_) && (!r_.out || out_) && (!(r_.err && !r_.tty) || err_) &&
           (!(r_.tty && resize_) || resize_stream_);
  }

  // Handles one frame from the client (both phases); false when the session must end.
  // Frames for the shim queue up in to_shim_ (sent as its socket takes them: never a blocking
  // write while the shim may be sending us output); before the process starts, stdin waits in
  // pending_stdin_.
  bool on_frame(const spdy::Frame& f, bool started, bool stdin_open) {
    if (!f.control) {
      if (f.stream == in_ && in_) {
        if (!f.data.empty()) {
          if (!started) {
            if (pending_stdin_.size() < shim::FrameQueue::kQueueHigh) pending_stdin_ += f.data;
          } else if (stdin_open) {
            to_shim_.push(shim::kStdin, f.data);
          }
        }
        if (f.fin()) {
          stdin_closed_ = true;
          if (started && stdin_open) to_shim_.push(shim::kStdinClose, "");
        }
      } else if (f.stream == resize_stream_ && resize_stream_) {
        resize_buf_ += f.data;
        while (auto ws = next_resize()) {
          winsize_ = *ws;
          if (started) to_shim_.push(shim::kResize, winsize_);
        }
      }
      return true;
    }
    switch (f.type) {
      case spdy::kSynStream: {
        const std::string type = lower(spdy::header(f.headers, "streamtype"));
        uint32_t* s = slot(type);
        if (!wanted(type) || !s || *s || f.stream == 0 || f.stream <= last_) {
          c_.send(c_.codec().rst_stream(f.stream, spdy::kRstRefusedStream));
          return true;
        }
        *s = f.stream;
        last_ = f.stream;
        c_.reply(f.stream);
        return true;
      }
      case spdy::kPing: c_.send(c_.codec().ping(f.value)); return true;
      case spdy::kGoAway: return false;
      case spdy::kRstStream:
        if (f.stream == in_ && in_ && !stdin_closed_) {
          stdin_closed_ = true;
          if (started && stdin_open) to_shim_.push(shim::kStdinClose, "");
        }
        return f.stream != error_;
      default: return true;  // SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do
    }
  }

  // "ROWS COLS" out of the next whole {"Width":W,"Height":H} on the resize stream.
  std::optional<std::string> next_resize() {
    for (;;) {
      size_t start = resize_buf_.find('{');
      if (start == std::string::npos) {
        resize_buf_.clear();
        return std::nullopt;
      }
      size_t end = resize_buf_.find('}', start);
      if (end == std::string::npos) {
        if (resize_buf_.size() > 4096) resize_buf_.clear();
        return std::nullopt;
      }
      std::string obj = resize_buf_.substr(start, end - start + 1);
      resize_buf_.erase(0, end + 1);
      json j = json::parse(obj, nullptr, false);
      if (!j.is_object()) continue;
      auto w = j.value("Width", json(0)), h = j.value("Height", json(0));
      if (!w.is_number_unsigned() || !h.is_number_unsigned()) continue;
      unsigned cols = w.get<unsigned>(), rows = h.get<unsigned>();
      if (cols == 0 || rows == 0 || cols > 65535 || rows > 65535) continue;
      return std::to_string(rows) + " " + std::to_string(cols);
    }
  }

  bool wait_for_streams() {
    const auto until = Clock::now() + kStreamWait;
    while (!complete()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) {
        log::debug("cri streaming: the client did not open its streams in time");
        return false;
      }
      pollfd p{c_.fd(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000))) <= 0) continue;
      if (!c_.receive([&](const spdy::Frame& f) { return on_frame(f, false, false); })) return false;
    }
    return c_.ok();
  }

  void pump(int shim_fd, bool stdin_open) {
    shim::FrameReader fr;
    bool client = true;
    for (;;) {
      // A failed send is not the end: the shim may have closed its side after the process
      // exited, with output and the exit frame still to read (what waited is dropped).
      if (to_shim_.pending()) to_shim_.flush(shim_fd);
      // The client is not read while its stdin waits for the process (backpressure).
      const bool read_client = client && to_shim_.pending() < shim::FrameQueue::kQueueHigh;
      pollfd p[2] = {{shim_fd, static_cast<short>(POLLIN | (to_shim_.pending() ? POLLOUT : 0)), 0},
                     {read_client ? c_.fd() : -1, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (p[1].revents) {
        if (!c_.receive([&](const spdy::Frame& f) { return on_frame(f, true, stdin_open); })) {
          // The client is gone: the process goes on without its stdin (Docker's and
          // containerd's way for a detached client).
          if (stdin_open && !stdin_closed_) {
            to_shim_.push(shim::kStdinClose, "");
            to_shim_.flush(shim_fd);
          }
          gone_ = true;
          return;
        }
      }
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[65536];
        ssize_t n = ::read(shim_fd, buf, sizeof buf);
        if (n <= 0) {
          status_error("the container's shim closed the connection before the end");
          return;
        }
        fr.feed(std::string_view(buf, static_cast<size_t>(n)));
        while (auto f = fr.next()) {
          if (f->type == shim::kStdout && out_) client = c_.data(out_, f->data) && client;
          else if (f->type == shim::kStderr && err_) client = c_.data(err_, f->data) && client;
          else if (f->type == shim::kExit) {
            status_exit(std::atoi(f->data.c_str()));
            return;
          }
        }
        if (!c_.ok()) {
          gone_ = true;
          return;
        }
      }
    }
  }

  void status_exit(int code) {
    if (r_.kind == StreamRequest::Kind::attach || code == 0) {
      if (v4_) status_ = json{{"metadata", json::object()}, {"status", "Success"}}.dump();
      return;
    }
    failure("command terminated with non-zero exit code: exit status " + std::to_string(code), "NonZeroExitCode",
            {{"reason", "ExitCode"}, {"message", std::to_string(code)}});
  }
  void status_error(const std::string& msg) {
    failure(msg, "InternalError", {{"message", msg}}, 500);
  }
  // A failure: v4's metav1.Status (reason, one cause, an HTTP code if any), else the message.
  void failure(const std::string& msg, const char* reason, json cause, int code = 0) {
    if (!v4_) {
      status_ = msg;
      return;
    }
    json st = {{"metadata", json::object()},
               {"status", "Failure"},
               {"message", msg},
               {"reason", reason},
               {"details", {{"causes", json::array({std::move(cause)})}}}};
    if (code) st["code"] = code;
    status_ = st.dump();
  }

  void finish() {
    if (!gone_ && c_.ok()) {
      c_.fin(out_);
      c_.fin(err_);
      if (error_ && !status_.empty()) c_.data(error_, status_);
      c_.fin(error_);
      c_.fin(in_);
      c_.fin(resize_stream_);
    }
    c_.close(last_);
  }

  engine::Engine& eng_;
  Conn& c_;
  const StreamRequest& r_;
  bool v4_, resize_;
  uint32_t error_ = 0, in_ = 0, out_ = 0, err_ = 0, resize_stream_ = 0, last_ = 0;
  std::string pending_stdin_, resize_buf_, winsize_, status_;
  shim::FrameQueue to_shim_;
  bool stdin_closed_ = false, gone_ = false;
};

// portforward.k8s.io: a pair of streams (error, data) per forwarded connection.
class ForwardSession {
 public:
  ForwardSession(Conn& c, const StreamRequest& r) : c_(c), r_(r) {}

  void run() {
    for (;;) {
      std::vector<pollfd> p{{c_.fd(), POLLIN, 0}};
      std::vector<std::string> keys;
      for (auto& [k, f] : fwd_)
        if (f.tcp && !f.down_fin) {
          p.push_back({f.tcp.get(), POLLIN, 0});
          keys.push_back(k);
        }
      if (::poll(p.data(), p.size(), -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (p[0].revents && !c_.receive([&](const spdy::Frame& f) { return on_frame(f); })) break;
      for (size_t i = 1; i < p.size(); ++i) {
        if (!p[i].revents) continue;
        auto it = fwd_.find(keys[i - 1]);
        if (it == fwd_.end() || !it->second.tcp) continue;
        Fwd& f = it->second;
        char buf[kChunk];
        ssize_t n = ::recv(f.tcp.get(), buf, sizeof buf, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n > 0) {
          c_.data(f.data, std::string_view(buf, static_cast<size_t>(n)));
          continue;
        }
        // The pod's side ended: the client's copy from us ends with the data stream, its
        // wait with the (empty) error stream.
        f.down_fin = true;
        c_.fin(f.data);
        c_.fin(f.error);
        if (f.up_fin || n < 0) fwd_.erase(it);
      }
      if (!c_.ok()) break;
    }
    fwd_.clear();
    c_.close(last_);
  }

 private:
  struct Fwd {
    uint32_t error = 0, data = 0;
    int port = 0;
    UniqueFd tcp;
    bool up_fin = false, down_fin = false;
    std::string failure;  // why the pair cannot be forwarded (told once both streams exist)
  };

  bool on_frame(const spdy::Frame& f) {
    if (!f.control) {
      for (auto it = fwd_.begin(); it != fwd_.end(); ++it) {
        Fwd& w = it->second;
        if (f.stream != w.data) continue;
        if (!f.data.empty() && w.tcp && !w.up_fin) shim::send_all(w.tcp.get(), f.data);
        if (f.fin()) {
          w.up_fin = true;
          if (w.tcp) ::shutdown(w.tcp.get(), SHUT_WR);
          if (w.down_fin) fwd_.erase(it);
        }
        break;
      }
      return true;
    }
    switch (f.type) {
      case spdy::kSynStream: return on_stream(f);
      case spdy::kPing: c_.send(c_.codec().ping(f.value)); return true;
      case spdy::kGoAway: return false;
      case spdy::kRstStream:
        for (auto it = fwd_.begin(); it != fwd_.end(); ++it)
          if (it->second.data == f.stream || it->second.error == f.stream) {
            fwd_.erase(it);
            break;
          }
        return true;
      default: return true;
    }
  }

  bool on_stream(const spdy::Frame& f) {
    const std::string type = lower(spdy::header(f.headers, "streamtype"));
    const std::string port_s = spdy::header(f.headers, "port");
    std::string id = spdy::header(f.headers, "requestid");
    if (f.stream == 0 || f.stream <= last_ || (type != "error" && type != "data")) {
      c_.send(c_.codec().rst_stream(f.stream, spdy::kRstRefusedStream));
      return true;
    }
    last_ = f.stream;
    // Old clients send no request id: the data stream follows its error stream.
    if (id.empty()) id = "#" + std::to_string(type == "error" ? f.stream : f.stream - 2);
    if (fwd_.size() >= 128 && !fwd_.count(id)) {
      c_.send(c_.codec().rst_stream(f.stream, spdy::kRstRefusedStream));
      return true;
    }
    Fwd& w = fwd_[id];
    uint32_t& s = type == "error" ? w.error : w.data;
    if (s) {
      c_.send(c_.codec().rst_stream(f.stream, spdy::kRstProtocolError));
      return true;
    }
    s = f.stream;
    c_.reply(f.stream);
    if (w.failure.empty()) {
      char* end = nullptr;
      long port = std::strtol(port_s.c_str(), &end, 10);
      if (port_s.empty() || *end || port < 1 || port > 65535) w.failure = "invalid port \"" + port_s + "\"";
      else if (w.port && w.port != port) w.failure = "the error and data streams of request " + id + " name different ports";
      else w.port = static_cast<int>(port);
    }
    if (!w.error || !w.data) return true;  // the pair is not complete yet
    if (w.failure.empty()) {
      std::string why;
      w.tcp = dial(r_.netns, w.port, why);
      if (!w.tcp)
        w.failure = "failed to connect to localhost:" + std::to_string(w.port) + " inside namespace \"" + r_.pod + "\", " + why;
    }
    if (!w.failure.empty()) {
      // The error stream says why; both end (the client reads the error stream to its end).
      c_.data(w.error, w.failure);
      c_.fin(w.error);
      c_.fin(w.data);
      fwd_.erase(id);
    }
    return true;
  }

  Conn& c_;
  const StreamRequest& r_;
  std::map<std::string, Fwd> fwd_;
  uint32_t last_ = 0;
};

}  // namespace

struct StreamingServer::Impl : std::enable_shared_from_this<Impl> {
  engine::Engine& eng;
  UniqueFd listener;
  std::string bound;
  std::thread acceptor;
  int wake[2] = {-1, -1};
  std::mutex mu;
  std::condition_variable idle;
  std::map<std::string, std::pair<StreamRequest, Clock::time_point>> waiting;
  std::set<int> sessions;  // connection sockets being served
  bool stopping = false;

  explicit Impl(engine::Engine& e) : eng(e) {}
  ~Impl() {
    for (int fd : wake)
      if (fd >= 0) ::close(fd);
  }

  std::optional<StreamRequest> take(const std::string& kind, const std::string& tok) {
    std::lock_guard<std::mutex> l(mu);
    auto it = waiting.find(tok);
    if (it == waiting.end()) return std::nullopt;
    auto [req, at] = std::move(it->second);
    waiting.erase(it);
    if (Clock::now() - at > kTokenTtl) return std::nullopt;
    const char* want = req.kind == StreamRequest::Kind::exec     ? "exec"
                       : req.kind == StreamRequest::Kind::attach ? "attach"
                                                                 : "portforward";
    if (kind != want) return std::nullopt;
    return req;
  }

  void accept_loop() {
    for (;;) {
      pollfd p[2] = {{listener.get(), POLLIN, 0}, {wake[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (p[1].revents) return;
      int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      {
        std::lock_guard<std::mutex> l(mu);
        if (stopping || sessions.size() >= kMaxSessions) {
          ::close(fd);
          continue;
        }
        sessions.insert(fd);
      }
      std::thread([self = shared_from_this(), fd] {
        try {
          self->serve(fd);
        } catch (const std::exception& e) {
          log::debug(std::string("cri streaming: ") + e.what());
        }
        std::lock_guard<std::mutex> l(self->mu);
        self->sessions.erase(fd);
        ::close(fd);
        self->idle.notify_all();
      }).detach();
    }
  }

  // The request head, within 10 seconds; "" if it does not come.
  static std::string read_head(int fd, std::string& rest) {
    std::string buf;
    auto until = Clock::now() + std::chrono::seconds(10);
    for (;;) {
      size_t end = buf.find("\r\n\r\n");
      if (end != std::string::npos) {
        rest = buf.substr(end + 4);
        return buf.substr(0, end + 2);
      }
      if (buf.size() > kMaxHead) return "";
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) return "";
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char b[4096];
      ssize_t n = ::recv(fd, b, sizeof b, 0);
      if (n <= 0) return "";
      buf.append(b, static_cast<size_t>(n));
    }
  }

  void serve(int fd) {
    std::string rest;
    const std::string head = read_head(fd, rest);
    if (head.empty()) return;
    size_t eol = head.find("\r\n");
    const std::string line = head.substr(0, eol);
    const size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string::npos || sp2 == sp1 || line.compare(sp2 + 1, 5, "HTTP/") != 0)
      return http_error(fd, 400, "Bad Request", "not an HTTP request");
    const std::string method = line.substr(0, sp1);
    std::string path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    path = path.substr(0, path.find('?'));
    std::map<std::string, std::string> h;
    for (size_t at = eol + 2; at < head.size();) {
      size_t e = head.find("\r\n", at);
      std::string l = head.substr(at, e - at);
      at = e + 2;
      size_t colon = l.find(':');
      if (colon == std::string::npos) continue;
      std::string k = lower(trim(l.substr(0, colon))), v = trim(l.substr(colon + 1));
      h[k] = h[k].empty() ? v : h[k] + "," + v;
    }
    if (method != "GET" && method != "POST") return http_error(fd, 405, "Method Not Allowed", method + " is not allowed");
    // /exec/TOKEN, /attach/TOKEN, /portforward/TOKEN
    const size_t slash = path.find('/', 1);
    if (path.size() < 2 || path[0] != '/' || slash == std::string::npos)
      return http_error(fd, 404, "Not Found", "no such streaming endpoint");
    const std::string kind = path.substr(1, slash - 1), tok = path.substr(slash + 1);
    auto req = take(kind, tok);
    if (!req) return http_error(fd, 404, "Not Found", "token not found or expired: ask the CRI for a new URL");
    bool upgrade = false;
    for (auto& v : comma_list(lower(h["connection"])))
      if (v == "upgrade") upgrade = true;
    const std::string up = lower(h["upgrade"]);
    if (!upgrade || up.find("spdy/3.1") == std::string::npos)
      return http_error(fd, 400, "Bad Request",
                        up.find("websocket") != std::string::npos
                            ? "berth's CRI streaming server speaks SPDY/3.1, not WebSocket"
                            : "unable to upgrade: a SPDY/3.1 upgrade (Connection: Upgrade, Upgrade: SPDY/3.1) is required");
    const std::vector<std::string> ours = req->kind == StreamRequest::Kind::port_forward
                                              ? std::vector<std::string>{"portforward.k8s.io"}
                                              : std::vector<std::string>{"v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io"};
    const auto theirs = comma_list(h["x-stream-protocol-version"]);
    if (theirs.empty())
      return http_error(fd, 400, "Bad Request", "unable to upgrade: X-Stream-Protocol-Version is required");
    std::string protocol;
    for (auto& t : theirs)
      if (protocol.empty() && std::find(ours.begin(), ours.end(), t) != ours.end()) protocol = t;
    if (protocol.empty()) {
      std::string extra;
      for (auto& o : ours) extra += "X-Accepted-Stream-Protocol-Versions: " + o + "\r\n";
      return http_error(fd, 403, "Forbidden", "unable to upgrade: unable to negotiate protocol: client supports " +
                                                  h["x-stream-protocol-version"], extra);
    }
    if (!shim::send_all(fd, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                            "X-Stream-Protocol-Version: " + protocol + "\r\n\r\n"))
      return;
    Conn c(fd);
    c.codec().feed(rest);
    if (req->kind == StreamRequest::Kind::port_forward) ForwardSession(c, *req).run();
    else CommandSession(eng, c, *req, protocol).run();
  }
};

StreamingServer::StreamingServer(engine::Engine& eng) : impl_(std::make_shared<Impl>(eng)) {}

StreamingServer::~StreamingServer() { stop(); }

void StreamingServer::start(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) throw Error(ErrorKind::invalid_argument, "streaming address " + address + ": HOST:PORT expected");
  const std::string host = address.substr(0, colon), port_s = address.substr(colon + 1);
  char* end = nullptr;
  long port = std::strtol(port_s.c_str(), &end, 10);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (port_s.empty() || *end || port < 0 || port > 65535 || ::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1)
    throw Error(ErrorKind::invalid_argument, "streaming address " + address + ": an IPv4 HOST:PORT expected");
  a.sin_port = htons(static_cast<uint16_t>(port));
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) throw_errno("socket");
  int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s.get(), 128) != 0)
    throw Error(ErrorKind::unavailable, "streaming server on " + address + ": " + std::strerror(errno));
  socklen_t len = sizeof a;
  ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  char ip[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
  impl_->bound = std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
  if (::pipe2(impl_->wake, O_CLOEXEC) != 0) throw_errno("pipe2");
  impl_->listener = std::move(s);
  impl_->acceptor = std::thread([i = impl_] { i->accept_loop(); });
}

void StreamingServer::stop() {
  if (!impl_ || !impl_->acceptor.joinable()) return;
  ssize_t ignored = ::write(impl_->wake[1], "x", 1);
  (void)ignored;
  impl_->acceptor.join();
  impl_->listener.reset();
  std::unique_lock<std::mutex> l(impl_->mu);
  impl_->stopping = true;
  for (int fd : impl_->sessions) ::shutdown(fd, SHUT_RDWR);
  impl_->idle.wait_for(l, std::chrono::seconds(3), [&] { return impl_->sessions.empty(); });
}

std::string StreamingServer::address() const { return impl_->bound; }

std::string StreamingServer::url(StreamRequest r) {
  const char* kind = r.kind == StreamRequest::Kind::exec     ? "exec"
                     : r.kind == StreamRequest::Kind::attach ? "attach"
                                                             : "portforward";
  std::lock_guard<std::mutex> l(impl_->mu);
  const auto now = Clock::now();
  for (auto it = impl_->waiting.begin(); it != impl_->waiting.end();)
    it = now - it->second.second > kTokenTtl ? impl_->waiting.erase(it) : std::next(it);
  if (impl_->waiting.size() >= kMaxWaiting)
    throw Error(ErrorKind::unavailable, "maximum number of in-flight streaming requests exceeded");
  std::string t = engine::random_id();
  impl_->waiting.emplace(t, std::make_pair(std::move(r), now));
  return "http://" + impl_->bound + "/" + kind + "/" + t;
}

}  // namespace berth::cri
