#include "api/http.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/json_depth.hpp"
#include "common/error.hpp"
#include "common/log.hpp"

namespace berth::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using unix_socket = asio::local::stream_protocol;
using nlohmann::json;

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoded (a malformed escape is kept as it is); with `plus`, '+' is a space (a query).
std::string percent_decode(std::string_view s, bool plus) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else if (plus && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

// Waits until `fd` is ready for `events`; false on timeout. EINTR retried.
bool wait_fd(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("poll");
    return n > 0;
  }
}

}  // namespace

// --- Request -----------------------------------------------------------------------------

std::string Request::param(const std::string& key, const std::string& def) const {
  auto [lo, hi] = query.equal_range(key);
  if (lo == hi) return def;
  return std::prev(hi)->second;
}

bool Request::flag(const std::string& key, bool def) const {
  if (!has_param(key)) return def;
  const std::string v = param(key);
  return v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True";
}

std::string Request::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

std::string_view reason(int status) {
  return http::obsolete_reason(static_cast<http::status>(status));
}

// --- Connection --------------------------------------------------------------------------

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server::Impl* srv, unix_socket::socket sock)
      : srv_(srv), sock_(std::move(sock)), timer_(sock_.get_executor()) {}

  void read_next();  // on the io thread
  int fd() { return sock_.native_handle(); }

  // Reads more bytes into buf (the worker's side): false at EOF. Throws on timeout or error.
  bool fill(std::chrono::seconds timeout) {
    auto space = buf.prepare(64 * 1024);
    for (;;) {
      ssize_t n = ::recv(fd(), space.data(), space.size(), 0);
      if (n > 0) {
        buf.commit(static_cast<size_t>(n));
        return true;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) throw_errno("read from the client");
      if (!wait_fd(fd(), POLLIN, timeout)) throw Error(ErrorKind::unavailable, "the client sent nothing for too long");
    }
  }

  Server::Impl* srv_;
  unix_socket::socket sock_;
  asio::steady_timer timer_;
  beast::flat_buffer buf;
  std::optional<http::request_parser<http::empty_body>> parser;
};

struct BodyParser {
  explicit BodyParser(http::request_parser<http::empty_body>&& p) : parser(std::move(p)) {
    parser.body_limit(boost::none);
    parser.eager(true);
  }
  http::request_parser<http::buffer_body> parser;
};

// --- Server ------------------------------------------------------------------------------

struct Server::Impl {
  Limits limits;
  Handler handler;
  CommonHeaders common;
  asio::io_context io{1};
  std::vector<std::unique_ptr<unix_socket::acceptor>> acceptors;
  std::vector<std::string> socket_paths;
  mutable std::mutex mu;
  std::condition_variable cv;
  size_t workers = 0;
  std::set<int> busy;  // fds of connections whose request is being handled
  std::atomic<bool> stopping{false};

  void accept(unix_socket::acceptor& a) {
    a.async_accept([this, &a](boost::system::error_code ec, unix_socket::socket s) {
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping) return;
        log::warn("accept: " + ec.message());
        // Out of fds: try again shortly rather than spin.
        auto t = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(100));
        t->async_wait([this, &a, t](boost::system::error_code) {
          if (!stopping) accept(a);
        });
        return;
      }
      // Asio accepts without SOCK_CLOEXEC: a connection must not live on in what we spawn.
      ::fcntl(s.native_handle(), F_SETFD, FD_CLOEXEC);
      std::make_shared<Connection>(this, std::move(s))->read_next();
      accept(a);
    });
  }

  void dispatch(std::shared_ptr<Connection> c) {
    {
      std::lock_guard<std::mutex> l(mu);
      if (stopping) return;  // dropped: the connection closes
      ++workers;
      busy.insert(c->fd());
    }
    try {
      // The connection moves into serve(), which lets it go before it counts itself out: a
      // copy left in the thread's callable would outlive ~Server's wait (and the io_context).
      std::thread([this, c]() mutable { serve(std::move(c)); }).detach();
    } catch (const std::system_error& e) {
      log::error(std::string("cannot start a worker thread: ") + e.what());
      std::lock_guard<std::mutex> l(mu);
      --workers;
      busy.erase(c->fd());
    }
  }

  void serve(std::shared_ptr<Connection> c);
};

void Connection::read_next() {
  parser.emplace();
  parser->header_limit(static_cast<std::uint32_t>(srv_->limits.header_bytes));
  // Bodies are the handler's to limit (a JSON body is capped, a tar streams): Beast's default
  // would refuse a Content-Length over 1 MiB at the header already.
  parser->body_limit(boost::none);
  std::weak_ptr<Connection> weak = shared_from_this();
  timer_.expires_after(srv_->limits.header_timeout);
  timer_.async_wait([weak](boost::system::error_code ec) {
    if (ec) return;
    if (auto c = weak.lock()) {
      boost::system::error_code ignored;
      c->sock_.cancel(ignored);
    }
  });
  http::async_read_header(sock_, buf, *parser, [self = shared_from_this()](boost::system::error_code ec, size_t) {
    self->timer_.cancel();
    if (!ec) {
      self->srv_->dispatch(self);
      return;
    }
    // A request that cannot be parsed gets its answer; a client gone (or silent) is dropped.
    int status = 0;
    if (ec == http::error::header_limit) status = 431;
    else if (ec.category() == http::make_error_code(http::error::end_of_stream).category() && ec != http::error::end_of_stream &&
             ec != http::error::partial_message)
      status = 400;
    if (!status) return;
    auto text = std::make_shared<std::string>(
        json{{"message", status == 431 ? "request header too large" : "malformed HTTP request: " + ec.message()}}.dump());
    *text = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason(status)) +
            "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
            std::to_string(text->size()) + "\r\n\r\n" + *text;
    asio::async_write(self->sock_, asio::buffer(*text), [self, text](boost::system::error_code, size_t) {
      boost::system::error_code ignored;
      self->sock_.shutdown(unix_socket::socket::shutdown_both, ignored);
    });
  });
}

void Server::Impl::serve(std::shared_ptr<Connection> c) {
  Request req;
  {
    auto& h = c->parser->get();
    req.method = std::string(h.method_string());
    req.target = std::string(h.target());
    req.keep_alive = h.keep_alive();
    req.has_body = c->parser->chunked() || (c->parser->content_length() && *c->parser->content_length() > 0);
    for (auto& f : h) {
      std::string name(f.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      req.headers[name] = std::string(f.value());
    }
    std::string_view t = req.target;
    const size_t q = t.find('?');
    req.path = percent_decode(t.substr(0, q), false);
    if (q != std::string_view::npos) {
      std::string_view qs = t.substr(q + 1);
      while (!qs.empty()) {
        const size_t amp = qs.find('&');
        std::string_view kv = qs.substr(0, amp);
        if (!kv.empty()) {
          const size_t eq = kv.find('=');
          req.query.emplace(percent_decode(kv.substr(0, eq), true),
                            eq == std::string_view::npos ? "" : percent_decode(kv.substr(eq + 1), true));
        }
        if (amp == std::string_view::npos) break;
        qs.remove_prefix(amp + 1);
      }
    }
  }
  bool reuse = false;
  {
    Exchange ex(c, std::move(req), limits);
    try {
      handler(ex);
    } catch (const std::exception& e) {
      if (!ex.replied_) {
        try {
          ex.reply(500, json{{"message", e.what()}});
        } catch (const std::exception&) {
        }
      } else {
        log::debug(std::string("after the response: ") + e.what());
        ex.broken_ = true;
      }
    }
    if (!ex.replied_ && !ex.broken_) {
      try {
        ex.reply(500, json{{"message", "the handler sent no response"}});
      } catch (const std::exception&) {
      }
    }
    // A body the handler left unread is skipped when small; a big one ends the connection.
    if (ex.reusable() && ex.req_.has_body && !ex.body_done_) {
      size_t skipped = 0;
      try {
        ex.body_stream([&](std::string_view d) { return (skipped += d.size()) <= (1 << 20); });
      } catch (const std::exception&) {
        ex.broken_ = true;
      }
    }
    reuse = ex.reusable() && ex.body_done_;
  }
  {
    std::lock_guard<std::mutex> l(mu);
    busy.erase(c->fd());
    if (reuse && !stopping) asio::post(io, [c] { c->read_next(); });
  }
  c.reset();
  std::lock_guard<std::mutex> l(mu);
  --workers;
  cv.notify_all();
}

Server::Server(Limits limits, Handler handler, CommonHeaders common) : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
  impl_->handler = std::move(handler);
  impl_->common = std::move(common);
}

Server::~Server() {
  // Never run (a start that failed after some listeners were made): their sockets go too.
  for (auto& p : impl_->socket_paths) ::unlink(p.c_str());
  std::unique_lock<std::mutex> l(impl_->mu);
  impl_->cv.wait(l, [&] { return impl_->workers == 0; });
}

void Server::listen_unix(const std::string& path, mode_t mode, gid_t gid) {
  // Only a socket is replaced: a regular file or directory there is an error.
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) throw Error(ErrorKind::already_exists, path + " exists and is not a socket");
    // A socket someone still answers on is theirs; a dead one (a crash) is replaced.
    unix_socket::socket probe(impl_->io);
    boost::system::error_code ec;
    probe.connect(unix_socket::endpoint(path), ec);
    if (!ec) throw Error(ErrorKind::already_exists, "another server listens on " + path);
    ::unlink(path.c_str());
  }
  auto a = std::make_unique<unix_socket::acceptor>(impl_->io);
  boost::system::error_code ec;
  a->open(unix_socket(), ec);
  if (!ec) {
    // Made 0600 (umask) and only then opened to its group: no moment where others can connect.
    const mode_t old = ::umask(0177);
    a->bind(unix_socket::endpoint(path), ec);
    ::umask(old);
  }
  if (!ec) a->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw Error("listen on " + path + ": " + ec.message());
  if (::chmod(path.c_str(), mode) < 0) throw_errno("chmod " + path);
  if (::chown(path.c_str(), 0, gid) < 0) throw_errno("chown " + path);
  ::fcntl(a->native_handle(), F_SETFD, FD_CLOEXEC);
  impl_->socket_paths.push_back(path);
  impl_->acceptors.push_back(std::move(a));
}

void Server::adopt(UniqueFd fd) {
  auto owned = std::make_shared<UniqueFd>(std::move(fd));
  asio::post(impl_->io, [this, owned] {
    if (impl_->stopping) return;  // closed with `owned`
    boost::system::error_code ec;
    unix_socket::socket s(impl_->io);
    s.assign(unix_socket(), owned->get(), ec);
    if (ec) {
      log::warn("adopt a connection: " + ec.message());
      return;
    }
    owned->release();
    std::make_shared<Connection>(impl_.get(), std::move(s))->read_next();
  });
}

void Server::run(std::chrono::milliseconds grace) {
  for (auto& a : impl_->acceptors) impl_->accept(*a);
  auto guard = asio::make_work_guard(impl_->io);
  impl_->io.run();
  // Stopped: no new connection or request; idle connections close with the io_context's
  // pending operations below.
  for (auto& a : impl_->acceptors) {
    boost::system::error_code ignored;
    a->close(ignored);
  }
  for (auto& p : impl_->socket_paths) ::unlink(p.c_str());
  impl_->socket_paths.clear();
  std::unique_lock<std::mutex> l(impl_->mu);
  if (!impl_->cv.wait_for(l, grace, [&] { return impl_->workers == 0; })) {
    // Long requests (attach, logs -f, events, wait) end when their client's connection does.
    log::info("shutting down " + std::to_string(impl_->busy.size()) + " connection(s) in flight");
    for (int fd : impl_->busy) ::shutdown(fd, SHUT_RDWR);
    impl_->cv.wait_for(l, std::chrono::seconds(10), [&] { return impl_->workers == 0; });
  }
}

void Server::stop() {
  impl_->stopping = true;
  asio::post(impl_->io, [this] {
    for (auto& a : impl_->acceptors) {
      boost::system::error_code ignored;
      a->cancel(ignored);
    }
    impl_->io.stop();
  });
}

size_t Server::in_flight() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->workers;
}

// --- Exchange ----------------------------------------------------------------------------

Exchange::Exchange(std::shared_ptr<Connection> conn, Request req, const Limits& limits)
    : conn_(std::move(conn)), req_(std::move(req)), limits_(limits) {
  if (!req_.has_body) body_done_ = true;
}

Exchange::~Exchange() = default;

int Exchange::client_fd() const { return conn_->fd(); }

bool Exchange::client_gone() const {
  pollfd p{conn_->fd(), POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

bool Exchange::reusable() const { return replied_ && !broken_ && !streaming_ && req_.keep_alive; }

void Exchange::body_stream(const std::function<bool(std::string_view)>& sink) {
  if (body_done_) return;
  if (!body_) body_ = std::make_unique<BodyParser>(std::move(*conn_->parser));
  auto& p = body_->parser;
  std::vector<char> scratch(64 * 1024);
  while (!p.is_done()) {
    p.get().body().data = scratch.data();
    p.get().body().size = scratch.size();
    boost::system::error_code ec;
    size_t used = 0;
    if (conn_->buf.size() > 0) used = p.put(conn_->buf.data(), ec);
    else ec = http::error::need_more;
    conn_->buf.consume(used);
    if (ec == http::error::need_buffer) ec = {};
    const size_t got = scratch.size() - p.get().body().size;
    if (ec == http::error::need_more) {
      ec = {};
      if (got == 0 && !conn_->fill(limits_.io_timeout)) {
        broken_ = true;
        throw Error(ErrorKind::invalid_argument, "the request body was cut short");
      }
    }
    if (ec) {
      broken_ = true;
      throw Error(ErrorKind::invalid_argument, "malformed request body: " + ec.message());
    }
    if (got > 0 && !sink(std::string_view(scratch.data(), got))) {
      broken_ = true;  // the rest is unread
      return;
    }
  }
  body_done_ = true;
}

std::string Exchange::body() {
  std::string out;
  body_stream([&](std::string_view d) {
    if (out.size() + d.size() > limits_.body_bytes)
      throw Error(ErrorKind::invalid_argument, "request body too large (more than " +
                                                   std::to_string(limits_.body_bytes) + " bytes)");
    out.append(d);
    return true;
  });
  return out;
}

json Exchange::json_body() {
  const std::string b = body();
  if (b.find_first_not_of(" \t\r\n") == std::string::npos) return nullptr;
  check_json_depth(b, "the request body");
  try {
    return json::parse(b);
  } catch (const json::parse_error& e) {
    // Docker: "invalid character 'x' looking for beginning of value"; ours names the place.
    throw Error(ErrorKind::invalid_argument, std::string("malformed JSON in the request body: ") + e.what());
  }
}

bool send_all_polled(int fd, std::string_view data, std::chrono::milliseconds timeout) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_fd(fd, POLLOUT, timeout)) return false;
      continue;
    }
    return false;
  }
  return true;
}

void Exchange::send_all(std::string_view data) {
  if (!send_all_polled(conn_->fd(), data, limits_.io_timeout)) {
    broken_ = true;
    throw Error(ErrorKind::unavailable, "the client is gone (or read nothing for too long)");
  }
}

std::string Exchange::head(int status, const Headers& headers) const {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason(status)) + "\r\n";
  for (auto& [k, v] : conn_->srv_->common) h += k + ": " + v + "\r\n";
  for (auto& [k, v] : headers) h += k + ": " + v + "\r\n";
  if (!req_.keep_alive) h += "Connection: close\r\n";
  return h;
}

void Exchange::reply(int status, const json& body, const Headers& headers) {
  reply(status, "application/json", body.dump() + "\n", headers);
}

void Exchange::reply(int status, std::string_view content_type, std::string_view body, const Headers& headers) {
  if (replied_) throw Error("a second response to one request");
  replied_ = true;
  std::string h = head(status, headers);
  h += "Content-Type: " + std::string(content_type) + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  if (req_.method != "HEAD") h += body;
  send_all(h);
}

void Exchange::reply_empty(int status, const Headers& headers) {
  if (replied_) throw Error("a second response to one request");
  replied_ = true;
  std::string h = head(status, headers);
  // 204 and 304 have no body and no length.
  if (status != 204 && status != 304) h += "Content-Length: 0\r\n";
  send_all(h + "\r\n");
}

void Exchange::begin_stream(int status, std::string_view content_type, const Headers& headers) {
  if (replied_) throw Error("a second response to one request");
  replied_ = streaming_ = true;
  std::string h = head(status, headers);
  h += "Content-Type: " + std::string(content_type) + "\r\nTransfer-Encoding: chunked\r\n\r\n";
  send_all(h);
}

bool Exchange::write(std::string_view data) {
  if (broken_) return false;
  if (data.empty()) return true;  // an empty chunk would end the body
  char size[32];
  const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  try {
    std::string chunk;
    chunk.reserve(data.size() + 40);
    chunk.append(size, static_cast<size_t>(n)).append(data).append("\r\n");
    send_all(chunk);
    return true;
  } catch (const Error&) {
    return false;
  }
}

void Exchange::end_stream() {
  if (!streaming_) return;
  try {
    if (!broken_) send_all("0\r\n\r\n");
    streaming_ = false;  // the connection can serve the next request
  } catch (const Error&) {
  }
}

Exchange::Hijacked Exchange::hijack(std::string_view content_type, bool upgrade) {
  if (replied_) throw Error("a second response to one request");
  // The body, if any, is part of the stream: bytes already read come back as pending.
  replied_ = true;
  broken_ = true;  // never reused
  std::string h = head(upgrade ? 101 : 200, {});
  h += "Content-Type: " + std::string(content_type) + "\r\n";
  h += upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n" : "\r\n";
  send_all(h);
  Hijacked out;
  auto data = conn_->buf.data();
  out.pending.assign(static_cast<const char*>(data.data()), data.size());
  conn_->buf.consume(data.size());
  out.fd.reset(::fcntl(conn_->fd(), F_DUPFD_CLOEXEC, 3));
  if (!out.fd) throw_errno("dup the hijacked connection");
  return out;
}

}  // namespace berth::api
