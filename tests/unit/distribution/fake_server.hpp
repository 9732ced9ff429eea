// A scripted HTTP/1.1 server on 127.0.0.1 for the registry client's tests: each request goes
// to a handler that returns the reply, which can also misbehave (hang, close early, lie about
// Content-Length). One thread per connection; every reply closes its connection. A TLS
// ClientHello (the client's https attempt on a loopback registry) is answered by a close.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace berth::testing {

struct HttpRequest {
  std::string method, target, path, query;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct Reply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  long long content_length = -1;          // advertised; -1: body.size()
  size_t send_bytes = std::string::npos;  // body bytes actually sent before closing
  int delay_ms = 0;                       // wait before answering at all
  int hold_ms = 0;                        // after sending, keep the connection open this long
  int trickle_ms = 0;                     // send the body one byte every trickle_ms
  bool no_content_length = false;
};

class FakeServer {
 public:
  using Handler = std::function<Reply(const HttpRequest&)>;

  explicit FakeServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 ||
        ::listen(listen_fd_, 64) < 0)
      throw std::runtime_error("bind/listen");
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    if (::pipe2(stop_pipe_, O_CLOEXEC) < 0) throw std::runtime_error("pipe");
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~FakeServer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    cv_.notify_all();
    (void)!::write(stop_pipe_[1], "x", 1);
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(conn_threads_);
    }
    for (auto& t : threads) t.join();
    ::close(listen_fd_);
    ::close(stop_pipe_[0]);
    ::close(stop_pipe_[1]);
  }

  int port() const { return port_; }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + addr(); }

  std::vector<HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  size_t count(const std::string& method, const std::string& path) {
    std::lock_guard lock(mu_);
    return std::count_if(requests_.begin(), requests_.end(), [&](const HttpRequest& r) {
      return r.method == method && r.path == path;
    });
  }
  int tls_attempts() {
    std::lock_guard lock(mu_);
    return tls_attempts_;
  }

 private:
  void accept_loop() {
    while (true) {
      pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) continue;
      if (p[1].revents) return;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu_);
      if (stopping_) {
        ::close(fd);
        return;
      }
      open_fds_.push_back(fd);
      conn_threads_.emplace_back([this, fd] { serve(fd); });
    }
  }

  bool wait_ms(int ms) {  // false when the server is stopping
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping_; });
  }

  static bool send_all(int fd, const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  void serve(int fd) {
    std::string in;
    char buf[65536];
    size_t header_end = std::string::npos;
    bool ok = true;
    while (header_end == std::string::npos) {
      ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0) {
        ok = false;
        break;
      }
      in.append(buf, static_cast<size_t>(r));
      if (static_cast<unsigned char>(in[0]) == 0x16) {  // TLS ClientHello: not here
        std::lock_guard lock(mu_);
        ++tls_attempts_;
        ok = false;
        break;
      }
      header_end = in.find("\r\n\r\n");
    }
    HttpRequest req;
    if (ok) {
      std::string head = in.substr(0, header_end);
      std::string body = in.substr(header_end + 4);
      size_t eol = head.find("\r\n");
      std::string line = head.substr(0, eol);
      size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
      req.method = line.substr(0, sp1);
      req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      size_t q = req.target.find('?');
      req.path = req.target.substr(0, q);
      req.query = q == std::string::npos ? "" : req.target.substr(q + 1);
      size_t pos = eol == std::string::npos ? head.size() : eol + 2;
      while (pos < head.size()) {
        size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string h = head.substr(pos, e - pos);
        size_t colon = h.find(':');
        if (colon != std::string::npos) {
          std::string name = h.substr(0, colon);
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          size_t v = h.find_first_not_of(' ', colon + 1);
          req.headers[name] = v == std::string::npos ? "" : h.substr(v);
        }
        pos = e + 2;
      }
      size_t want =
          req.headers.count("content-length") ? std::stoul(req.headers["content-length"]) : 0;
      while (body.size() < want) {
        ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r <= 0) break;
        body.append(buf, static_cast<size_t>(r));
      }
      req.body = std::move(body);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(req);
      }
      Reply rep = handler_(req);
      if (rep.delay_ms && !wait_ms(rep.delay_ms)) ok = false;
      if (ok) {
        std::string out =
            "HTTP/1.1 " + std::to_string(rep.status) + " " + reason(rep.status) + "\r\n";
        for (const auto& [k, v] : rep.headers) out += k + ": " + v + "\r\n";
        long long cl =
            rep.content_length >= 0 ? rep.content_length : static_cast<long long>(rep.body.size());
        if (!rep.no_content_length) out += "Content-Length: " + std::to_string(cl) + "\r\n";
        out += "Connection: close\r\n\r\n";
        const std::string body = req.method == "HEAD" ? "" : rep.body.substr(0, rep.send_bytes);
        if (!rep.trickle_ms) out += body;
        send_all(fd, out.data(), out.size());
        for (size_t i = 0; rep.trickle_ms && i < body.size(); ++i)
          if (!wait_ms(rep.trickle_ms) || !send_all(fd, &body[i], 1)) break;
        if (rep.hold_ms) wait_ms(rep.hold_ms);
      }
    }
    {
      std::lock_guard lock(mu_);
      open_fds_.erase(std::find(open_fds_.begin(), open_fds_.end(), fd));
    }
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }

  static std::string reason(int status) {
    switch (status) {
      case 200:
        return "OK";
      case 201:
        return "Created";
      case 202:
        return "Accepted";
      case 206:
        return "Partial Content";
      case 302:
        return "Found";
      case 307:
        return "Temporary Redirect";
      case 400:
        return "Bad Request";
      case 401:
        return "Unauthorized";
      case 403:
        return "Forbidden";
      case 404:
        return "Not Found";
      case 500:
        return "Internal Server Error";
      case 503:
        return "Service Unavailable";
      default:
        return "Whatever";
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<int> open_fds_;
  std::vector<std::thread> conn_threads_;
  std::vector<HttpRequest> requests_;
  int tls_attempts_ = 0;
};

}  // namespace berth::testing
