// The syslog driver's messages (Docker's four formats) and its sender, over real sockets.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "logs/syslog.hpp"
#include "temp_dir.hpp"

using namespace berth;

namespace {

struct Utc {
  Utc() {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
};

// 2026-01-05 07:08:09.120300 UTC
const timespec kWhen{1767596889, 120300000};

logs::SyslogTarget target(std::string format) {
  return {"udp", "127.0.0.1:514", 3, std::move(format), "abc123", "host1"};
}

UniqueFd bound_unix(const std::string& path, int type) {
  UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  path.copy(sa.sun_path, sizeof sa.sun_path - 1);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  if (type == SOCK_STREAM) EXPECT_EQ(::listen(fd.get(), 4), 0);
  return fd;
}

std::string receive(int fd) {
  char buf[70000];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

TEST(SyslogMessage, DockersFourFormats) {
  Utc utc;
  EXPECT_EQ(logs::syslog_message(target(""), 6, "hello", kWhen, 42), "<30>Jan  5 07:08:09 abc123[42]: hello\n");
  EXPECT_EQ(logs::syslog_message(target("rfc3164"), 3, "oops", kWhen, 42), "<27>Jan  5 07:08:09 host1 abc123[42]: oops\n");
  EXPECT_EQ(logs::syslog_message(target("rfc5424"), 6, "hi", kWhen, 42), "<30>1 2026-01-05T07:08:09Z host1 abc123 42 abc123 - hi\n");
  // Microseconds, trailing zeros dropped (Go's .999999); none at all for a whole second.
  EXPECT_EQ(logs::syslog_message(target("rfc5424micro"), 6, "hi", kWhen, 42),
            "<30>1 2026-01-05T07:08:09.1203Z host1 abc123 42 abc123 - hi\n");
  EXPECT_EQ(logs::syslog_message(target("rfc5424micro"), 6, "", {kWhen.tv_sec, 0}, 42),
            "<30>1 2026-01-05T07:08:09Z host1 abc123 42 abc123 - \n");
  auto local7 = target("");
  local7.facility = 23;
  EXPECT_EQ(logs::syslog_message(local7, 3, "x", kWhen, 1).substr(0, 5), "<187>");
}

TEST(SyslogMessage, AnOffsetIsWrittenAsRfc3339Has) {
  ::setenv("TZ", "EST5", 1);
  ::tzset();
  EXPECT_EQ(logs::syslog_message(target("rfc5424"), 6, "x", kWhen, 1), "<30>1 2026-01-05T02:08:09-05:00 host1 abc123 1 abc123 - x\n");
  Utc utc;
}

TEST(Syslog, EachLineOneDatagramStdoutInfoStderrErrLongLinesInParts) {
  test::TempDir tmp("berth-syslog");
  const std::string path = tmp.path() + "/log.sock";
  UniqueFd server = bound_unix(path, SOCK_DGRAM);
  logs::Syslog s({"unixgram", path, 3, "rfc5424", "t", "h"});
  std::string out, err;
  s.add("stdout", "one\ntw", 6, out);
  EXPECT_NE(receive(server.get()).find(" - one\n"), std::string::npos);
  s.add("stderr", "bad\n", 4, err);
  const std::string e = receive(server.get());
  EXPECT_EQ(e.substr(0, 4), "<27>");
  EXPECT_NE(e.find(" - bad\n"), std::string::npos);
  EXPECT_EQ(out, "tw");
  s.flush("stdout", out);  // the stream ended without a newline: sent as it is
  EXPECT_NE(receive(server.get()).find(" - tw\n"), std::string::npos);
  const std::string big(logs::kMaxLine + 10, 'x');
  s.add("stdout", big.data(), big.size(), out);
  const std::string part = receive(server.get());
  EXPECT_NE(part.find(" - " + std::string(logs::kMaxLine, 'x') + "\n"), std::string::npos);  // the first 16 KiB, as a line
  EXPECT_EQ(out, std::string(10, 'x'));
}

TEST(Syslog, AStreamServerThatWentAwayIsDialledAgainOnce) {
  test::TempDir tmp("berth-syslog");
  const std::string path = tmp.path() + "/log.sock";
  UniqueFd server = bound_unix(path, SOCK_STREAM);
  logs::Syslog s({"unix", path, 3, "", "t", "h"});
  UniqueFd first(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
  std::string pending;
  s.add("stdout", "a\n", 2, pending);
  EXPECT_NE(receive(first.get()).find("t["), std::string::npos);
  first.reset();  // the server closes the connection (a restarted syslog daemon)
  // The first write after the close may still be taken by the kernel; the next fails and is
  // sent again on a new connection.
  for (int i = 0; i < 3; ++i) s.add("stdout", "b\n", 2, pending);
  UniqueFd second(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(second);
  EXPECT_NE(receive(second.get()).find(": b\n"), std::string::npos);
}

TEST(Syslog, NothingListeningIsAnErrorAtTheStart) {
  test::TempDir tmp("berth-syslog");
  EXPECT_THROW(logs::Syslog({"unixgram", tmp.path() + "/none.sock", 3, "", "t", "h"}), Error);
  // A port nobody listens on (tcp refuses at once).
  UniqueFd probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::bind(probe.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&sa), &len), 0);
  const std::string addr = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
  try {
    logs::Syslog s({"tcp", addr, 3, "", "t", "h"});
    ADD_FAILURE() << "connected to a port nobody listens on";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("connect to tcp://" + addr), std::string::npos) << e.what();
  }
}
