// berthd-tls.so: berthd's TCP listener with TLS client verification (see api/tls.hpp).
// Loaded only by a daemon given a tcp:// host; OpenSSL stays out of the others' memory.
#include <fcntl.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "api/tls.hpp"
#include "common/error.hpp"
#include "common/log.hpp"

namespace {

using namespace berth;
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

// One client: the TLS stream on one side, the HTTP server's socketpair end on the other.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket s, ssl::context& ctx, std::function<void(UniqueFd)>& adopt, std::chrono::seconds timeout)
      : tls_(std::move(s), ctx), local_(tls_.get_executor()), timer_(tls_.get_executor()), adopt_(adopt),
        timeout_(timeout) {}

  void start() {
    arm_timer();
    tls_.async_handshake(ssl::stream_base::server, [self = shared_from_this()](boost::system::error_code ec) {
      self->timer_.cancel();
      if (ec) {
        // No certificate, one the CA did not sign, plain HTTP, a port scanner: dropped.
        log::debug("TLS handshake with " + self->peer() + ": " + ec.message());
        self->close_all();
        return;
      }
      int sv[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        log::warn(std::string("socketpair: ") + std::strerror(errno));
        self->close_all();
        return;
      }
      boost::system::error_code aec;
      self->local_.assign(unix_socket(), sv[0], aec);
      if (aec) {
        ::close(sv[0]);
        ::close(sv[1]);
        self->close_all();
        return;
      }
      self->adopt_(UniqueFd(sv[1]));
      self->client_to_server();
      self->server_to_client();
    });
  }

  void close_all() {
    boost::system::error_code ignored;
    timer_.cancel();
    tls_.next_layer().close(ignored);
    local_.close(ignored);
  }

 private:
  std::string peer() {
    boost::system::error_code ec;
    auto ep = tls_.next_layer().remote_endpoint(ec);
    return ec ? std::string("a client") : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void arm_timer() {
    timer_.expires_after(timeout_);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->close_all();
    });
  }

  // The client's bytes, decrypted, to the server. The client's end of its stream (close_notify
  // or FIN) is the server's EOF on reading; the other direction goes on.
  void client_to_server() {
    tls_.async_read_some(asio::buffer(up_), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      if (ec) {
        self->client_done_ = true;
        if (self->server_done_) return self->finish();
        if (ec == asio::error::operation_aborted) return;
        boost::system::error_code ignored;
        self->local_.shutdown(unix_socket::socket::shutdown_send, ignored);
        return;
      }
      asio::async_write(self->local_, asio::buffer(self->up_.data(), n), [self](boost::system::error_code wec, size_t) {
        if (wec) return self->close_all();
        self->client_to_server();
      });
    });
  }

  // The server's bytes to the client, encrypted. The server's end of its stream ends the
  // connection: close_notify, then the socket closes.
  void server_to_client() {
    local_.async_read_some(asio::buffer(down_), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      if (ec) {
        self->server_done_ = true;
        if (self->client_done_) return self->finish();
        // A read of the client's is pending: cancelled, its handler then finishes.
        boost::system::error_code ignored;
        self->tls_.next_layer().cancel(ignored);
        return;
      }
      asio::async_write(self->tls_, asio::buffer(self->down_.data(), n), [self](boost::system::error_code wec, size_t) {
        if (wec) return self->close_all();
        self->server_to_client();
      });
    });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    boost::system::error_code ignored;
    local_.close(ignored);
    arm_timer();
    tls_.async_shutdown([self = shared_from_this()](boost::system::error_code) { self->close_all(); });
  }

  ssl::stream<tcp::socket> tls_;
  unix_socket::socket local_;
  asio::steady_timer timer_;
  std::function<void(UniqueFd)>& adopt_;
  std::chrono::seconds timeout_;
  std::array<char, 16 * 1024> up_{}, down_{};
  bool client_done_ = false, server_done_ = false, finished_ = false;
};

class Listener : public api::TlsListener {
 public:
  Listener(const api::TlsOptions& o, std::function<void(UniqueFd)> adopt)
      : options_(o), adopt_(std::move(adopt)), ctx_(ssl::context::tls_server), acceptor_(io_) {
    boost::system::error_code ec;
    // TLS 1.2 at least (Docker's minimum); the client must show a certificate the CA signed.
    ctx_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    // The key first: a certificate loaded after it that does not match drops it silently, and
    // the check below names both files (loaded the other way round, OpenSSL's "key values
    // mismatch" names neither).
    ctx_.use_private_key_file(o.key_file, ssl::context::pem, ec);
    if (ec) throw Error(ErrorKind::invalid_argument, "--tlskey " + o.key_file + ": " + ec.message());
    ctx_.use_certificate_chain_file(o.cert_file, ec);
    if (ec) throw Error(ErrorKind::invalid_argument, "--tlscert " + o.cert_file + ": " + ec.message());
    if (::SSL_CTX_check_private_key(ctx_.native_handle()) != 1)
      throw Error(ErrorKind::invalid_argument, "--tlskey " + o.key_file + " is not the key of --tlscert " + o.cert_file);
    ctx_.load_verify_file(o.ca_file, ec);
    if (ec) throw Error(ErrorKind::invalid_argument, "--tlscacert " + o.ca_file + ": " + ec.message());
    ctx_.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);

    tcp::endpoint ep;
    if (o.host.empty()) {
      ep = tcp::endpoint(tcp::v6(), o.port);  // every address, IPv4 too (v6only off below)
    } else {
      auto addr = asio::ip::make_address(o.host, ec);
      if (ec) throw Error(ErrorKind::invalid_argument, "tcp://" + o.host + ": not an IP address");
      ep = tcp::endpoint(addr, o.port);
    }
    acceptor_.open(ep.protocol(), ec);
    if (!ec && o.host.empty()) acceptor_.set_option(asio::ip::v6_only(false), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw Error("listen on tcp://" + (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) + ":" +
                  std::to_string(o.port) + ": " + ec.message());
    accept();
    thread_ = std::thread([this] {
      try {
        io_.run();
      } catch (const std::exception& e) {
        log::error(std::string("the TLS listener stopped: ") + e.what());
      }
    });
  }

  ~Listener() override {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
        log::warn("accept (tcp): " + ec.message());
        auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
        t->async_wait([this, t](boost::system::error_code) { accept(); });
        return;
      }
      boost::system::error_code ignored;
      s.set_option(tcp::no_delay(true), ignored);
      ::fcntl(s.native_handle(), F_SETFD, FD_CLOEXEC);  // Asio accepts without SOCK_CLOEXEC
      std::make_shared<Session>(std::move(s), ctx_, adopt_, options_.handshake_timeout)->start();
      accept();
    });
  }

  api::TlsOptions options_;
  std::function<void(UniqueFd)> adopt_;
  asio::io_context io_{1};
  ssl::context ctx_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace

extern "C" berth::api::TlsListener* berthd_tls_listen(const berth::api::TlsOptions& options,
                                                      std::function<void(berth::UniqueFd)> adopt) {
  return new Listener(options, std::move(adopt));
}
