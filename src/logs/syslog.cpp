#include "logs/syslog.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/log.hpp"

namespace berth::logs {

namespace {

// Go's time.Stamp ("Jan _2 15:04:05"), local time.
std::string stamp(const timespec& now) {
  struct tm tm {};
  ::localtime_r(&now.tv_sec, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%b %e %H:%M:%S", &tm);
  return buf;
}

// Go's RFC 3339 (local time; "Z" for a zero offset), with `micro`: up to six digits of the
// second's fraction, trailing zeros dropped (Go's ".999999").
std::string rfc3339(const timespec& now, bool micro) {
  struct tm tm {};
  ::localtime_r(&now.tv_sec, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (micro) {
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%06ld", now.tv_nsec / 1000);
    std::string f = frac;
    while (f.back() == '0') f.pop_back();
    if (f != ".") out += f;
  }
  if (tm.tm_gmtoff == 0) return out + "Z";
  const long off = tm.tm_gmtoff < 0 ? -tm.tm_gmtoff : tm.tm_gmtoff;
  std::snprintf(buf, sizeof buf, "%c%02ld:%02ld", tm.tm_gmtoff < 0 ? '-' : '+', off / 3600, off % 3600 / 60);
  return out + buf;
}

}  // namespace

std::string syslog_message(const SyslogTarget& t, int severity, std::string_view line, const timespec& now, pid_t pid) {
  const std::string pri = "<" + std::to_string(t.facility * 8 + severity) + ">";
  const std::string p = std::to_string(pid);
  std::string out;
  if (t.format == "rfc5424" || t.format == "rfc5424micro")  // the tag is the app name and the msgid
    out = pri + "1 " + rfc3339(now, t.format == "rfc5424micro") + " " + t.hostname + " " + t.tag + " " + p + " " + t.tag + " - ";
  else if (t.format == "rfc3164")
    out = pri + stamp(now) + " " + t.hostname + " " + t.tag + "[" + p + "]: ";
  else  // the local form: no hostname
    out = pri + stamp(now) + " " + t.tag + "[" + p + "]: ";
  out.append(line);
  out += '\n';
  return out;
}

Syslog::Syslog(SyslogTarget t) : t_(std::move(t)) { connect(); }

void Syslog::connect() {
  fd_.reset();
  auto unix_socket = [&](const std::string& path, int type) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) throw Error("syslog: socket path too long: " + path);
    std::memcpy(sa.sun_path, path.data(), path.size());
    UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    if (!fd) throw_errno("syslog: socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) return UniqueFd();
    return fd;
  };
  if (t_.network.empty()) {
    // The local syslog: the first socket that takes us (datagram first, as Docker's).
    for (int type : {SOCK_DGRAM, SOCK_STREAM})
      for (const char* path : {"/dev/log", "/var/run/syslog", "/var/run/log"})
        if ((fd_ = unix_socket(path, type))) {
          stream_ = type == SOCK_STREAM;
          return;
        }
    throw Error("syslog: no local syslog listens on /dev/log, /var/run/syslog or /var/run/log");
  }
  if (t_.network == "unix" || t_.network == "unixgram") {
    stream_ = t_.network == "unix";
    fd_ = unix_socket(t_.address, stream_ ? SOCK_STREAM : SOCK_DGRAM);
    if (!fd_) throw_errno("syslog: connect to " + t_.network + "://" + t_.address);
    return;
  }
  // udp / tcp to a numeric address (the engine resolved the name).
  stream_ = t_.network == "tcp";
  const size_t colon = t_.address.rfind(':');
  if (colon == std::string::npos) throw Error("syslog: bad address " + t_.address);
  std::string host = t_.address.substr(0, colon);
  const int port = std::atoi(t_.address.c_str() + colon + 1);
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&ss);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &sa->sin6_addr) != 1)
      throw Error("syslog: bad address " + t_.address);
    len = sizeof *sa;
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&ss);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &sa->sin_addr) != 1) throw Error("syslog: bad address " + t_.address);
    len = sizeof *sa;
  }
  UniqueFd fd(::socket(ss.ss_family, (stream_ ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("syslog: socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0)
    throw_errno("syslog: connect to " + t_.network + "://" + t_.address);
  // A syslog server that stops reading holds the container's output for 10 s a line at most.
  timeval tv{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  fd_ = std::move(fd);
}

void Syslog::send(const std::string& msg) {
  auto once = [&]() {
    if (!fd_) return false;
    size_t off = 0;
    while (off < msg.size()) {
      const ssize_t n = ::send(fd_.get(), msg.data() + off, msg.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return false;
      if (!stream_) return true;  // a datagram goes whole or not at all
      off += static_cast<size_t>(n);
    }
    return true;
  };
  if (once()) return;
  // The server went away (a restarted syslog daemon, a closed connection): once more on a new
  // connection, as Docker's writer does; else the line is lost, never the container.
  int err = errno;
  try {
    connect();
    if (once()) return;
    err = errno;
  } catch (const Error& e) {
    err = e.code() ? e.code() : err;
  }
  if (!warned_) log::warn("syslog " + t_.network + "://" + t_.address + ": " + std::strerror(err) + " (lines dropped)");
  warned_ = true;
}

void Syslog::flush(const char* stream, std::string& pending) {
  if (pending.empty()) return;
  std::string_view line(pending);
  if (line.back() == '\n') line.remove_suffix(1);
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  send(syslog_message(t_, std::strcmp(stream, "stderr") == 0 ? 3 : 6, line, now, ::getpid()));
  pending.clear();
}

}  // namespace berth::logs
