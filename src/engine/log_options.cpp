#include "engine/log_options.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "engine/spec.hpp"
#include "format/template.hpp"

namespace berth::engine {

using nlohmann::json;

namespace {

// A pattern is searched in label and variable names, not in data: a long one is no name
// pattern, and libstdc++'s matcher recurses per character of pattern and name alike.
constexpr size_t kMaxPattern = 1024;
constexpr size_t kMaxName = 4096;

std::regex compile(const std::string& option, const std::string& pattern) {
  if (pattern.size() > kMaxPattern)
    throw Error(ErrorKind::invalid_argument, "--log-opt " + option + ": a pattern of at most " + std::to_string(kMaxPattern) + " bytes");
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw Error(ErrorKind::invalid_argument, "invalid --log-opt " + option + " `" + pattern + "`: " + e.what());
  }
}

// Docker's logger.Info as a tag template sees it: its methods (.ID, .Name, …) and fields.
json tag_document(const LogSubject& s) {
  json labels = json::object(), env = json::array(), entrypoint = json::array(), args = json::array();
  std::string command;
  if (s.config) {
    labels = json(s.config->labels);
    env = json(s.config->env);
    for (auto& e : s.config->entrypoint) entrypoint.push_back(e);
    for (auto& a : s.config->cmd) args.push_back(a);
    std::vector<std::string> all = s.config->entrypoint;
    all.insert(all.end(), s.config->cmd.begin(), s.config->cmd.end());
    command = join(all, " ");
  }
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return {{"ID", s.id.substr(0, 12)},
          {"FullID", s.id},
          {"Name", s.name},
          {"ImageID", s.image_id.substr(0, 12)},  // Docker's: the first 12 of "sha256:…"
          {"ImageFullID", s.image_id},
          {"ImageName", s.image_name},
          {"DaemonName", "docker"},
          {"Hostname", host},
          {"Command", command},
          {"ContainerID", s.id},
          {"ContainerName", "/" + s.name},
          {"ContainerEntrypoint", entrypoint.empty() ? json("") : entrypoint[0]},
          {"ContainerArgs", args},
          {"ContainerImageID", s.image_id},
          {"ContainerImageName", s.image_name},
          {"ContainerEnv", env},
          {"ContainerLabels", labels}};
}

// Docker's syslog facilities by name (and 0–23 by number); default daemon.
int syslog_facility(const std::string& v) {
  static const char* const names[] = {"kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
                                      "uucp",   "cron",   "authpriv", "ftp",  "",       "",       "",       "",
                                      "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
  if (v.empty()) return 3;
  for (int i = 0; i < 24; ++i)
    if (*names[i] && v == names[i]) return i;
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (!*end && n >= 0 && n <= 23) return static_cast<int>(n);
  throw Error(ErrorKind::invalid_argument, "invalid syslog facility");
}

struct SyslogAddress {
  std::string network, address;  // unix/unixgram: a path; tcp/udp: HOST:PORT (514 by default)
};
// Docker's syslog-address: "" (the local syslog), unix:// or unixgram:// PATH (which must
// exist), tcp:// or udp:// HOST[:PORT]. TLS (tcp+tls://) is not berth's.
SyslogAddress syslog_address(const std::string& v) {
  if (v.empty()) return {};
  const size_t sep = v.find("://");
  const std::string scheme = sep == std::string::npos ? "" : v.substr(0, sep);
  if (scheme == "tcp+tls")
    throw Error(ErrorKind::invalid_argument, "syslog-address " + v + ": tcp+tls is not supported by berth (tcp, udp, unix, unixgram)");
  if (scheme != "tcp" && scheme != "udp" && scheme != "unix" && scheme != "unixgram")
    throw Error(ErrorKind::invalid_argument, "syslog-address should be in form proto://address, got " + v);
  std::string rest = v.substr(sep + 3);
  if (scheme == "unix" || scheme == "unixgram") {
    struct stat st {};
    if (rest.empty() || ::stat(rest.c_str(), &st) < 0)
      throw Error(ErrorKind::invalid_argument, "stat " + rest + ": " + std::strerror(rest.empty() ? ENOENT : errno));
    return {scheme, rest};
  }
  if (const size_t slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);  // a URL's path: not used
  // HOST, HOST:PORT, [V6], [V6]:PORT
  std::string host = rest, port = "514";
  if (!rest.empty() && rest[0] == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos) throw Error(ErrorKind::invalid_argument, "syslog-address " + v + ": missing ']' in address");
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') throw Error(ErrorKind::invalid_argument, "syslog-address " + v + ": bad address");
      port = rest.substr(close + 2);
    }
  } else if (const size_t colon = rest.rfind(':'); colon != std::string::npos) {
    if (rest.find(':') != colon) throw Error(ErrorKind::invalid_argument, "syslog-address " + v + ": too many colons in address");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (host.empty() || port.empty() || *end || p < 1 || p > 65535)
    throw Error(ErrorKind::invalid_argument, "syslog-address " + v + ": a host and a port (1-65535) are needed");
  return {scheme, host + ":" + std::to_string(p)};
}

}  // namespace

std::optional<bool> parse_log_bool(const std::string& v) {
  static const std::set<std::string> yes = {"1", "t", "T", "true", "TRUE", "True"}, no = {"0", "f", "F", "false", "FALSE", "False"};
  if (yes.count(v)) return true;
  if (no.count(v)) return false;
  return std::nullopt;
}

void check_log_options(const std::string& driver, const std::map<std::string, std::string>& opts) {
  // Compression needs rotated files, which a log of one file has not (Docker's words for each
  // driver). local compresses unless told not to; json-file only when told. Without
  // max-size berth keeps 5 files unless max-file says otherwise; json-file with max-size
  // alone has one file.
  if (driver == "json-file" || driver == "local") {
    const auto compress = opts.find("compress"), files = opts.find("max-file");
    const bool on = compress == opts.end() ? driver == "local" : parse_log_bool(compress->second).value_or(false);
    const bool one_file = files != opts.end() ? files->second == "1" : driver == "json-file" && opts.count("max-size") > 0;
    if (on && one_file)
      throw Error(ErrorKind::invalid_argument, driver == "local" ? "compression cannot be enabled when max file count is 1"
                                                                 : "compress cannot be true when max-file is less than 2");
  }
  for (const auto& [k, v] : opts) {
    if (k == "max-size" && driver != "syslog") {
      // 0 would turn the rotation (and the default cap) off: Docker refuses it too.
      if (parse_bytes(v, "--log-opt max-size") <= 0)
        throw Error(ErrorKind::invalid_argument, "invalid --log-opt max-size `" + v + "`: it must be a positive size");
    } else if (k == "max-file" && driver != "syslog") {
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 1 || n > 1000) throw Error(ErrorKind::invalid_argument, "invalid --log-opt max-file `" + v + "`");
    } else if (k == "mode") {
      // Every driver's (Docker): berth's shim reads the output as it comes, so the container
      // waits only while its pipe is full — blocking; non-blocking is taken as that.
      if (v != "blocking" && v != "non-blocking")
        throw Error(ErrorKind::invalid_argument, "invalid --log-opt mode `" + v + "`: blocking or non-blocking");
    } else if (k == "max-buffer-size") {
      parse_bytes(v, "--log-opt max-buffer-size");
    } else if (k == "path" && driver == "k8s-file") {
      // k8s-file's path (Podman's --log-opt path=; the CRI's log_directory/log_path).
      if (v.empty() || v[0] != '/' || fs::clean_path(v) != v || v.back() == '/')
        throw Error(ErrorKind::invalid_argument, "--log-opt path: an absolute file path, with --log-driver k8s-file only");
      // Something there already must be a file to append to (a fifo would hold the shim's
      // open for good, a device take the log).
      struct stat st {};
      if (::stat(v.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
        throw Error(ErrorKind::invalid_argument, "--log-opt path `" + v + "`: not a regular file");
    } else if ((driver == "json-file" || driver == "local") && k == "compress") {
      if (!parse_log_bool(v)) throw Error(ErrorKind::invalid_argument, "invalid --log-opt compress `" + v + "`: true or false");
    } else if ((driver == "json-file" || driver == "syslog") && (k == "labels" || k == "env")) {
      // Comma-separated names; any text is a name (one that is not there adds nothing).
    } else if ((driver == "json-file" || driver == "syslog") && (k == "labels-regex" || k == "env-regex")) {
      compile(k, v);
    } else if ((driver == "json-file" || driver == "syslog") && k == "tag") {
      try {
        ContainerConfig sample;
        format::Template::parse(v).render(tag_document({std::string(64, '0'), "name", "sha256:" + std::string(64, '0'), "image", &sample}));
      } catch (const Error& e) {
        throw Error(ErrorKind::invalid_argument, "invalid --log-opt tag `" + v + "`: " + e.what());
      }
    } else if (driver == "syslog" && k == "syslog-address") {
      syslog_address(v);
    } else if (driver == "syslog" && k == "syslog-facility") {
      syslog_facility(v);
    } else if (driver == "syslog" && k == "syslog-format") {
      if (v != "" && v != "rfc3164" && v != "rfc5424" && v != "rfc5424micro")
        throw Error(ErrorKind::invalid_argument, "Invalid syslog format");
    } else if (driver == "syslog" &&
               (k == "syslog-tls-ca-cert" || k == "syslog-tls-cert" || k == "syslog-tls-key" || k == "syslog-tls-skip-verify")) {
      // Docker's, for tcp+tls:// only — which berth refuses.
    } else if (k == "path") {
      throw Error(ErrorKind::invalid_argument, "--log-opt path: an absolute file path, with --log-driver k8s-file only");
    } else {
      throw Error(ErrorKind::invalid_argument,
                  "unknown log opt '" + k + "' for " + driver + " log driver (berth's: " +
                      (driver == "syslog" ? "syslog-address, syslog-facility, syslog-format, tag, labels, labels-regex, env, env-regex, mode"
                                          : std::string("max-size, max-file, mode") +
                                                (driver == "json-file"  ? ", compress, labels, labels-regex, env, env-regex, tag"
                                                 : driver == "local"    ? ", compress"
                                                 : driver == "k8s-file" ? ", path"
                                                                        : "")) + ")");
    }
  }
}

std::map<std::string, std::string> log_attributes(const std::map<std::string, std::string>& opts, const LogSubject& s) {
  std::map<std::string, std::string> out;
  static const std::map<std::string, std::string> none;
  const auto& labels = s.config ? s.config->labels : none;
  std::map<std::string, std::string> env;
  if (s.config)
    for (const auto& e : s.config->env)
      if (auto eq = e.find('='); eq != std::string::npos) env[e.substr(0, eq)] = e.substr(eq + 1);
  // Docker's order (ExtraAttributes): labels, labels-regex, env, env-regex; a later one wins.
  auto named = [&](const char* opt, const std::map<std::string, std::string>& from) {
    auto it = opts.find(opt);
    if (it == opts.end() || it->second.empty()) return;
    for (const auto& name : split(it->second, ','))
      if (auto f = from.find(name); f != from.end()) out[name] = f->second;
  };
  auto matching = [&](const char* opt, const std::map<std::string, std::string>& from) {
    auto it = opts.find(opt);
    if (it == opts.end() || it->second.empty()) return;
    const std::regex re = compile(opt, it->second);
    for (const auto& [k, v] : from)
      if (k.size() <= kMaxName && std::regex_search(k, re)) out[k] = v;
  };
  named("labels", labels);
  matching("labels-regex", labels);
  named("env", env);
  matching("env-regex", env);
  if (auto it = opts.find("tag"); it != opts.end() && !it->second.empty()) {
    const std::string tag = format::Template::parse(it->second).render(tag_document(s));
    if (!tag.empty()) out["tag"] = tag;
  }
  return out;
}

logs::SyslogTarget syslog_target(const std::map<std::string, std::string>& opts, const LogSubject& s) {
  auto opt = [&](const char* k) {
    auto it = opts.find(k);
    return it == opts.end() ? std::string() : it->second;
  };
  logs::SyslogTarget t;
  const SyslogAddress a = syslog_address(opt("syslog-address"));
  t.network = a.network;
  t.address = a.address;
  if (t.network == "tcp" || t.network == "udp") {
    // Resolved here, at each start (the shim may be a static binary: no name service).
    const size_t colon = a.address.rfind(':');
    const std::string host = a.address.substr(0, colon), port = a.address.substr(colon + 1);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = t.network == "tcp" ? SOCK_STREAM : SOCK_DGRAM;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0 || !res)
      throw Error(ErrorKind::invalid_argument, "failed to initialize logging driver: syslog-address " + t.network + "://" +
                                                   a.address + ": " + ::gai_strerror(rc));
    char ip[INET6_ADDRSTRLEN] = {};
    if (res->ai_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr, ip, sizeof ip);
      t.address = "[" + std::string(ip) + "]:" + port;
    } else {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, ip, sizeof ip);
      t.address = std::string(ip) + ":" + port;
    }
    ::freeaddrinfo(res);
  }
  t.facility = syslog_facility(opt("syslog-facility"));
  t.format = opt("syslog-format");
  // Docker's default tag: the short id.
  t.tag = format::Template::parse(opt("tag").empty() ? "{{.ID}}" : opt("tag")).render(tag_document(s));
  // The local syslog's messages name no host but "localhost" (Docker's writer).
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  t.hostname = t.network.empty() ? "localhost" : host;
  return t;
}

}  // namespace berth::engine
