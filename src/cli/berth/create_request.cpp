// The flags of run and create (Docker's) into an engine::CreateRequest: Config, HostConfig,
// mounts, resources, restart policy, networks.
#include "cli/berth/create_request.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "engine/engine.hpp"
#include "engine/spec.hpp"
#include "network/networks.hpp"
#include "runtime/signals.hpp"

namespace berth::cli {

nlohmann::json parse_ulimits(const std::vector<std::string>& specs) {
  nlohmann::json ulimits = nlohmann::json::array();
  for (auto& u : specs) {
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
  return ulimits;
}


using nlohmann::json;

namespace {

// --mount type=bind|volume|tmpfs,source=…,target=…,readonly,…: Docker's Mounts object, applied
// by the engine as Docker's daemon would (a bind's source must exist, unlike -v's).
void add_mount_flag(const std::string& spec, json& host) {
  json m = {{"Type", "volume"}};
  for (auto& kv : split(spec, ',')) {
    const size_t eq = kv.find('=');
    const std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
    auto truth = [&] {
      if (eq == std::string::npos || v == "true" || v == "1") return true;
      if (v == "false" || v == "0") return false;
      throw Error("--mount " + spec + ": " + k + " wants true or false");
    };
    if (k == "type") m["Type"] = v;
    else if (k == "source" || k == "src") m["Source"] = v;
    else if (k == "target" || k == "destination" || k == "dst") m["Target"] = v;
    else if (k == "readonly" || k == "ro") m["ReadOnly"] = truth();
    else if (k == "tmpfs-size") m["TmpfsOptions"]["SizeBytes"] = engine::parse_bytes(v, "--mount tmpfs-size");
    else if (k == "tmpfs-mode") {
      char* end = nullptr;
      const long mode = std::strtol(v.c_str(), &end, 8);
      if (v.empty() || *end || mode < 0 || mode > 07777) throw Error("--mount " + spec + ": tmpfs-mode wants an octal mode");
      m["TmpfsOptions"]["Mode"] = mode;
    } else if (k == "bind-propagation") m["BindOptions"]["Propagation"] = v;
    else if (k == "bind-nonrecursive") m["BindOptions"]["NonRecursive"] = truth();
    else if (k == "bind-recursive") {
      // Docker 25's: enabled (the default: a read-only bind is recursively read-only where the
      // kernel can), disabled (no mounts below the source), writable (only the top read-only),
      // readonly (recursively read-only, or an error).
      if (v == "disabled") m["BindOptions"]["NonRecursive"] = true;
      else if (v == "writable") m["BindOptions"]["ReadOnlyNonRecursive"] = true;
      else if (v == "readonly") m["BindOptions"]["ReadOnlyForceRecursive"] = true;
      else if (v != "enabled") throw Error("--mount " + spec + ": bind-recursive wants enabled, disabled, writable or readonly");
    }
    else if (k == "volume-nocopy") m["VolumeOptions"]["NoCopy"] = truth();
    else if (k == "volume-driver") m["VolumeOptions"]["DriverConfig"]["Name"] = v;
    else if (k == "consistency") {
      if (v != "default" && v != "consistent" && v != "cached" && v != "delegated")
        throw Error("--mount " + spec + ": consistency wants default, consistent, cached or delegated");
      m["Consistency"] = v;  // Docker Desktop's; nothing on Linux
    }
    else if (k == "volume-label" || k == "volume-opt") {
      // KEY=VALUE (a KEY alone: an empty value), as Docker's CLI
      const size_t eq = v.find('=');
      const std::string key = v.substr(0, eq), val = eq == std::string::npos ? "" : v.substr(eq + 1);
      if (key.empty()) throw Error("--mount " + spec + ": " + k + " wants KEY=VALUE");
      if (k == "volume-label") m["VolumeOptions"]["Labels"][key] = val;
      else m["VolumeOptions"]["DriverConfig"]["Options"][key] = val;
    } else if (!k.empty()) throw Error("--mount " + spec + ": unknown key `" + k + "`");
  }
  if (m.value("Target", "").empty()) throw Error("--mount " + spec + ": target is required");
  if (m.contains("BindOptions") && m["Type"] != "bind")
    throw Error("--mount " + spec + ": cannot mix 'bind-*' options with mount type '" + m["Type"].get<std::string>() + "'");
  host["Mounts"].push_back(m);
}

// Docker's env file: leading whitespace and blank or `#` lines skipped, a CR before the newline
// dropped, the value kept as written (trailing spaces too); a name with whitespace is an error.
std::vector<std::string> read_env_file(const std::string& path, const std::string& flag = "--env-file") {
  std::string text;
  // 1 MiB: more than a process's whole environment may hold.
  try {
    if (!fs::read_file_if_exists(path, text, 1 << 20)) throw Error(flag + ": cannot read `" + path + "`");
  } catch (const Error& e) {
    if (std::string_view(e.what()).rfind(flag, 0) == 0) throw;
    throw Error(ErrorKind::invalid_argument, flag + ": " + e.what());
  }
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // a UTF-8 byte order mark
  std::vector<std::string> out;
  int n = 0;
  for (std::string line : split(text, '\n')) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t b = line.find_first_not_of(" \t\v\f");
    if (b == std::string::npos || line[b] == '#') continue;
    line.erase(0, b);
    const std::string name = line.substr(0, line.find('='));
    if (name.find_first_of(" \t\v\f") != std::string::npos)
      throw Error(ErrorKind::invalid_argument, flag + " " + path + ":" + std::to_string(n) +
                                                   (flag == "--env-file" ? ": variable `" : ": label `") + name + "` contains whitespace");
    out.push_back(line);
  }
  return out;
}

// NAME=value as given; a bare NAME takes this process's value. Unset here: dropped from an
// env file, but passed on bare from -e, where it unsets the image's (or the container's, for
// exec) variable of that name — Docker's CLI and daemon do both.
std::string env_entry(const std::string& e, bool from_flag) {
  if (e.empty() || e[0] == '=') throw Error("invalid environment variable `" + e + "`");
  if (e.find('=') != std::string::npos) return e;
  const char* v = std::getenv(e.c_str());
  return v ? e + "=" + v : from_flag ? e : "";
}

}  // namespace

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
    {"log-driver", "", true},     {"sig-proxy", "", true, false, true}, {"pull", "", true},
    {"quiet", "q", false},        {"platform", "", true},        {"attach", "a", true, true},
    {"ip", "", true},             {"dns", "", true, true},       {"dns-search", "", true, true},
    {"dns-option", "", true, true}, {"network-alias", "", true, true}, {"alias", "", true, true},
    {"publish-all", "P", false},  {"mac-address", "", true},     {"pid", "", true},
    {"detach-keys", "", true},    {"ipc", "", true},             {"uts", "", true},
    {"cgroup-parent", "", true},
    {"cpu-period", "", true},     {"cpu-quota", "", true},       {"cpu-rt-period", "", true},
    {"cpu-rt-runtime", "", true}, {"cpuset-mems", "", true},     {"memory-reservation", "", true},
    {"memory-swappiness", "", true}, {"oom-kill-disable", "", false}, {"kernel-memory", "", true},
    {"blkio-weight", "", true},   {"blkio-weight-device", "", true, true},
    {"device-read-bps", "", true, true}, {"device-write-bps", "", true, true},
    {"device-read-iops", "", true, true}, {"device-write-iops", "", true, true},
    {"volumes-from", "", true, true}, {"link", "", true, true}, {"oom-score-adj", "", true}, {"device-cgroup-rule", "", true, true},
    {"cgroupns", "", true},
    {"cidfile", "", true},        {"label-file", "", true, true}, {"domainname", "", true},
    {"userns", "", true},         {"volume-driver", "", true},   {"isolation", "", true},
    {"health-cmd", "", true},     {"health-interval", "", true}, {"health-timeout", "", true},
    {"health-start-period", "", true}, {"health-start-interval", "", true}, {"health-retries", "", true},
    {"no-healthcheck", "", false},
};

std::vector<std::string> extra_hosts(const std::vector<std::string>& specs) {
  std::vector<std::string> out;
  for (const auto& spec : specs) {
    auto cut = spec.find('=');
    if (cut == std::string::npos) cut = spec.find(':');  // an IPv6 address has more colons
    std::string name = cut == std::string::npos ? spec : spec.substr(0, cut);
    std::string ip = cut == std::string::npos ? "" : spec.substr(cut + 1);
    if (cut == std::string::npos || name.empty() || name.find(':') != std::string::npos)
      throw Error(ErrorKind::invalid_argument, "bad format for add-host: " + json(spec).dump());
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    out.push_back(name + ":" + ip);
  }
  return out;
}

std::vector<std::string> env_flags(const Args& a) {
  std::vector<std::string> env;
  for (auto& f : a.all("env-file"))
    for (auto& e : read_env_file(f))
      if (auto x = env_entry(e, false); !x.empty()) env.push_back(x);
  for (auto& e : a.all("env")) env.push_back(env_entry(e, true));
  return env;
}

// The resource flags into HostConfig (run, create, update; the device lists only where the
// verb has them: run and create).
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
    errno = 0;
    long long p = std::strtoll(text.c_str(), &end, 10);
    if (*end || text.empty() || errno == ERANGE) throw Error("invalid --pids-limit `" + text + "`");
    h["PidsLimit"] = p;
  }
  auto integer = [&](const char* flag) {
    const std::string text = a.get(flag);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end || errno == ERANGE) throw Error(std::string("invalid --") + flag + " `" + text + "`: want an integer");
    return static_cast<int64_t>(v);
  };
  const std::pair<const char*, const char*> integers[] = {{"cpu-period", "CpuPeriod"},
                                                          {"cpu-quota", "CpuQuota"},
                                                          {"cpu-rt-period", "CpuRealtimePeriod"},
                                                          {"cpu-rt-runtime", "CpuRealtimeRuntime"},
                                                          {"memory-swappiness", "MemorySwappiness"},
                                                          {"blkio-weight", "BlkioWeight"}};
  for (auto& [flag, key] : integers)
    if (a.has(flag)) h[key] = integer(flag);
  if (a.has("memory-reservation")) h["MemoryReservation"] = engine::parse_bytes(a.get("memory-reservation"), "--memory-reservation");
  if (a.has("kernel-memory")) h["KernelMemory"] = engine::parse_bytes(a.get("kernel-memory"), "--kernel-memory");
  if (a.has("cpuset-mems")) h["CpusetMems"] = a.get("cpuset-mems");
  if (a.has("oom-kill-disable")) h["OomKillDisable"] = true;
  // PATH:VALUE lists (Docker's --blkio-weight-device, --device-read-bps, …).
  auto device_value = [](const std::string& flag, const std::string& spec) {
    const auto colon = spec.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size())
      throw Error("invalid --" + flag + " `" + spec + "`: want PATH:VALUE");
    return std::pair{spec.substr(0, colon), spec.substr(colon + 1)};
  };
  for (auto& spec : a.all("blkio-weight-device")) {
    auto [path, v] = device_value("blkio-weight-device", spec);
    char* end = nullptr;
    const long w = std::strtol(v.c_str(), &end, 10);
    if (*end) throw Error("invalid --blkio-weight-device `" + spec + "`: the weight is a number from 10 to 1000");
    h["BlkioWeightDevice"].push_back({{"Path", path}, {"Weight", w}});
  }
  const std::tuple<const char*, const char*, bool> throttles[] = {{"device-read-bps", "BlkioDeviceReadBps", true},
                                                                  {"device-write-bps", "BlkioDeviceWriteBps", true},
                                                                  {"device-read-iops", "BlkioDeviceReadIOps", false},
                                                                  {"device-write-iops", "BlkioDeviceWriteIOps", false}};
  for (auto& [flag, key, bytes] : throttles)
    for (auto& spec : a.all(flag)) {
      auto [path, v] = device_value(flag, spec);
      int64_t rate = 0;
      if (bytes) {
        rate = engine::parse_bytes(v, std::string("--") + flag);
      } else {
        char* end = nullptr;
        rate = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end) throw Error(std::string("invalid --") + flag + " `" + spec + "`: want PATH:NUMBER");
      }
      h[key].push_back({{"Path", path}, {"Rate", rate}});
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
  r.platform = a.get("platform");
  json c = json::object(), h = json::object();
  if (a.positional().size() > 1)
    c["Cmd"] = std::vector<std::string>(a.positional().begin() + 1, a.positional().end());
  if (a.has("entrypoint")) {
    std::string ep = a.get("entrypoint");
    c["Entrypoint"] = json::array({ep});  // "" → [""], as the docker CLI sends: no entrypoint, no image Cmd
  }
  if (auto env = env_flags(a); !env.empty()) c["Env"] = env;
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
  if (a.has("stop-timeout")) c["StopTimeout"] = int_flag(a, "stop-timeout", 10);
  // Docker's health flags: the command runs in the shell; what is not given is the image's.
  json hc = json::object();
  if (!a.get("health-cmd").empty()) hc["Test"] = {"CMD-SHELL", a.get("health-cmd")};
  for (auto [flag, key] : {std::pair{"health-interval", "Interval"}, {"health-timeout", "Timeout"},
                           {"health-start-period", "StartPeriod"}, {"health-start-interval", "StartInterval"}}) {
    if (!a.has(flag)) continue;
    const auto ns = parse_go_duration(a.get(flag));
    if (!ns) throw Error(ErrorKind::invalid_argument, "invalid argument \"" + a.get(flag) + "\" for \"--" + flag + "\" flag: a duration (30s, 1m30s, 500ms)");
    if (*ns < 0) throw Error(ErrorKind::invalid_argument, std::string("--") + flag + " cannot be negative");
    if (*ns) hc[key] = *ns;
  }
  if (a.has("health-retries")) {
    const int n = int_flag(a, "health-retries", 0);
    if (n < 0) throw Error(ErrorKind::invalid_argument, "--health-retries cannot be negative");
    if (n) hc["Retries"] = n;
  }
  if (a.has("no-healthcheck")) {
    if (!hc.empty()) throw Error(ErrorKind::invalid_argument, "--no-healthcheck conflicts with --health-* options");
    hc["Test"] = {"NONE"};
  }
  if (!hc.empty()) c["Healthcheck"] = hc;
  c["Tty"] = a.has("tty");
  c["OpenStdin"] = a.has("interactive");
  c["AttachStdin"] = a.has("interactive") && !a.has("detach");
  // Docker's CLI: the end of the caller's input ends the container's, unless it runs detached
  // (a later attach's end of input then leaves it open).
  c["StdinOnce"] = a.has("interactive") && !a.has("detach");
  c["AttachStdout"] = c["AttachStderr"] = !a.has("detach");
  // --label-file first (lines as --env-file's: KEY=VALUE, # comments), then --label over it.
  std::vector<std::string> labels;
  for (auto& f : a.all("label-file"))
    for (auto& l : read_env_file(f, "--label-file")) labels.push_back(l);
  for (auto& l : a.all("label")) labels.push_back(l);
  for (auto& l : labels) {
    auto eq = l.find('=');
    c["Labels"][l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  if (a.has("domainname")) c["Domainname"] = a.get("domainname");
  // Checked by the engine (Docker's: host namespaces only, the local driver, the default
  // isolation on Linux).
  if (a.has("userns")) h["UsernsMode"] = a.get("userns");
  if (a.has("volume-driver")) h["VolumeDriver"] = a.get("volume-driver");
  if (a.has("isolation")) h["Isolation"] = a.get("isolation");
  // Networking: Docker's default is its bridge network; berth's is `berth` (made on first use).
  std::string net = a.get("network", a.get("net", "bridge"));
  h["NetworkMode"] = net;
  if (a.has("pid")) h["PidMode"] = a.get("pid");
  if (a.has("ipc")) h["IpcMode"] = a.get("ipc");
  if (a.has("uts")) h["UTSMode"] = a.get("uts");
  if (a.has("cgroup-parent")) h["CgroupParent"] = a.get("cgroup-parent");
  json bindings = json::object();
  for (auto& p : a.all("publish"))
    for (auto& m : network::parse_publish(p)) {
      std::string key = std::to_string(m.container_port) + "/" + m.protocol;
      if (!bindings[key].is_array()) bindings[key] = json::array();
      std::string host_port = m.host_port ? std::to_string(m.host_port) : "";
      if (m.host_port_end) host_port += "-" + std::to_string(m.host_port_end);
      bindings[key].push_back({{"HostIp", m.host_ip}, {"HostPort", host_port}});
      c["ExposedPorts"][key] = json::object();
    }
  for (auto& x : a.all("expose"))
    for (auto& m : network::parse_publish(x)) c["ExposedPorts"][std::to_string(m.container_port) + "/" + m.protocol] = json::object();
  if (!bindings.empty()) h["PortBindings"] = bindings;
  h["PublishAllPorts"] = a.has("publish-all");
  h["Dns"] = a.all("dns");  // IPv4 or IPv6 addresses: checked by the engine (check_host_config)
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
  std::set<std::string> seen_volumes;  // the same -v twice is one (Docker's CLI keeps a set)
  for (auto& v : a.all("volume")) {
    if (!seen_volumes.insert(v).second) continue;
    // /host:/ctr[:opts] (bind), name:/ctr[:opts] (named volume), /ctr (anonymous volume).
    if (v.empty()) throw Error("-v: empty volume specification");
    if (v.find(':') == std::string::npos) {
      if (v[0] != '/') throw Error("-v " + v + ": a volume target must be an absolute path");
      c["Volumes"][v] = json::object();
    } else if (v[0] == '.') {
      // ./dir:/ctr, ../dir:/ctr, .:/ctr — a host path relative to here, made absolute (Docker's
      // CLI does the same; a volume name cannot begin with a dot).
      const auto colon = v.find(':');
      h["Binds"].push_back(fs::clean_path(fs::absolute(v.substr(0, colon))) + v.substr(colon));
    } else {
      h["Binds"].push_back(v);
    }
  }
  for (auto& m : a.all("mount")) add_mount_flag(m, h);
  h["VolumesFrom"] = a.all("volumes-from");
  if (a.has("link")) h["Links"] = a.all("link");
  h["DeviceCgroupRules"] = a.all("device-cgroup-rule");
  if (a.has("cgroupns")) h["CgroupnsMode"] = a.get("cgroupns");
  if (a.has("oom-score-adj")) {
    const std::string text = a.get("oom-score-adj");
    char* end = nullptr;
    const long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end) throw Error("invalid --oom-score-adj `" + text + "`: want an integer from -1000 to 1000");
    h["OomScoreAdj"] = v;
  }
  for (auto& t : a.all("tmpfs")) {
    auto colon = t.find(':');
    h["Tmpfs"][t.substr(0, colon)] = colon == std::string::npos ? "" : t.substr(colon + 1);
  }
  h["CapAdd"] = a.all("cap-add");
  h["CapDrop"] = a.all("cap-drop");
  h["SecurityOpt"] = a.all("security-opt");
  h["Devices"] = a.all("device");
  h["GroupAdd"] = a.all("group-add");
  h["ExtraHosts"] = extra_hosts(a.all("add-host"));
  h["Ulimits"] = parse_ulimits(a.all("ulimit"));
  resource_flags(a, h);
  if (a.has("shm-size")) h["ShmSize"] = engine::parse_bytes(a.get("shm-size"), "--shm-size");
  for (auto& s : a.all("sysctl")) {
    auto eq = s.find('=');
    if (eq == std::string::npos) throw Error("invalid --sysctl `" + s + "`");
    h["Sysctls"][s.substr(0, eq)] = s.substr(eq + 1);
  }
  h["RestartPolicy"] = restart_flag(a.get("restart", "no"));
  json log_config = {{"Type", a.get("log-driver", "json-file")}, {"Config", json::object()}};
  // The engine checks the driver and its options (for every client alike).
  for (auto& o : a.all("log-opt")) {
    auto eq = o.find('=');
    if (eq == std::string::npos) throw Error("invalid --log-opt `" + o + "`");
    log_config["Config"][o.substr(0, eq)] = o.substr(eq + 1);
  }
  h["LogConfig"] = log_config;
  // A name (berth, runc, crun, the configuration's) or a runtime binary's absolute path: the
  // engine resolves it.
  if (a.has("runtime")) h["Runtime"] = a.get("runtime");
  r.config = c;
  r.host = h;
  return r;
}

}  // namespace berth::cli
