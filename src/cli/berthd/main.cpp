// berthd: the engine as a service — the Docker Engine API on a unix socket. Containers are
// the shims'; berthd can stop, crash or restart without touching them (live restore by
// design), and `berth` sees the same store.
//
//   berthd [-H unix:///run/berth/berthd.sock]... [--root DIR] [--state DIR] [--namespace NS]
//          [--config-file /etc/berth/daemon.json] [--group berth] [--debug]
//          [-H tcp://HOST:PORT --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY]
//
// SIGTERM/SIGINT: stop accepting, let requests in flight finish (long streams are cut after
// a grace period), exit; containers keep running. SIGHUP: the config file is read again
// (insecure-registries, mirrors, runtimes). A second berthd on the same state directory is refused.
#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <future>
#include <thread>
#include <vector>

#include "api/docker/api.hpp"
#include "api/http.hpp"
#include "api/tls.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "distribution/auth.hpp"
#include "distribution/auth_file.hpp"
#include "distribution/client.hpp"  // RegistryOptions; the client itself is the module's
#include "cri/service.hpp"
#include "engine/engine.hpp"
#include "engine/log_options.hpp"
#include "events/events.hpp"

namespace {

using namespace berth;
using nlohmann::json;

const char kUsage[] =
    "Usage: berthd [OPTIONS]\n\n"
    "The berth engine as a service: the Docker Engine API (1.41) on a unix socket.\n\n"
    "Options:\n"
    "  -H, --host unix://PATH    listen there (repeatable; default unix:///run/berth/berthd.sock)\n"
    "  -H, --host tcp://HOST:PORT  listen there, with TLS and client certificates (--tlsverify)\n"
    "      --tlsverify           TCP clients must show a certificate --tlscacert signed\n"
    "      --tlscacert PATH      the CA that signs clients' certificates (PEM)\n"
    "      --tlscert PATH        the server's certificate (PEM)\n"
    "      --tlskey PATH         the server's key (PEM)\n"
    "      --root DIR            the store (default /var/lib/berth)\n"
    "      --state DIR           runtime state (default /run/berth)\n"
    "  -n, --namespace NS        the namespace served (default \"default\")\n"
    "      --storage-driver D    overlay (default) or native\n"
    "      --cni-plugin-dir DIR  CNI plugins (default /usr/lib/cni; the CRI also /opt/cni/bin)\n"
    "      --cri-socket PATH     serve the Kubernetes CRI there (default STATE/cri.sock; none: off)\n"
    "      --cri-namespace NS    the namespace of the CRI's pods and images (default k8s.io)\n"
    "      --cri-streaming-address HOST:PORT\n"
    "                            the CRI streaming server (exec, attach, port-forward URLs;\n"
    "                            default 127.0.0.1:0, any free port)\n"
    "      --cni-conf-dir DIR    the pods' CNI network configs (default /etc/cni/net.d)\n"
    "      --config-file PATH    daemon.json (default /etc/berth/daemon.json; missing is fine;\n"
    "                            also --config)\n"
    "      --group NAME          the socket's group (default berth, when it exists)\n"
    "  -D, --debug               debug logging\n"
    "  -v, --version             print the version\n";

struct DaemonConfig {
  std::vector<std::string> hosts;
  engine::UsernsRemap userns_remap;  // userns-remap (read at start only, as Docker's)
  std::string root = "/var/lib/berth", state = "/run/berth", ns = "default", driver = "overlay";
  std::vector<std::string> cni_dirs;
  std::string config_file = "/etc/berth/daemon.json";
  std::string group = "berth";
  bool group_given = false;
  bool debug = false;
  std::vector<std::string> insecure_registries;
  std::vector<std::string> registry_mirrors;      // URLs, for docker.io
  // berth's "mirrors": {"registry.k8s.io": ["http://127.0.0.1:5000"]} — mirrors of any
  // registry (containerd's per-host mirrors); registry-mirrors are docker.io's.
  std::map<std::string, std::vector<std::string>> mirrors;
  std::string log_driver = "json-file";           // json-file, local or syslog
  std::map<std::string, std::string> log_opts;    // its options
  std::vector<network::AddressPool> address_pools;
  engine::Runtimes runtimes;  // built-ins + `runtimes`, `default-runtime` (read again on SIGHUP)
  bool tls = false, tlsverify = false;
  std::string tlscacert, tlscert, tlskey;
  // The CRI server: its socket ("" = STATE/cri.sock; "none": no CRI), the namespace of its
  // containers and images, where the CNI network configs are.
  std::string cri_socket, cri_ns = "k8s.io", cri_streaming = "127.0.0.1:0";
  std::vector<std::string> cni_conf_dirs;
};

// daemon.json: Docker's keys where berth has the setting. An unknown key is a warning (as
// dockerd's would be an error only for keys it does not know at all).
void read_config_file(DaemonConfig& c, bool first) {
  std::string text;
  if (!fs::read_file_if_exists(c.config_file, text)) return;
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return;  // empty: no settings
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(ErrorKind::invalid_argument, c.config_file + ": not JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(ErrorKind::invalid_argument, c.config_file + ": not a JSON object");
  auto strings = [&](const char* k) {
    std::vector<std::string> out;
    if (!j.contains(k)) return out;
    if (!j[k].is_array()) throw Error(ErrorKind::invalid_argument, c.config_file + ": " + k + ": want an array of strings");
    for (auto& v : j[k]) {
      if (!v.is_string()) throw Error(ErrorKind::invalid_argument, c.config_file + ": " + k + ": want an array of strings");
      out.push_back(v.get<std::string>());
    }
    return out;
  };
  c.insecure_registries = strings("insecure-registries");
  c.registry_mirrors = strings("registry-mirrors");
  for (auto& m : c.registry_mirrors)
    if (m.rfind("http://", 0) != 0 && m.rfind("https://", 0) != 0)
      throw Error(ErrorKind::invalid_argument, c.config_file + ": registry-mirrors: `" + m + "` is not an http(s):// URL");
  c.mirrors.clear();
  if (j.contains("mirrors")) {
    const std::string bad = c.config_file + ": mirrors: want {\"REGISTRY\": [\"http(s)://HOST[:PORT]\", …]}";
    if (!j["mirrors"].is_object()) throw Error(ErrorKind::invalid_argument, bad);
    for (auto& [host, urls] : j["mirrors"].items()) {
      if (!urls.is_array()) throw Error(ErrorKind::invalid_argument, bad);
      for (auto& u : urls) {
        if (!u.is_string()) throw Error(ErrorKind::invalid_argument, bad);
        const std::string url = u.get<std::string>();
        if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
          throw Error(ErrorKind::invalid_argument, c.config_file + ": mirrors: " + host + ": `" + url + "` is not an http(s):// URL");
        c.mirrors[host].push_back(url);
      }
    }
  }
  for (auto& m : c.registry_mirrors) c.mirrors["docker.io"].push_back(m);
  c.log_driver = "json-file";
  if (j.contains("log-driver")) {
    if (j["log-driver"] != "json-file" && j["log-driver"] != "local" && j["log-driver"] != "syslog")
      throw Error(ErrorKind::invalid_argument,
                  c.config_file + ": log-driver " + j["log-driver"].dump() + " is not supported (json-file, local or syslog)");
    c.log_driver = j["log-driver"].get<std::string>();
  }
  c.log_opts.clear();
  if (j.contains("log-opts")) {
    if (!j["log-opts"].is_object()) throw Error(ErrorKind::invalid_argument, c.config_file + ": log-opts: want an object of strings");
    for (auto& [k, v] : j["log-opts"].items()) {
      if (!v.is_string()) throw Error(ErrorKind::invalid_argument, c.config_file + ": log-opts: " + k + ": want a string");
      c.log_opts[k] = v.get<std::string>();
    }
    try {
      engine::check_log_options(c.log_driver, c.log_opts);
    } catch (const Error& e) {
      throw Error(ErrorKind::invalid_argument, c.config_file + ": log-opts: " + e.what());
    }
  }
  if (j.contains("debug")) c.debug = j["debug"] == true;
  // Runtimes: read at start and again at each reload (Docker's way).
  c.runtimes = engine::Runtimes();
  c.runtimes.configure(j, c.config_file);
  if (first) {
    if (j.contains("default-address-pools")) {
      if (!j["default-address-pools"].is_array())
        throw Error(ErrorKind::invalid_argument, c.config_file + ": default-address-pools: want an array");
      for (auto& p : j["default-address-pools"]) {
        try {
          c.address_pools.push_back(network::AddressPool::parse(p));
        } catch (const Error& e) {
          throw Error(ErrorKind::invalid_argument, c.config_file + ": default-address-pools: " + e.what());
        }
      }
    }
    if (j.contains("data-root") && j["data-root"].is_string()) c.root = j["data-root"];
    if (j.contains("exec-root") && j["exec-root"].is_string()) c.state = j["exec-root"];
    if (c.hosts.empty()) c.hosts = strings("hosts");
    auto text_key = [&](const char* k, std::string& into) {
      if (!j.contains(k)) return;
      if (!j[k].is_string()) throw Error(ErrorKind::invalid_argument, c.config_file + ": " + k + ": want a string");
      if (into.empty()) into = j[k];
    };
    if (j.contains("userns-remap")) {
      if (!j["userns-remap"].is_string()) throw Error(ErrorKind::invalid_argument, c.config_file + ": userns-remap: want a string");
      c.userns_remap = engine::UsernsRemap::from_setting(j["userns-remap"].get<std::string>(), c.config_file);
    }
    text_key("tlscacert", c.tlscacert);
    text_key("tlscert", c.tlscert);
    text_key("tlskey", c.tlskey);
    if (j.contains("tlsverify") && j["tlsverify"] == true) c.tlsverify = true;
    if (j.contains("tls") && j["tls"] == true) c.tls = true;
  }
  static const std::set<std::string> known = {"insecure-registries", "debug", "data-root", "exec-root", "hosts",
                                              "registry-mirrors", "mirrors", "log-opts", "log-driver", "default-runtime",
                                              "runtimes", "default-address-pools", "live-restore", "group", "userns-remap",
                                              "tls", "tlsverify", "tlscacert", "tlscert", "tlskey"};
  for (auto& [k, _] : j.items())
    if (!known.count(k)) log::warn(c.config_file + ": `" + k + "` is not a setting berthd knows; ignored");
}

std::string self_dir() {
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) throw_errno("readlink /proc/self/exe");
  std::string s(exe, static_cast<size_t>(n));
  return s.substr(0, s.rfind('/'));
}

// A program installed next to berthd, else on PATH.
std::string sibling(const std::string& name) {
  const std::string here = self_dir() + "/" + name;
  if (::access(here.c_str(), X_OK) == 0) return here;
  const char* path = std::getenv("PATH");
  for (const auto& d : split(path ? path : "/usr/local/bin:/usr/bin:/bin", ':'))
    if (!d.empty() && ::access((d + "/" + name).c_str(), X_OK) == 0) return d + "/" + name;
  return here;
}


// A module of berthd's (berthd-NAME.so) and its entry point: next to berthd (the build tree),
// else where `cmake --install` puts it; $BERTHD_<NAME>_MODULE overrides.
void* module_symbol(const std::string& name, const char* symbol) {
  std::string path;
  std::string env = "BERTHD_" + name + "_MODULE";
  for (auto& ch : env) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  const std::string file = "berthd-" + name + ".so";
  if (const char* m = std::getenv(env.c_str()); m && *m) {
    path = m;
  } else {
    const std::string dir = self_dir();
    for (const std::string& c : {dir + "/" + file, dir + "/../lib/berth/" + file, std::string(BERTH_MODULE_DIR) + "/" + file})
      if (::access(c.c_str(), R_OK) == 0) {
        path = c;
        break;
      }
    if (path.empty())
      throw Error("cannot find the module " + file + " next to berthd, in " + dir + "/../lib/berth or in " BERTH_MODULE_DIR
                  " (set " + env + ")");
  }
  void* m = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!m) throw Error("cannot load the module " + file + ": " + ::dlerror());
  void* f = ::dlsym(m, symbol);
  if (!f) throw Error(path + " has no " + symbol);
  return f;
}

// The CRI's socket. berthd listens on it itself and loads the CRI server (berthd-cri.so: gRPC
// and protobuf) at the first connection, then hands it that connection and every later one.
class CriListener {
 public:
  using Open = std::function<std::unique_ptr<cri::Service>()>;
  CriListener(const std::string& path, Open open) : open_(std::move(open)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw Error(ErrorKind::invalid_argument, "--cri-socket " + path + ": path too long");
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    fs::mkdir_p(path.substr(0, path.rfind('/')), 0755);
    fd_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd_) throw_errno("socket");
    ::unlink(path.c_str());
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) throw_errno("bind " + path);
    ::chmod(path.c_str(), 0660);
    if (::listen(fd_.get(), 128) < 0) throw_errno("listen " + path);
    wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC));
    if (!wake_) throw_errno("eventfd");
    path_ = path;
    thread_ = std::thread([this] { loop(); });
  }
  ~CriListener() { stop(); }
  // Stops accepting (the socket file goes); the server, if loaded, keeps its connections.
  void stop() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
    thread_.join();
    ::unlink(path_.c_str());
  }
  // The server, once loaded (after stop(): no more change).
  cri::Service* service() { return svc_.get(); }

 private:
  void loop() {
    for (;;) {
      pollfd p[2] = {{fd_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        log::error(std::string("CRI socket: poll: ") + std::strerror(errno));
        return;
      }
      if (p[1].revents) return;
      const int c = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          log::warn(std::string("CRI socket: accept: ") + std::strerror(errno));
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        continue;  // EINTR, ECONNABORTED, EAGAIN: the next one
      }
      try {
        if (!svc_) {
          svc_ = open_();
          log::info("CRI server loaded (first connection); streaming on " + svc_->streaming_address());
        }
        svc_->adopt(c);
      } catch (const std::exception& e) {
        ::close(c);
        log::error(std::string("CRI: ") + e.what());
      }
    }
  }

  Open open_;
  UniqueFd fd_, wake_;
  std::string path_;
  std::unique_ptr<cri::Service> svc_;
  std::thread thread_;
};

// The registry client, from berthd-registry.so (loaded once, at the first use).
using registry_open_fn = distribution::Repository* (*)(const distribution::RegistryOptions*, const char*, const char*);
registry_open_fn registry_client() {
  static registry_open_fn fn = reinterpret_cast<registry_open_fn>(module_symbol("registry", "berthd_registry_open"));
  return fn;
}

// X-Registry-Auth: base64url of {"username", "password", "serveraddress", …}; {} or empty for none.
std::optional<distribution::Credentials> header_credentials(const std::string& header) {
  if (header.empty()) return std::nullopt;
  std::string b = header;
  for (auto& ch : b) {
    if (ch == '-') ch = '+';
    else if (ch == '_') ch = '/';
  }
  json j;
  try {
    j = json::parse(distribution::base64_decode(b));
  } catch (const std::exception&) {
    throw Error(ErrorKind::invalid_argument, "X-Registry-Auth: not base64 of a JSON object");
  }
  if (!j.is_object() || !j.value("username", json("")).is_string() || j.value("username", "").empty())
    return std::nullopt;
  return distribution::Credentials{j.value("username", ""), j.value("password", "")};
}

}  // namespace

int main(int argc, char** argv) {
  DaemonConfig cfg;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      std::string value;
      const size_t eq = a.find('=');
      const bool inline_value = a.rfind("--", 0) == 0 && eq != std::string::npos;
      if (inline_value) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
      }
      auto next = [&]() -> std::string {
        if (inline_value) return value;
        if (i + 1 >= argc) throw UsageError(a + " needs a value");
        return argv[++i];
      };
      if (a == "-H" || a == "--host") cfg.hosts.push_back(next());
      else if (a == "--root" || a == "--data-root" || a == "--state" || a == "--exec-root" || a == "-n" || a == "--namespace") {
        // An empty one (`--root "$UNSET"`) would be the current directory, or / itself.
        std::string v = next();
        if (v.empty()) throw UsageError(a + ": an empty value");
        (a == "--root" || a == "--data-root" ? cfg.root : a == "--state" || a == "--exec-root" ? cfg.state : cfg.ns) = v;
      }
      else if (a == "--storage-driver") cfg.driver = next();
      else if (a == "--cni-plugin-dir") {
        for (auto& d : split(next(), ':'))
          if (!d.empty()) cfg.cni_dirs.push_back(d);
      } else if (a == "--config-file" || a == "--config") cfg.config_file = next();
      else if (a == "--group" || a == "-G") {
        cfg.group = next();
        cfg.group_given = true;
      } else if (a == "-D" || a == "--debug") cfg.debug = true;
      else if (a == "--tlsverify") cfg.tlsverify = true;
      else if (a == "--tls") cfg.tls = true;
      else if (a == "--tlscacert") cfg.tlscacert = next();
      else if (a == "--tlscert") cfg.tlscert = next();
      else if (a == "--tlskey") cfg.tlskey = next();
      else if (a == "--cri-socket") cfg.cri_socket = next();
      else if (a == "--cri-namespace") cfg.cri_ns = next();
      else if (a == "--cri-streaming-address") cfg.cri_streaming = next();
      else if (a == "--cni-conf-dir") {
        for (auto& d : split(next(), ':'))
          if (!d.empty()) cfg.cni_conf_dirs.push_back(d);
      }
      else if (a == "-v" || a == "--version") {
        std::printf("berthd version %s\n", BERTH_VERSION);
        return 0;
      } else if (a == "-h" || a == "--help") {
        std::fputs(kUsage, stdout);
        return 0;
      } else {
        throw UsageError("unknown option `" + a + "`");
      }
    }
    read_config_file(cfg, true);
    if (cfg.hosts.empty()) cfg.hosts.push_back("unix:///run/berth/berthd.sock");
    for (auto& h : cfg.hosts) {
      if (h.rfind("tcp://", 0) == 0) {
        // Whoever reaches the API is root on this host: TCP only with client certificates.
        if (!cfg.tlsverify)
          throw Error(ErrorKind::invalid_argument,
                      "-H " + h + ": berthd serves TCP only with TLS client verification (--tlsverify --tlscacert "
                      "--tlscert --tlskey): without it, anyone who reaches the port is root on this host");
        for (auto [flag, value] : {std::pair<const char*, std::string*>{"--tlscacert", &cfg.tlscacert},
                                   {"--tlscert", &cfg.tlscert}, {"--tlskey", &cfg.tlskey}})
          if (value->empty()) throw Error(ErrorKind::invalid_argument, "-H " + h + ": --tlsverify needs " + flag);
        api::parse_tcp_host(h);  // a malformed address fails here, before anything starts
        continue;
      }
      if (h.find("://") == std::string::npos)
        throw Error(ErrorKind::invalid_argument, "-H " + h + ": want unix://PATH or tcp://HOST:PORT");
      if (h.rfind("unix://", 0) != 0) throw Error(ErrorKind::invalid_argument, "-H " + h + ": want unix://PATH or tcp://HOST:PORT");
      if (h.size() <= 7 || h[7] != '/') throw Error(ErrorKind::invalid_argument, "-H " + h + ": the path must be absolute");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "berthd: %s\n", e.what());
    return 125;
  }
  log::init_stderr(log::Format::text, cfg.debug, "berthd");

  // Signals are taken by one thread (sigwait); every other thread is made with them blocked.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  bool pid_written = false;
  try {
    fs::mkdir_p(cfg.state, 0711);
    // One berthd per state directory.
    UniqueFd lock(::open((cfg.state + "/berthd.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock) throw_errno("open " + cfg.state + "/berthd.lock");
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) < 0) {
      std::string pid;
      fs::read_file_if_exists(cfg.state + "/berthd.pid", pid);
      throw Error(ErrorKind::conflict, "another berthd serves " + cfg.state + (pid.empty() ? "" : " (pid " + pid.substr(0, pid.find('\n')) + ")"));
    }
    fs::write_file_atomic(cfg.state + "/berthd.pid", std::to_string(::getpid()) + "\n", 0644);
    pid_written = true;
    fs::raise_nofile_limit(1 << 20);

    engine::Options o;
    o.images.root = cfg.root;
    o.images.ns = cfg.ns;
    o.images.driver = snapshot::parse_driver(cfg.driver);
    o.images.events = events::log_path(cfg.state, cfg.ns);
    o.state = cfg.state;
    o.shim = sibling("berth-shim");
    o.debug = cfg.debug;
    if (!cfg.cni_dirs.empty()) o.cni_plugin_dirs = cfg.cni_dirs;
    o.address_pools = cfg.address_pools;
    o.runtimes = cfg.runtimes;
    o.userns_remap = cfg.userns_remap;
    // What berth's CLI does for a container after its exit, and for warm network spares:
    // the same commands, so that both front ends leave the same work behind.
    std::vector<std::string> cli = {sibling("berth"), "--root", cfg.root, "--state", cfg.state, "--namespace", cfg.ns,
                                    "--storage-driver", cfg.driver};
    for (auto& d : cfg.cni_dirs) cli.insert(cli.end(), {"--cni-plugin-dir", d});
    if (fs::exists(cfg.config_file)) cli.insert(cli.end(), {"--config", cfg.config_file});
    o.hooks = engine::cli_hooks(std::move(cli));
    engine::Engine eng(o);

    // Registries: the request's X-Registry-Auth, else the credentials file; the config's
    // insecure registries (read again on SIGHUP).
    auto shared_cfg = std::make_shared<std::pair<std::mutex, DaemonConfig>>();
    shared_cfg->second = cfg;
    api::docker::Settings settings;
    settings.berth_version = BERTH_VERSION;
    settings.root = cfg.root;
    settings.state = cfg.state;
    settings.log_driver = cfg.log_driver;
    settings.log_opts = cfg.log_opts;
    settings.registry_mirrors = cfg.registry_mirrors;
    settings.fetch = [](const std::string& url, int fd) {
      using fetch_fn = void (*)(const char*, int, int64_t*);
      static fetch_fn fn = reinterpret_cast<fetch_fn>(module_symbol("registry", "berthd_registry_fetch"));
      int64_t last_modified = 0;
      fn(url.c_str(), fd, &last_modified);
      return last_modified;
    };
    settings.transfer = [shared_cfg](const std::string& auth_header) {
      distribution::RegistryOptions ro;
      {
        std::lock_guard<std::mutex> l(shared_cfg->first);
        ro.insecure_registries = shared_cfg->second.insecure_registries;
      }
      if (auto c = header_credentials(auth_header)) {
        ro.credentials = [c](const std::string&) { return c; };
      } else {
        auto file = std::make_shared<distribution::AuthFile>(distribution::AuthFile::load(distribution::AuthFile::default_path()));
        ro.credentials = [file](const std::string& registry) { return file->get(registry); };
      }
      std::map<std::string, std::vector<std::string>> mirrors_of;
      {
        std::lock_guard<std::mutex> l(shared_cfg->first);
        mirrors_of = shared_cfg->second.mirrors;
      }
      image::Transfer t;
      t.open = [ro, mirrors_of](const std::string& registry, const std::string& repository) {
        // A registry's images from the first of its mirrors that answers (Docker's
        // registry-mirrors for docker.io, berth's mirrors for any), else from the registry
        // itself. A mirror's own credentials, if the file has any.
        auto it = mirrors_of.find(registry);
        if (it != mirrors_of.end())
          for (const auto& url : it->second) {
            std::string host = url.substr(url.find("://") + 3);
            host = host.substr(0, host.find('/'));
            distribution::RegistryOptions mo = ro;
            if (url.rfind("http://", 0) == 0) mo.insecure_registries.push_back(host);
            try {
              std::unique_ptr<distribution::Repository> m(registry_client()(&mo, host.c_str(), repository.c_str()));
              m->ping();
              log::debug(registry + "/" + repository + " from the mirror " + url);
              return m;
            } catch (const std::exception& e) {
              log::warn("registry mirror " + url + ": " + e.what() + " (trying the next, then " + registry + ")");
            }
          }
        return std::unique_ptr<distribution::Repository>(registry_client()(&ro, registry.c_str(), repository.c_str()));
      };
      t.max_parallel = ro.max_parallel;
      return t;
    };
    api::docker::Api docker(eng, settings);

    // The CRI: an engine of its own namespace, the same store and registries.
    std::unique_ptr<engine::Engine> cri_eng;
    std::unique_ptr<CriListener> cri_listener;
    if (cfg.cri_socket != "none") {
      if (cfg.cri_ns == cfg.ns) throw Error(ErrorKind::invalid_argument, "--cri-namespace must differ from --namespace");
      engine::Options co = o;
      co.images.ns = cfg.cri_ns;
      co.images.events = events::log_path(cfg.state, cfg.cri_ns);
      std::vector<std::string> cli = {sibling("berth"), "--root", cfg.root, "--state", cfg.state, "--namespace", cfg.cri_ns,
                                      "--storage-driver", cfg.driver};
      for (auto& d : cfg.cni_dirs) cli.insert(cli.end(), {"--cni-plugin-dir", d});
      if (fs::exists(cfg.config_file)) cli.insert(cli.end(), {"--config", cfg.config_file});
      co.hooks = engine::cli_hooks(std::move(cli));
      cri_eng = std::make_unique<engine::Engine>(co);
      cri::Settings cs;
      cs.berth_version = BERTH_VERSION;
      cs.root = cfg.root + "/" + cfg.cri_ns;
      cs.state = cfg.state + "/" + cfg.cri_ns;
      if (!cfg.cni_conf_dirs.empty()) cs.cni_conf_dirs = cfg.cni_conf_dirs;
      cs.transfer = settings.transfer;
      cs.streaming_address = cfg.cri_streaming;
      const std::string path = cfg.cri_socket.empty() ? cfg.state + "/cri.sock" : cfg.cri_socket;
      cri_listener = std::make_unique<CriListener>(path, [&cri_eng, cs] {
        static auto open = reinterpret_cast<cri::open_fn>(module_symbol("cri", "berthd_cri_open"));
        return std::unique_ptr<cri::Service>(open(cri_eng.get(), &cs));
      });
      log::info("CRI (runtime.v1) on unix://" + path + ", namespace " + cfg.cri_ns +
                " (its server loads at the first connection)");
    }
    api::Server server(api::Limits{}, [&docker](api::Exchange& ex) { docker.handle(ex); },
                       api::docker::Api::common_headers(BERTH_VERSION));
    gid_t gid = 0;
    if (group* g = ::getgrnam(cfg.group.c_str())) gid = g->gr_gid;
    else if (cfg.group_given) throw Error(ErrorKind::invalid_argument, "--group " + cfg.group + ": no such group");
    std::vector<std::unique_ptr<api::TlsListener>> tcp_listeners;
    for (auto& h : cfg.hosts) {
      if (h.rfind("tcp://", 0) == 0) {
        api::TlsOptions to = api::parse_tcp_host(h);
        to.ca_file = cfg.tlscacert;
        to.cert_file = cfg.tlscert;
        to.key_file = cfg.tlskey;
        auto listen = reinterpret_cast<api::tls_listen_fn>(module_symbol("tls", "berthd_tls_listen"));
        tcp_listeners.emplace_back(listen(to, [&server](UniqueFd fd) { server.adopt(std::move(fd)); }));
        log::info("listening on " + h + " (TLS, client certificates signed by " + cfg.tlscacert + ")");
        continue;
      }
      const std::string path = h.substr(7);
      fs::mkdir_p(path.substr(0, path.rfind('/')), 0755);
      server.listen_unix(path, 0660, gid);
      log::info("listening on " + h);
    }

    std::thread signals([&] {
      for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0) continue;
        if (sig == SIGHUP) {
          try {
            DaemonConfig fresh = cfg;
            read_config_file(fresh, false);
            std::lock_guard<std::mutex> l(shared_cfg->first);
            shared_cfg->second.insecure_registries = fresh.insecure_registries;
            shared_cfg->second.registry_mirrors = fresh.registry_mirrors;
            shared_cfg->second.mirrors = fresh.mirrors;
            eng.set_runtimes(fresh.runtimes);
            if (cri_eng) cri_eng->set_runtimes(fresh.runtimes);
            log::info("configuration reloaded from " + cfg.config_file);
          } catch (const std::exception& e) {
            log::error(std::string("reload: ") + e.what() + " (the old configuration stays)");
          }
          continue;
        }
        log::info(std::string("signal ") + strsignal(sig) + ": shutting down (containers keep running)");
        server.stop();
        return;
      }
    });
    // As Docker's daemon comes up: the containers whose restart policy wants them running
    // (after a reboot: all that ran) are started — while the API already answers.
    std::thread autostart([&eng] {
      try {
        const auto r = eng.autostart();
        for (const std::string& name : r.started) log::info("autostart: started " + name + " (restart policy)");
        for (const auto& [name, why] : r.failed) log::error("autostart: " + name + ": " + why);
      } catch (const std::exception& e) {
        log::error(std::string("autostart: ") + e.what());
      }
    });
    // A container whose shim is killed is started again by its policy (Docker's restart
    // manager; the shims restart their containers themselves otherwise).
    std::atomic<bool> stopping{false};
    std::thread monitors([&eng, &stopping] {
      try {
        eng.watch_monitors(stopping);
      } catch (const std::exception& e) {
        log::error(std::string("monitor watch: ") + e.what());
      }
    });
    server.run();
    signals.join();
    autostart.join();
    stopping = true;
    monitors.join();
    if (cri_listener) {
      cri_listener->stop();
      // gRPC's shutdown waits for every handler to return: one that does not (a call stuck
      // on a container) must not keep the daemon from exiting — the shims keep the containers.
      if (cri::Service* cri_server = cri_listener->service()) {
        auto done = std::make_shared<std::promise<void>>();
        auto ended = done->get_future();
        std::thread([cri_server, done] {
          cri_server->shutdown();
          done->set_value();
        }).detach();
        if (ended.wait_for(std::chrono::seconds(6)) != std::future_status::ready) {
          log::warn("CRI calls still running at exit: left");
          ::unlink((cfg.state + "/berthd.pid").c_str());
          std::fflush(nullptr);
          ::_exit(0);
        }
      }
    }
    tcp_listeners.clear();
    ::unlink((cfg.state + "/berthd.pid").c_str());
    if (server.in_flight() > 0) {
      log::warn(std::to_string(server.in_flight()) + " request(s) still in flight at exit");
      std::fflush(nullptr);
      ::_exit(0);
    }
    return 0;
  } catch (const std::exception& e) {
    // A start that failed (a listener, a certificate) leaves no pid file naming it.
    if (pid_written) ::unlink((cfg.state + "/berthd.pid").c_str());
    std::fprintf(stderr, "berthd: %s\n", e.what());
    return 1;
  }
}
