// berthd's HTTP server on a real unix socket: requests parsed (path and query decoded),
// keep-alive and pipelining, bodies (Content-Length, chunked, over the limit), chunked
// responses, hijacking, malformed input and oversized headers, a stop with a request in flight.
#include "api/http.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "api/docker/api.hpp"
#include "api/tls.hpp"
#include "common/error.hpp"
#include "temp_dir.hpp"

namespace berth::api {
namespace {

using nlohmann::json;

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/s.sock";
    Limits limits;
    limits.header_bytes = 4096;
    limits.body_bytes = 1024;
    limits.header_timeout = std::chrono::seconds(2);
    server_ = std::make_unique<Server>(limits, [this](Exchange& ex) { handle(ex); },
                                       CommonHeaders{{"Api-Version", "1.41"}});
    server_->listen_unix(path_, 0600, 0);
    thread_ = std::thread([this] { server_->run(std::chrono::milliseconds(200)); });
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
    server_.reset();
  }

  void handle(Exchange& ex) {
    const auto& r = ex.req();
    if (r.path == "/echo") {
      ex.reply(200, json{{"path", r.path}, {"q", r.param("q")}, {"flag", r.flag("f")}, {"body", ex.body()}});
    } else if (r.path == "/json") {
      ex.reply(200, json{{"got", ex.json_body()}});
    } else if (r.path == "/count") {
      // A streamed body (a tar): as long as the client sends, whatever its Content-Length.
      size_t n = 0;
      ex.body_stream([&](std::string_view d) {
        n += d.size();
        return true;
      });
      ex.reply(200, json{{"bytes", n}});
    } else if (r.path == "/stream") {
      ex.begin_stream(200, "text/plain");
      ex.write("one,");
      ex.write("two");
      ex.end_stream();
    } else if (r.path == "/hijack") {
      auto h = ex.hijack("application/vnd.docker.raw-stream");
      std::string got = h.pending;
      char buf[256];
      while (got.find('\n') == std::string::npos) {
        ssize_t n = ::recv(h.fd.get(), buf, sizeof buf, 0);
        if (n > 0) got.append(buf, static_cast<size_t>(n));
        else if (n == 0) break;
      }
      const std::string back = "echo:" + got;
      ::send(h.fd.get(), back.data(), back.size(), MSG_NOSIGNAL);
      ::shutdown(h.fd.get(), SHUT_RDWR);
    } else if (r.path == "/slow") {
      started_ = true;
      // A long stream: ends when the client (or a stop) hangs up.
      ex.begin_stream(200, "text/plain");
      while (ex.write("x")) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else {
      throw Error(ErrorKind::not_found, "nothing at " + r.path);
    }
  }

  // Sends `req` on a new connection and reads until the server closes it (or 3 s).
  std::string exchange(const std::string& req, bool half_close = false) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    if (half_close) ::shutdown(fd, SHUT_WR);
    timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }

  test::TempDir dir_;
  std::string path_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::atomic<bool> started_{false};
};

TEST_F(HttpTest, DecodesPathAndQueryAndSendsCommonHeaders) {
  const std::string out = exchange("GET /echo?q=a%20b%2Fc+d&f=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Api-Version: 1.41\r\n"), std::string::npos);
  EXPECT_NE(out.find(R"("q":"a b/c d")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("flag":true)"), std::string::npos);
}

TEST_F(HttpTest, KeepAliveServesPipelinedRequestsInOrder) {
  const std::string out = exchange(
      "GET /echo?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo?q=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "GET /echo?q=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const size_t a = out.find(R"("q":"1")"), b = out.find(R"("q":"2")"), c = out.find(R"("q":"3")");
  ASSERT_NE(a, std::string::npos) << out;
  ASSERT_NE(b, std::string::npos) << out;
  ASSERT_NE(c, std::string::npos) << out;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_NE(out.find(R"("body":"abc")"), std::string::npos);
}

TEST_F(HttpTest, ReadsAChunkedBody) {
  const std::string out = exchange(
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_NE(out.find(R"("body":"abcde")"), std::string::npos) << out;
}

TEST_F(HttpTest, StreamsABodyLongerThanTheJsonLimitAndBeastsDefault) {
  const std::string big(3 << 20, 'x');  // Beast's parser alone refuses > 1 MiB at the header
  const std::string out = exchange("POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(big.size()) +
                                   "\r\nConnection: close\r\n\r\n" + big);
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out.substr(0, 200);
  EXPECT_NE(out.find(R"("bytes":3145728)"), std::string::npos) << out.substr(0, 300);
}

TEST_F(HttpTest, RefusesABodyOverTheLimitAndMalformedJson) {
  const std::string big(2000, 'x');
  std::string out = exchange("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n" + big);
  EXPECT_EQ(out.rfind("HTTP/1.1 500", 0), 0u) << out;  // the handler's error (mapped by the API layer)
  EXPECT_NE(out.find("too large"), std::string::npos);
  out = exchange("POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{\"a\":");
  EXPECT_NE(out.find("malformed JSON"), std::string::npos) << out;
}

TEST_F(HttpTest, AnswersMalformedRequestsAndHugeHeaders) {
  std::string out = exchange("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << out;
  out = exchange("GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 431", 0), 0u) << out;
  // still serving
  out = exchange("GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
}

TEST_F(HttpTest, ClosesAConnectionThatSendsNoWholeHeaderInTime) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string out = exchange("GET /echo HTTP/1.1\r\nHost: x\r\n");
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(out.empty()) << out;
  EXPECT_GE(waited, std::chrono::milliseconds(1500));
  EXPECT_LT(waited, std::chrono::milliseconds(2900));
}

TEST_F(HttpTest, StreamsAChunkedResponse) {
  const std::string out = exchange("GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("4\r\none,\r\n3\r\ntwo\r\n0\r\n\r\n"), std::string::npos) << out;
}

TEST_F(HttpTest, HijacksTheConnectionWithBytesSentEarly) {
  const std::string out =
      exchange("POST /hijack HTTP/1.1\r\nHost: x\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\nhello\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 101 ", 0), 0u) << out;
  EXPECT_NE(out.find("Upgrade: tcp\r\n"), std::string::npos);
  EXPECT_NE(out.find("echo:hello\n"), std::string::npos) << out;
}

TEST_F(HttpTest, StopEndsAStreamInFlight) {
  std::thread client([this] { exchange("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"); });
  while (!started_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(server_->in_flight(), 1u);
  const auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  thread_.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(server_->in_flight(), 0u);
  client.join();
  thread_ = std::thread([] {});  // for TearDown
}

TEST(DockerApi, FiltersInBothShapesAndStatusOfEachKind) {
  auto f = docker::parse_filters(R"({"label": {"a=b": true, "c": false}, "status": ["running"]})");
  EXPECT_EQ(f["label"], std::vector<std::string>{"a=b"});
  EXPECT_EQ(f["status"], std::vector<std::string>{"running"});
  EXPECT_THROW(docker::parse_filters("{not json"), Error);
  EXPECT_THROW(docker::parse_filters(R"({"label": [1]})"), Error);
  EXPECT_EQ(docker::status_of(ErrorKind::not_found), 404);
  EXPECT_EQ(docker::status_of(ErrorKind::conflict), 409);
  EXPECT_EQ(docker::status_of(ErrorKind::invalid_argument), 400);
  EXPECT_EQ(docker::status_of(ErrorKind::internal), 500);
}

TEST(TcpHost, ParsesDockersForms) {
  auto o = parse_tcp_host("tcp://127.0.0.1:2377");
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 2377);
  o = parse_tcp_host("tcp://");  // Docker's default: loopback, 2376
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 2376);
  EXPECT_EQ(parse_tcp_host("tcp://:2376").host, "");  // every address
  EXPECT_EQ(parse_tcp_host("tcp://0.0.0.0:2376").host, "");
  o = parse_tcp_host("tcp://[::1]:9999/");
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 9999);
  EXPECT_EQ(parse_tcp_host("tcp://10.0.0.1").port, 2376);
  for (const char* bad : {"tcp://1.2.3.4:0", "tcp://1.2.3.4:70000", "tcp://1.2.3.4:x", "tcp://::1:2376", "tcp://[::1",
                          "tcp://[]:1", "tcp://h:1/path", "unix:///x"})
    EXPECT_THROW(parse_tcp_host(bad), Error) << bad;
}

}  // namespace
}  // namespace berth::api
