#include "cri/pods.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include <google/protobuf/util/json_util.h>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"
#include "engine/volumes.hpp"
#include "network/cni.hpp"
#include "network/netns.hpp"

namespace berth::cri {

using nlohmann::json;
namespace v1 = runtime::v1;

namespace {

const v1::NamespaceOption& ns_options(const v1::PodSandboxConfig& c) {
  return c.linux().security_context().namespace_options();
}

// A new IPC and UTS namespace (the UTS one with `hostname`) pinned at ipc_path and uts_path,
// made on this thread alone and left again (unshare and setns act on the calling thread).
void pin_ipc_uts(const std::string& ipc_path, const std::string& uts_path, const std::string& hostname,
                 bool ipc, bool uts) {
  if (!ipc && !uts) return;
  std::vector<std::pair<int, std::string>> kinds;
  if (ipc) kinds.push_back({CLONE_NEWIPC, ipc_path});
  if (uts) kinds.push_back({CLONE_NEWUTS, uts_path});
  std::vector<UniqueFd> back;
  for (auto& [flag, path] : kinds) {
    UniqueFd f(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
    if (!f) throw_errno("create `" + path + "`");
    const char* self = flag == CLONE_NEWIPC ? "/proc/thread-self/ns/ipc" : "/proc/thread-self/ns/uts";
    back.emplace_back(::open(self, O_RDONLY | O_CLOEXEC));
    if (!back.back()) throw_errno(std::string("open ") + self);
  }
  std::string error;
  int flags = 0;
  for (auto& k : kinds) flags |= k.first;
  if (::unshare(flags) < 0) {
    error = std::string("new IPC/UTS namespace: ") + std::strerror(errno);
  } else {
    if (uts && ::sethostname(hostname.data(), hostname.size()) < 0)
      error = "set the pod's hostname `" + hostname + "`: " + std::strerror(errno);
    for (auto& [flag, path] : kinds) {
      const char* self = flag == CLONE_NEWIPC ? "/proc/thread-self/ns/ipc" : "/proc/thread-self/ns/uts";
      if (error.empty() && ::mount(self, path.c_str(), nullptr, MS_BIND, nullptr) < 0)
        error = "bind-mount the namespace at `" + path + "`: " + std::strerror(errno);
    }
    for (size_t i = 0; i < kinds.size(); ++i)
      if (::setns(back[i].get(), kinds[i].first) < 0) std::abort();  // this thread would serve the host wrongly
  }
  if (!error.empty()) throw Error(error);
}

// Starts `pause --pause ROOT` as the init of a new PID namespace, a child of init (not of this
// multi-threaded process: forked twice), and pins that namespace at `path`. Its pid.
pid_t start_pause(const std::string& pause, const std::string& path, const std::string& root) {
  fs::mkdir_p(root, 0555);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd r(p[0]), w(p[1]);
  const char* argv[] = {pause.c_str(), "--pause", root.c_str(), nullptr};
  const char* envp[] = {nullptr};
  pid_t mid = ::fork();
  if (mid < 0) throw_errno("fork");
  if (mid == 0) {
    // Only async-signal-safe calls from here on.
    pid_t init = static_cast<pid_t>(::syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0));
    if (init == 0) {
      ::setsid();
      ::syscall(SYS_close_range, 3U, ~0U, 0U);  // nothing of berthd's (sockets, epolls) goes with it
      int null = ::open("/dev/null", O_RDWR);
      if (null >= 0) {
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
        if (null > 2) ::close(null);
      }
      ::execve(argv[0], const_cast<char* const*>(argv), const_cast<char* const*>(envp));
      ::_exit(127);
    }
    (void)!::write(w.get(), &init, sizeof init);
    ::_exit(init > 0 ? 0 : 1);
  }
  w.reset();
  int status = 0;
  while (::waitpid(mid, &status, 0) < 0 && errno == EINTR) {
  }
  pid_t init = 0;
  if (::read(r.get(), &init, sizeof init) != sizeof init || init <= 0)
    throw Error("start the pod's pause process (new PID namespace): failed");
  UniqueFd f(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
  if (!f) {
    ::kill(init, SIGKILL);
    throw_errno("create `" + path + "`");
  }
  const std::string ns = "/proc/" + std::to_string(init) + "/ns/pid";
  if (::mount(ns.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) < 0) {
    const int err = errno;
    ::kill(init, SIGKILL);
    throw Error("bind-mount the pod's PID namespace: " + std::string(std::strerror(err)));
  }
  return init;
}

// Kills the pod's pause process if `pid` still is it (its PID namespace is the one pinned at
// `path`): every process left in the namespace dies with it.
void stop_pause(pid_t pid, const std::string& path) {
  if (pid <= 0) return;
  struct stat a {}, b {};
  const std::string ns = "/proc/" + std::to_string(pid) + "/ns/pid";
  if (::stat(ns.c_str(), &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
    ::kill(pid, SIGKILL);
}

void unpin(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    log::warn("unmount " + path + ": " + std::strerror(errno));
  ::unlink(path.c_str());
}

std::string resolv_conf(const v1::PodSandboxConfig& c) {
  const auto& d = c.dns_config();
  if (d.servers().empty() && d.searches().empty() && d.options().empty()) {
    std::string host;
    fs::read_file_if_exists("/etc/resolv.conf", host);
    return host;
  }
  auto bad = [](const std::string& v) { return v.empty() || v.find_first_of(" \t\r\n") != std::string::npos; };
  std::string out;
  for (auto& s : d.servers()) {
    if (bad(s)) throw Error(ErrorKind::invalid_argument, "dns_config.servers: invalid entry `" + s + "`");
    out += "nameserver " + s + "\n";
  }
  std::string line;
  for (auto& s : d.searches()) {
    if (bad(s)) throw Error(ErrorKind::invalid_argument, "dns_config.searches: invalid entry `" + s + "`");
    line += " " + s;
  }
  if (!line.empty()) out += "search" + line + "\n";
  line.clear();
  for (auto& s : d.options()) {
    if (bad(s)) throw Error(ErrorKind::invalid_argument, "dns_config.options: invalid entry `" + s + "`");
    line += " " + s;
  }
  if (!line.empty()) out += "options" + line + "\n";
  return out;
}

std::string cni_args(const Pod& p) {
  const auto& m = p.config.metadata();
  return "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + m.namespace_() + ";K8S_POD_NAME=" + m.name() +
         ";K8S_POD_INFRA_CONTAINER_ID=" + p.id + ";K8S_POD_UID=" + m.uid();
}

json port_mappings(const v1::PodSandboxConfig& c) {
  json out = json::array();
  for (auto& pm : c.port_mappings()) {
    if (pm.host_port() <= 0) continue;
    std::string proto = pm.protocol() == v1::UDP ? "udp" : pm.protocol() == v1::SCTP ? "sctp" : "tcp";
    json m = {{"hostPort", pm.host_port()}, {"containerPort", pm.container_port()}, {"protocol", proto}};
    if (!pm.host_ip().empty()) m["hostIP"] = pm.host_ip();
    out.push_back(m);
  }
  return out;
}

}  // namespace

bool Pod::host_network() const { return ns_options(config).network() == v1::NODE; }
bool Pod::host_ipc() const { return ns_options(config).ipc() == v1::NODE; }
bool Pod::host_pid() const { return ns_options(config).pid() == v1::NODE; }
bool Pod::shared_pid() const { return ns_options(config).pid() == v1::POD; }

Pods::Pods(PodSettings s) : s_(std::move(s)) {
  fs::mkdir_p(s_.root + "/cri/pods", 0700);
  fs::mkdir_p(s_.state + "/cri/pods", 0700);
}

std::string Pods::dir(const std::string& id) const { return s_.state + "/cri/pods/" + id; }
std::string Pods::record_path(const std::string& id) const { return s_.root + "/cri/pods/" + id + ".json"; }

std::shared_ptr<std::mutex> Pods::lock(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  auto& m = locks_[id];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

void Pods::save(const Pod& p) {
  std::string config;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(p.config, &config, o).ok()) throw Error("pod " + p.id + ": cannot record its config");
  json j = {{"id", p.id},         {"config", json::parse(config)}, {"created", p.created},
            {"ready", p.ready},   {"ip", p.ip},                    {"handler", p.handler},
            {"cni", p.cni},       {"pause_pid", p.pause_pid}};
  fs::write_file_atomic(record_path(p.id), j.dump(), 0600);
}

std::optional<Pod> Pods::load(const std::string& id) {
  std::string text;
  if (!fs::read_file_if_exists(record_path(id), text)) return std::nullopt;
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) {
    log::warn("pod record " + record_path(id) + " cannot be read: skipped");
    return std::nullopt;
  }
  Pod p;
  p.id = j.value("id", id);
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(j.value("config", json::object()).dump(), &p.config, o).ok()) {
    log::warn("pod record " + record_path(id) + ": its config cannot be read: skipped");
    return std::nullopt;
  }
  p.created = j.value("created", int64_t{0});
  p.ready = j.value("ready", false);
  p.ip = j.value("ip", "");
  p.handler = j.value("handler", "");
  p.cni = j.value("cni", json());
  p.pause_pid = j.value("pause_pid", 0);
  // A reboot (or a lost state directory) took its namespaces: it is not ready any more.
  if (p.ready && !p.host_network() && !network::is_netns(netns(p.id))) p.ready = false;
  return p;
}

std::vector<Pod> Pods::list() {
  std::vector<Pod> out;
  UniqueFd d(::open((s_.root + "/cri/pods").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) return out;
  for (auto& name : fs::list_dir(d.get(), "pod records")) {
    if (name.size() < 6 || name.substr(name.size() - 5) != ".json") continue;
    if (auto p = load(name.substr(0, name.size() - 5))) out.push_back(std::move(*p));
  }
  return out;
}

std::optional<Pod> Pods::find(const std::string& ref) {
  if (ref.empty() || ref.find('/') != std::string::npos || ref.find("..") != std::string::npos) return std::nullopt;
  if (auto p = load(ref)) return p;
  std::optional<Pod> found;
  for (auto& p : list()) {
    if (p.id.rfind(ref, 0) != 0) continue;
    if (found) throw Error(ErrorKind::invalid_argument, "pod sandbox id prefix " + ref + " is ambiguous");
    found = std::move(p);
  }
  return found;
}

Pod Pods::get(const std::string& ref) {
  auto p = find(ref);
  if (!p) throw Error(ErrorKind::not_found, "pod sandbox " + ref + " not found");
  return *p;
}

json Pods::cni_config() const {
  for (auto& d : s_.cni_conf_dirs) {
    UniqueFd fd(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) continue;
    for (auto& name : fs::list_dir(fd.get(), d)) {
      const auto dot = name.rfind('.');
      const std::string ext = dot == std::string::npos ? "" : name.substr(dot);
      if (ext != ".conflist" && ext != ".conf" && ext != ".json") continue;
      std::string text;
      if (!fs::read_file_if_exists(d + "/" + name, text)) continue;
      json j = json::parse(text, nullptr, false);
      if (!j.is_object()) {
        log::warn("CNI config " + d + "/" + name + " is not JSON: skipped");
        continue;
      }
      if (ext != ".conflist") {  // one plugin's config: a list of one
        json list = {{"cniVersion", j.value("cniVersion", "0.4.0")}, {"name", j.value("name", "")}, {"plugins", json::array({j})}};
        j = list;
      }
      try {
        network::Cni::validate(j);
      } catch (const Error& e) {
        log::warn("CNI config " + d + "/" + name + ": " + e.what() + ": skipped");
        continue;
      }
      return j;
    }
  }
  return nullptr;
}

std::vector<network::InterfaceUsage> Pods::interfaces(const std::string& id) const {
  std::string text;
  std::thread t([&] {
    // setns on a network namespace is per thread: this one alone enters it, and ends there.
    UniqueFd ns(::open(netns(id).c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns || ::setns(ns.get(), CLONE_NEWNET) != 0) return;
    (void)fs::read_file_if_exists("/proc/thread-self/net/dev", text);
  });
  t.join();
  return network::parse_net_dev(text);
}

bool Pods::network_ready(std::string& why) const {
  json conf = cni_config();
  if (conf.is_null()) {
    why = "no network config found in " + join(s_.cni_conf_dirs, ", ");
    return false;
  }
  try {
    network::Cni(s_.cni_plugin_dirs, s_.cni_timeout_ms).check_plugins(conf);
  } catch (const Error& e) {
    why = e.what();
    return false;
  }
  return true;
}

Pod Pods::run(const v1::PodSandboxConfig& config, const std::string& handler) {
  const auto& m = config.metadata();
  if (m.name().empty() || m.namespace_().empty() || m.uid().empty())
    throw Error(ErrorKind::invalid_argument, "pod sandbox metadata needs a name, a namespace and a uid");
  for (auto& other : list()) {
    const auto& om = other.config.metadata();
    if (om.name() == m.name() && om.namespace_() == m.namespace_() && om.uid() == m.uid() && om.attempt() == m.attempt())
      throw Error(ErrorKind::already_exists, "pod sandbox " + m.name() + "_" + m.namespace_() + "_" + m.uid() + "_" +
                                                 std::to_string(m.attempt()) + " is reserved by " + other.id);
  }
  const auto& nso = ns_options(config);
  if (nso.network() == v1::TARGET || nso.ipc() == v1::TARGET)
    throw Error(ErrorKind::invalid_argument, "pod sandbox namespace mode TARGET is for containers' PID namespace only");
  if (nso.has_userns_options() && nso.userns_options().mode() == v1::POD)
    throw Error(ErrorKind::invalid_argument, "user namespaces for pods are not supported");
  Pod p;
  p.id = engine::random_id();
  p.config = config;
  p.created = now_ns();
  p.handler = handler;
  const std::string d = dir(p.id);
  auto lk = lock(p.id);
  std::lock_guard<std::mutex> g(*lk);
  fs::mkdir_p(d, 0711);
  try {
    const std::string resolv = resolv_conf(config);
    std::string hostname = config.hostname();
    if (p.host_network() || hostname.empty()) {
      char buf[256] = {};
      ::gethostname(buf, sizeof buf - 1);
      if (p.host_network() || hostname.empty()) hostname = buf;
    }
    if (hostname.size() > 64 || hostname.find_first_of(" \t\r\n/") != std::string::npos)
      throw Error(ErrorKind::invalid_argument, "invalid pod hostname `" + hostname + "`");
    fs::write_file_atomic(d + "/resolv.conf", resolv, 0644);
    fs::write_file_atomic(d + "/hostname", hostname + "\n", 0644);
    if (!p.host_network()) network::create_netns(netns(p.id));
    pin_ipc_uts(ipcns(p.id), utsns(p.id), hostname, !p.host_ipc(), !p.host_network());
    if (p.shared_pid()) p.pause_pid = start_pause(s_.pause, pidns(p.id), d + "/pause-root");
    if (!p.host_ipc()) {
      fs::mkdir_p(shm(p.id), 0700);
      if (::mount("shm", shm(p.id).c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0)
        throw_errno("mount the pod's /dev/shm");
    }
    if (!p.host_network()) {
      json conf = cni_config();
      if (conf.is_null())
        throw Error(ErrorKind::unavailable, "no network config found in " + join(s_.cni_conf_dirs, ", ") +
                                                ": the pod's network cannot be set up (hostNetwork pods need none)");
      network::Cni cni(s_.cni_plugin_dirs, s_.cni_timeout_ms);
      network::Attachment at;
      at.container_id = p.id;
      at.netns = netns(p.id);
      at.ifname = "eth0";
      at.args = cni_args(p);
      json ports = port_mappings(config);
      if (!ports.empty()) at.capability_args["portMappings"] = ports;
      at.capability_args["io.kubernetes.cri.pod-annotations"] = json::object();
      json result = cni.add(conf, at);
      p.cni = {{"conflist", conf}, {"result", result}, {"ports", ports}};
      p.ip = network::first_ipv4(result).ip;
    }
    p.ready = true;
    save(p);
  } catch (...) {
    release(p);
    ::unlink(record_path(p.id).c_str());
    throw;
  }
  return p;
}

void Pods::release(Pod& p) {
  if (!p.cni.is_null()) {
    try {
      network::Cni cni(s_.cni_plugin_dirs, s_.cni_timeout_ms);
      network::Attachment at;
      at.container_id = p.id;
      at.netns = network::is_netns(netns(p.id)) ? netns(p.id) : "";
      at.ifname = "eth0";
      at.args = cni_args(p);
      if (p.cni.contains("ports") && !p.cni["ports"].empty()) at.capability_args["portMappings"] = p.cni["ports"];
      cni.del(p.cni.value("conflist", json::object()), at, p.cni.value("result", json()));
    } catch (const std::exception& e) {
      log::warn("pod " + p.id + ": CNI DEL: " + e.what());
    }
    p.cni = nullptr;
  }
  const std::string d = dir(p.id);
  if (::umount2(shm(p.id).c_str(), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    log::warn("unmount " + shm(p.id) + ": " + std::strerror(errno));
  try {
    network::remove_netns(netns(p.id));
  } catch (const std::exception& e) {
    log::warn(std::string("pod ") + p.id + ": " + e.what());
  }
  stop_pause(p.pause_pid, pidns(p.id));
  p.pause_pid = 0;
  unpin(pidns(p.id));
  unpin(ipcns(p.id));
  unpin(utsns(p.id));
  try {
    fs::remove_all(d);
  } catch (const std::exception& e) {
    log::warn(std::string("pod ") + p.id + ": " + e.what());
  }
  p.ready = false;
  p.ip.clear();
}

void Pods::stop(const std::string& id) {
  auto lk = lock(id);
  std::lock_guard<std::mutex> g(*lk);
  auto p = load(id);
  if (!p) throw Error(ErrorKind::not_found, "pod sandbox " + id + " not found");
  const bool had_state = fs::exists(dir(id));
  if (!p->ready && p->cni.is_null() && !had_state) return;
  release(*p);
  save(*p);
}

bool Pods::remove(const std::string& id) {
  auto lk = lock(id);
  {
    std::lock_guard<std::mutex> g(*lk);
    auto p = load(id);
    if (!p) return false;
    release(*p);
    ::unlink(record_path(id).c_str());
  }
  std::lock_guard<std::mutex> l(mu_);
  locks_.erase(id);
  return true;
}

}  // namespace berth::cri
