#include "api/tls.hpp"

#include "common/error.hpp"

namespace berth::api {

TlsOptions parse_tcp_host(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorKind::invalid_argument, "-H " + url + ": " + why + " (want tcp://HOST:PORT)");
  };
  if (url.rfind("tcp://", 0) != 0) throw bad("not a tcp:// address");
  std::string rest = url.substr(6);
  if (const size_t slash = rest.find('/'); slash != std::string::npos) {
    if (rest.find_first_not_of('/', slash) != std::string::npos) throw bad("a path has no place in a TCP address");
    rest.resize(slash);
  }
  TlsOptions o;
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos) throw bad("unclosed [");
    o.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') throw bad("junk after ]");
      port = rest.substr(close + 2);
    }
    if (o.host.empty()) throw bad("an empty address in []");
  } else {
    const size_t colon = rest.rfind(':');
    o.host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
    if (o.host.find(':') != std::string::npos) throw bad("an IPv6 address goes in []");
    if (o.host == "0.0.0.0") o.host = "";
    else if (o.host.empty() && colon == std::string::npos) o.host = "127.0.0.1";  // "tcp://": Docker's default
  }
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) throw bad("a bad port");
    const unsigned long p = std::stoul(port);
    if (p == 0 || p > 65535) throw bad("a bad port");
    o.port = static_cast<unsigned short>(p);
  }
  return o;
}

}  // namespace berth::api
