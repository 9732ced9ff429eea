// berthd's HTTP/1.1 server (api/http.hpp) on the bytes a client sends: request lines, header
// fields, Content-Length and chunked bodies, pipelined keep-alive requests, upgrades, garbage.
// The input arrives on a connection the server adopts (as berthd's TLS listener hands it
// one), in pieces whose size the first byte picks; the client then closes its sending side
// and reads until the server closes. The server never crashes and never hangs (the
// connection ends within its timeouts), every answer starts with a status line, and each
// handler sees a decoded request and a body within the limit.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "api/http.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"

using namespace berth;
using nlohmann::json;

namespace {

constexpr size_t kBodyLimit = 4096;

void handle(api::Exchange& ex) {
  const api::Request& r = ex.req();
  (void)r.param("all");
  (void)r.flag("force");
  (void)r.header("content-type");
  if (r.path.rfind("/hijack", 0) == 0) {
    // Docker's attach: 101 and the raw stream; what the client sent past its request comes
    // back first.
    api::Exchange::Hijacked h = ex.hijack("application/vnd.docker.raw-stream", r.header("upgrade") == "tcp");
    (void)api::send_all_polled(h.fd.get(), h.pending, std::chrono::milliseconds(2000));
    return;
  }
  if (r.method == "POST") {
    const json j = ex.json_body();  // a refusal (too large, malformed) is the server's 500
    ex.reply(200, json{{"type", j.type_name()}, {"query", r.query.size()}});
  } else if (r.method == "PUT") {
    size_t n = 0;
    ex.body_stream([&](std::string_view d) { return (n += d.size()) <= 2 * kBodyLimit; });
    ex.reply(200, json{{"bytes", n}});
  } else if (r.path == "/stream") {
    ex.begin_stream(200, "text/plain");
    ex.write(r.target);
    ex.write("");
    ex.end_stream();
  } else if (r.path == "/empty") {
    ex.reply_empty(204);
  } else if (r.path == "/nothing") {
    // No response: the server answers 500 for the handler.
  } else {
    ex.reply(200, "text/plain", r.path);
  }
}

api::Server& server() {
  // Never destroyed: the io thread serves until the process ends.
  static api::Server* s = [] {
    api::Limits limits;
    limits.header_bytes = 2048;
    limits.body_bytes = kBodyLimit;
    limits.header_timeout = std::chrono::seconds(5);
    limits.io_timeout = std::chrono::seconds(5);
    auto* srv = new api::Server(limits, handle, {{"Api-Version", "1.41"}});
    std::thread([srv] { srv->run(); }).detach();
    return srv;
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = size_t{data[0]} * 4 + 1;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) std::abort();
  UniqueFd mine(sv[0]);
  server().adopt(UniqueFd(sv[1]));
  std::string out;
  bool sent_all = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    if (!sent_all && in.empty()) {
      ::shutdown(mine.get(), SHUT_WR);
      sent_all = true;
    }
    pollfd p{mine.get(), static_cast<short>(POLLIN | (sent_all ? 0 : POLLOUT)), 0};
    if (::poll(&p, 1, 100) < 0 && errno != EINTR) std::abort();
    if (std::chrono::steady_clock::now() > deadline) std::abort();  // the server hangs
    if (!sent_all && (p.revents & POLLOUT)) {
      const ssize_t n = ::send(mine.get(), in.data(), std::min(piece, in.size()), MSG_NOSIGNAL);
      if (n > 0) in.remove_prefix(static_cast<size_t>(n));
      else if (n < 0 && errno == EPIPE) in = {};  // the server closed: the rest goes nowhere
    }
    if (p.revents & (POLLIN | POLLHUP)) {
      char buf[4096];
      const ssize_t n = ::recv(mine.get(), buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        break;  // the server closed the connection
      }
    }
  }
  if (!out.empty() && out.rfind("HTTP/1.1 ", 0) != 0) std::abort();
  return 0;
}
