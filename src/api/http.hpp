// berthd's HTTP/1.1 server (Boost.Beast/Asio): unix-socket listeners, keep-alive, chunked
// responses, and connection hijacking (Docker's `101 UPGRADED` for attach and exec).
//
// One thread runs the io_context and does nothing but accept and read request headers, all
// asynchronously, each under a timeout: an idle keep-alive connection or a client that sends
// its header slowly costs a socket, never a thread. A complete header is handed to a worker
// thread of its own, which runs the handler — the engine's calls block — reads the body and
// writes the response synchronously on the connection's fd (polled, with a timeout for each
// step), and then gives the connection back to the io thread for its next request.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fd.hpp"

namespace berth::api {

struct Limits {
  size_t header_bytes = 64 * 1024;             // request line and header fields
  size_t body_bytes = 16 * 1024 * 1024;        // a body read whole (JSON)
  std::chrono::seconds header_timeout{60};     // from the connection's idle start to a whole header
  std::chrono::seconds io_timeout{300};        // a body read or a response write making no progress
};

struct Request {
  std::string method;  // "GET"
  std::string target;  // as sent ("/v1.41/containers/json?all=1")
  std::string path;    // its path, percent-decoded ("/v1.41/containers/json")
  std::multimap<std::string, std::string> query;  // decoded
  std::map<std::string, std::string> headers;     // names lowercased
  bool keep_alive = true;
  bool has_body = false;  // Content-Length > 0 or chunked

  // The query parameter (the last of its name), or `def`.
  std::string param(const std::string& key, const std::string& def = "") const;
  bool has_param(const std::string& key) const { return query.count(key) > 0; }
  // Go's strconv.ParseBool as Docker reads flags: 1/t/true/TRUE/True, else false.
  bool flag(const std::string& key, bool def = false) const;
  std::string header(const std::string& lowercase_name) const;
};

class Connection;

// One request on a connection, handled on a worker thread. A handler sends exactly one
// response: reply(), or begin_stream() … end_stream(), or hijack().
class Exchange {
 public:
  Exchange(std::shared_ptr<Connection> conn, Request req, const Limits& limits);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  const Request& req() const { return req_; }

  // The whole body (at most limits.body_bytes: invalid_argument beyond, "request body too
  // large"); "" without one.
  std::string body();
  // The body as JSON: null when empty; invalid_argument for malformed JSON.
  nlohmann::json json_body();
  // Copies the body, as it arrives, to `sink` (false: stop, the connection is not reused).
  void body_stream(const std::function<bool(std::string_view)>& sink);

  using Headers = std::vector<std::pair<std::string, std::string>>;
  void reply(int status, const nlohmann::json& body, const Headers& headers = {});
  void reply(int status, std::string_view content_type, std::string_view body, const Headers& headers = {});
  void reply_empty(int status, const Headers& headers = {});

  // A response whose body is written as it comes (chunked). write() returns false once the
  // client is gone.
  void begin_stream(int status, std::string_view content_type, const Headers& headers = {});
  bool write(std::string_view data);
  void end_stream();

  // `101 UPGRADED` (Upgrade: tcp), then the socket is the caller's: a raw two-way stream. The
  // bytes the client already sent past its request come back in `pending`. The connection is
  // not reused.
  struct Hijacked {
    UniqueFd fd;
    std::string pending;
  };
  // Without `upgrade` (a client that sent no Upgrade header): 200 and the raw stream, the
  // connection closed at its end.
  Hijacked hijack(std::string_view content_type, bool upgrade = true);

  // Readable once the client hangs up (or sends more): for the engine's cancel_fd.
  int client_fd() const;
  // Whether the client has hung up (its end closed or reset); cheap, from any thread.
  bool client_gone() const;
  bool replied() const { return replied_; }

 private:
  friend class Server;
  void send_all(std::string_view data);
  std::string head(int status, const Headers& headers) const;
  bool reusable() const;

  std::shared_ptr<Connection> conn_;
  Request req_;
  const Limits& limits_;
  bool replied_ = false, streaming_ = false, body_done_ = false, broken_ = false;
  std::unique_ptr<struct BodyParser> body_;
};

using Handler = std::function<void(Exchange&)>;

// Extra response headers every response carries (Docker's Api-Version, Server, …).
using CommonHeaders = std::vector<std::pair<std::string, std::string>>;

class Server {
 public:
  Server(Limits limits, Handler handler, CommonHeaders common = {});
  ~Server();

  // Listens on a unix socket at `path` (an old socket file there is replaced) with `mode`,
  // owned by root and group `gid` (-1: root's).
  void listen_unix(const std::string& path, mode_t mode, gid_t gid);
  // Serves a connection made elsewhere (one end of a socketpair: a TLS listener's decrypted
  // side) as it would one accepted on a unix socket. From any thread; closed when stopping.
  void adopt(UniqueFd fd);
  // Serves until stop(); then closes the listeners and idle connections, shuts down the
  // connections of requests in flight after `grace`, and returns once every worker is done.
  void run(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  // From any thread (a signal handler's thread).
  void stop();
  // Requests being handled now.
  size_t in_flight() const;

  struct Impl;  // (public for the connections it owns, which live in http.cpp)

 private:
  std::unique_ptr<Impl> impl_;
};

// The reason phrase of a status ("Not Found").
std::string_view reason(int status);

// Writes all of `data` to the non-blocking socket `fd`, waiting (poll) while it is full; false
// when the peer is gone or takes nothing for `timeout`. No SIGPIPE.
bool send_all_polled(int fd, std::string_view data, std::chrono::milliseconds timeout);

}  // namespace berth::api
