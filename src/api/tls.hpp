// berthd's TCP listener: TLS with client certificates (Docker's --tlsverify), the only way
// berthd serves TCP — the API is root on this host for whoever reaches it.
//
// The listener lives in the module berthd-tls.so (OpenSSL is mapped only by a daemon that
// listens on TCP). It accepts, completes the handshake under a timeout — a peer without a
// certificate signed by the CA is dropped there — and hands the HTTP server one end of a
// socketpair for each connection, copying bytes both ways between the TLS stream and the
// other end on one thread of its own (no thread per connection). The server sees a plain
// stream, so keep-alive, chunked responses and hijacked attach/exec streams work unchanged;
// a client's close_notify (or FIN) becomes a half-close the handler reads as EOF (stdin
// closed), and the server's close becomes close_notify then FIN.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/fd.hpp"

namespace berth::api {

struct TlsOptions {
  std::string host = "127.0.0.1";  // an IPv4 or IPv6 address; "" is every address
  unsigned short port = 2376;
  std::string ca_file, cert_file, key_file;  // PEM
  std::chrono::seconds handshake_timeout{10};
};

class TlsListener {
 public:
  virtual ~TlsListener() = default;  // stops accepting and closes every connection
};

// The module's entry point (berthd_tls_listen): binds and listens before it returns (errors as
// exceptions: a bad certificate or key, an address in use), then serves on its own thread.
// `adopt` is called from that thread with the server's end of each verified connection.
using tls_listen_fn = TlsListener* (*)(const TlsOptions& options, std::function<void(UniqueFd)> adopt);

// "tcp://HOST:PORT" → host and port ("tcp://:2376" every address, "tcp://[::1]:2376" IPv6,
// no port: 2376). invalid_argument when malformed.
TlsOptions parse_tcp_host(const std::string& url);

}  // namespace berth::api
