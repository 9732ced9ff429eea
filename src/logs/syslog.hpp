// Docker's syslog log driver, as the shim runs it: every line of the container's output is one
// syslog message — stdout at severity info, stderr at err — sent to the local syslog socket
// or to the --log-opt syslog-address (udp, tcp, unix, unixgram), in one of Docker's four
// formats (--log-opt syslog-format). Nothing is kept: `logs` cannot read it back (Docker's
// neither).
#pragma once

#include <sys/types.h>

#include <ctime>
#include <string>
#include <string_view>

#include "common/fd.hpp"
#include "logs/json_file.hpp"

namespace berth::logs {

struct SyslogTarget {
  // "udp", "tcp", "unix" (a stream socket), "unixgram"; "": the local syslog (/dev/log,
  // /var/run/syslog or /var/run/log; datagram, else stream).
  std::string network;
  std::string address;  // a socket path, or a numeric "IPv4:PORT" / "[IPv6]:PORT"
  int facility = 3;     // daemon (Docker's default); 0–23
  std::string format;   // "" (Docker's default: the local form), rfc3164, rfc5424, rfc5424micro
  std::string tag;      // the rendered --log-opt tag (Docker's default: the short id)
  std::string hostname;
};

// One message as Docker's formatters write it, its newline included (no framing: none of
// Docker's transports without TLS has any). `now`: the time it is sent (local time, as
// Docker's); `severity`: 6 info, 3 err.
std::string syslog_message(const SyslogTarget& t, int severity, std::string_view line, const timespec& now, pid_t pid);

class Syslog : public Output {
 public:
  // Connects, or throws berth::Error("syslog: …"): a container whose log cannot be delivered
  // does not start (Docker's "failed to initialize logging driver").
  explicit Syslog(SyslogTarget t);
  void flush(const char* stream, std::string& pending) override;

 private:
  void connect();
  void send(const std::string& msg);
  SyslogTarget t_;
  UniqueFd fd_;
  bool stream_ = false;  // a stream socket: reconnected once when a send fails
  bool warned_ = false;
};

}  // namespace berth::logs
