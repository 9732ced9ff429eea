// Container verbs: run, create, start, stop, restart, kill, rm, ps, logs, exec, attach, wait,
// inspect, top, stats, pause/unpause, rename, container prune, and the shim's cleanup.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <algorithm>
#include <map>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "oci/reference.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "common/log.hpp"
#include "engine/engine.hpp"
#include "engine/spec.hpp"
#include "format/template.hpp"
#include "network/networks.hpp"
#include "oci/spec.hpp"
#include "runtime/container.hpp"
#include "runtime/signals.hpp"
#include "shim/frames.hpp"

namespace berth::cli {

using nlohmann::json;

namespace {

// Short flags as Docker's (pflag) reads them: "-it" → "-i" "-t"; a letter that takes a value
// takes the rest of the word ("-t0", "-p8080:80", "-e=X" → "-e" "X") or else the next
// argument. Flag values are skipped, and with stop_at_positional everything from the first
// positional argument on (the image and its command) is left alone. A word with a letter
// that is no flag of the verb stays whole (its error names it).
std::vector<std::string> expand_short(int argc, char** argv, int first, const std::vector<FlagSpec>& flags,
                                      bool stop_at_positional) {
  auto find = [&](const std::string& name) -> const FlagSpec* {
    for (auto& f : flags)
      if (f.name == name || (!f.alias.empty() && f.alias == name)) return &f;
    return nullptr;
  };
  std::vector<std::string> out;
  int i = first;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--" || a.size() < 2 || a[0] != '-') {
      if (stop_at_positional || a == "--") break;
      out.push_back(a);
      continue;
    }
    if (a[1] == '-' || a.size() == 2) {
      out.push_back(a);
      const FlagSpec* f = find(a.substr(a[1] == '-' ? 2 : 1));
      if (f && f->takes_value && a.find('=') == std::string::npos && i + 1 < argc) out.push_back(argv[++i]);
      continue;
    }
    std::vector<std::string> split;
    bool known = true, value_next = false;
    for (size_t k = 1; k < a.size() && known; ++k) {
      const FlagSpec* f = find(std::string(1, a[k]));
      if (!f) {
        known = false;
        break;
      }
      split.push_back(std::string("-") + a[k]);
      if (!f->takes_value) continue;
      std::string rest = a.substr(k + 1);
      if (!rest.empty() && rest[0] == '=') rest.erase(0, 1);
      if (!rest.empty() || k + 1 < a.size()) split.push_back(rest);
      else value_next = true;
      break;
    }
    if (!known) {
      out.push_back(a);
      continue;
    }
    out.insert(out.end(), split.begin(), split.end());
    if (value_next && i + 1 < argc) out.push_back(argv[++i]);
  }
  for (; i < argc; ++i) out.push_back(argv[i]);
  return out;
}

struct Argv {
  std::vector<std::string> words;
  std::vector<char*> ptrs;
  explicit Argv(std::vector<std::string> w) : words(std::move(w)) {
    for (auto& s : words) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(words.size()); }
  char** argv() { return ptrs.data(); }
};

}  // namespace

// Args with combined short flags ("-it", "-af") expanded first.
Args parse_args(const std::string& cmd, const std::vector<FlagSpec>& flags, int argc, char** argv,
                int first, bool stop_at_positional) {
  Argv w(expand_short(argc, argv, first, flags, stop_at_positional));
  return Args(cmd, flags, w.argc(), w.argv(), 0, stop_at_positional);
}

namespace {

const std::vector<FlagSpec> kRunFlags = {
    {"detach", "d", false},       {"interactive", "i", false},   {"tty", "t", false},
    {"rm", "", false},            {"name", "", true},            {"env", "e", true, true},
    {"env-file", "", true, true}, {"volume", "v", true, true},   {"workdir", "w", true},
    {"user", "u", true},          {"entrypoint", "", true},      {"hostname", "h", true},
    {"privileged", "", false},    {"cap-add", "", true, true},   {"cap-drop", "", true, true},
    {"security-opt", "", true, true}, {"read-only", "", false},  {"tmpfs", "", true, true},
    {"ulimit", "", true, true},   {"memory", "m", true},         {"memory-swap", "", true},
    {"cpus", "", true},           {"cpu-shares", "c", true},     {"cpuset-cpus", "", true},
    {"pids-limit", "", true},     {"init", "", false},           {"device", "", true, true},
    {"network", "", true},        {"net", "", true},             {"restart", "", true},
    {"label", "l", true, true},   {"log-opt", "", true, true},   {"stop-signal", "", true},
    {"stop-timeout", "", true},   {"group-add", "", true, true}, {"add-host", "", true, true},
    {"runtime", "", true},        {"shm-size", "", true},        {"sysctl", "", true, true},
    {"mount", "", true, true},    {"publish", "p", true, true},  {"expose", "", true, true},
    {"log-driver", "", true},     {"sig-proxy", "", true},       {"pull", "", true},
    {"quiet", "q", false},        {"platform", "", true},        {"attach", "a", true, true},
    {"ip", "", true},             {"dns", "", true, true},       {"dns-search", "", true, true},
    {"dns-option", "", true, true}, {"network-alias", "", true, true}, {"alias", "", true, true},
    {"publish-all", "P", false},  {"mac-address", "", true},     {"pid", "", true},
    {"detach-keys", "", true},
};

// --mount type=bind|tmpfs,source=…,target=…,readonly
void add_mount_flag(const std::string& spec, json& host) {
  std::string type = "volume", src, dst, opts;
  bool ro = false;
  for (auto& kv : split(spec, ',')) {
    std::string k = kv.substr(0, kv.find('=')), v = kv.find('=') == std::string::npos ? "" : kv.substr(kv.find('=') + 1);
    if (k == "type") type = v;
    else if (k == "source" || k == "src") src = v;
    else if (k == "target" || k == "destination" || k == "dst") dst = v;
    else if (k == "readonly" || k == "ro") ro = v.empty() || v == "true" || v == "1";
    else if (k == "tmpfs-size") opts += (opts.empty() ? "" : ",") + ("size=" + v);
    else if (k == "tmpfs-mode") opts += (opts.empty() ? "" : ",") + ("mode=" + v);
    else if (k == "bind-propagation") opts += (opts.empty() ? "" : ",") + v;
    else if (!k.empty()) throw Error("--mount " + spec + ": unknown key `" + k + "`");
  }
  if (dst.empty()) throw Error("--mount " + spec + ": target is required");
  if (type == "bind") {
    if (src.empty()) throw Error("--mount " + spec + ": source is required");
    if (ro) opts += (opts.empty() ? "" : ",") + std::string("ro");
    host["Binds"].push_back(src + ":" + dst + (opts.empty() ? "" : ":" + opts));
  } else if (type == "tmpfs") {
    host["Tmpfs"][dst] = opts;
  } else if (type == "volume") {
    if (ro) opts += (opts.empty() ? "" : ",") + std::string("ro");
    if (src.empty()) throw Error("--mount " + spec + ": an anonymous volume needs -v " + dst);
    host["Binds"].push_back(src + ":" + dst + (opts.empty() ? "" : ":" + opts));
  } else {
    throw Error("--mount " + spec + ": unknown type " + type + " (bind, volume, tmpfs)");
  }
}

std::vector<std::string> read_env_file(const std::string& path) {
  std::string text;
  if (!fs::read_file_if_exists(path, text)) throw Error("--env-file: cannot read `" + path + "`");
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    out.push_back(line.substr(b));
  }
  return out;
}

std::string env_entry(const std::string& e) {
  if (e.empty() || e[0] == '=') throw Error("invalid environment variable `" + e + "`");
  if (e.find('=') != std::string::npos) return e;
  const char* v = std::getenv(e.c_str());
  return v ? e + "=" + v : "";
}

// --memory, --memory-swap, --cpus, --cpu-shares, --cpuset-cpus, --pids-limit into HostConfig
// (run, create, update).
void resource_flags(const Args& a, json& h) {
  if (a.has("memory")) h["Memory"] = engine::parse_bytes(a.get("memory"), "--memory");
  if (a.has("memory-swap"))
    h["MemorySwap"] = a.get("memory-swap") == "-1" ? -1 : engine::parse_bytes(a.get("memory-swap"), "--memory-swap");
  if (a.has("cpus")) {
    const std::string text = a.get("cpus");
    char* end = nullptr;
    double cpus = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end) throw Error("invalid --cpus `" + text + "`");
    long ncpu = ::sysconf(_SC_NPROCESSORS_ONLN);
    // 0 means no limit (Docker's rule); NaN fails every comparison, so ask for the range.
    if (cpus != 0 && !(cpus >= 0.01 && cpus <= static_cast<double>(ncpu)))
      throw Error("--cpus " + a.get("cpus") + ": range of CPUs is from 0.01 to " + std::to_string(ncpu) + ".00, as there are only " + std::to_string(ncpu) + " CPUs available");
    h["NanoCpus"] = static_cast<int64_t>(cpus * 1e9);
  }
  if (a.has("cpu-shares")) {
    const std::string text = a.get("cpu-shares");
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end || v < 0) throw Error("invalid --cpu-shares `" + text + "`");
    h["CpuShares"] = v;
  }
  if (a.has("cpuset-cpus")) h["CpusetCpus"] = a.get("cpuset-cpus");
  if (a.has("pids-limit")) {
    const std::string text = a.get("pids-limit");
    char* end = nullptr;
    long long p = std::strtoll(text.c_str(), &end, 10);
    if (*end || text.empty()) throw Error("invalid --pids-limit `" + text + "`");
    h["PidsLimit"] = p;
  }
}

// --restart no|always|unless-stopped|on-failure[:N] as HostConfig.RestartPolicy.
json restart_flag(const std::string& restart) {
  json policy = {{"Name", restart.substr(0, restart.find(':'))}, {"MaximumRetryCount", 0}};
  if (auto colon = restart.find(':'); colon != std::string::npos) {
    if (policy["Name"] != "on-failure") throw Error("invalid restart policy `" + restart + "`: only on-failure takes a count");
    char* end = nullptr;
    long n = std::strtol(restart.c_str() + colon + 1, &end, 10);
    if (*end || n < 0) throw Error("invalid restart policy `" + restart + "`");
    policy["MaximumRetryCount"] = n;
  }
  return policy;
}

engine::CreateRequest build_request(const Args& a) {
  engine::CreateRequest r;
  if (a.positional().empty()) throw Error("an image is required (see berth run --help)");
  r.image = a.positional()[0];
  r.name = a.get("name");
  json c = json::object(), h = json::object();
  if (a.positional().size() > 1)
    c["Cmd"] = std::vector<std::string>(a.positional().begin() + 1, a.positional().end());
  if (a.has("entrypoint")) {
    std::string ep = a.get("entrypoint");
    c["Entrypoint"] = ep.empty() ? json::array() : json::array({ep});
  }
  json env = json::array();
  for (auto& f : a.all("env-file"))
    for (auto& e : read_env_file(f))
      if (auto x = env_entry(e); !x.empty()) env.push_back(x);
  for (auto& e : a.all("env"))
    if (auto x = env_entry(e); !x.empty()) env.push_back(x);
  if (!env.empty()) c["Env"] = env;
  if (a.has("workdir")) c["WorkingDir"] = a.get("workdir");
  if (a.has("user")) c["User"] = a.get("user");
  if (a.has("hostname")) {
    c["Hostname"] = a.get("hostname");
    c["HostnameFromFlag"] = true;
  }
  if (a.has("stop-signal")) {
    engine::parse_signal(a.get("stop-signal"));
    c["StopSignal"] = a.get("stop-signal");
  }
  if (a.has("stop-timeout")) c["StopTimeout"] = std::stoi(a.get("stop-timeout"));
  c["Tty"] = a.has("tty");
  c["OpenStdin"] = a.has("interactive");
  c["AttachStdin"] = a.has("interactive") && !a.has("detach");
  c["AttachStdout"] = c["AttachStderr"] = !a.has("detach");
  for (auto& l : a.all("label")) {
    auto eq = l.find('=');
    c["Labels"][l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  // Networking: Docker's default is its bridge network; berth's is `berth` (made on first use).
  std::string net = a.get("network", a.get("net", "bridge"));
  h["NetworkMode"] = net;
  if (a.has("pid")) h["PidMode"] = a.get("pid");
  json bindings = json::object();
  for (auto& p : a.all("publish"))
    for (auto& m : network::parse_publish(p)) {
      std::string key = std::to_string(m.container_port) + "/" + m.protocol;
      if (!bindings[key].is_array()) bindings[key] = json::array();
      bindings[key].push_back({{"HostIp", m.host_ip}, {"HostPort", m.host_port ? std::to_string(m.host_port) : ""}});
      c["ExposedPorts"][key] = json::object();
    }
  for (auto& x : a.all("expose"))
    for (auto& m : network::parse_publish(x)) c["ExposedPorts"][std::to_string(m.container_port) + "/" + m.protocol] = json::object();
  if (!bindings.empty()) h["PortBindings"] = bindings;
  h["PublishAllPorts"] = a.has("publish-all");
  h["Dns"] = a.all("dns");
  for (auto& d : a.all("dns")) network::parse_ipv4(d);
  h["DnsSearch"] = a.all("dns-search");
  h["DnsOptions"] = a.all("dns-option");
  json ep = json::object();
  auto aliases = a.all("network-alias");
  for (auto& x : a.all("alias")) aliases.push_back(x);
  if (!aliases.empty()) ep["Aliases"] = aliases;
  if (a.has("ip")) ep["IPAMConfig"] = {{"IPv4Address", a.get("ip")}};
  if (a.has("mac-address")) ep["MacAddress"] = c["MacAddress"] = a.get("mac-address");
  if (!ep.empty()) r.endpoints[net] = ep;
  h["AutoRemove"] = a.has("rm");
  h["Privileged"] = a.has("privileged");
  h["ReadonlyRootfs"] = a.has("read-only");
  h["Init"] = a.has("init");
  h["Binds"] = json::array();
  for (auto& v : a.all("volume")) {
    // /host:/ctr[:opts] (bind), name:/ctr[:opts] (named volume), /ctr (anonymous volume).
    if (v.empty()) throw Error("-v: empty volume specification");
    if (v.find(':') == std::string::npos) {
      if (v[0] != '/') throw Error("-v " + v + ": a volume target must be an absolute path");
      c["Volumes"][v] = json::object();
    } else {
      h["Binds"].push_back(v);
    }
  }
  for (auto& m : a.all("mount")) add_mount_flag(m, h);
  for (auto& t : a.all("tmpfs")) {
    auto colon = t.find(':');
    h["Tmpfs"][t.substr(0, colon)] = colon == std::string::npos ? "" : t.substr(colon + 1);
  }
  h["CapAdd"] = a.all("cap-add");
  h["CapDrop"] = a.all("cap-drop");
  h["SecurityOpt"] = a.all("security-opt");
  h["Devices"] = a.all("device");
  h["GroupAdd"] = a.all("group-add");
  h["ExtraHosts"] = a.all("add-host");
  json ulimits = json::array();
  for (auto& u : a.all("ulimit")) {
    auto eq = u.find('=');
    if (eq == std::string::npos) throw Error("invalid --ulimit `" + u + "` (NAME=SOFT[:HARD])");
    std::string v = u.substr(eq + 1);
    auto colon = v.find(':');
    auto num = [&](const std::string& s) {
      char* end = nullptr;
      long long x = std::strtoll(s.c_str(), &end, 10);
      if (s.empty() || *end) throw Error("invalid --ulimit `" + u + "`");
      return x;
    };
    long long soft = num(v.substr(0, colon)), hard = colon == std::string::npos ? soft : num(v.substr(colon + 1));
    if (soft > hard) throw Error("invalid --ulimit `" + u + "`: soft limit is above the hard limit");
    ulimits.push_back({{"Name", u.substr(0, eq)}, {"Soft", soft}, {"Hard", hard}});
  }
  h["Ulimits"] = ulimits;
  resource_flags(a, h);
  if (a.has("shm-size")) h["ShmSize"] = engine::parse_bytes(a.get("shm-size"), "--shm-size");
  for (auto& s : a.all("sysctl")) {
    auto eq = s.find('=');
    if (eq == std::string::npos) throw Error("invalid --sysctl `" + s + "`");
    h["Sysctls"][s.substr(0, eq)] = s.substr(eq + 1);
  }
  h["RestartPolicy"] = restart_flag(a.get("restart", "no"));
  json log_config = {{"Type", a.get("log-driver", "json-file")}, {"Config", json::object()}};
  if (log_config["Type"] != "json-file") throw Error("--log-driver " + a.get("log-driver") + ": only json-file is supported");
  for (auto& o : a.all("log-opt")) {
    auto eq = o.find('=');
    if (eq == std::string::npos) throw Error("invalid --log-opt `" + o + "`");
    std::string k = o.substr(0, eq), v = o.substr(eq + 1);
    if (k == "max-size") engine::parse_bytes(v, "--log-opt max-size");
    else if (k == "max-file") {
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (*end || n < 1) throw Error("invalid --log-opt max-file `" + v + "`");
    } else {
      throw Error("unknown --log-opt `" + k + "` (max-size, max-file)");
    }
    log_config["Config"][k] = v;
  }
  h["LogConfig"] = log_config;
  if (a.has("runtime")) {
    std::string rt = a.get("runtime");
    if (rt != "berth" && rt.find('/') == std::string::npos) {
      // A name: find it on PATH, like runc or crun.
      std::string found;
      const char* path = std::getenv("PATH");
      std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
      for (auto& d : split(p, ':')) {
        if (!d.empty() && ::access((d + "/" + rt).c_str(), X_OK) == 0) {
          found = d + "/" + rt;
          break;
        }
      }
      if (found.empty()) throw Error("--runtime " + rt + ": not found on PATH");
      rt = found;
    }
    h["Runtime"] = rt;
  }
  r.config = c;
  r.host = h;
  return r;
}

// ---- Attached I/O: frames from the shim to our stdout/stderr, our stdin to the shim.

class RawTerminal {
 public:
  explicit RawTerminal(bool on) {
    if (!on || !::isatty(0) || ::tcgetattr(0, &old_) < 0) return;
    termios raw = old_;
    ::cfmakeraw(&raw);
    raw.c_oflag |= OPOST;  // keep "\n" → "\r\n" for our own messages
    active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(0, TCSANOW, &old_);
  }

 private:
  termios old_{};
  bool active_ = false;
};

std::string winsize_text() {
  winsize ws{};
  if (::ioctl(1, TIOCGWINSZ, &ws) < 0 && ::ioctl(0, TIOCGWINSZ, &ws) < 0) return "";
  return std::to_string(ws.ws_row) + " " + std::to_string(ws.ws_col);
}

// Docker's --detach-keys: "ctrl-p,ctrl-q" (the default), ctrl-a … ctrl-z, ctrl-@ [ \\ ] ^ _, or
// single characters, comma-separated. The bytes of the sequence.
std::string parse_detach_keys(const std::string& spec) {
  std::string out;
  for (const auto& k : split(spec, ',')) {
    if (k.size() == 1) {
      out += k;
    } else if (k.size() == 6 && k.rfind("ctrl-", 0) == 0) {
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(k[5])));
      if (c >= 'a' && c <= 'z') out += static_cast<char>(c - 'a' + 1);
      else if (c == '@') out += '\0';
      else if (c >= '[' && c <= '_') out += static_cast<char>(c - '[' + 27);
      else throw UsageError("invalid --detach-keys `" + spec + "`: unknown key `" + k + "`");
    } else {
      throw UsageError("invalid --detach-keys `" + spec + "`: keys are ctrl-<a-z@[\\]^_> or single characters");
    }
  }
  if (out.empty()) throw UsageError("invalid --detach-keys `" + spec + "`");
  return out;
}

struct AttachOptions {
  bool use_stdin = false, tty = false;
  bool send_size = false;    // tell the shim our terminal size first (attach to a running one)
  bool sig_proxy = true;     // signals to us go to the container (else they act on us)
  bool out = true, err = true;  // which output streams to print (-a)
  std::string detach_keys = "\x10\x11";  // ctrl-p,ctrl-q; only with a terminal
};

constexpr int kDetached = -2;

// Returns the exit code, kDetached when the user typed the detach keys, or -1 when the shim
// went away without an exit code.
int attach_loop(int sock, const AttachOptions& o) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGWINCH);
  if (o.sig_proxy)
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
  ::sigprocmask(SIG_BLOCK, &set, &old);
  UniqueFd sfd(::signalfd(-1, &set, SFD_CLOEXEC));
  RawTerminal raw(o.tty && o.use_stdin);
  if (o.tty && o.send_size) {
    std::string ws = winsize_text();
    if (!ws.empty()) shim::send_frame(sock, shim::kResize, ws);
  }
  // The detach keys are looked for in what we read from a terminal; bytes that begin the
  // sequence wait until it is complete (we leave) or broken (they go to the container).
  const std::string keys = o.tty ? o.detach_keys : "";
  std::string held;
  bool stdin_open = o.use_stdin;
  shim::FrameReader frames;
  int code = -1;
  char buf[65536];
  for (;;) {
    pollfd p[3] = {{sock, POLLIN, 0}, {sfd.get(), POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}};
    if (::poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents & POLLIN) {
      signalfd_siginfo si{};
      if (::read(sfd.get(), &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGWINCH) {
          std::string ws = winsize_text();
          if (!ws.empty()) shim::send_frame(sock, shim::kResize, ws);
        } else {
          shim::send_frame(sock, shim::kSignal, std::to_string(si.ssi_signo));
        }
      }
    }
    if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n > 0) {
        std::string out;
        bool detach = false;
        for (ssize_t i = 0; i < n && !detach; ++i) {
          const char b = buf[i];
          if (!keys.empty() && b == keys[held.size()]) {
            held += b;
            detach = held.size() == keys.size();
            continue;
          }
          if (!held.empty()) {
            out += held;
            held.clear();
            if (!keys.empty() && b == keys[0]) {
              held += b;
              continue;
            }
          }
          out += b;
        }
        if (!out.empty()) shim::send_frame(sock, shim::kStdin, out);
        if (detach) {
          code = kDetached;
          break;
        }
      } else if (n == 0 || errno != EINTR) {
        stdin_open = false;
        if (!o.tty) shim::send_frame(sock, shim::kStdinClose, "");
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(sock, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      frames.feed({buf, static_cast<size_t>(n)});
      while (auto f = frames.next()) {
        if ((f->type == shim::kStdout && o.out) || (f->type == shim::kStderr && o.err)) {
          try {
            fs::write_fd(f->type == shim::kStdout ? 1 : 2, f->data, "output");
          } catch (const Error&) {
          }
        } else if (f->type == shim::kExit) {
          code = std::atoi(f->data.c_str());
        }
      }
      if (code >= 0) break;
    }
  }
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  return code;
}

// --sig-proxy true|false (Docker's default: true).
bool sig_proxy_flag(const Args& a) {
  const std::string v = a.get("sig-proxy", "true");
  if (v != "true" && v != "false") throw UsageError("invalid --sig-proxy `" + v + "`: true or false");
  return v == "true";
}

// Docker's exit codes for a container that could not run its command (127: it does not
// exist, 126: it cannot be executed), from the error's kind; `otherwise` for the rest (125
// for run/create/start, 1 for exec).
int command_failure_code(const std::exception& e, int otherwise) {
  const auto* err = dynamic_cast<const Error*>(&e);
  if (!err) return otherwise;
  if (err->kind() == ErrorKind::command_not_found) return 127;
  if (err->kind() == ErrorKind::command_not_executable) return 126;
  return otherwise;
}

int run_attached(engine::Engine& eng, const engine::Container& c, const AttachOptions& o, bool rm, bool owner) {
  UniqueFd sock;
  engine::Refill refill;
  try {
    sock = eng.start(c.id(), owner, o.tty ? winsize_text() : "", &refill);
  } catch (const Error& e) {
    std::fprintf(stderr, "berth: %s\n", e.what());
    if (rm) eng.cleanup(c.id(), true);
    return command_failure_code(e, 125);
  }
  int code = attach_loop(sock.get(), o);
  log::debug("exit code " + std::to_string(code) + " received");
  // Detached: the container runs on; its shim, left without an owner, cleans up when it ends
  // (--rm included), as after a killed berth.
  if (code == kDetached) return 0;
  if (owner) {
    // The records go now; the shim, still waiting for this word, unmounts and removes the
    // directories after we have returned the exit code.
    std::vector<std::string> deferred;
    eng.cleanup(c.id(), rm, false, code >= 0 ? &deferred : nullptr);
    std::string done;
    for (auto& l : deferred) done += l + "\n";
    shim::send_frame(sock.get(), shim::kDone, done);
    eng.refill_spares(refill);
  }
  if (code < 0) {
    auto cc = eng.lookup(c.id());
    code = eng.state(cc).exit_code;
  }
  return code;
}

// --pull missing (Docker's default: an image not in the store is pulled first), always, never.
// The pull's progress goes to stderr: stdout is the container's.
void pull_for_run(const Engine& e, const Args& a, const std::string& image) {
  const std::string policy = a.get("pull", "missing");
  if (policy != "missing" && policy != "always" && policy != "never")
    throw Error("--pull must be missing, always or never (not `" + policy + "`)");
  if (policy == "never") return;
  if (policy == "missing") {
    if (e.images(a.get("platform")).find(image)) return;
    oci::Reference::parse(image);  // a malformed one: its one-line error, no pull
    std::fprintf(stderr, "Unable to find image '%s' locally\n", image.c_str());
  }
  pull_image(e, image, a.get("platform"), stderr);
}

// -a/--attach (stdin, stdout, stderr), --sig-proxy, --detach-keys of run/start/attach/exec.
AttachOptions attach_options(const Args& a, bool use_stdin, bool tty) {
  AttachOptions o;
  o.use_stdin = use_stdin;
  o.tty = tty;
  if (a.has("sig-proxy")) o.sig_proxy = sig_proxy_flag(a);
  if (a.has("detach-keys")) o.detach_keys = parse_detach_keys(a.get("detach-keys"));
  if (a.has("attach") && !a.all("attach").empty() && a.all("attach")[0] != "") {
    o.out = o.err = false;
    bool in = false;
    for (auto s : a.all("attach")) {
      for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (s == "stdin") in = true;
      else if (s == "stdout") o.out = true;
      else if (s == "stderr") o.err = true;
      else throw UsageError("invalid -a/--attach `" + s + "`: stdin, stdout or stderr");
    }
    o.use_stdin = o.use_stdin && in;
  }
  return o;
}

int do_run(const Engine& e, int argc, char** argv, int first, bool start_it) {
  Args a = parse_args(start_it ? "run" : "create", kRunFlags, argc, argv, first, true);
  // Docker's check, before anything is made: -it with a pipe for stdin would wait forever.
  if (start_it && !a.has("detach") && a.has("interactive") && a.has("tty") && !::isatty(0)) {
    std::fprintf(stderr, "berth: the input device is not a TTY\n");
    return 1;
  }
  if (a.has("detach") && a.has("attach")) throw UsageError("conflicting options: -a and -d");
  if (start_it && !a.has("detach")) attach_options(a, false, false);  // bad -a/--sig-proxy/--detach-keys: before anything is made
  auto eng = make_engine(e);
  engine::CreateRequest req;
  engine::Container c;
  try {
    req = build_request(a);
    pull_for_run(e, a, req.image);
    c = eng.create(req);
  } catch (const Error& ex) {
    std::fprintf(stderr, "berth: %s\n", ex.what());
    return 125;
  }
  if (!start_it) {
    std::puts(c.id().c_str());
    return 0;
  }
  const bool rm = a.has("rm");
  if (a.has("detach")) {
    try {
      eng.start(c.id(), false);
    } catch (const Error& ex) {
      std::fprintf(stderr, "berth: %s\n", ex.what());
      if (rm) eng.cleanup(c.id(), true);
      return command_failure_code(ex, 125);
    }
    std::puts(c.id().c_str());
    return 0;
  }
  const bool owner = req.host["RestartPolicy"].value("Name", "no") == "no";
  return run_attached(eng, c, attach_options(a, a.has("interactive"), a.has("tty")), rm, owner);
}

json container_row(engine::Engine& eng, engine::Container& c, engine::State& s) {
  const json& config = c.data["Config"];
  std::string cmd;
  for (auto* k : {"Entrypoint", "Cmd"})
    for (auto& x : config.value(k, json::array())) cmd += (cmd.empty() ? "" : " ") + x.get<std::string>();
  (void)eng;
  // Docker's PORTS column: "127.0.0.1:8080->80/tcp, 0.0.0.0:32768->443/tcp" (while running).
  std::string ports;
  const json published = c.data.value("NetworkSettings", json::object()).value("Ports", json::object());
  if (s.running())
    for (auto& [key, binds] : published.items()) {
      if (!binds.is_array()) continue;
      for (auto& b : binds)
        ports += (ports.empty() ? "" : ", ") + b.value("HostIp", "") + ":" + b.value("HostPort", "") + "->" + key;
    }
  json networks = json::array();
  const json endpoints = c.endpoints();
  for (auto& [name, ep] : endpoints.items())
    networks.push_back(name);
  // Mounts as Docker's MOUNTS column and volume filter see them: volume names, bind sources,
  // and each destination.
  json mounts = json::array(), destinations = json::array();
  for (auto& b : c.data["HostConfig"].value("Binds", json::array())) {
    const std::string v = b.get<std::string>();
    const auto p1 = v.find(':'), p2 = v.find(':', p1 + 1);
    mounts.push_back(v.substr(0, p1));
    if (p1 != std::string::npos) destinations.push_back(v.substr(p1 + 1, p2 == std::string::npos ? std::string::npos : p2 - p1 - 1));
  }
  int local_volumes = 0;
  for (auto& v : c.data.value("Volumes", json::array())) {
    mounts.push_back(v.value("Name", ""));
    destinations.push_back(v.value("Destination", ""));
    ++local_volumes;
  }
  return {{"ID", c.id()},
          {"ImageID", c.rec.image},
          {"CreatedNs", c.rec.created},
          {"Mounts", mounts},
          {"MountDestinations", destinations},
          {"LocalVolumes", local_volumes},
          {"Ports", ports},
          {"Networks", networks},
          {"Image", config.value("Image", "")},
          {"Command", cmd},
          {"CreatedAt", c.rec.created / 1000000000},
          {"Status", engine::status_text(s)},
          {"State", s.status},
          {"Names", c.rec.name},
          {"Labels", config.value("Labels", json::object())},
          {"ExitCode", s.exit_code}};
}

// Docker's ps filters: the values of one key are alternatives, the keys all apply. Unknown
// keys and bad values are errors.
class PsFilter {
 public:
  PsFilter(engine::Engine& eng, const std::vector<std::string>& specs) {
    static const std::set<std::string> keys = {"status", "name", "id", "label", "exited", "ancestor", "before",
                                               "since", "network", "volume", "health"};
    static const std::set<std::string> states = {"created", "restarting", "running", "removing", "paused", "exited", "dead"};
    for (const auto& f : specs) {
      const auto eq = f.find('=');
      if (eq == std::string::npos) throw Error("invalid --filter `" + f + "` (KEY=VALUE)");
      const std::string k = f.substr(0, eq), v = f.substr(eq + 1);
      if (!keys.count(k))
        throw Error("invalid --filter key `" + k + "` (status, name, id, label, exited, ancestor, before, since, network, volume, health)");
      if (k == "status" && !states.count(v)) throw Error("invalid --filter `status=" + v + "`");
      if (k == "health" && v != "starting" && v != "healthy" && v != "unhealthy" && v != "none")
        throw Error("invalid --filter `health=" + v + "`");
      if (k == "exited") {
        char* end = nullptr;
        std::strtol(v.c_str(), &end, 10);
        if (v.empty() || *end) throw Error("invalid --filter `exited=" + v + "`: an exit code");
      }
      if (k == "name" || k == "id") {
        try {
          regexes_[k].emplace_back(v, std::regex::ECMAScript);
        } catch (const std::regex_error&) {
          throw Error("invalid --filter `" + f + "`: not a regular expression");
        }
      }
      if (k == "before" || k == "since") {
        const int64_t t = eng.lookup(v).rec.created;
        if (k == "before") before_ = before_ ? std::min(before_, t) : t;
        else since_ = std::max(since_, t);
      }
      if (k == "ancestor") {
        try {
          ancestor_ids_.push_back(eng.images().resolve(v).id.str());
        } catch (const Error&) {
          // not an image here: matched by the name the container was made with
        }
      }
      values_[k].push_back(v);
    }
  }
  // `status` in the filters shows stopped containers without -a, as Docker's.
  bool wants_all() const { return values_.count("status") > 0; }

  bool match(const json& row) const {
    auto any = [&](const char* key, const std::function<bool(const std::string&)>& ok) {
      auto it = values_.find(key);
      if (it == values_.end()) return true;
      for (const auto& v : it->second)
        if (ok(v)) return true;
      return false;
    };
    const std::string name = row["Names"], state = row["State"];
    if (!any("status", [&](const std::string& v) { return v == state; })) return false;
    if (auto it = regexes_.find("name"); it != regexes_.end() &&
        std::none_of(it->second.begin(), it->second.end(), [&](const std::regex& r) {
          return std::regex_search(name, r) || std::regex_search("/" + name, r);
        }))
      return false;
    if (auto it = regexes_.find("id"); it != regexes_.end() &&
        std::none_of(it->second.begin(), it->second.end(), [&](const std::regex& r) { return std::regex_search(row["ID"].get<std::string>(), r); }))
      return false;
    // Labels: all of them (Docker matches every label filter).
    if (auto it = values_.find("label"); it != values_.end())
      for (const auto& v : it->second)
        if (!has_label(row["Labels"], v)) return false;
    if (!any("exited", [&](const std::string& v) { return state == "exited" && row["ExitCode"] == std::atoi(v.c_str()); }))
      return false;
    if (!any("ancestor", [&](const std::string& v) {
          const std::string image = row["Image"];
          return image == v || image == v + ":latest" || v == image + ":latest" ||
                 std::find(ancestor_ids_.begin(), ancestor_ids_.end(), row["ImageID"].get<std::string>()) != ancestor_ids_.end();
        }))
      return false;
    if (!any("network", [&](const std::string& v) {
          for (auto& n : row["Networks"])
            if (n == v) return true;
          return false;
        }))
      return false;
    if (!any("volume", [&](const std::string& v) {
          for (auto* k : {"Mounts", "MountDestinations"})
            for (auto& m : row[k])
              if (m == v) return true;
          return false;
        }))
      return false;
    // berth has no health checks: every container is "none".
    if (!any("health", [&](const std::string& v) { return v == "none"; })) return false;
    const int64_t created = row["CreatedNs"];
    if (before_ && created >= before_) return false;
    if (since_ && created <= since_) return false;
    return true;
  }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::map<std::string, std::vector<std::regex>> regexes_;
  std::vector<std::string> ancestor_ids_;
  int64_t before_ = 0, since_ = 0;
};

// Characters on screen (UTF-8 code points), for table columns.
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return n;
}

std::string pad(const std::string& s, size_t w) {
  return s + std::string(w + 3 - std::min(w, width(s)), ' ');
}

// A value for one table cell: control characters (a command's newlines, tabs) become spaces,
// and with max > 0 it is cut to max characters (whole UTF-8 sequences) ending in "…".
std::string cell_text(std::string s, size_t max) {
  for (auto& ch : s)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
  if (max == 0 || width(s) <= max) return s;
  size_t chars = 0, i = 0;
  for (; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && chars++ == max - 1) break;
  return s.substr(0, i) + "…";
}

}  // namespace

int64_t parse_since(const std::string& s) {
  if (s.empty()) return 0;
  // A duration ("10m", "30s", "2h") before now, an RFC 3339 time, or unix seconds.
  char unit = s.back();
  if ((unit == 's' || unit == 'm' || unit == 'h') && s.size() > 1 &&
      s.find_first_not_of("0123456789.", 0) == s.size() - 1) {
    double v = std::strtod(s.c_str(), nullptr) * (unit == 's' ? 1 : unit == 'm' ? 60 : 3600);
    return static_cast<int64_t>(std::time(nullptr)) - static_cast<int64_t>(v);
  }
  if (s.find_first_not_of("0123456789.") == std::string::npos) return std::atoll(s.c_str());
  int64_t t = parse_rfc3339(s);
  if (t == 0) throw Error("invalid --since `" + s + "`");
  return t;
}

namespace {

// False when the output is gone (`logs -f | head -1`): the follow ends.
bool print_log(const logs::Entry& l, bool timestamps) {
  std::string text = timestamps ? l.time + " " + l.log : l.log;
  try {
    fs::write_fd(l.stream == "stderr" ? 2 : 1, text, "output");
    return true;
  } catch (const Error&) {
    return false;
  }
}

// Docker's way with several containers: each one done or its error printed, exit 1 if any
// failed; the name is printed for each success.
int for_each_container(const std::vector<std::string>& refs, const std::function<void(const std::string&)>& op) {
  int rc = 0;
  for (auto& ref : refs) {
    try {
      op(ref);
      std::puts(ref.c_str());
    } catch (const Error& ex) {
      std::fprintf(stderr, "berth: %s\n", ex.what());
      rc = 1;
    }
  }
  return rc;
}

}  // namespace

int cmd_run(const Engine& e, int argc, char** argv, int first) { return do_run(e, argc, argv, first, true); }
int cmd_create(const Engine& e, int argc, char** argv, int first) { return do_run(e, argc, argv, first, false); }

int cmd_start(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("start", {{"attach", "a", false}, {"interactive", "i", false}, {"detach-keys", "", true}}, argc, argv, first);
  if (a.positional().empty()) throw Error("start: a container is required");
  auto eng = make_engine(e);
  if (a.has("attach")) {
    if (a.positional().size() > 1) throw Error("start: --attach takes one container");
    auto c = eng.lookup(a.positional()[0]);
    const json& cfg = c.data["Config"];
    bool rm = c.data["HostConfig"].value("AutoRemove", false);
    bool owner = c.data["HostConfig"]["RestartPolicy"].value("Name", "no") == "no";
    AttachOptions o;
    o.use_stdin = a.has("interactive") && cfg.value("OpenStdin", false);
    o.tty = cfg.value("Tty", false);
    if (a.has("detach-keys")) o.detach_keys = parse_detach_keys(a.get("detach-keys"));
    return run_attached(eng, c, o, rm, owner);
  }
  return for_each_container(a.positional(), [&](const std::string& ref) {
    eng.start(ref, false);
  });
}

int cmd_stop(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("stop", {{"time", "t", true}, {"timeout", "", true}}, argc, argv, first);
  if (a.positional().empty()) throw Error("stop: a container is required");
  int t = -1;
  if (a.has("time") || a.has("timeout")) {
    std::string v = a.get("time", a.get("timeout"));
    char* end = nullptr;
    long x = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end) throw Error("stop: invalid --time `" + v + "`");
    t = static_cast<int>(x);
  }
  auto eng = make_engine(e);
  return for_each_container(a.positional(), [&](const std::string& ref) {
    eng.stop(ref, t);
  });
}

int cmd_restart(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("restart", {{"time", "t", true}}, argc, argv, first);
  if (a.positional().empty()) throw Error("restart: a container is required");
  auto eng = make_engine(e);
  return for_each_container(a.positional(), [&](const std::string& ref) {
    eng.stop(ref, a.has("time") ? std::stoi(a.get("time")) : -1);
    eng.start(ref, false);
  });
}

int cmd_kill(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("kill", {{"signal", "s", true}}, argc, argv, first);
  if (a.positional().empty()) throw Error("kill: a container is required");
  int sig = engine::parse_signal(a.get("signal", "KILL"));
  auto eng = make_engine(e);
  return for_each_container(a.positional(), [&](const std::string& ref) {
    eng.kill(ref, sig);
  });
}

int cmd_rm(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("rm", {{"force", "f", false}, {"volumes", "v", false}}, argc, argv, first);
  if (a.positional().empty()) throw Error("rm: a container is required");
  auto eng = make_engine(e);
  return for_each_container(a.positional(), [&](const std::string& ref) {
    eng.remove(ref, a.has("force"), a.has("volumes"));
  });
}

int cmd_ps(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("ps",
         {{"all", "a", false}, {"quiet", "q", false}, {"no-trunc", "", false}, {"format", "", true},
          {"filter", "f", true, true}, {"latest", "l", false}, {"size", "s", false}},
         argc, argv, first);
  const std::string format = a.get("format", "table");
  // A template that does not parse fails before anything is looked at.
  if (format != "table" && format != "json") format::Template::parse(format.rfind("table ", 0) == 0 ? format.substr(6) : format);
  auto eng = make_engine(e);
  const PsFilter filter(eng, a.all("filter"));
  const bool want_size = a.has("size") || format.find(".Size") != std::string::npos;
  std::vector<json> rows;
  for (auto& c : eng.list()) {
    engine::State s = eng.state(c);
    if (!a.has("all") && !filter.wants_all() && !s.running() && s.status != "restarting") continue;
    json row = container_row(eng, c, s);
    if (!filter.match(row)) continue;
    // Sizes walk the layers' files: only when asked (-s, or a template that shows them).
    if (want_size) {
      const auto z = eng.sizes(c);
      row["Size"] = image::human_size(z.rw) + " (virtual " + image::human_size(z.root_fs) + ")";
    }
    rows.push_back(row);
  }
  std::reverse(rows.begin(), rows.end());  // newest first, like Docker
  if (a.has("latest") && rows.size() > 1) rows.resize(1);
  bool trunc = !a.has("no-trunc");
  for (auto& r : rows)
    if (trunc) r["ID"] = r["ID"].get<std::string>().substr(0, 12);
  if (a.has("quiet")) {
    for (auto& r : rows) std::puts(r["ID"].get<std::string>().c_str());
    return 0;
  }
  if (format != "table") {
    // Docker's fields as its templates see them (strings), and the exit code.
    std::vector<json> views;
    for (auto& r : rows) {
      std::string labels, nets;
      for (auto& [k, v] : r["Labels"].items()) labels += (labels.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
      for (auto& n : r["Networks"]) nets += (nets.empty() ? "" : ",") + n.get<std::string>();
      std::string mounts;
      for (auto& m : r["Mounts"]) mounts += (mounts.empty() ? "" : ",") + m.get<std::string>();
      const int64_t created = r["CreatedAt"].get<int64_t>();
      char at[64] = "";
      time_t t = static_cast<time_t>(created);
      struct tm tm {};
      gmtime_r(&t, &tm);
      std::strftime(at, sizeof at, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
      views.push_back({{"ID", r["ID"]}, {"Image", r["Image"]}, {"Command", "\"" + cell_text(r["Command"], trunc ? 20 : 0) + "\""},
                       {"CreatedAt", at}, {"RunningFor", time_ago(created)}, {"Ports", r["Ports"]}, {"State", r["State"]},
                       {"Status", r["Status"]}, {"Names", r["Names"]}, {"Labels", labels}, {"Networks", nets},
                       {"Mounts", mounts}, {"LocalVolumes", std::to_string(r["LocalVolumes"].get<int>())},
                       {"ExitCode", r["ExitCode"]}});
      if (r.contains("Size")) views.back()["Size"] = r["Size"];
    }
    static const json headers = {{"ID", "CONTAINER ID"}, {"Image", "IMAGE"}, {"Command", "COMMAND"}, {"CreatedAt", "CREATED AT"},
                                 {"RunningFor", "CREATED"}, {"Ports", "PORTS"}, {"State", "STATE"}, {"Status", "STATUS"},
                                 {"Names", "NAMES"}, {"Labels", "LABELS"}, {"Networks", "NETWORKS"}, {"Mounts", "MOUNTS"},
                                 {"LocalVolumes", "LOCAL VOLUMES"}, {"ExitCode", "EXIT CODE"}, {"Size", "SIZE"}};
    print_list(format, "", headers, views);
    return 0;
  }
  size_t wi = 12, wm = 5, wc = 7, wt = 7, ws = 6, wp = 5;
  size_t wn = 5;
  std::vector<std::array<std::string, 8>> cells;
  for (auto& r : rows) {
    const std::string cmd = "\"" + cell_text(r["Command"], trunc ? 20 : 0) + "\"";
    cells.push_back({r["ID"], r["Image"], cmd, time_ago(r["CreatedAt"].get<int64_t>()), r["Status"], r["Names"], r["Ports"],
                     r.value("Size", "")});
    wp = std::max(wp, width(cells.back()[6]));
    wn = std::max(wn, width(cells.back()[5]));
    wi = std::max(wi, width(cells.back()[0]));
    wm = std::max(wm, width(cells.back()[1]));
    wc = std::max(wc, width(cells.back()[2]));
    wt = std::max(wt, width(cells.back()[3]));
    ws = std::max(ws, width(cells.back()[4]));
  }
  // With -s, SIZE after NAMES (Docker's column order).
  const bool size_col = a.has("size");
  std::puts((pad("CONTAINER ID", wi) + pad("IMAGE", wm) + pad("COMMAND", wc) + pad("CREATED", wt) +
             pad("STATUS", ws) + pad("PORTS", wp) + (size_col ? pad("NAMES", wn) + "SIZE" : std::string("NAMES"))).c_str());
  for (auto& r : cells)
    std::puts((pad(r[0], wi) + pad(r[1], wm) + pad(r[2], wc) + pad(r[3], wt) + pad(r[4], ws) +
               pad(r[6], wp) + (size_col ? pad(r[5], wn) + r[7] : r[5])).c_str());
  return 0;
}

int cmd_logs(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("logs",
         {{"follow", "f", false}, {"tail", "n", true}, {"timestamps", "t", false}, {"since", "", true},
          {"until", "", true}, {"details", "", false}},
         argc, argv, first);
  engine::LogOptions o;
  if (a.has("tail") && a.get("tail") != "all") {
    const std::string text = a.get("tail");
    char* end = nullptr;
    o.tail = std::strtol(text.c_str(), &end, 10);
    if (*end || o.tail < 0) throw Error(ErrorKind::invalid_argument, "logs: invalid --tail `" + text + "`");
  }
  o.since = parse_since(a.get("since"));
  o.until = a.has("until") ? parse_since(a.get("until")) : 0;
  o.follow = a.has("follow");
  const bool ts = a.has("timestamps");
  make_engine(e).logs(a.id(), o, [&](const logs::Entry& l) { return print_log(l, ts); });
  return 0;
}

int cmd_exec(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("exec",
         {{"detach", "d", false}, {"interactive", "i", false}, {"tty", "t", false}, {"env", "e", true, true},
          {"user", "u", true}, {"workdir", "w", true}, {"privileged", "", false}, {"env-file", "", true, true},
          {"detach-keys", "", true}},
         argc, argv, first, true);
  if (a.positional().size() < 2) throw Error("exec: a container and a command are required");
  if (!a.has("detach") && a.has("interactive") && a.has("tty") && !::isatty(0)) {
    std::fprintf(stderr, "berth: the input device is not a TTY\n");
    return 1;
  }
  auto eng = make_engine(e);
  engine::ExecRequest req;
  req.args.assign(a.positional().begin() + 1, a.positional().end());
  for (auto& f : a.all("env-file"))
    for (auto& x : read_env_file(f))
      if (auto v = env_entry(x); !v.empty()) req.env.push_back(v);
  for (auto& x : a.all("env"))
    if (auto v = env_entry(x); !v.empty()) req.env.push_back(v);
  req.user = a.get("user");
  req.workdir = a.get("workdir");
  req.tty = a.has("tty");
  req.stdin_open = a.has("interactive");
  req.detach = a.has("detach");
  req.privileged = a.has("privileged");
  if (req.tty) req.winsize = winsize_text();
  engine::ExecSession x;
  try {
    x = eng.exec(a.positional()[0], req);
  } catch (const Error& err) {
    std::fprintf(stderr, "berth: %s\n", err.what());
    return command_failure_code(err, 1);
  }
  if (req.detach) return 0;
  AttachOptions o;
  o.use_stdin = req.stdin_open;
  o.tty = req.tty;
  if (a.has("detach-keys")) o.detach_keys = parse_detach_keys(a.get("detach-keys"));
  int code = attach_loop(x.conn.get(), o);
  if (code == kDetached) return 0;  // the session runs on
  // The shim went away without an exit frame: the container ended under the process.
  return code < 0 ? 137 : code;
}

int cmd_attach(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("attach", {{"no-stdin", "", false}, {"sig-proxy", "", true}, {"detach-keys", "", true}}, argc, argv, first);
  AttachOptions o;
  o.sig_proxy = sig_proxy_flag(a);
  if (a.has("detach-keys")) o.detach_keys = parse_detach_keys(a.get("detach-keys"));
  auto eng = make_engine(e);
  auto s = eng.attach(a.id());
  o.use_stdin = !a.has("no-stdin") && s.stdin_open;
  o.tty = s.tty;
  o.send_size = true;
  int code = attach_loop(s.conn.get(), o);
  if (code == kDetached) return 0;
  if (code < 0) {
    auto c = eng.lookup(a.id());
    code = eng.state(c).exit_code;
  }
  return code;
}

int cmd_wait(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("wait", {}, argc, argv, first);
  if (a.positional().empty()) throw Error("wait: a container is required");
  auto eng = make_engine(e);
  int rc = 0;
  for (auto& ref : a.positional()) {
    try {
      std::printf("%d\n", eng.wait(ref));
      std::fflush(stdout);
    } catch (const Error& ex) {
      std::fprintf(stderr, "berth: %s\n", ex.what());
      rc = 1;
    }
  }
  return rc;
}

int cmd_container_inspect(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("inspect", {{"format", "f", true}, {"type", "", true}, {"size", "s", false}}, argc, argv, first);
  if (a.positional().empty()) throw Error("inspect: a container is required");
  auto eng = make_engine(e);
  json out = json::array();
  int rc = 0;
  for (auto& ref : a.positional()) {
    try {
      auto c = eng.lookup(ref);
      out.push_back(eng.inspect(c));
      if (a.has("size")) {
        const auto z = eng.sizes(c);
        out.back()["SizeRw"] = z.rw;
        out.back()["SizeRootFs"] = z.root_fs;
      }
    } catch (const Error& ex) {
      std::fprintf(stderr, "berth: %s\n", ex.what());
      rc = 1;
    }
  }
  return print_inspect(a.get("format"), out, rc);
}

int cmd_inspect(const Engine& e, int argc, char** argv, int first) {
  // A container by that name or id first, else an image (Docker's order).
  Args a = parse_args("inspect", {{"format", "f", true}, {"type", "", true}, {"size", "s", false}}, argc, argv, first);
  std::string type = a.get("type");
  if (type == "image") return cmd_image_inspect(e, argc, argv, first);
  if (type == "container") return cmd_container_inspect(e, argc, argv, first);
  auto eng = make_engine(e);
  bool all_containers = !a.positional().empty();
  for (auto& ref : a.positional()) {
    try {
      eng.lookup(ref);
    } catch (const Error&) {
      all_containers = false;
    }
  }
  return all_containers ? cmd_container_inspect(e, argc, argv, first) : cmd_image_inspect(e, argc, argv, first);
}

// Docker's update: new limits and restart policy for containers, running or not.
int cmd_update(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("update",
                      {{"memory", "m", true}, {"memory-swap", "", true}, {"cpus", "", true}, {"cpu-shares", "c", true},
                       {"cpuset-cpus", "", true}, {"pids-limit", "", true}, {"restart", "", true}},
                      argc, argv, first);
  if (a.positional().empty()) throw UsageError("update: at least one container is required");
  json changes = json::object();
  resource_flags(a, changes);
  if (a.has("restart")) changes["RestartPolicy"] = restart_flag(a.get("restart"));
  if (changes.empty()) throw UsageError("update: nothing to change (--memory, --memory-swap, --cpus, --cpu-shares, --cpuset-cpus, --pids-limit, --restart)");
  auto eng = make_engine(e);
  return for_each_container(a.positional(), [&](const std::string& ref) { eng.update(ref, changes); });
}

// Docker's diff: A (added), C (changed), D (deleted), one path per line.
int cmd_diff(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("diff", {}, argc, argv, first);
  auto eng = make_engine(e);
  for (const auto& c : eng.changes(a.id())) std::printf("%c %s\n", c.kind, c.path.c_str());
  return 0;
}

int cmd_top(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("top", {}, argc, argv, first, true);
  if (a.positional().empty()) throw Error("top: a container is required");
  std::vector<std::string> ps_args(a.positional().begin() + 1, a.positional().end());
  if (ps_args.empty()) ps_args = {"-ef"};
  auto p = make_engine(e).top(a.positional()[0], ps_args);
  // Docker's table: a column is its widest cell + 3 wide, at least 20 (pad() adds the 3).
  std::vector<size_t> w(p.titles.size(), 17);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < w.size(); ++i) w[i] = std::max(w[i], width(row[i]));
  };
  measure(p.titles);
  for (auto& r : p.rows) measure(r);
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) line += i + 1 < row.size() ? pad(row[i], w[i]) : row[i];
    std::puts(line.c_str());
  };
  print(p.titles);
  for (auto& r : p.rows) print(r);
  return 0;
}

namespace {

// Docker's units: sizes of I/O in powers of 1000 ("1.2kB"), memory in powers of 1024 ("1.5MiB").
std::string binary_size(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 5) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.4g%s", v, units[u]);
  return buf;
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", v);
  return buf;
}

uint64_t host_memory() {
  struct sysinfo si {};
  if (::sysinfo(&si) != 0) return 0;
  return static_cast<uint64_t>(si.totalram) * si.mem_unit;
}

json stats_row(const engine::Container& c, const engine::Stats* before, const engine::Stats* now) {
  const uint64_t limit = now && now->mem_limit ? now->mem_limit : host_memory();
  const double cpu = before && now ? engine::cpu_percent(*before, *now) : 0;
  const double mem = now && limit ? 100.0 * static_cast<double>(now->mem_usage) / static_cast<double>(limit) : 0;
  auto io = [](uint64_t a, uint64_t b) { return image::human_size(static_cast<int64_t>(a)) + " / " + image::human_size(static_cast<int64_t>(b)); };
  return {{"Container", c.id().substr(0, 12)},
          {"ID", c.id().substr(0, 12)},
          {"Name", c.rec.name},
          {"CPUPerc", percent(cpu)},
          {"MemUsage", binary_size(now ? now->mem_usage : 0) + " / " + binary_size(now ? limit : 0)},
          {"MemPerc", percent(mem)},
          {"NetIO", io(now ? now->net_rx : 0, now ? now->net_tx : 0)},
          {"BlockIO", io(now ? now->blk_read : 0, now ? now->blk_write : 0)},
          {"PIDs", std::to_string(now ? now->pids : 0)}};
}

}  // namespace

int cmd_stats(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("stats", {{"no-stream", "", false}, {"all", "a", false}, {"format", "", true}, {"no-trunc", "", false}},
         argc, argv, first);
  const std::string format = a.get("format");
  if (format != "table" && format != "json" && !format.empty())
    format::Template::parse(format.rfind("table ", 0) == 0 ? format.substr(6) : format);  // bad: before anything
  auto eng = make_engine(e);
  std::vector<engine::Container> cs;
  if (a.positional().empty()) {
    for (auto& c : eng.list())
      if (a.has("all") || eng.state(c).running()) cs.push_back(c);
  } else {
    for (auto& r : a.positional()) cs.push_back(eng.lookup(r));
  }
  // A container that does not run has no reading: its row shows zeros, as Docker's.
  auto read = [&](const engine::Container& c) -> std::optional<engine::Stats> {
    try {
      return eng.stats(c.id());
    } catch (const Error& err) {
      if (err.kind() != ErrorKind::not_running && err.kind() != ErrorKind::not_found) throw;
      return std::nullopt;
    }
  };
  const json headers = {{"Container", "CONTAINER"}, {"ID", "CONTAINER ID"}, {"Name", "NAME"},
                        {"CPUPerc", "CPU %"},       {"MemUsage", "MEM USAGE / LIMIT"},
                        {"MemPerc", "MEM %"},       {"NetIO", "NET I/O"},
                        {"BlockIO", "BLOCK I/O"},   {"PIDs", "PIDS"}};
  const std::string table = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
  const bool redraw = !a.has("no-stream") && ::isatty(1);
  std::vector<std::optional<engine::Stats>> prev;
  for (auto& c : cs) prev.push_back(read(c));
  for (;;) {
    // CPU % is the use between two readings: 0.5 s apart for the first round, then a round a second.
    ::usleep(a.has("no-stream") ? 500000 : 1000000);
    std::vector<json> rows;
    for (size_t i = 0; i < cs.size(); ++i) {
      auto now = read(cs[i]);
      rows.push_back(stats_row(cs[i], prev[i] ? &*prev[i] : nullptr, now ? &*now : nullptr));
      prev[i] = now;
    }
    if (redraw) std::fputs("\033[2J\033[H", stdout);  // Docker's: the table in place
    print_list(format, table, headers, rows);
    std::fflush(stdout);
    if (a.has("no-stream")) return 0;
  }
}

int cmd_pause(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("pause", {}, argc, argv, first);
  auto eng = make_engine(e);
  for (auto& r : a.positional()) eng.pause(r, true), std::puts(r.c_str());
  return 0;
}

int cmd_unpause(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("unpause", {}, argc, argv, first);
  auto eng = make_engine(e);
  for (auto& r : a.positional()) eng.pause(r, false), std::puts(r.c_str());
  return 0;
}

int cmd_rename(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("rename", {}, argc, argv, first);
  if (a.positional().size() != 2) throw Error("rename: CONTAINER NEW_NAME");
  auto eng = make_engine(e);
  eng.rename(a.positional()[0], a.positional()[1]);
  return 0;
}

int cmd_port(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("port", {}, argc, argv, first);
  if (a.positional().empty() || a.positional().size() > 2) throw Error("port: CONTAINER [PRIVATE_PORT[/PROTO]]");
  auto eng = make_engine(e);
  engine::Container c = eng.lookup(a.positional()[0]);
  std::string want;
  if (a.positional().size() == 2) {
    want = a.positional()[1];
    if (want.find('/') == std::string::npos) want += "/tcp";
  }
  const json ports = c.data.value("NetworkSettings", json::object()).value("Ports", json::object());
  bool found = false;
  for (auto& [key, binds] : ports.items()) {
    if (!want.empty() && key != want) continue;
    if (!binds.is_array()) continue;
    for (auto& b : binds) {
      found = true;
      std::string where = b.value("HostIp", "") + ":" + b.value("HostPort", "");
      if (want.empty()) std::printf("%s -> %s\n", key.c_str(), where.c_str());
      else std::puts(where.c_str());
    }
  }
  if (!want.empty() && !found) throw Error("no public port '" + want + "' published for " + c.rec.name);
  return 0;
}

int cmd_volume_create(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("volume create", {{"name", "", true}, {"label", "l", true, true}, {"driver", "d", true}, {"opt", "o", true, true}},
         argc, argv, first);
  if (a.has("driver") && a.get("driver") != "local") throw Error("volume create: only the local driver exists");
  if (!a.all("opt").empty()) throw Error("volume create: driver options are not supported");
  std::string name = a.get("name", a.positional().empty() ? "" : a.positional()[0]);
  std::map<std::string, std::string> labels;
  for (auto& l : a.all("label")) labels[l.substr(0, l.find('='))] = l.find('=') == std::string::npos ? "" : l.substr(l.find('=') + 1);
  auto eng = make_engine(e);
  auto v = eng.volumes().create(name, labels, false, false);
  eng.emit("volume", "create", v.name, {{"driver", "local"}});
  std::puts(v.name.c_str());
  return 0;
}

int cmd_volume_ls(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("volume ls", {{"quiet", "q", false}, {"format", "", true}, {"filter", "f", true, true}}, argc, argv, first);
  auto eng = make_engine(e);
  // Docker's filters: the values of one key are alternatives, labels must all hold.
  std::map<std::string, std::vector<std::string>> filters;
  for (auto& f : a.all("filter")) {
    const auto eq = f.find('=');
    const std::string k = f.substr(0, eq), v = eq == std::string::npos ? "" : f.substr(eq + 1);
    if (k != "dangling" && k != "name" && k != "label" && k != "driver")
      throw Error("volume ls: invalid filter `" + k + "` (dangling, name, label, driver)");
    if (k == "dangling" && v != "true" && v != "false" && v != "1" && v != "0")
      throw Error("volume ls: invalid filter `dangling=" + v + "`: true or false");
    filters[k].push_back(v);
  }
  auto any = [&](const std::string& key, const std::function<bool(const std::string&)>& ok) {
    auto it = filters.find(key);
    return it == filters.end() || std::any_of(it->second.begin(), it->second.end(), ok);
  };
  std::vector<json> rows;
  for (auto& v : eng.volumes().list()) {
    if (!any("dangling", [&](const std::string& x) { return (x == "true" || x == "1") == eng.volume_users(v.name).empty(); }) ||
        !any("name", [&](const std::string& x) { return v.name.find(x) != std::string::npos; }) ||
        !any("driver", [&](const std::string& x) { return x == "local"; }))
      continue;
    const json label_map(v.labels);
    if (!std::all_of(filters["label"].begin(), filters["label"].end(), [&](const std::string& x) { return has_label(label_map, x); }))
      continue;
    if (a.has("quiet")) {
      std::puts(v.name.c_str());
      continue;
    }
    std::string labels;
    for (auto& [k, val] : v.labels) labels += (labels.empty() ? "" : ",") + k + "=" + val;
    rows.push_back({{"Driver", "local"}, {"Name", v.name}, {"Mountpoint", v.mountpoint}, {"Labels", labels}, {"Scope", "local"}});
  }
  if (a.has("quiet")) return 0;
  static const json headers = {{"Driver", "DRIVER"}, {"Name", "VOLUME NAME"}, {"Mountpoint", "MOUNTPOINT"},
                               {"Labels", "LABELS"}, {"Scope", "SCOPE"}};
  // Docker's own table: DRIVER padded to 10 (the tabwriter's minimum), then the name.
  print_list(a.get("format"), "{{.Driver}}\t{{.Name}}", headers, rows);
  return 0;
}

int cmd_volume_inspect(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("volume inspect", {{"format", "f", true}}, argc, argv, first);
  if (a.positional().empty()) throw Error("volume inspect: a volume is required");
  auto eng = make_engine(e);
  json out = json::array();
  int rc = 0;
  for (auto& n : a.positional()) {
    auto v = eng.volumes().get(n);
    if (!v) {
      std::fprintf(stderr, "berth: no such volume: %s\n", n.c_str());
      rc = 1;
      continue;
    }
    out.push_back(eng.volumes().inspect(*v));
  }
  if (out.empty()) return rc;
  return print_inspect(a.get("format"), out, rc);
}

int cmd_volume_rm(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("volume rm", {{"force", "f", false}}, argc, argv, first);
  if (a.positional().empty()) throw Error("volume rm: a volume is required");
  auto eng = make_engine(e);
  int rc = 0;
  for (auto& n : a.positional()) {
    try {
      if (eng.remove_volume(n, a.has("force"))) std::puts(n.c_str());
    } catch (const Error& ex) {
      std::fprintf(stderr, "berth: %s\n", ex.what());
      rc = 1;
    }
  }
  return rc;
}

int cmd_export(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("export", {{"output", "o", true}}, argc, argv, first);
  auto eng = make_engine(e);
  const std::string ref = a.id();
  if (!a.has("output")) {
    if (::isatty(1)) throw Error("export: cowardly refusing to write a tar to a terminal (use -o FILE or a redirect)");
    eng.export_rootfs(ref, 1);
    return 0;
  }
  // Written next to the target and renamed: a failed export leaves nothing half-written.
  const std::string out = a.get("output"), tmp = out + ".tmp." + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) throw_errno("export: create `" + tmp + "`");
  try {
    eng.export_rootfs(ref, fd.get());
    if (::fsync(fd.get()) < 0) throw_errno("export: fsync");
    fd.reset();
    if (::rename(tmp.c_str(), out.c_str()) < 0) throw_errno("export: rename to `" + out + "`");
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  return 0;
}

int cmd_cp(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("cp", {{"archive", "a", false}, {"follow-link", "L", false}}, argc, argv, first);
  if (a.positional().size() != 2) throw Error("cp: CONTAINER:SRC DEST or SRC CONTAINER:DEST");
  auto split = [](const std::string& s) -> std::pair<std::string, std::string> {
    auto colon = s.find(':');
    if (colon == std::string::npos || s[0] == '/' || s[0] == '.') return {"", s};
    return {s.substr(0, colon), s.substr(colon + 1)};
  };
  auto [c1, p1] = split(a.positional()[0]);
  auto [c2, p2] = split(a.positional()[1]);
  if (c1.empty() == c2.empty()) throw Error("cp: exactly one of the paths must name a container (CONTAINER:PATH)");
  if (p1.empty() || p2.empty()) throw Error("cp: empty path");
  auto eng = make_engine(e);
  // "-": a tar stream on stdout (from the container) or stdin (into it), as Docker.
  if (!c1.empty() && p2 == "-") {
    if (::isatty(1)) throw Error("cp: cowardly refusing to write a tar to a terminal (redirect stdout)");
    eng.copy_out_tar(c1, p1, 1, a.has("follow-link"));
    return 0;
  }
  if (c1.empty() && p1 == "-") {
    eng.copy_in_tar(c2, 0, p2);
    return 0;
  }
  if (!c1.empty()) eng.copy(c1, p1, p2, true, a.has("follow-link"));
  else eng.copy(c2, p1, p2, false, a.has("follow-link"));
  return 0;
}

int cmd_commit(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("commit", {{"message", "m", true}, {"author", "a", true}, {"pause", "p", true}, {"change", "c", true, true}},
         argc, argv, first);
  if (a.positional().size() != 2)
    throw Error("commit: CONTAINER REPOSITORY[:TAG] (untagged images are not supported yet)");
  auto eng = make_engine(e);
  auto img = eng.commit(a.positional()[0], a.positional()[1], a.get("message"), a.get("author"),
                        a.get("pause", "true") != "false", a.all("change"));
  std::puts(img.id.str().c_str());
  return 0;
}

int cmd_container_cleanup(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("container cleanup", {{"rm", "", false}, {"network-only", "", false}}, argc, argv, first);
  auto eng = make_engine(e);
  if (a.has("network-only")) eng.release_network(a.id());
  else eng.cleanup(a.id(), a.has("rm"));
  return 0;
}

int cmd_info(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("info", {{"format", "f", true}}, argc, argv, first);
  auto eng = make_engine(e);
  int running = 0, paused = 0, stopped = 0;
  auto list = eng.list();
  for (auto& c : list) {
    auto s = eng.state(c);
    if (s.status == "running") ++running;
    else if (s.status == "paused") ++paused;
    else ++stopped;
  }
  json info = {{"Containers", list.size()}, {"ContainersRunning", running}, {"ContainersPaused", paused},
               {"ContainersStopped", stopped}, {"Images", eng.images().list().size()},
               {"Driver", e.storage_driver}, {"DockerRootDir", e.root}, {"StateDir", e.state},
               {"Namespace", e.ns}, {"LoggingDriver", "json-file"}, {"DefaultRuntime", "berth"},
               {"ServerVersion", BERTH_VERSION}, {"OperatingSystem", "linux"},
               {"CgroupVersion", fs::exists("/sys/fs/cgroup/cgroup.controllers") ? "2" : "1"},
               {"NCPU", ::sysconf(_SC_NPROCESSORS_ONLN)}};
  if (a.has("format")) return print_inspect(a.get("format"), json::array({info}), 0);
  for (auto& [k, v] : info.items())
    std::printf("%s: %s\n", k.c_str(), v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
  return 0;
}

}  // namespace berth::cli
