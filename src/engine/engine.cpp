#include "engine/engine.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <exception>
#include <functional>
#include <dirent.h>

#include <random>
#include <set>
#include <thread>
#include <utility>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/process.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"
#include "common/log.hpp"
#include "common/mountinfo.hpp"
#include "diff/layer.hpp"
#include "engine/instructions.hpp"
#include "engine/log_options.hpp"
#include "engine/model.hpp"
#include "engine/spec.hpp"
#include "engine/userns.hpp"
#include "network/netns.hpp"
#include "oci/reference.hpp"
#include "oci/spec.hpp"
#include "runtime/exe_seal.hpp"
#include "runtime/container.hpp"
#include "runtime/process.hpp"
#include "runtime/signals.hpp"
#include "runtime/state_store.hpp"
#include "runtime/cgroup.hpp"
#include "runtime/terminal.hpp"
#include "shim/frames.hpp"
#include "shim/files.hpp"
#include "shim/spawn.hpp"
#include "snapshot/copy.hpp"
#include "snapshot/snapshotter.hpp"

namespace berth::engine {

using nlohmann::json;

namespace {

// A name as given, without the slash of its inspect form ("/web"), which Docker takes too.
std::string plain_name(const std::string& n) { return n.size() > 1 && n[0] == '/' ? n.substr(1) : n; }

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 128) return false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(n[0])) return false;
  for (char c : n)
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

std::string snapshot_key(const std::string& id) { return "container/" + id; }

bool shim_alive(const std::string& dir) { return shim::live_shim(dir) != 0; }

// Docker's: on a user network, a container's short id is one of its aliases (after the ones
// given), whatever its hostname — peers resolve it, inspect lists it, and docker-compose 1.x
// disconnects and reconnects a container whose aliases lack it at each start.
void add_short_id_alias(json& endpoint, const std::string& network, const std::string& id) {
  if (network == network::Networks::kDefault) return;
  if (!endpoint.is_object()) endpoint = json::object();
  json& aliases = endpoint["Aliases"];
  if (!aliases.is_array()) aliases = json::array();
  const std::string short_id = id.substr(0, 12);
  for (const auto& a : aliases)
    if (a == short_id) return;
  aliases.push_back(short_id);
}

// An endpoint setting given: a non-empty string or list (Docker's clients send "" and null too).
bool endpoint_gives(const json& o, const char* k) {
  return o.is_object() && o.contains(k) && ((o[k].is_string() && !o[k].get<std::string>().empty()) || (o[k].is_array() && !o[k].empty()));
}

// Docker's: an address or an alias of one's own is for user networks, not the default one.
void refuse_on_default_network(const std::string& network, const json& endpoint) {
  if (network != network::Networks::kDefault) return;
  const json ipam = endpoint.is_object() ? endpoint.value("IPAMConfig", json::object()) : json::object();
  if (endpoint_gives(ipam, "IPv4Address") || endpoint_gives(ipam, "IPv6Address"))
    throw Error(ErrorKind::invalid_argument, "user specified IP address is supported on user defined networks only");
  if (endpoint_gives(endpoint, "Aliases"))
    throw Error(ErrorKind::invalid_argument, "network-scoped alias is supported only for containers in user defined networks");
}

// Docker's (since 20.10 on kernels without it): a kernel memory limit is ignored with a
// warning, create and update alike — the kernel deprecated it (5.4) and cgroup v2 has none.
void ignore_kernel_memory(HostConfig& host) {
  if (host.kernel_memory == 0) return;
  log::warn("kernel memory limits are not supported (the kernel deprecated them): --kernel-memory ignored");
  host.kernel_memory = 0;
}

// --rm (HostConfig.AutoRemove), read from the record without parsing all of its HostConfig:
// state() asks it of every exited container a ps lists.
bool auto_remove(const Container& c) {
  return c.data.value("HostConfig", json::object()).value("AutoRemove", false);
}

// Runs `f` in the network namespace at `netns_path`, on a thread of its own (the namespace is
// the thread's: the caller's stays as it is); what it throws is thrown here.
void in_netns(const std::string& netns_path, const std::function<void()>& f) {
  std::exception_ptr failed;
  std::thread t([&] {
    try {
      UniqueFd ns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!ns || ::setns(ns.get(), CLONE_NEWNET) < 0) throw_errno("enter " + netns_path);
      f();
    } catch (...) {
      failed = std::current_exception();
    }
  });
  t.join();
  if (failed) std::rethrow_exception(failed);
}

// A sysfs of the network namespace at `netns_path` (its devices), read-only, on `dir`.
void mount_sysfs_of(const std::string& netns_path, const std::string& dir) {
  if (::umount2(dir.c_str(), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) throw_errno("unmount " + dir);
  fs::mkdir_p(dir, 0755);
  in_netns(netns_path, [&] {
    if (::mount("sysfs", dir.c_str(), "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, nullptr) < 0)
      throw_errno("mount sysfs on " + dir);
  });
}

// The user-namespace mapping a container was made with (none: off).
UsernsRemap remap_of(const Container& c) { return UsernsRemap::from_json(c.data.value("UsernsRemap", json())); }

// Set by restart for the time of its stop: the exit it causes is not the --rm container's end.
std::string restarting_mark(const std::string& dir) { return dir + "/restarting"; }

// The file of a lock (lock_file): a container's by its id, or the store-wide ones by name.
std::string lock_path(const Options& o, const std::string& name) { return o.state + "/" + o.images.ns + "/locks/" + name; }

// The engine's mark on a container it paused (observe asks the runtime only then).
std::string paused_mark(const std::string& container_dir) { return container_dir + "/paused"; }
// A commit's pause, for as long as it holds the container's lock: found with the lock free,
// the commit died (killed) before it thawed the container.
std::string commit_pause_mark(const std::string& container_dir) { return container_dir + "/paused-for-commit"; }

int64_t now_ns() { return metadata::now_ns(); }

// Does the kernel account for (and limit) swap per cgroup: v1's memory.memsw.* files, v2's
// memory.swap.max (in every cgroup but the root)?
bool swap_accounted() {
  static const bool yes = [] {
    for (const auto& h : runtime::host_hierarchies()) {
      if (!h.v2 && std::find(h.controllers.begin(), h.controllers.end(), "memory") != h.controllers.end())
        return fs::exists(h.mountpoint + "/memory.memsw.limit_in_bytes");
      if (h.v2 && runtime::host_cgroup_mode() == runtime::CgroupMode::v2) {
        bool found = false;
        if (DIR* d = ::opendir(h.mountpoint.c_str())) {
          while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.' && fs::exists(h.mountpoint + "/" + e->d_name + "/memory.swap.max")) {
              found = true;
              break;
            }
          ::closedir(d);
        }
        return found;
      }
    }
    return false;
  }();
  return yes;
}

void remove_netns_quietly(const std::string& path) {
  try {
    network::remove_netns(path);
  } catch (const std::exception& e) {
    log::warn(e.what());
  }
}

// --debug: where the time of a command goes ("+12.3 ms mounted rootfs").
void trace(const char* what) {
  static timespec t0 = [] {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t;
  }();
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  char buf[128];
  std::snprintf(buf, sizeof buf, "+%.1f ms %s",
                static_cast<double>(t.tv_sec - t0.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec - t0.tv_nsec) / 1e6, what);
  log::debug(buf);
}

// The host's resolv.conf as its parts.
struct ResolvConf {
  std::vector<std::string> servers, search, options, other;
};

ResolvConf parse_resolv_conf(const std::string& text) {
  ResolvConf r;
  for (auto& line : split(text, '\n')) {
    std::vector<std::string> w;
    for (auto& x : split(line, ' '))
      for (auto& y : split(x, '\t'))
        if (!y.empty()) w.push_back(y);
    if (w.empty()) continue;
    if (w[0] == "nameserver" && w.size() > 1) {
      r.servers.push_back(w[1]);
    } else if ((w[0] == "search" || w[0] == "domain") && w.size() > 1) {
      r.search.assign(w.begin() + 1, w.end());
    } else if (w[0] == "options" && w.size() > 1) {
      r.options.assign(w.begin() + 1, w.end());
    } else if (w[0][0] != '#' && w[0][0] != ';') {
      r.other.push_back(line);
    }
  }
  return r;
}

// Where the DNS server of a container on a user network passes on what is not its own: --dns,
// else the host's servers — loopback ones too (it asks them from the host's namespace), else
// Google's (Docker's fallback).
std::vector<std::string> upstream_dns_servers(const std::string& host_text, const HostConfig& host) {
  if (!host.dns.empty()) return host.dns;
  std::vector<std::string> servers = parse_resolv_conf(host_text).servers;
  if (servers.empty()) servers = {"8.8.8.8", "8.8.4.4"};
  return servers;
}

// The container's resolv.conf (Docker's rules): the host's, without nameservers on loopback
// (unreachable from another network namespace; Google's then, as Docker does), with --dns,
// --dns-search and --dns-option replacing the host's lines of that kind. With the embedded
// DNS server (a user network), its address instead of the servers, and Docker's ndots:0 unless
// an ndots option is given.
std::string container_resolv_conf(const std::string& host_text, const HostConfig& host, bool embedded_dns) {
  ResolvConf r = parse_resolv_conf(host_text);
  std::vector<std::string> servers;
  for (auto& ns : r.servers)
    if (ns.rfind("127.", 0) != 0 && ns != "::1") servers.push_back(ns);
  if (!host.dns.empty()) servers = host.dns;
  if (!host.dns_search.empty()) r.search = host.dns_search;
  if (!host.dns_options.empty()) r.options = host.dns_options;
  if (servers.empty()) servers = {"8.8.8.8", "8.8.4.4"};
  if (embedded_dns) {
    servers = {"127.0.0.11"};
    if (std::none_of(r.options.begin(), r.options.end(), [](const std::string& o) { return o.rfind("ndots:", 0) == 0; }))
      r.options.insert(r.options.begin(), "ndots:0");
  }
  std::string out;
  for (auto& ns : servers) out += "nameserver " + ns + "\n";
  if (!r.search.empty() && !(r.search.size() == 1 && r.search[0] == ".")) {
    out += "search";
    for (auto& d : r.search) out += " " + d;
    out += "\n";
  }
  if (!r.options.empty()) {
    out += "options";
    for (auto& o : r.options) out += " " + o;
    out += "\n";
  }
  for (auto& l : r.other) out += l + "\n";
  return out;
}

// Docker shows the zero time for "never".
// When the host booted (unix ns; /proc/stat's btime), 0 if unknown.
int64_t boot_time_ns() {
  static const int64_t boot = [] {
    std::string text;
    try {
      text = fs::read_file("/proc/stat");
    } catch (const std::exception&) {
      return int64_t{0};
    }
    const auto at = text.find("\nbtime ");
    return at == std::string::npos ? int64_t{0} : int64_t{std::atoll(text.c_str() + at + 7)} * 1000000000;
  }();
  return boot;
}

std::string rfc3339(int64_t ns) {
  return ns <= 0 ? "0001-01-01T00:00:00Z" : rfc3339_nano(ns);
}

}  // namespace

std::string random_name() {
  static const char* adj[] = {"brave", "calm", "eager", "fervent", "gentle", "happy", "jolly",
                              "keen", "lucid", "merry", "nifty", "quirky", "serene", "tender",
                              "vibrant", "wizardly", "zealous", "bold", "clever", "dreamy"};
  static const char* who[] = {"turing", "hopper", "lovelace", "knuth", "ritchie", "thompson",
                              "torvalds", "liskov", "dijkstra", "hamilton", "lamport", "shannon",
                              "babbage", "noether", "curie", "darwin", "euler", "gauss", "kepler", "tesla"};
  std::random_device rd;
  return std::string(adj[rd() % std::size(adj)]) + "_" + who[rd() % std::size(who)];
}

int parse_signal(const std::string& s) {
  return runtime::parse_signal(s);
}

namespace {

constexpr int64_t kDefaultLogMaxSize = 20'000'000;
constexpr int kDefaultLogMaxFiles = 5;

}  // namespace

std::string status_text(const State& s) {
  auto since = [](int64_t ns) {
    int64_t d = (now_ns() - ns) / 1000000000;
    if (d < 1) return std::string("Less than a second");
    auto unit = [](int64_t n, const char* u) { return std::to_string(n) + " " + u + (n == 1 ? "" : "s"); };
    if (d < 60) return unit(d, "second");
    if (d < 3600) return d < 120 ? std::string("About a minute") : unit(d / 60, "minute");
    if (d < 86400 * 2) return d < 7200 ? std::string("About an hour") : unit(d / 3600, "hour");
    return unit(d / 86400, "day");
  };
  if (s.status == Status::running && !s.health.empty())
    return "Up " + since(s.started) + (s.health == "starting" ? " (health: starting)" : " (" + s.health + ")");
  if (s.status == Status::running) return "Up " + since(s.started);
  if (s.status == Status::paused) return "Up " + since(s.started) + " (Paused)";
  if (s.status == Status::restarting) return "Restarting (" + std::to_string(s.exit_code) + ") " + since(s.finished) + " ago";
  if (s.status == Status::exited) return "Exited (" + std::to_string(s.exit_code) + ") " + since(s.finished) + " ago";
  return "Created";
}

namespace {
Options with_image_events(Options o) {
  if (o.images.events.empty()) o.images.events = events::log_path(o.state, o.images.ns);
  return o;
}
}  // namespace

Options::Hooks cli_hooks(std::vector<std::string> cli) {
  Options::Hooks h;
  h.exit_command = [cli](const std::string& id, bool rm) {
    std::vector<std::string> a = cli;
    a.insert(a.end(), {"container", "cleanup"});
    if (rm) a.push_back("--rm");
    a.push_back(id);
    return a;
  };
  // `network fill` lowers its own priority once it runs (a low-priority child before its exec
  // would keep this process waiting: posix_spawn returns only then).
  h.fill_spares = [cli](const std::string& network) {
    std::vector<std::string> a = cli;
    a.insert(a.end(), {"network", "fill", network});
    spawn_detached(std::move(a));
  };
  return h;
}

Engine::Engine(Options opts)
    : opts_(with_image_events(std::move(opts))),
      images_(opts_.images),
      volumes_(opts_.images.root, opts_.images.ns),
      networks_(opts_.images.root, opts_.state, opts_.cni_plugin_dirs, opts_.cni_timeout_ms) {
  if (!opts_.address_pools.empty()) networks_.set_address_pools(opts_.address_pools);
  runtimes_ = std::make_shared<const Runtimes>(opts_.runtimes);
}

std::shared_ptr<const Runtimes> Engine::runtimes() const {
  std::lock_guard<std::mutex> l(runtimes_mu_);
  return runtimes_;
}

void Engine::set_runtimes(Runtimes r) {
  auto fresh = std::make_shared<const Runtimes>(std::move(r));
  std::lock_guard<std::mutex> l(runtimes_mu_);
  runtimes_ = std::move(fresh);
}

json Engine::make_volumes(const ContainerConfig& config, const HostConfig& host) {
  json out = json::array();
  std::vector<std::string> created;  // named volumes made here: Docker's `volume create` event
  std::set<std::string> targets;
  for (const Bind& b : binds_of(host)) {
    targets.insert(b.destination);
    if (b.host_path()) continue;
    if (!VolumeStore::valid_name(b.source))
      throw Error(ErrorKind::invalid_argument, "invalid volume name " + json(b.source).dump() + " (mounted at " + b.destination + "): only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
    // A --mount's volume-label and volume-opt (VolumeOptions) for the volume it creates
    // (Docker's: an existing volume keeps its own).
    std::map<std::string, std::string> labels, options;
    for (const auto& m : host.mounts) {
      if (m.value("Type", json("")) != json("volume") || m.value("Source", json("")) != json(b.source)) continue;
      const json vo = m.value("VolumeOptions", json::object());
      if (!vo.is_object()) continue;
      const json given_labels = vo.value("Labels", json::object());
      for (auto& [k, v] : given_labels.items())
        if (v.is_string()) labels[k] = v.get<std::string>();
      const json dc = vo.value("DriverConfig", json::object());
      const json given_options = dc.is_object() ? dc.value("Options", json::object()) : json::object();
      for (auto& [k, v] : given_options.items())
        if (v.is_string()) options[k] = v.get<std::string>();
    }
    const bool existed = volumes_.get(b.source).has_value();
    Volume v = volumes_.create(b.source, labels, false, false, options);
    if (!existed) created.push_back(v.name);
    out.push_back({{"Name", v.name}, {"Destination", b.destination}, {"Options", b.options_text()},
                   {"Anonymous", false}});
  }
  for (auto& [dst, unused] : host.tmpfs) targets.insert(fs::clean_path(dst));
  for (auto& dst : config.volumes) {
    if (dst.empty() || dst[0] != '/') throw Error(ErrorKind::invalid_argument, "invalid volume `" + dst + "`: must be an absolute path");
    check_mount_target(dst, "volume");  // an image's VOLUME /proc or / too
  }
  try {
    for (auto& dst : config.volumes) {
      if (targets.count(fs::clean_path(dst))) continue;
      Volume v = volumes_.create("", {}, true);
      created.push_back(v.name);
      out.push_back({{"Name", v.name}, {"Destination", fs::clean_path(dst)}, {"Options", ""},
                     {"Anonymous", true}});
      targets.insert(fs::clean_path(dst));
    }
  } catch (...) {
    for (auto& v : out)
      if (v.value("Anonymous", false)) volumes_.remove(v.value("Name", ""));
    throw;
  }
  for (const auto& name : created) emit("volume", "create", name, {{"driver", "local"}});
  return out;
}

std::vector<json> Engine::volume_mounts(const Container& c, const std::string& rootfs) {
  std::vector<json> out;
  const UsernsRemap remap = remap_of(c);
  for (auto& vol : c.data.value("Volumes", json::array())) {
    std::string name = vol.value("Name", "");
    auto v = volumes_.get(name);
    if (!v) v = volumes_.create(name, {}, vol.value("Anonymous", false));
    const std::string dst = vol.value("Destination", "");
    std::string opts = vol.value("Options", "");
    // The local driver's device (tmpfs, a bind, nfs…), mounted for its first user.
    volumes_.mount(*v, c.id());
    // Docker's copy-up: an empty volume gets what the image has at its target, once.
    if (opts.find("nocopy") == std::string::npos) {
      UniqueFd data(::open(v->mountpoint.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      bool empty = true;
      if (DIR* d = data ? ::fdopendir(::dup(data.get())) : nullptr) {
        while (auto* e = ::readdir(d))
          if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) empty = false;
        ::closedir(d);
      }
      UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      UniqueFd src = root ? fs::open_in_root(root.get(), dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : UniqueFd();
      if (empty && src && data) {
        snapshot::copy_tree(src.get(), data.get());
        struct stat st {};
        if (::fstat(src.get(), &st) == 0) {
          ::fchown(data.get(), st.st_uid, st.st_gid);
          ::fchmod(data.get(), st.st_mode & 07777);
        }
        // The rootfs shows the remapped owners; the volume keeps the image's own (it is bound
        // idmapped, as the layers are seen).
        if (remap.on()) unshift_owners(data.get(), remap);
      }
    }
    std::vector<std::string> mopts = {"rbind", "rprivate"};
    for (auto& o : split(opts, ','))
      if (o != "ro" && o != "readonly" && o != "rw" && o != "nocopy" && o != "z" && o != "Z" && !o.empty())
        throw Error(ErrorKind::invalid_argument, "invalid volume option `" + o + "` for " + name);
    // The one rule for read-only (cp's view of the volume uses it too).
    if (volume_bind(vol).read_only()) mopts.push_back("ro");
    if (remap.on()) mopts.push_back("idmap");  // by the container's user namespace
    out.push_back({{"destination", dst}, {"type", "bind"}, {"source", v->mountpoint}, {"options", mopts}});
  }
  return out;
}

namespace {
// A link as stored: "NAME:ALIAS".
// Docker's environment of a legacy link (`--link NAME:ALIAS` on the default network), as its
// daemon writes it: ALIAS_NAME=/SELF/ALIAS; for each exposed port, in order,
// ALIAS_PORT_80_TCP=tcp://IP:80 with _ADDR, _PORT and _PROTO (a run of consecutive ports also
// _START, _PORT_START, _END, _PORT_END at its first); ALIAS_PORT for the lowest; and
// ALIAS_ENV_X for each of the linked container's variables but HOME and PATH.
std::vector<std::string> legacy_link_env(const std::string& self, const std::string& alias_given, const std::string& ip,
                                         const std::vector<std::string>& exposed, const std::vector<std::string>& child_env) {
  std::string alias;
  for (char ch : alias_given) alias += ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  struct Port {
    int number;
    std::string proto;
  };
  std::vector<Port> ports;
  for (const auto& p : exposed) {
    const auto slash = p.find('/');
    const std::string num = p.substr(0, slash), proto = slash == std::string::npos ? "tcp" : p.substr(slash + 1);
    if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos || num.size() > 5) continue;
    ports.push_back({std::atoi(num.c_str()), proto});
  }
  std::sort(ports.begin(), ports.end(), [](const Port& a, const Port& b) {
    return a.number != b.number ? a.number < b.number : a.proto < b.proto;
  });
  std::vector<std::string> out;
  if (!ports.empty())
    out.push_back(alias + "_PORT=" + ports[0].proto + "://" + ip + ":" + std::to_string(ports[0].number));
  auto upper = [](std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return s;
  };
  for (size_t i = 0; i < ports.size();) {
    size_t j = i;  // the last of a run of consecutive ports of one protocol
    while (j + 1 < ports.size() && ports[j + 1].number == ports[j].number + 1 && ports[j + 1].proto == ports[i].proto) ++j;
    const Port& p = ports[i];
    const std::string base = alias + "_PORT_" + std::to_string(p.number) + "_" + upper(p.proto);
    if (j > i) {
      const Port& q = ports[j];
      out.push_back(base + "_START=" + p.proto + "://" + ip + ":" + std::to_string(p.number));
      out.push_back(base + "_ADDR=" + ip);
      out.push_back(base + "_PROTO=" + p.proto);
      out.push_back(base + "_PORT_START=" + std::to_string(p.number));
      out.push_back(base + "_END=" + q.proto + "://" + ip + ":" + std::to_string(q.number));
      out.push_back(base + "_PORT_END=" + std::to_string(q.number));
    }
    for (size_t k = i; k <= j; ++k) {
      const Port& r = ports[k];
      const std::string b = alias + "_PORT_" + std::to_string(r.number) + "_" + upper(r.proto);
      out.push_back(b + "=" + r.proto + "://" + ip + ":" + std::to_string(r.number));
      out.push_back(b + "_ADDR=" + ip);
      out.push_back(b + "_PORT=" + std::to_string(r.number));
      out.push_back(b + "_PROTO=" + r.proto);
    }
    i = j + 1;
  }
  out.push_back(alias + "_NAME=/" + self + "/" + alias_given);
  for (const auto& kv : child_env) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = kv.substr(0, eq);
    if (key == "HOME" || key == "PATH") continue;
    out.push_back(alias + "_ENV_" + key + "=" + kv.substr(eq + 1));
  }
  return out;
}

std::pair<std::string, std::string> split_link(const std::string& l) {
  const auto colon = l.find(':');
  if (colon == std::string::npos) return {l, l};
  return {l.substr(0, colon), l.substr(colon + 1)};
}
}  // namespace

Container Engine::linked_container(const std::string& ref) {
  try {
    return lookup(ref);
  } catch (const Error& e) {
    // Docker's words, and a 400: a 404 to create makes the docker CLI pull the image.
    if (e.kind() != ErrorKind::not_found) throw;
    throw Error(ErrorKind::invalid_argument, "could not get container for " + ref + ": No such container: " + ref);
  }
}

void Engine::resolve_links(HostConfig& host) {
  // Docker's --link CONTAINER[:ALIAS] (compose sends them for `links:`, `external_links:` and
  // for `run`): the container must exist now and is kept by its name; a leading `/` (Docker's
  // own form, "/db:/web/db") is dropped.
  if (host.links.empty()) return;
  const std::string mode = host.network_mode;
  if (mode == "host")
    throw Error(ErrorKind::invalid_argument,
                "conflicting options: host type networking can't be used with links. This would result in undefined behavior");
  if (mode.rfind("container:", 0) == 0 || mode.rfind("ns:", 0) == 0)
    throw Error(ErrorKind::invalid_argument,
                "conflicting options: container type network can't be used with links. This would result in undefined behavior");
  std::vector<std::string> out;
  for (const std::string& spec : host.links) {
    auto [ref, alias] = split_link(spec);
    if (!ref.empty() && ref[0] == '/') ref.erase(0, 1);
    if (auto slash = alias.rfind('/'); slash != std::string::npos) alias.erase(0, slash + 1);
    if (ref.empty() || !valid_name(alias))
      throw Error(ErrorKind::invalid_argument, "invalid --link " + json(spec).dump() + ": CONTAINER[:ALIAS]");
    out.push_back(linked_container(ref).rec.name + ":" + alias);
  }
  host.links = std::move(out);
}

void Engine::volumes_from(HostConfig& host) {
  // Docker's --volumes-from CONTAINER[:ro|:rw]: the other container's volumes and bind mounts
  // at the same places, read-only or not as there unless the suffix says; a mount of this
  // container's own (-v, --mount, --tmpfs) at the same place wins. Resolved now, as Docker
  // does: they become binds of this container (a volume by its name, not anonymous here).
  std::set<std::string> taken;
  for (const Bind& b : binds_of(host)) taken.insert(fs::clean_path(b.destination));
  for (auto& [dst, unused] : host.tmpfs) taken.insert(fs::clean_path(dst));
  std::vector<std::string> added;
  for (const std::string& spec : host.volumes_from) {
    std::string ref = spec, mode;
    if (auto colon = spec.rfind(':'); colon != std::string::npos) {
      ref = spec.substr(0, colon);
      mode = spec.substr(colon + 1);
      if (mode != "ro" && mode != "rw")
        throw Error(ErrorKind::invalid_argument, "invalid --volumes-from `" + spec + "`: CONTAINER[:ro|:rw]");
    }
    if (ref.empty()) throw Error(ErrorKind::invalid_argument, "invalid --volumes-from `" + spec + "`: CONTAINER[:ro|:rw]");
    Container from = lookup(ref);
    auto with_mode = [&](std::vector<std::string> opts) {
      if (!mode.empty()) {
        opts.erase(std::remove_if(opts.begin(), opts.end(), [](const std::string& o) { return o == "ro" || o == "rw" || o == "readonly"; }),
                   opts.end());
        opts.push_back(mode);
      }
      std::string text;
      for (auto& o : opts) text += (text.empty() ? ":" : ",") + o;
      return text;
    };
    auto add = [&](const std::string& source, const std::string& dst, const std::string& options) {
      if (!taken.insert(fs::clean_path(dst)).second) return;
      added.push_back(source + ":" + dst + with_mode(options.empty() ? std::vector<std::string>{} : split(options, ',')));
    };
    for (const Bind& b : binds_of(from.host_config()))
      if (b.host_path()) add(b.source, b.destination, b.options_text());
    for (auto& v : from.data.value("Volumes", json::array()))
      add(v.value("Name", ""), v.value("Destination", ""), v.value("Options", ""));
  }
  host.binds.insert(host.binds.end(), added.begin(), added.end());
}

std::vector<std::string> Engine::volume_users(const std::string& name) {
  std::vector<std::string> users;
  for (auto& c : list())
    for (auto& v : c.data.value("Volumes", json::array()))
      if (v.value("Name", "") == name) users.push_back(c.rec.name);
  return users;
}
Engine::~Engine() = default;

std::string Engine::container_dir(const std::string& id) const {
  return opts_.state + "/" + opts_.images.ns + "/containers/" + id;
}
std::string Engine::runtime_root() const { return opts_.state + "/" + opts_.images.ns + "/runtime"; }
std::string Engine::log_path(const std::string& id) const {
  return opts_.images.root + "/containers/" + id + "/" + id + "-json.log";
}
std::string Engine::log_path(const Container& c) const {
  const HostConfig h = c.host_config();
  if (h.log_config.type == "none" || h.log_config.type == "syslog") return "";  // nothing kept to read
  if (h.log_config.type != "k8s-file") return log_path(c.id());
  auto it = h.log_config.config.find("path");
  return it != h.log_config.config.end() ? it->second : opts_.images.root + "/containers/" + c.id() + "/ctr.log";
}

std::string Engine::events_path() const { return events::log_path(opts_.state, opts_.images.ns); }

void Engine::emit(const std::string& type, const std::string& action, const std::string& id,
                  std::map<std::string, std::string> attributes) {
  events::append(events_path(), {type, action, id, std::move(attributes), 0});
}

std::map<std::string, std::string> Engine::event_attributes(const Container& c) {
  std::map<std::string, std::string> a;
  const json config = c.data.value("Config", json::object());
  const json labels = config.is_object() ? config.value("Labels", json::object()) : json::object();
  if (labels.is_object())
    for (auto& [k, v] : labels.items())
      if (v.is_string()) a[k] = v.get<std::string>();
  a["name"] = c.rec.name;
  // The image as the user named it (Docker's Config.Image), else the familiar reference.
  std::string image = config.is_object() ? config.value("Image", "") : "";
  if (image.empty()) {
    image = c.data.value("ImageRef", c.rec.image);
    if (oci::Reference::valid(image)) image = oci::Reference::parse(image).familiar();
  }
  a["image"] = image;
  return a;
}

void Engine::emit(const Container& c, const std::string& action, std::map<std::string, std::string> extra) {
  auto a = event_attributes(c);
  for (auto& [k, v] : extra) a[k] = v;
  emit("container", action, c.id(), std::move(a));
}

void Engine::events(const EventOptions& o, const std::function<bool(const events::Event&)>& sink) {
  const std::string path = events_path();
  fs::mkdir_p(path.substr(0, path.rfind('/')), 0700);  // to watch, before any event
  logs::Follower log(path);
  bool past_until = false;
  const logs::LineSink lines = [&](std::string_view line) {
    auto e = events::Event::parse(line);
    if (!e || e->time_ns < o.since) return true;
    if (o.until && e->time_ns > o.until) {
      past_until = true;
      return false;
    }
    return sink(*e);
  };
  if (o.since && (!log.read_existing_lines(lines) || past_until)) return;
  for (;;) {
    const int64_t now = now_ns();
    if (o.until && now >= o.until) return;
    pollfd p[2] = {{log.fd(), POLLIN, 0}, {o.cancel_fd, POLLIN, 0}};
    // Without inotify, look twice a second; with --until, wake then at the latest.
    int64_t timeout = log.fd() >= 0 ? INT_MAX : 500;
    if (o.until) timeout = std::min<int64_t>(timeout, (o.until - now) / 1000000 + 1);
    if (timeout == INT_MAX) timeout = -1;
    int n = ::poll(p, 2, static_cast<int>(timeout));
    if (n < 0 && errno != EINTR) throw_errno("events: poll");
    if (o.cancel_fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) return;
    if (!log.drain_lines(lines) || past_until) return;
  }
}

UniqueFd Engine::lock_users(bool exclusive) {
  return lock_file(".users", exclusive ? LOCK_EX : LOCK_SH, "volume and network users");
}

bool Engine::remove_volume(const std::string& name, bool force) {
  UniqueFd lk = lock_users(true);
  if (auto users = volume_users(name); !users.empty())
    throw Error(ErrorKind::conflict, "remove " + name + ": volume is in use by container " + users[0]);
  if (volumes_.remove(name)) {
    emit("volume", "destroy", name, {{"driver", "local"}});
    return true;
  }
  if (force) return false;
  throw Error(ErrorKind::not_found, "no such volume: " + name);
}

bool Engine::remove_network(const std::string& ref, bool force) {
  UniqueFd lk = lock_users(true);
  // Docker's default network cannot be removed by its Docker name (berth's own name removes
  // it when nothing uses it: a store's bridge and rules go with it; it is made again on use).
  if (ref == network::Networks::kDockerDefault)
    throw Error(ErrorKind::invalid_argument, ref + " is a pre-defined network and cannot be removed");
  auto n = networks_.find(ref);
  if (!n) {
    if (auto builtin = network::builtin_network(ref))
      throw Error(ErrorKind::invalid_argument, builtin->value("Name", "") + " is a pre-defined network and cannot be removed");
    if (force) return false;
    throw Error(ErrorKind::not_found, "network " + ref + " not found");
  }
  // (Networks::remove refuses too while anything is attached, records or not.)
  if (auto users = network_users(n->name); !users.empty())
    // Docker's 403 (errdefs.Forbidden) for a network with active endpoints.
    throw Error(ErrorKind::permission, "network " + n->name + " is used by containers (" + join(users, ", ") +
                                           "): remove them or disconnect them first");
  networks_.remove(*n);
  emit("network", "destroy", n->id, {{"name", n->name}, {"type", n->driver}});
  return true;
}

UniqueFd Engine::lock_file(const std::string& name, int op, const std::string& what) {
  const std::string path = lock_path(opts_, name);
  fs::mkdir_p(path.substr(0, path.rfind('/')), 0700);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) throw_errno("lock " + what);
  while (::flock(fd.get(), op) < 0)
    if (errno != EINTR) throw_errno("lock " + what);
  return fd;
}

UniqueFd Engine::lock(const std::string& id) { return lock_file(id, LOCK_EX, "container " + id); }

void Engine::save(Container& c) {
  c.rec.data = c.data.dump();
  // Writers hold the container's lock and read the record under it; the version check makes
  // a writer that did not fail loudly instead of undoing another's change.
  if (!images_.db().update_container_if_unchanged(opts_.images.ns, c.rec)) {
    if (!images_.db().get_container(opts_.images.ns, c.id()))
      throw Error(ErrorKind::not_found, "No such container: " + c.id());
    throw Error(ErrorKind::conflict, "container " + c.rec.name + " was changed by another command meanwhile: try again");
  }
}

Container Engine::lookup(const std::string& ref) {
  auto& db = images_.db();
  const auto& ns = opts_.images.ns;
  std::optional<metadata::Container> rec = db.get_container_by_name(ns, ref.size() && ref[0] == '/' ? ref.substr(1) : ref);
  if (!rec && ref.size() == 64) rec = db.get_container(ns, ref);
  if (!rec && !ref.empty()) {
    auto found = db.find_containers_by_prefix(ns, ref);
    if (found.size() > 1) throw Error(ErrorKind::invalid_argument, "multiple containers match `" + ref + "`: use more of the id");
    if (found.size() == 1) rec = found[0];
  }
  if (!rec) throw Error(ErrorKind::not_found, "No such container: " + ref);
  Container c;
  c.rec = *rec;
  try {
    c.data = json::parse(rec->data);
  } catch (const json::exception& e) {
    throw Error("container " + rec->id + ": corrupt record: " + e.what());
  }
  return c;
}

namespace {

// Mount points in /proc/self/mountinfo (field 5, octal escapes undone) under `prefix`.
std::vector<std::string> mount_points_under(const std::string& prefix) {
  std::vector<std::string> out;
  std::string info;
  if (!fs::read_file_if_exists("/proc/self/mountinfo", info)) return out;
  size_t pos = 0;
  while (pos < info.size()) {
    size_t nl = info.find('\n', pos);
    if (nl == std::string::npos) nl = info.size();
    std::string_view line(info.data() + pos, nl - pos);
    pos = nl + 1;
    size_t f = 0;
    for (int i = 0; i < 4 && f != std::string_view::npos; ++i) f = line.find(' ', f + 1);
    if (f == std::string_view::npos) continue;
    const size_t end = line.find(' ', f + 1);
    std::string_view raw = line.substr(f + 1, end == std::string_view::npos ? std::string_view::npos : end - f - 1);
    const std::string path = unescape_mountinfo(raw);
    if (path.starts_with(prefix)) out.push_back(path);
  }
  return out;
}

}  // namespace

image::Service::CheckResult Engine::check(bool repair) {
  // A live shim without a record is most likely finishing a removal (a `run --rm` has
  // returned; its shim unmounts and removes the snapshot and directories): given its few
  // moments first, without the lock its cleanup takes, before anything is judged.
  std::set<std::string> recorded;
  for (auto& rec : images_.db().list_containers(opts_.images.ns)) recorded.insert(rec.id);
  if (DIR* d = ::opendir((opts_.state + "/" + opts_.images.ns + "/containers").c_str())) {
    std::vector<std::string> finishing;
    while (dirent* e = ::readdir(d))
      if (is_container_id(e->d_name) && !recorded.count(e->d_name) && shim::live_shim(container_dir(e->d_name)))
        finishing.push_back(e->d_name);
    ::closedir(d);
    for (const auto& id : finishing) wait_shim_gone(id);
  }
  image::Service::CheckResult r = images_.check(repair);
  const size_t store_problems = r.problems.size(), store_repairs = r.repaired.size();
  // What containers without a record left (a crash between two steps of create or rm): a
  // live shim, a state directory, a data directory (logs, hosts files), a network namespace
  // and attachments, a snapshot.
  const std::string containers = opts_.state + "/" + opts_.images.ns + "/containers";
  const std::string data = opts_.images.root + "/containers";
  const std::string netns = opts_.state + "/" + opts_.images.ns + "/netns";
  std::set<std::string> ids;
  for (const std::string* dir : {&containers, &data, &netns})
    if (DIR* d = ::opendir(dir->c_str())) {
      while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (is_container_id(name) && !recorded.count(name))
          ids.insert(name);
      }
      ::closedir(d);
    }
  for (auto& snap : images_.db().list_snapshots(opts_.images.ns))
    if (snap.key.starts_with("container/") && !recorded.count(snap.key.substr(10))) ids.insert(snap.key.substr(10));
  for (const auto& id : ids) {
    UniqueFd lk = lock(id);  // create holds it from the snapshot to the record
    if (images_.db().get_container(opts_.images.ns, id)) continue;
    const std::string dir = container_dir(id);
    const pid_t shim = shim::live_shim(dir);
    const bool snap = images_.db().get_snapshot(opts_.images.ns, snapshot_key(id)).has_value();
    std::vector<std::string> left;
    if (shim) left.push_back("its shim (pid " + std::to_string(shim) + ") still runs");
    if (fs::exists(dir)) left.push_back("its state directory");
    if (fs::exists(data + "/" + id)) left.push_back("its data directory");
    const auto nets = networks_.networks_of(id);
    if (fs::exists(netns_path(id))) left.push_back("its network namespace");
    for (const auto& n : nets) left.push_back("its attachment to network " + n);
    if (snap) left.push_back("its snapshot");
    if (left.empty()) continue;
    const std::string what = "container " + id.substr(0, 12) + " has no record, but: " + join(left, ", ");
    if (!repair) {
      r.problems.push_back(what);
      continue;
    }
    try {
      if (shim) {
        ::kill(shim, SIGKILL);  // the container's init dies with it (parent-death signal)
        if (!wait_shim_gone(id)) throw Error("its shim (pid " + std::to_string(shim) + ") does not go away");
      }
      unmount_rootfs(id, true);
      delete_runtime_state(id);
      release_network(id);
      fs::remove_all(dir);
      fs::remove_all(data + "/" + id);
      if (snap) images_.snapshots().remove(snapshot_key(id));
      r.repaired.push_back("removed what unrecorded container " + id.substr(0, 12) + " left (" + join(left, ", ") + ")");
    } catch (const std::exception& e) {
      r.problems.push_back(what + " (repair failed: " + e.what() + ")");
    }
  }
  // Rootfs mounts of containers nothing runs in (a shim killed before it could unmount).
  std::set<std::string> views_done;
  for (const auto& path : mount_points_under(containers + "/")) {
    const std::string id = path.substr(containers.size() + 1, 64);
    if (!recorded.count(id)) continue;  // the loop above
    // A copy's or an export's view that a killed berth left (a live one holds the lock).
    if (path.starts_with(container_dir(id) + "/tmp-")) {
      if (!views_done.insert(id).second) continue;
      UniqueFd lk = lock(id);  // a live copy's view is gone once we have it
      if (mount_points_under(container_dir(id) + "/tmp-").empty()) continue;
      if (!repair) {
        r.problems.push_back("container " + id.substr(0, 12) + ": a view of its files is mounted (a copy or an export that was killed)");
        continue;
      }
      detach_views(id);
      r.repaired.push_back("unmounted the view a killed copy or export left of container " + id.substr(0, 12));
      continue;
    }
    if (path != container_dir(id) + "/rootfs") continue;
    UniqueFd lk = lock(id);
    if (shim_alive(container_dir(id))) continue;
    if (repair) {
      unmount_rootfs(id, true);
      r.repaired.push_back("unmounted the root filesystem of stopped container " + id.substr(0, 12));
    } else {
      r.problems.push_back("container " + id.substr(0, 12) + ": its root filesystem is mounted, but nothing runs");
    }
  }
  // Image mounts on berth's own mount points (shared by the namespaces) whose view snapshot
  // no namespace has.
  const std::string mounts = opts_.images.root + "/mounts/";
  const auto namespaces = images_.db().list_namespaces();
  for (const auto& path : mount_points_under(mounts)) {
    if (std::any_of(namespaces.begin(), namespaces.end(),
                    [&](const std::string& ns) { return images_.db().get_snapshot(ns, "mount:" + path).has_value(); }))
      continue;
    if (repair && ::umount2(path.c_str(), MNT_DETACH) == 0) {
      ::rmdir(path.c_str());
      r.repaired.push_back("unmounted " + path + " (no image mount record)");
    } else {
      r.problems.push_back(path + ": an image mount without its record");
    }
  }
  // A repair here (an unrecorded container's snapshot, recorded without its directory) may
  // have mended what the store's check found: what is left of that, counted again.
  if (repair && r.repaired.size() > store_repairs && store_problems > 0) {
    image::Service::CheckResult again = images_.check(false);
    r.problems.erase(r.problems.begin(), r.problems.begin() + static_cast<std::ptrdiff_t>(store_problems));
    r.problems.insert(r.problems.begin(), again.problems.begin(), again.problems.end());
  }
  return r;
}

ContainerConfig Container::config() const { return parse_container_config(data.value("Config", json())); }
HostConfig Container::host_config() const { return parse_host_config(data.value("HostConfig", json())); }

std::vector<Container> Engine::list() {
  std::vector<Container> out;
  for (auto& r : images_.db().list_containers(opts_.images.ns)) {
    Container c;
    c.rec = r;
    c.data = json::parse(r.data, nullptr, false);
    if (c.data.is_discarded()) continue;
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<std::string> Engine::remove_image(const std::string& name, bool force) {
  if (auto img = images_.find(name)) {
    const bool by_name = image::named_by(*img, name);
    // By id, the image of a running container is not removed, not even forced, and keeps its
    // names (Docker's hard conflict): a forced rmi of the id untagged every name before.
    if (!by_name)
      for (auto& rec : images_.db().list_containers(opts_.images.ns)) {
        if (rec.image != img->id.str()) continue;
        Container c;
        try {
          c = lookup(rec.id);
        } catch (const Error&) {
          continue;  // removed meanwhile
        }
        Stale why = Stale::no;
        if (observe(c, why).running())
          throw Error(ErrorKind::conflict, "conflict: unable to delete " + image::short_id(img->id) +
                                               " (cannot be forced) - image is being used by running container " +
                                               rec.id.substr(0, 12));
      }
    if (!force) {
      int names = 0;
      for (auto& other : images_.list()) names += other.id == img->id;
      if (names <= 1 || !by_name) {
        for (auto& c : images_.db().list_containers(opts_.images.ns)) {
          if (c.image != img->id.str()) continue;
          throw Error(ErrorKind::conflict, "conflict: unable to remove repository reference \"" + name +
                                               "\" (must force) - container " + c.id.substr(0, 12) +
                                               " is using its referenced image " + image::short_id(img->id));
        }
      }
    }
  }
  return images_.remove(name, force);
}

namespace {

// Docker's daemon drops a Block I/O weight the host cannot apply, with a warning, instead of
// failing the container (kernels since 5.0 have no CFQ's blkio.weight; BFQ's only with BFQ).
void discard_unsupported_blkio_weight(HostConfig& host) {
  if (host.blkio_weight <= 0 && host.blkio_weight_device.empty()) return;
  bool supported;
  if (fs::exists("/sys/fs/cgroup/blkio")) {
    supported = fs::exists("/sys/fs/cgroup/blkio/blkio.weight") || fs::exists("/sys/fs/cgroup/blkio/blkio.bfq.weight");
  } else {
    std::string controllers;
    fs::read_file_if_exists("/sys/fs/cgroup/cgroup.controllers", controllers);
    supported = (" " + controllers).find(" io") != std::string::npos;
  }
  if (supported) return;
  if (host.blkio_weight > 0)
    log::warn("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.");
  if (!host.blkio_weight_device.empty())
    log::warn("Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.");
  host.blkio_weight = 0;
  host.blkio_weight_device.clear();
}

// Docker's checks of a health check (its daemon's, at create): each time unset (0) or at least
// 1ms, the retries not negative.
void check_healthcheck(const ContainerConfig& config) {
  if (!config.healthcheck) return;
  const auto& h = *config.healthcheck;
  for (auto [name, v] : {std::pair{"Interval", h.interval}, {"Timeout", h.timeout}, {"StartPeriod", h.start_period},
                         {"StartInterval", h.start_interval}})
    if (v != 0 && v < 1000000)
      throw Error(ErrorKind::invalid_argument, std::string(name) + " in Healthcheck cannot be less than 1ms");
  if (h.retries < 0) throw Error(ErrorKind::invalid_argument, "Retries in Healthcheck cannot be negative");
  if (!h.test.empty() && h.test[0] != "NONE" && h.test[0] != "CMD" && h.test[0] != "CMD-SHELL")
    throw Error(ErrorKind::invalid_argument, "Healthcheck: unknown test type `" + h.test[0] + "` (NONE, CMD or CMD-SHELL)");
}

// The shim's health check for a container (nullopt: none): the probe runs as the container's
// process does, with its user and groups (from the spec), environment and working directory;
// Docker's defaults for what is unset.
std::optional<shim::HealthCheck> health_orders(const ContainerConfig& config, const json& spec) {
  if (!config.healthcheck) return std::nullopt;
  const HealthConfig& hc = *config.healthcheck;
  if (hc.test.empty() || hc.test[0] == "NONE") return std::nullopt;
  std::vector<std::string> args;
  if (hc.test[0] == "CMD-SHELL") args = config.shell.empty() ? std::vector<std::string>{"/bin/sh", "-c"} : config.shell;
  else if (hc.test[0] != "CMD") return std::nullopt;  // an old record's unknown type: none, as Docker
  args.insert(args.end(), hc.test.begin() + 1, hc.test.end());
  json x = {{"args", args}};
  const json user = spec.value("process", json::object()).value("user", json::object());
  if (user.contains("uid")) {
    x["user"] = std::to_string(user.value("uid", 0)) + ":" + std::to_string(user.value("gid", 0));
    x["additional_gids"] = user.value("additionalGids", json::array());
  }
  shim::HealthCheck h;
  h.exec = x.dump();
  if (hc.interval) h.interval = hc.interval;
  if (hc.timeout) h.timeout = hc.timeout;
  if (hc.start_period) h.start_period = hc.start_period;
  if (hc.start_interval) h.start_interval = hc.start_interval;
  if (hc.retries) h.retries = hc.retries;
  return h;
}

}  // namespace

Container Engine::create(const CreateRequest& req) {
  trace("create");
  UniqueFd users = lock_users(false);  // its networks and volumes stay until it is recorded
  std::optional<image::Image> found = images_.find(req.image);
  if (!found) {
    // Neither a reference nor an id: Docker's 400 with the parser's reason ("repository name
    // must be lowercase"), so that a client does not take it for a missing image to pull.
    if (!oci::Reference::valid(req.image) && req.image.rfind("sha256:", 0) != 0) {
      try {
        oci::Reference::parse(req.image);
      } catch (const Error& e) {
        throw Error(ErrorKind::invalid_argument, std::string("invalid reference format: ") + e.what());
      }
    }
    throw Error(ErrorKind::not_found, "No such image: " + req.image);
  }
  image::Image img = std::move(*found);
  if (!req.platform.empty()) {
    const oci::Platform want = oci::Platform::parse(req.platform);
    if (!oci::platform_matches(want, img.config.platform))
      throw Error(ErrorKind::not_found, "image with reference " + req.image +
                                            " was found but does not match the specified platform: wanted " + want.str() +
                                            ", actual: " + img.config.platform.str());
  }
  trace("image resolved");
  try {
    return create_from(req, img);
  } catch (const Error& e) {
    // What else the request names (a network, a container whose namespaces or volumes it
    // takes, a link) missing is a bad request, as Docker's 400: only the image is not found
    // (404, on which clients pull it).
    if (e.kind() == ErrorKind::not_found) throw Error(ErrorKind::invalid_argument, e.what());
    throw;
  }
}

Container Engine::create_from(const CreateRequest& req, const image::Image& img) {
  std::string name = plain_name(req.name);
  // A generated name must be free: a few tries, then a numbered one (Docker's way).
  for (int i = 0; name.empty() || (req.name.empty() && images_.db().get_container_by_name(opts_.images.ns, name)); ++i)
    name = random_name() + (i >= 5 ? std::to_string(i) : "");
  if (!valid_name(name))
    throw Error(ErrorKind::invalid_argument, "invalid container name `" + name + "`: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  // The request's fields, typed (a wrong type fails here, naming the field), over the image's.
  ContainerConfig config = merge_config(img.config, req.config);
  if (!config.working_dir.empty() && config.working_dir[0] != '/')
    throw Error(ErrorKind::invalid_argument, "the working directory '" + config.working_dir + "' is invalid, it needs to be an absolute path");
  // Docker's check at create: a stop signal `stop` could never send left the container
  // running after every stop.
  if (!config.stop_signal.empty()) {
    try {
      parse_signal(config.stop_signal);
    } catch (const Error&) {
      throw Error(ErrorKind::invalid_argument, "Invalid signal: " + config.stop_signal);
    }
  }
  if (config.entrypoint.empty() && config.cmd.empty())
    throw Error(ErrorKind::invalid_argument, "no command specified: the image has no Cmd or Entrypoint and none was given");
  check_healthcheck(config);
  config.image = req.image;
  HostConfig host = parse_host_config(req.host);
  // The only log driver: what inspect shows (Docker's clients read it to choose how to get
  // the output), whatever the request left out.
  if (host.log_config.type.empty()) host.log_config.type = "json-file";
  if (host.log_config.type != "json-file" && host.log_config.type != "local" && host.log_config.type != "k8s-file" &&
      host.log_config.type != "syslog" && host.log_config.type != "none")
    throw Error(ErrorKind::invalid_argument,
                "log driver `" + host.log_config.type + "` is not supported: json-file, local, k8s-file, syslog or none");
  if (host.log_config.type == "none" && !host.log_config.config.empty())
    throw Error(ErrorKind::invalid_argument, "log driver none takes no options (--log-opt " +
                                                 host.log_config.config.begin()->first + ")");
  // The options berth's drivers have, checked here for every client (Docker's words for the
  // others).
  check_log_options(host.log_config.type, host.log_config.config);
  // Validate flag values now rather than at start (Docker's create fails on them too).
  apply_mounts(host, config);
  volumes_from(host);
  resolve_links(host);
  ignore_kernel_memory(host);
  check_host_config(host);
  // Docker's swap rules: a swap limit needs a memory limit; a memory limit alone allows as
  // much swap again (MemorySwap = 2 x Memory) where the kernel accounts for swap — without
  // it, swap was unlimited.
  if (host.memory == 0 && host.memory_swap > 0)
    throw Error(ErrorKind::invalid_argument, "You should always set the Memory limit when using Memoryswap limit, see usage");
  if (host.memory > 0 && host.memory_swap == 0 && swap_accounted()) host.memory_swap = 2 * host.memory;
  // A seccomp profile named by its file is read now, once, and kept in the record as its JSON
  // (Docker's CLI sends the content, and SecurityOpt shows it): a file changed or gone later
  // changes nothing, and one that cannot be used fails the create, not a start.
  for (std::string& o : host.security_opt) {
    if (o.rfind("seccomp=", 0) != 0 && o.rfind("seccomp:", 0) != 0) continue;
    const std::string v = o.substr(8);
    if (v != "unconfined") o = "seccomp=" + seccomp_profile(v).dump();
  }
  // Names that go into hosts files (its own, and its peers' on a network) and the DNS
  // server's answers: no spaces or line breaks (link aliases: resolve_links's names) (`--network-alias $'x\n6.6.6.6 db'` pointed
  // `db` at any address for every other member).
  auto plain = [](const std::string& v) {
    return std::none_of(v.begin(), v.end(), [](unsigned char ch) { return ch <= ' ' || ch == 0x7f; });
  };
  for (auto [what, v] : {std::pair{"--hostname", &config.hostname}, std::pair{"--domainname", &config.domainname}})
    if (!plain(*v)) throw Error(ErrorKind::invalid_argument, std::string("invalid ") + what + " " + json(*v).dump() + ": no spaces or line breaks");
  resources_of(host);  // checks the values
  discard_unsupported_blkio_weight(host);
  // An unknown runtime or a missing binary: one line, before anything is made. The record
  // keeps the name (Docker's way), resolved again at each start.
  const auto runtimes_now = runtimes();
  const Runtime runtime = runtimes_now->resolve(host.runtime);
  host.runtime = runtimes_now->name_of(host.runtime);
  if (runtime.own_kernel() && !host.pid_mode.empty() && host.pid_mode != "private")
    throw Error(ErrorKind::invalid_argument, "--pid " + host.pid_mode + ": runtime " + host.runtime +
                                                 " runs the container on a kernel of its own, which cannot share a PID namespace");
  if (restart_policy(host).name != "no" && host.auto_remove)
    throw Error(ErrorKind::invalid_argument, "conflicting options: cannot specify both --restart and --rm");
  // userns-remap (the engine's option): every container in a user namespace of its ids, but
  // those that opt out (--userns host) and the CRI's (the kubelet says what it wants). What
  // needs the host's namespaces is refused then, in Docker's words.
  const bool wants_remap = req.cri.is_null() && host.extra.value("UsernsMode", json("")) != json("host");
  if (wants_remap && !opts_.userns_remap_error.empty()) throw Error(ErrorKind::invalid_argument, opts_.userns_remap_error);
  const bool remap = opts_.userns_remap.on() && wants_remap;
  if (remap) {
    const std::string hint = " (or --userns host for this container)";
    if (host.privileged)
      throw Error(ErrorKind::invalid_argument, "privileged mode is incompatible with user namespaces: you must run the container in the host namespace when running privileged mode" + hint);
    if (host.pid_mode == "host")
      throw Error(ErrorKind::invalid_argument, "cannot share the host PID namespace when user namespaces are enabled" + hint);
    if (host.network_mode == "host")
      throw Error(ErrorKind::invalid_argument, "cannot share the host's network namespace when user namespaces are enabled" + hint);
    if (host.ipc_mode == "host")
      throw Error(ErrorKind::invalid_argument, "cannot share the host's IPC namespace when user namespaces are enabled" + hint);
    if (host.uts_mode == "host")
      throw Error(ErrorKind::invalid_argument, "cannot share the host's UTS namespace when user namespaces are enabled" + hint);
  }
  // PID namespace: the container's own (""), the host's, or another container's.
  if (const std::string pid = host.pid_mode; pid.rfind("container:", 0) == 0) {
    host.pid_mode = "container:" + lookup(pid.substr(10)).id();
  } else if (namespace_path(pid)) {
    if (!fs::exists(*namespace_path(pid))) throw Error(ErrorKind::invalid_argument, pid.substr(3) + ": no such namespace file");
  } else if (pid.empty() || pid == "host" || pid == "private") {
    host.pid_mode = pid == "host" ? pid : "";
  } else {
    throw Error(ErrorKind::invalid_argument, "invalid --pid `" + pid + "`: host, private, container:NAME or ns:PATH");
  }
  // IPC namespace: another container's is named by its id (it must be shareable when joined).
  if (host.ipc_mode.rfind("container:", 0) == 0) host.ipc_mode = "container:" + lookup(host.ipc_mode.substr(10)).id();
  if (host.ipc_mode.empty()) host.ipc_mode = "private";
  if (host.uts_mode == "host" && config.hostname_from_flag)
    throw Error(ErrorKind::invalid_argument, "conflicting options: hostname and the UTS mode");
  // Networks: Docker's "bridge"/"default" is berth's default network, made on first use.
  const std::string asked = host.network_mode.empty() ? "none" : host.network_mode;
  std::string mode = asked;
  mode = mode == "default" ? network::Networks::kDefault : network::Networks::canonical(mode);
  // `host` or `none` by id (what `network ls -q` prints): by name from here on.
  if (mode.find_first_not_of("0123456789abcdef") == std::string::npos && !networks_.find(mode))
    if (auto builtin = network::builtin_network(mode)) mode = builtin->value("Name", mode);
  host.network_mode = mode;
  json endpoints = json::object();
  if (req.endpoints.is_object())
    for (auto& [k, v] : req.endpoints.items()) {
      // The default network by any of its names ("default" is how the docker CLI keys it
      // when no --network was given): under one key.
      const std::string key = k == "default" ? std::string(network::Networks::kDefault) : network::Networks::canonical(k);
      if (!endpoints.contains(key) || endpoints[key].empty()) endpoints[key] = v;
    }
  const bool has_ports = !host.port_bindings.empty() || host.publish_all_ports;
  const auto ns_path = namespace_path(mode);
  if (ns_path && !network::is_netns(*ns_path))
    throw Error(ErrorKind::invalid_argument, "--network " + mode + ": " + *ns_path + " is not a network namespace");
  for (const std::string* m : {&host.ipc_mode, &host.uts_mode})
    if (auto p = namespace_path(*m); p && !fs::exists(*p)) throw Error(ErrorKind::invalid_argument, *p + ": no such namespace file");
  if (mode == "none" || mode == "host" || mode.rfind("container:", 0) == 0 || ns_path) {
    if (!endpoints.empty() && !(endpoints.size() == 1 && endpoints.contains(mode)))
      throw Error(ErrorKind::invalid_argument, "--network " + mode + " cannot be combined with other networks, --ip or --network-alias");
    // Its own entry may carry nothing a network would give (Docker's errors).
    if (endpoints.contains(mode) && endpoints[mode].is_object()) {
      const json& ep = endpoints[mode];
      const json ipam = ep.value("IPAMConfig", json::object());
      if (endpoint_gives(ipam, "IPv4Address") || endpoint_gives(ipam, "IPv6Address"))
        throw Error(ErrorKind::invalid_argument, "user specified IP address is supported on user defined networks only");
      if (endpoint_gives(ep, "Aliases"))
        throw Error(ErrorKind::invalid_argument, "network-scoped alias is supported only for containers in user defined networks");
      if (endpoint_gives(ep, "MacAddress")) throw Error(ErrorKind::invalid_argument, "conflicting options: mac-address and the network mode");
    }
    endpoints = json::object();
    if (has_ports && mode != "host" && mode != "none")
      throw Error(ErrorKind::invalid_argument, "--network " + mode + ": published ports need a network of the container's own");
    // Docker's: discarded with host (a warning), and with none (nothing to publish them on).
    if (has_ports) {
      if (mode == "host") log::warn("published ports are discarded when using host network mode");
      host.port_bindings.clear();
      host.publish_all_ports = false;
    }
    if (mode.rfind("container:", 0) == 0) {
      if (config.hostname_from_flag)
        throw Error(ErrorKind::invalid_argument, "conflicting options: hostname and the network mode");
      // Docker's (20.10): the other container's resolv.conf and hosts are this one's — --dns
      // and --add-host conflict (--dns-search and --dns-option are taken), and so does
      // --expose (the ports are the other's).
      if (!host.dns.empty()) throw Error(ErrorKind::invalid_argument, "conflicting options: dns and the network mode");
      if (!host.extra_hosts.empty())
        throw Error(ErrorKind::invalid_argument, "conflicting options: custom host-to-IP mapping and the network mode");
      if (const json ep = req.config.is_object() ? req.config.value("ExposedPorts", json()) : json(); ep.is_object() && !ep.empty())
        throw Error(ErrorKind::invalid_argument, "conflicting options: port exposing and the container type network mode");
      Container other = lookup(mode.substr(10));
      host.network_mode = "container:" + other.id();
      // Docker: the other's hostname (its /etc/hostname is bound too, at start).
      if (config.hostname.empty()) config.hostname = other.config().hostname;
    } else if (mode == "host" && config.hostname.empty() && host.uts_mode != "host") {
      // Docker: the host's name, in uname and /etc/hostname alike.
      char buf[256] = {};
      ::gethostname(buf, sizeof buf - 1);
      config.hostname = buf;
    }
  } else {
    network::Network net = mode == network::Networks::kDefault ? networks_.ensure_default() : networks_.get(mode);
    host.network_mode = mode = net.name;
    if (endpoints.contains(asked) && asked != mode) {
      endpoints[mode] = endpoints[asked];
      endpoints.erase(asked);
    }
    if (!endpoints.contains(mode)) endpoints[mode] = json::object();
    for (auto& [name, ep] : endpoints.items()) {
      const network::Network on = name != mode ? networks_.get(name) : net;
      refuse_on_default_network(on.name, ep);
      // Checked before anything is made: a static address the network cannot give too.
      if (const EndpointConfig ec = endpoint_config(ep); !ec.ipv4.empty()) network::Networks::check_static_ip(on, ec.ipv4);
    }
  }
  const std::string top = images_.unpack(img);
  trace("image unpacked");
  Container c;
  c.rec.id = random_id();
  c.rec.name = name;
  if (config.hostname.empty()) config.hostname = c.rec.id.substr(0, 12);
  for (auto it = endpoints.begin(); it != endpoints.end(); ++it) add_short_id_alias(it.value(), it.key(), c.rec.id);
  c.rec.image = img.id.str();
  c.rec.snapshot = snapshot_key(c.rec.id);
  c.data = {{"Config", to_json(config)},
            {"HostConfig", to_json(host)},
            {"ImageID", img.id.str()},
            {"ImageRef", image::is_user_name(img.record.name) ? img.record.name : img.id.str()},
            {"Top", top},
            {"NetworkingConfig", {{"EndpointsConfig", endpoints}}},
            {"State", {{"Status", "created"}, {"ExitCode", 0}, {"StartedAt", 0}, {"FinishedAt", 0},
                       {"Error", ""}, {"RestartCount", 0}}}};
  c.data["Volumes"] = make_volumes(config, host);
  if (!req.cri.is_null()) c.data["CRI"] = req.cri;
  if (!req.init_files) c.data["NoInitFiles"] = true;
  // Its mapping for good: a later change of the engine's setting does not move its files' owners.
  if (remap) c.data["UsernsRemap"] = opts_.userns_remap.to_json();
  c.rec.data = c.data.dump();
  UniqueFd lk = lock(c.rec.id);  // `system check` takes a snapshot without its record for a leftover
  images_.snapshots().prepare(c.rec.snapshot, top, {{"berth.container", c.rec.id}});
  trace("snapshot prepared");
  try {
    // A generated name another create took meanwhile (many at once through a daemon): another.
    for (int attempt = 1;; ++attempt) {
      try {
        c.rec = images_.db().add_container(opts_.images.ns, c.rec);
        break;
      } catch (const Error& e) {
        if (!req.name.empty() || e.kind() != ErrorKind::conflict || attempt > 20) throw;
        c.rec.name = random_name() + (attempt >= 5 ? std::to_string(attempt) : "");
      }
    }
    trace("container recorded");
    fs::mkdir_p(opts_.images.root + "/containers/" + c.rec.id, 0700);
    write_etc_files(c);
  } catch (...) {
    images_.db().delete_container(opts_.images.ns, c.rec.id);
    images_.snapshots().remove(c.rec.snapshot);
    fs::remove_all(opts_.images.root + "/containers/" + c.rec.id);
    for (auto& v : c.data["Volumes"])
      if (v.value("Anonymous", false)) volumes_.remove(v.value("Name", ""));
    throw;
  }
  emit(c, "create");
  return c;
}

void Engine::write_etc_files(const Container& c) {
  const std::string dir = opts_.images.root + "/containers/" + c.rec.id;
  const ContainerConfig config = c.config();
  const HostConfig host = c.host_config();
  std::string hostname = config.hostname;  // --network host: the host's, recorded at create
  const bool host_net = host.network_mode == "host";
  if (host.uts_mode == "host" && !config.hostname_from_flag) {  // the host's own, live
    char buf[256] = {};
    ::gethostname(buf, sizeof buf - 1);
    hostname = buf;
  }
  fs::write_file_atomic(dir + "/hostname", hostname + "\n", 0644);
  std::string hosts;
  if (host_net) {
    fs::read_file_if_exists("/etc/hosts", hosts);
  } else {
    hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
            "ff02::2\tip6-allrouters\n";
  }
  std::string host_gateway;  // Docker's host-gateway: the default bridge's address on the host
  for (auto& e : host.extra_hosts) {
    auto colon = e.find(':');
    if (colon == std::string::npos) throw Error(ErrorKind::invalid_argument, "invalid --add-host `" + e + "` (HOST:IP)");
    std::string ip = e.substr(colon + 1);
    if (ip == "host-gateway") {
      if (host_gateway.empty()) host_gateway = networks_.ensure_default().gateway;
      if (host_gateway.empty()) throw Error("--add-host " + e + ": the default network has no gateway");
      ip = host_gateway;
    }
    hosts += ip + "\t" + e.substr(0, colon) + "\n";
  }
  fs::write_file_atomic(dir + "/hosts.base", hosts, 0644);
  fs::write_file_atomic(dir + "/hosts", hosts, 0644);
  std::string resolv;
  fs::read_file_if_exists("/etc/resolv.conf", resolv);
  if (!host_net) resolv = container_resolv_conf(resolv, host, embedded_dns(host));
  fs::write_file_atomic(dir + "/resolv.conf", resolv, 0644);
  // With userns-remap, the container's root owns them (as its root does without: it may edit them).
  if (const UsernsRemap remap = remap_of(c); remap.on())
    for (const char* f : {"/hostname", "/hosts", "/hosts.base", "/resolv.conf"})
      if (::chown((dir + f).c_str(), remap.uid, remap.gid) < 0) throw_errno("chown " + dir + f);
}

bool Engine::embedded_dns(const HostConfig& host) const {
  const std::string& mode = host.network_mode;
  if (mode.empty() || mode == "none" || mode == "host" || mode == network::Networks::kDefault ||
      mode.rfind("container:", 0) == 0 || namespace_path(mode))
    return false;
  try {
    return !runtimes()->resolve(host.runtime).own_kernel();
  } catch (const std::exception&) {
    return false;  // a runtime no longer configured: its start says so
  }
}

bool Engine::embedded_dns(const Container& c) const {
  const HostConfig host = c.host_config();
  if (embedded_dns(host)) return true;
  // On the default network with a user network connected too: switched over, as Docker does.
  if (host.network_mode != network::Networks::kDefault) return false;
  const json eps = c.endpoints();
  if (std::none_of(eps.items().begin(), eps.items().end(), [](const auto& e) { return e.key() != network::Networks::kDefault; }))
    return false;
  HostConfig user = host;
  user.network_mode = "user";  // the runtime's part of the rule
  return embedded_dns(user);
}

std::optional<shim::Orders::Dns> Engine::dns_orders(const Container& c, const std::string& netns, const std::string& hosts_file) {
  if (netns.empty() || !embedded_dns(c)) return std::nullopt;
  // Its DNS server passes on what is not a container's name — unless every network it is on
  // is --internal (Docker's rule: nothing leaves such a network, queries neither).
  shim::Orders::Dns d{netns, hosts_file, {}};
  bool outward = false;
  const json eps = c.endpoints();
  for (const auto& [name, _] : eps.items())
    if (auto n = networks_.find(name); n && !n->internal) outward = true;
  if (outward) {
    std::string host_resolv;
    fs::read_file_if_exists("/etc/resolv.conf", host_resolv);
    d.servers = upstream_dns_servers(host_resolv, c.host_config());
  }
  return d;
}

bool Engine::sync_resolv_conf(const Container& c, bool embedded, bool in_place) {
  const std::string path = opts_.images.root + "/containers/" + c.id() + "/resolv.conf";
  std::string now;
  if (!fs::read_file_if_exists(path, now)) return false;
  if ((now.find("nameserver 127.0.0.11\n") != std::string::npos) == embedded) return false;
  std::string host_resolv;
  fs::read_file_if_exists("/etc/resolv.conf", host_resolv);
  const std::string text = container_resolv_conf(host_resolv, c.host_config(), embedded);
  if (!in_place) {
    fs::write_file_atomic(path, text, 0644);
    return true;
  }
  // Bound into the running container: the same inode, rewritten (O_NONBLOCK: a lease the
  // container took on it fails the write instead of holding us).
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd || ::ftruncate(fd.get(), 0) < 0 || ::pwrite(fd.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    log::warn("container " + c.rec.name + ": resolv.conf not rewritten for its DNS server: " + std::strerror(errno));
    return false;
  }
  return true;
}

void Engine::detach_views(const std::string& id) {
  const std::string dir = container_dir(id);
  // A view's directory is made before its mount and removed after it: without one there is
  // nothing to detach, and the mount table is not read (rm and a stop's cleanup call this).
  std::vector<std::string> views;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (std::string_view(e->d_name).starts_with("tmp-")) views.push_back(e->d_name);
    ::closedir(d);
  }
  if (views.empty()) return;
  // Outermost first: detaching a view takes the volumes bound inside it along.
  for (const auto& path : mount_points_under(dir + "/tmp-")) ::umount2(path.c_str(), MNT_DETACH);
  for (const auto& v : views) ::rmdir((dir + "/" + v).c_str());
}

void Engine::unmount_rootfs(const std::string& id, bool detach) {
  detach_views(id);
  // A shareable IPC's /dev/shm (its joiners keep their own binds of it).
  if (const std::string shm = container_dir(id) + "/shm"; ::umount2(shm.c_str(), MNT_DETACH) == 0 || errno != EINVAL)
    ::rmdir(shm.c_str());
  // A user-namespaced container's sysfs (mount_sysfs_of).
  if (const std::string sys = container_dir(id) + "/sys"; ::umount2(sys.c_str(), MNT_DETACH) == 0 || errno != EINVAL)
    ::rmdir(sys.c_str());
  const std::string rootfs = container_dir(id) + "/rootfs";
  for (int i = 0; i < 8; ++i) {
    // Detached when the container goes away: nothing uses the mount any more, and a lazy
    // unmount returns at once instead of waiting for overlayfs to sync its upper dir.
    if (::umount2(rootfs.c_str(), detach ? MNT_DETACH : 0) == 0) continue;
    if (errno == EINVAL || errno == ENOENT) return;
    if (errno == EBUSY) {
      ::umount2(rootfs.c_str(), MNT_DETACH);
      continue;
    }
    throw_errno("unmount `" + rootfs + "`");
  }
}

UniqueFd Engine::start(const std::string& ref, bool owner, const std::string& winsize, Refill* refill, bool attach) {
  bool spare_taken = false;
  Container c = lookup(ref);
  UniqueFd lk = lock(c.id());
  c = lookup(c.id());
  State st = state_locked(c);
  if (st.running()) throw AlreadyRunning(c.rec.name);
  if (auto_remove_leftover(c, st)) {
    lk.reset();
    cleanup(c.id(), true);
    throw Error(ErrorKind::not_found, "No such container: " + ref);
  }
  // Linked containers must run (Docker's rule) when there is a network to name them on: their
  // address goes into this one's hosts. Read without their locks (observe): two containers
  // that link each other may start at once.
  const HostConfig start_host = c.host_config();
  for (const auto& l : start_host.network_mode == "none" ? std::vector<std::string>{} : start_host.links) {
    const auto [name, alias] = split_link(l);
    Container other = linked_container(name);
    Stale why = Stale::no;
    if (!observe(other, why).running() || why != Stale::no)
      throw Error(ErrorKind::invalid_argument,
                  "Cannot link to a non running container: /" + name + " AS /" + c.rec.name + "/" + alias);
  }
  const std::string dir = container_dir(c.id());
  const std::string rootfs = dir + "/rootfs";
  // A create killed between its record and its /etc files (resolv.conf is the last written):
  // made now, as Docker makes them at every start (else no start could ever bind them).
  if (::access((opts_.images.root + "/containers/" + c.id() + "/resolv.conf").c_str(), F_OK) < 0 && errno == ENOENT) {
    fs::mkdir_p(opts_.images.root + "/containers/" + c.id(), 0700);
    write_etc_files(c);
  }
  fs::mkdir_p(rootfs, 0700);
  ::unlink((dir + "/exit").c_str());
  ::unlink((dir + "/pid").c_str());
  // A previous run of this container may have left runtime state (a crash): clear it.
  if (runtime_state_left(c.id())) {
    try {
      delete_runtime_state(c.id());
    } catch (const std::exception& e) {
      log::debug(e.what());
    }
  }
  unmount_rootfs(c.id());
  // Attachments a killed start or run left (it is not running, we hold its lock): given back
  // first, else this start failed with "already attached" (and only the next one worked).
  if (!networks_.networks_of(c.id()).empty()) release_network(c.id());
  ::unlink(paused_mark(container_dir(c.id())).c_str());  // marks a past run left
  ::unlink(commit_pause_mark(container_dir(c.id())).c_str());
  trace("start");
  // The shim is started now, ahead of the spec: its exec and start-up run on another CPU
  // while the rootfs is mounted, the network namespace made and the spec written (it waits for
  // the word to go; dropped on a failure below, it exits). It enters the container: it runs
  // from a read-only view of its binary (made here, it need not re-exec itself into one).
  shim::PendingShim pending;
  pending.start(opts_.shim, dir, runtime::sealed_view);
  const UsernsRemap remap = remap_of(c);  // made with userns-remap: its ids, for good
  if (remap.on()) {
    // The init binds the rootfs and the /etc files once it is in the container's user
    // namespace: as the container's root, an unprivileged user of the host, it must be able to
    // walk down to them. The directories above take search (not read) for everyone, the
    // container's own ones search for its root's group only.
    const std::string ns_state = opts_.state + "/" + opts_.images.ns;
    // Above the engine's own directories nothing is changed: they must be searchable already.
    for (const std::string& top : {fs::absolute(opts_.state), fs::absolute(opts_.images.root)})
      for (std::string d = top.substr(0, top.rfind('/')); !d.empty(); d = d.substr(0, d.rfind('/'))) {
        struct stat st {};
        if (::stat(d.c_str(), &st) == 0 && !(st.st_mode & S_IXOTH))
          throw Error(ErrorKind::invalid_argument, "userns-remap: `" + d + "` is not searchable by others (chmod o+x): the container's root, an unprivileged host user, must reach " + top);
      }
    for (const std::string& d : {opts_.state, ns_state, ns_state + "/containers", opts_.images.root, opts_.images.root + "/containers"}) {
      struct stat st {};
      if (::stat(d.c_str(), &st) == 0 && (st.st_mode & 011) != 011 && ::chmod(d.c_str(), (st.st_mode & 07777) | 011) < 0)
        throw_errno("chmod " + d);
    }
    const std::string pdir = opts_.images.root + "/containers/" + c.id();
    fs::mkdir_p(pdir, 0700);
    for (const std::string& d : {dir, pdir})
      if (::chown(d.c_str(), 0, remap.gid) < 0 || ::chmod(d.c_str(), 0710) < 0) throw_errno("chmod " + d);
  }
  {
    std::vector<snapshot::Mount> mounts = images_.snapshots().mounts(c.rec.snapshot);
    // A --rm container's writes go with it: no writeback of its upper dir at its syncs and
    // at the unmount (the shim's, after the exit) — ~4% of a run --rm back to back here.
    if (c.host_config().auto_remove) snapshot::make_volatile(mounts);
    if (remap.on())
      mount_rootfs_idmapped(mounts, rootfs, remap, dir + "/idmap");
    else
      snapshot::mount_all(mounts, rootfs);
  }
  // What Docker's init layer gives every container of its own (not the CRI's): /etc/mtab, a
  // link to /proc/mounts (busybox's df and mount read it), and an empty /.dockerenv (what
  // programs look for to know they run in a container), made in its layer at its first
  // start when the image has neither — inside the root (its symlinks never lead out). With
  // userns-remap the layer is an idmapped view the engine's root cannot create in: none.
  if (!remap.on() && !c.data.contains("CRI") && !c.data.contains("NoInitFiles") &&
      c.data.value("State", json::object()).value("StartedAt", json(0)) == json(0)) {
    try {
      UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!root) throw_errno("open " + rootfs);
      if (UniqueFd etc = fs::open_in_root(root.get(), "/etc", O_PATH | O_DIRECTORY | O_CLOEXEC))
        if (::symlinkat("/proc/mounts", etc.get(), "mtab") < 0 && errno != EEXIST) throw_errno("make /etc/mtab");
      UniqueFd env(::openat(root.get(), ".dockerenv", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755));
      if (!env && errno != EEXIST) throw_errno("make /.dockerenv");
    } catch (const std::exception& e) {
      log::debug(e.what());  // a read-only or full layer: the container runs without them
    }
  }
  trace("rootfs mounted");
  UniqueFd attach_mine;
  try {
    const ContainerConfig config = c.config();
    const HostConfig host = c.host_config();
    const std::string pdir = opts_.images.root + "/containers/" + c.id();
    SpecInputs in;
    in.config = &config;
    in.host = &host;
    in.rootfs = rootfs;
    in.id = c.id();
    in.hostname_file = pdir + "/hostname";
    in.hosts_file = pdir + "/hosts";
    in.resolv_file = pdir + "/resolv.conf";
    in.volume_mounts = volume_mounts(c, rootfs);
    const std::string& mode = host.network_mode;
    // Legacy links (the default network's): the linked containers' addresses, ports and
    // variables in the environment. On a user network a link is a name only (Docker's rule).
    if (mode == network::Networks::kDefault)
      for (const auto& l : host.links) {
        const auto [name, alias] = split_link(l);
        const Container other = linked_container(name);
        const std::string ip = other.data.value("NetworkSettings", json::object())
                                   .value("Networks", json::object())
                                   .value(mode, json::object())
                                   .value("IPAddress", "");
        if (ip.empty()) continue;
        const ContainerConfig oc = other.config();
        auto vars = legacy_link_env(c.rec.name, alias, ip, oc.exposed_ports, oc.env);
        in.link_env.insert(in.link_env.end(), vars.begin(), vars.end());
      }
    if (auto path = namespace_path(mode)) {
      in.netns = *path;  // a namespace made for it (a pod's): nothing attached here
    } else if (mode.rfind("container:", 0) == 0) {
      // Another container's network stack, with its hosts and resolv.conf.
      Container other = lookup(mode.substr(10));
      State os = state(other);
      if (!os.running()) throw Error(ErrorKind::conflict, "cannot join the network of container " + other.rec.name + ": it is not running");
      in.netns = other.data.value("NetworkSettings", json::object()).value("SandboxKey", "");
      if (in.netns.empty()) in.netns = "/proc/" + std::to_string(os.pid) + "/ns/net";
      in.hostname_file = opts_.images.root + "/containers/" + other.id() + "/hostname";
      in.hosts_file = opts_.images.root + "/containers/" + other.id() + "/hosts";
      in.resolv_file = opts_.images.root + "/containers/" + other.id() + "/resolv.conf";
    } else {
      in.netns = create_sandbox(c, spare_taken);
      // Docker's defaults for a container's own network: every port unprivileged, ping sockets
      // for every group. The runtime sets them — but with userns-remap the namespace is the
      // engine's, not the container's user namespace's, where the container's root may not
      // write them (nor bind below 1024 without them: nginx on 80): the engine does, and ping
      // works there too (Docker's leaves it out). The user's own --sysctl wins.
      if (!in.netns.empty() && !remap.on()) {
        in.default_net_sysctls = true;
      } else if (!in.netns.empty()) {
        in_netns(in.netns, [&host] {
          for (const auto& [key, value] : kDefaultNetSysctls) {
            if (host.sysctls.count(key)) continue;
            std::string path = "/proc/sys/" + key;
            std::replace(path.begin() + 10, path.end(), '.', '/');
            fs::write_file(path, value);
          }
        });
      }
    }
    if (auto path = namespace_path(host.pid_mode)) {
      in.pidns = *path;
    } else if (const std::string& pid = host.pid_mode; pid.rfind("container:", 0) == 0) {
      Container other = lookup(pid.substr(10));
      State os = state(other);
      if (!os.running()) throw Error(ErrorKind::conflict, "cannot join the PID namespace of container " + other.rec.name + ": it is not running");
      in.pidns = "/proc/" + std::to_string(os.pid) + "/ns/pid";
    }
    if (auto path = namespace_path(host.uts_mode)) in.utsns = *path;
    if (auto path = namespace_path(host.ipc_mode)) {
      in.ipcns = *path;  // its /dev/shm: what the mounts give (a pod's), else a tmpfs of its own
    } else if (host.ipc_mode == "shareable") {
      // Its /dev/shm is a tmpfs on the host side, so that a container joining its IPC
      // namespace gets the same one (never through this container's own view of its files).
      in.shm_dir = dir + "/shm";
      fs::mkdir_p(in.shm_dir, 0700);
      const std::string opts = "mode=1777,size=" + std::to_string(shm_size(host));
      if (::mount("shm", in.shm_dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts.c_str()) < 0)
        throw_errno("mount the shareable /dev/shm of " + c.rec.name);
    } else if (host.ipc_mode.rfind("container:", 0) == 0) {
      Container other = lookup(host.ipc_mode.substr(10));
      State os = state(other);
      if (!os.running()) throw Error(ErrorKind::conflict, "cannot join the IPC namespace of container " + other.rec.name + ": it is not running");
      if (other.host_config().ipc_mode != "shareable")
        throw Error(ErrorKind::conflict, "cannot join the IPC namespace of container " + other.rec.name +
                                             ": it is not shareable (create it with --ipc shareable)");
      in.ipcns = "/proc/" + std::to_string(os.pid) + "/ns/ipc";
      in.shm_dir = container_dir(other.id()) + "/shm";
    }
    // Resolved at each start: the runtime of this run is the one the orders name.
    const Runtime rt = runtimes()->resolve(host.runtime);
    for (const Bind& b : binds_of(host))
      if (b.host_path() && b.read_only() && b.recursive()) {
        in.recursive_ro = recursive_ro_possible(rt, opts_.state + "/runtime-features");
        break;
      }
    json spec = make_spec(in);
    // crun 1.8 refuses any ociVersion but 1.0.x ("unknown version specified"); what the
    // engine writes is 1.0-compatible, so external runtimes get that.
    if (rt.external()) spec["ociVersion"] = "1.0.2";
    // --privileged hands out every capability this host has; a runtime refuses the ones it
    // does not know (runsc: `invalid capability "CAP_PERFMON"`).
    if (rt.external() && host.privileged && spec.contains("process") && spec["process"].contains("capabilities")) {
      const RuntimeCaps known(rt, opts_.state + "/runtime-features");
      for (auto& [set, list] : spec["process"]["capabilities"].items()) {
        json kept = json::array();
        for (const auto& c : list)
          if (c.is_string() && known.accepts(c.get<std::string>())) kept.push_back(c);
        list = kept;
      }
    }
    if (remap.on()) {
      // Its own user namespace: ids 0..size-1 are the host's remapped range.
      json& linux = spec["linux"];
      bool have = false;
      for (const auto& ns : linux["namespaces"]) have = have || ns.value("type", "") == "user";
      if (!have) linux["namespaces"].push_back({{"type", "user"}});
      linux["uidMappings"] = json::array({{{"containerID", 0}, {"hostID", remap.uid}, {"size", remap.size}}});
      linux["gidMappings"] = json::array({{{"containerID", 0}, {"hostID", remap.gid}, {"size", remap.size}}});
      // sysfs can be mounted only from the user namespace that owns the network namespace, and
      // the engine's is not the container's: the engine mounts the container's (its network
      // devices, not the host's), read-only, and the runtime binds it.
      if (!in.netns.empty())
        for (json& m : spec["mounts"])
          if (m.value("type", "") == "sysfs") {
            const std::string sys = dir + "/sys";
            mount_sysfs_of(in.netns, sys);
            m = {{"destination", m.value("destination", "/sys")}, {"type", "bind"}, {"source", sys},
                 {"options", {"rbind", "nosuid", "noexec", "nodev", "ro"}}};
          }
    }
    fs::write_file_atomic(dir + "/config.json", spec.dump(), 0600);

    const auto& log_opts = host.log_config.config;
    auto log_files = [&] {
      const std::string v = log_opts.at("max-file");
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 1 || n > 1000) throw Error(ErrorKind::invalid_argument, "invalid --log-opt max-file `" + v + "`");
      return static_cast<int>(n);
    };
    shim::Orders orders;
    orders.id = c.id();
    orders.bundle = dir;
    orders.runtime_root = runtime_root();
    orders.log_path = log_path(c);
    orders.log_cri = host.log_config.type == "k8s-file";
    // What a tag template and the attributes are made of (Docker's logger fields).
    const LogSubject log_subject{c.id(), c.rec.name, c.rec.image,
                                 config.image.empty() ? c.data.value("ImageRef", c.rec.image) : config.image, &config};
    if (host.log_config.type == "json-file") {
      orders.log_attrs = log_attributes(log_opts, log_subject);
      if (auto it = log_opts.find("compress"); it != log_opts.end()) orders.log_compress = parse_log_bool(it->second).value_or(false);
    } else if (host.log_config.type == "syslog") {
      orders.syslog = syslog_target(log_opts, log_subject);
    } else if (host.log_config.type == "local") {
      // Docker's local driver keeps its records in a format of its own that only dockerd
      // reads; berth keeps json-file's records with local's defaults: rotated compressed.
      auto it = log_opts.find("compress");
      orders.log_compress = it == log_opts.end() || parse_log_bool(it->second).value_or(true);
    }
    orders.events = events_path();
    orders.event_attributes = event_attributes(c);
    orders.terminal = config.tty;
    orders.stdin_open = config.open_stdin;
    orders.stdin_once = config.stdin_once;
    orders.winsize = winsize;
    orders.restart = restart_policy(host);
    orders.runtime = rt.path;
    orders.runtime_args = rt.args;
    orders.runtime_timeout_ms = opts_.runtime_timeout_ms;
    // Without a max-size, Docker's local-driver cap (20 MB x 5): a container printing in a
    // loop must not fill the disk (json-file's own default is no cap at all).
    if (orders.log_path.empty()) {
      // --log-driver none: the output goes to attached clients only (syslog: and there)
    } else if (orders.log_cri) {
      // The kubelet rotates a CRI log itself (then ReopenContainerLog); Podman's k8s-file
      // takes a max-size.
      fs::mkdir_p(orders.log_path.substr(0, orders.log_path.rfind('/')), 0755);
      if (log_opts.count("max-size")) orders.log_max_size = parse_bytes(log_opts.at("max-size"), "--log-opt max-size");
    } else if (log_opts.count("max-size")) {
      orders.log_max_size = parse_bytes(log_opts.at("max-size"), "--log-opt max-size");
      if (log_opts.count("max-file"))
        orders.log_max_files = log_files();
      else if (host.log_config.type == "local")
        orders.log_max_files = kDefaultLogMaxFiles;  // local's default; json-file's is one file
    } else {
      orders.log_max_size = kDefaultLogMaxSize;
      orders.log_max_files = log_opts.count("max-file") ? log_files() : kDefaultLogMaxFiles;
    }
    if (opts_.hooks.exit_command) orders.cleanup = opts_.hooks.exit_command(c.id(), host.auto_remove);
    orders.health = health_orders(config, spec);
    orders.dns = dns_orders(c, in.netns, in.hosts_file);
    // resolv.conf names the server when there is one (a container connected to a user
    // network, or disconnected from its last one, since it was made).
    if (host.network_mode != "host") sync_resolv_conf(c, orders.dns.has_value(), false);
    shim::write_orders(dir, orders);
    trace("spec and shim orders written");

    int p[2];
    UniqueFd attach_theirs;
    if (owner || attach) {
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0) throw_errno("socketpair");
      attach_mine.reset(p[0]);
      attach_theirs.reset(p[1]);
    }
    // With networks to attach, the shim creates the container meanwhile and starts it only on
    // our word ("g" on the gate; nothing, and it gives up).
    UniqueFd gate_mine, gate_theirs;
    if (!in.netns.empty() && !c.endpoints().empty()) {
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0) throw_errno("socketpair");
      gate_mine.reset(p[0]);
      gate_theirs.reset(p[1]);
    }
    pending.go(attach_theirs.get(), gate_theirs.get(), owner);
    attach_theirs.reset();
    gate_theirs.reset();
    if (gate_mine) {
      try {
        attach_networks(c);
        trace("networks attached");
      } catch (...) {
        gate_mine.reset();  // the shim removes the container it made
        pending.answer();
        throw;
      }
      if (::send(gate_mine.get(), "g", 1, MSG_NOSIGNAL) < 0) log::debug("gate: the shim is gone");
      gate_mine.reset();
    }
    std::string line = pending.answer();
    trace("shim ready");
    if (line.rfind("ok ", 0) != 0)
      throw line.rfind("error ", 0) == 0 ? decode_error(std::string_view(line).substr(6))
                                         : Error("berth-shim failed to start");
    c.data["State"] = {{"Status", "running"}, {"ExitCode", 0}, {"StartedAt", now_ns()},
                       {"FinishedAt", 0}, {"Error", ""}, {"Pid", std::atoi(line.c_str() + 3)},
                       {"RestartCount", 0}};
    // A foreground --rm container's record is removed by this very process after the exit:
    // no need to write its start (state() knows it started from the shim's pid file).
    if (!(owner && host.auto_remove) || c.data.contains("NetworkSettings")) save(c);
    trace("state saved");
    // A caller waiting for the exit makes them after it (refill_spares): not while the
    // container it waits for runs.
    if (owner && refill)
      *refill = {primary_network(c), spare_taken};
    else
      make_spares(primary_network(c), spare_taken);
  } catch (const std::exception& e) {
    release_network(c);
    unmount_rootfs(c.id());
    c.data["State"]["Status"] = c.data["State"].value("StartedAt", int64_t{0}) ? "exited" : "created";
    c.data["State"]["Error"] = e.what();
    c.data["State"]["ExitCode"] = 127;
    try {
      save(c);
    } catch (...) {
    }
    throw;
  }
  return attach_mine;
}

State Engine::state(Container& c) {
  Stale stale = Stale::no;
  State s = observe(c, stale);
  // A start under way holds the lock: not waited for here (ps would wait for every start).
  if (stale == Stale::start_unsettled) stale = Stale::no;
  if (stale == Stale::no && !(s.status == Status::exited && auto_remove(c))) return s;
  // The container ended and its record does not know yet: brought up to date under its lock,
  // from the record as it is then (another command may have done it meanwhile, or removed it).
  UniqueFd lk = lock(c.id());
  try {
    c = lookup(c.id());
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::not_found) return s;
    throw;
  }
  s = state_locked(c);
  if (!auto_remove_leftover(c, s)) return s;
  lk.reset();  // cleanup takes it again
  try {
    cleanup(c.id(), true);
    s.removed = true;
  } catch (const std::exception& e) {
    log::warn("container " + c.rec.name + " (--rm) ended but could not be removed: " + e.what());
  }
  return s;
}

// Docker removes these when its daemon comes back; berth at the first command that looks.
// Never started again: a --rm container's upper dir is mounted volatile (no syncs), and after
// a crash of the host what it holds may be torn.
bool Engine::auto_remove_leftover(const Container& c, const State& s) {
  if (s.status != Status::exited || !auto_remove(c)) return false;
  const std::string dir = container_dir(c.id());
  // A restart's stop, or a shim still finishing (the owner's cleanup, its cleanup command).
  return !fs::exists(restarting_mark(dir)) && !shim_alive(dir);
}

State Engine::state_locked(Container& c) {
  // Under the lock a commit holds while it pauses: its mark is a dead commit's. Thawed (Docker's
  // daemon unpauses after a commit whatever its client does), else the container stayed frozen
  // while shown running, and stop, rm -f, exec and unpause all failed or hung.
  if (const std::string mark = commit_pause_mark(container_dir(c.id())); ::access(mark.c_str(), F_OK) == 0) {
    try {
      thaw(c);
    } catch (const std::exception& e) {
      log::debug(e.what());  // not running any more: nothing to thaw
    }
    ::unlink(mark.c_str());
  }
  Stale stale = Stale::no;
  State s = observe(c, stale);
  // A shim that has recorded neither a run nor an exit while we hold the lock: the start that
  // spawned it was killed (the lock went with it) and the shim is giving the container up
  // (runtime delete, then its shim.pid goes). Until then it holds the runtime's state of the
  // same id and its directory: a new start must not begin meanwhile. Up to 10 s.
  for (int i = 0; stale == Stale::start_unsettled && i < 2000; ++i) {
    ::usleep(5000);
    s = observe(c, stale);
  }
  if (stale == Stale::start_unsettled)
    log::warn("container " + c.rec.name + ": the monitor of a start that was killed is still giving it up");
  // (commit_died is never true here: its probe finds the container's lock held, by us.)
  if (stale == Stale::commit_died || stale == Stale::start_unsettled) stale = Stale::no;
  if (stale != Stale::no) reconcile(c, s, stale);
  return s;
}

State Engine::observe(const Container& c, Stale& stale) {
  stale = Stale::no;
  State s;
  const json js = c.data.value("State", json::object());
  s.status = parse_status(js.value("Status", "created"));
  s.exit_code = js.value("ExitCode", 0);
  s.started = js.value("StartedAt", int64_t{0});
  s.finished = js.value("FinishedAt", int64_t{0});
  s.restarts = js.value("RestartCount", 0);
  s.oom_killed = js.value("OOMKilled", false);
  s.error = js.value("Error", "");
  s.pid = js.value("Pid", 0);
  const std::string dir = container_dir(c.id());
  if (auto h = shim::read_health(dir)) s.health = h->status;
  // How the last run ended, when it did.
  auto take_exit = [&](const shim::ExitRecord& e) {
    s.exit_code = e.code;
    s.finished = e.finished ? e.finished : now_ns();
    s.restarts = e.restarts;
    s.oom_killed = e.oom_killed;
    if (!e.error.empty()) s.error = e.error;
  };
  if (shim_alive(dir)) {
    auto run = shim::read_run_record(dir);
    // Neither a run nor an exit recorded: the shim's first start is under way (its starter
    // holds the lock and attaches the networks) — or given up, its starter killed. Running
    // only once it is: a killed `run -d` showed running, and a `start` then did nothing.
    auto exit = run ? std::optional<shim::ExitRecord>() : shim::read_exit_record(dir);
    if (!run && !exit) {
      stale = Stale::start_unsettled;
      return s;
    }
    if (run) {
      s.pid = run->pid;
      s.restarts = run->restarts;
      s.started = run->started;  // this run's start (a restart's, or a foreground run's)
    }
    s.status = Status::running;
    // An exit record while the shim lives: the container is gone and the shim is waiting to
    // restart it — or finishing, when its policy will not restart it: that is an exit.
    if (!exit) exit = shim::read_exit_record(dir);
    if (auto& e = exit) {
      take_exit(*e);
      s.status = restart_policy(c.host_config()).due(s.exit_code, s.restarts)
                     ? Status::restarting
                     : Status::exited;
      s.pid = 0;
      return s;
    }
    // Paused: only when the engine paused it (its mark, or a commit's), confirmed by the
    // runtime's state — which costs four files and a parse of the spec, too much for every
    // line of a ps.
    const bool by_commit = ::access(commit_pause_mark(dir).c_str(), F_OK) == 0;
    if (by_commit || ::access(paused_mark(dir).c_str(), F_OK) == 0) {
      try {
        auto rs = runtime_ops(c.id()).state(c.id());
        if (rs.value("status", "") == "paused") s.status = Status::paused;
      } catch (const Error&) {
        // being created or deleted this very moment
      }
    }
    // A commit's pause with the container's lock free: the commit is dead, state() thaws it.
    if (by_commit) {
      UniqueFd probe(::open(lock_path(opts_, c.id()).c_str(), O_RDWR | O_CLOEXEC));
      if (probe && ::flock(probe.get(), LOCK_EX | LOCK_NB) == 0) stale = Stale::commit_died;
    }
    return s;
  }
  // The record knows how it ended, or it never started. A foreground `run --rm` does not
  // record its start (the record goes when the container does): its shim's pid file tells.
  if (s.status == Status::exited || (s.status == Status::created && !fs::exists(dir + "/pid"))) return s;
  // The shim is gone: its exit record tells how the container ended, or it died before.
  if (auto e = shim::read_exit_record(dir)) {
    take_exit(*e);
    stale = Stale::exited;
  } else if (const int64_t boot = boot_time_ns(); s.started && boot && s.started < boot) {
    // It ran when the host went down (the state dir, a tmpfs, went with its shim): Docker's
    // daemon says 255 for such a container as it comes back.
    s.exit_code = 255;
    s.finished = boot;
    s.error = "the host restarted while the container ran";
    stale = Stale::monitor_died;
  } else {
    s.exit_code = 137;
    s.finished = now_ns();
    s.error = "the container's monitor (berth-shim) died; the container was killed";
    stale = Stale::monitor_died;
  }
  s.status = Status::exited;
  s.pid = 0;
  return s;
}

void Engine::reconcile(Container& c, const State& s, Stale why) {
  if (why == Stale::monitor_died) {
    // Killed shim: the container must not live on unmonitored.
    try {
      delete_runtime_state(c.id());
    } catch (const std::exception& e) {
      log::warn(e.what());
    }
    release_network(c);
  }
  try {
    unmount_rootfs(c.id());
  } catch (const std::exception& e) {
    log::warn(e.what());
  }
  json& js = c.data["State"];
  js["Status"] = status_name(s.status);
  js["ExitCode"] = s.exit_code;
  js["FinishedAt"] = s.finished;
  js["RestartCount"] = s.restarts;
  js["OOMKilled"] = s.oom_killed;
  js["Error"] = s.error;
  js["Pid"] = 0;
  try {
    save(c);
  } catch (const std::exception& e) {
    log::debug(e.what());
  }
}

UniqueFd Engine::shim_connect(const Container& c, const std::string& request) {
  UniqueFd fd;
  try {
    fd = runtime::connect_unix(container_dir(c.id()) + "/shim.sock");
  } catch (const Error&) {
    throw Error(ErrorKind::not_running, "container " + c.rec.name + " is not running");
  }
  if (!shim::send_all(fd.get(), request)) throw Error(ErrorKind::not_running, "container " + c.rec.name + " is not running");
  return fd;
}

AttachSession Engine::attach(const std::string& ref) {
  Container c = lookup(ref);
  if (!state(c).running())
    throw Error(ErrorKind::not_running, "You cannot attach to a stopped container, start it first");
  AttachSession s;
  s.conn = shim_connect(c, "attach\n");
  const ContainerConfig config = c.config();
  s.tty = config.tty;
  s.stdin_open = config.open_stdin;
  return s;
}

ExecSession Engine::exec(const std::string& ref, const ExecRequest& req) {
  if (req.args.empty()) throw Error(ErrorKind::invalid_argument, "exec: no command");
  Container c = lookup(ref);
  State s = state(c);
  if (s.status == Status::paused) throw Error(ErrorKind::conflict, "container " + c.rec.name + " is paused, unpause the container before exec");
  if (!s.running()) throw Error(ErrorKind::not_running, "container " + c.rec.name + " is not running");
  const ContainerConfig config = c.config();
  // A variable the exec or the container (its image included) sets: theirs wins.
  auto set_already = [&](std::string_view name) {
    auto in = [&](const std::vector<std::string>& v) {
      return std::any_of(v.begin(), v.end(), [&](const std::string& e) {
        return e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=';
      });
    };
    return in(req.env) || in(config.env);
  };
  // With a terminal, TERM=xterm (Docker's daemon environment, as for the container's own process).
  std::vector<std::string> env = req.env;
  if (req.tty && !set_already("TERM")) env.insert(env.begin(), "TERM=xterm");
  // The user's ids, plus the container's --group-add groups (Docker's exec has them too).
  const std::string user = req.user.empty() ? config.user : req.user;
  const std::vector<std::string> group_add = c.host_config().group_add;
  std::optional<UserIds> ids;
  if (!user.empty() || !group_add.empty()) ids = resolve_user(container_dir(c.id()) + "/rootfs", user, group_add);
  // Another user's HOME (runc sets it from passwd when the environment has none: the
  // container's own process has its own user's).
  if (ids && !req.user.empty() && !set_already("HOME")) env.push_back("HOME=" + (ids->home.empty() ? std::string("/") : ids->home));
  json spec = {{"args", req.args}, {"tty", req.tty},       {"stdin", req.stdin_open}, {"detach", req.detach},
               {"cwd", req.workdir}, {"env", env}, {"winsize", req.tty ? req.winsize : ""}};
  if (ids) {
    spec["user"] = std::to_string(ids->uid) + ":" + std::to_string(ids->gid);
    spec["additional_gids"] = ids->groups;
  }
  if (req.privileged) spec["caps"] = privileged_capabilities();
  const std::string gone = "container " + c.rec.name + " is not running";
  UniqueFd conn = shim_connect(c, "exec\n");
  if (!shim::send_frame(conn.get(), shim::kExecSpec, spec.dump())) throw Error(ErrorKind::not_running, gone);
  // The first frame: started, or why not.
  auto first = shim::read_frame(conn.get());
  if (!first) throw Error(ErrorKind::not_running, gone);
  if (first->type == shim::kError) throw decode_error(first->data);
  if (first->type != shim::kStarted) throw Error("exec: unexpected answer from the shim");
  ExecSession x;
  x.pid = std::atoi(first->data.c_str());
  if (!req.detach) x.conn = std::move(conn);
  return x;
}

std::string Engine::shim_request(const Container& c, const std::string& request) {
  UniqueFd fd = shim_connect(c, request);
  return fs::read_line(fd.get());
}

RuntimeOps Engine::runtime_ops(const std::string& id) const {
  Runtime r;
  try {
    const shim::Orders o = shim::read_orders(container_dir(id));
    r.path = o.runtime;
    r.args = o.runtime_args;
  } catch (const Error&) {
    // no orders (a container that never started): the library made the state, if anything
  }
  return RuntimeOps(std::move(r), runtime_root(), opts_.runtime_timeout_ms);
}

bool Engine::runtime_state_left(const std::string& id) const {
  const std::string root = runtime_root() + "/";
  return fs::exists(root + id) || fs::exists(root + id + "_sandbox:" + id + ".state");
}

void Engine::delete_runtime_state(const std::string& id) {
  if (!runtime_state_left(id)) return;
  runtime_ops(id).remove(id);
}

namespace {

// What Docker's init layer holds, never a change of the container's (diff, commit): the files
// the engine binds over the image's (its own /etc/hosts, …) and the directories the kernel's
// filesystems are mounted on — when the image has none, the runtime makes empty mount points
// for them in the container's layer —, and /etc/mtab, /.dockerenv (made at the first start).
const std::vector<std::string> kInitLayerPaths = {"etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab",
                                                  ".dockerenv", "dev", "proc", "sys"};

}  // namespace

std::vector<Engine::Change> Engine::changes(const std::string& ref) {
  Container c = lookup(ref);
  if (opts_.images.driver != snapshot::Driver::overlay)
    throw Error(ErrorKind::invalid_argument, "diff: not supported on the native snapshotter (only with overlay)");
  auto& db = images_.db();
  auto& sn = images_.snapshots();
  const auto snap = db.get_snapshot(opts_.images.ns, c.rec.snapshot);
  if (!snap) throw Error("container " + c.rec.name + " has no snapshot");
  UniqueFd upper(::open(sn.fs_dir(*snap).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!upper) throw_errno("open the container's layer");
  // The image's layers, nearest first: a path is there when the first layer that has it does
  // not hold a whiteout for it. Resolved inside each layer (an image's symlinks stay in it).
  std::vector<UniqueFd> lowers;
  for (const auto& s : sn.ancestors(*snap)) {
    UniqueFd fd(::open(sn.fs_dir(s).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw_errno("open layer `" + sn.fs_dir(s) + "`");
    lowers.push_back(std::move(fd));
  }
  auto in_image = [&](const std::string& rel) {
    for (auto& l : lowers) {
      UniqueFd f = fs::open_in_root(l.get(), rel, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      struct stat st;
      if (f && ::fstat(f.get(), &st) == 0) return !(S_ISCHR(st.st_mode) && st.st_rdev == 0);
    }
    return false;
  };
  auto opaque = [](int dir_fd) {
    char v[4] = {};
    for (const char* x : {"trusted.overlay.opaque", "user.overlay.opaque"})
      if (::fgetxattr(dir_fd, x, v, sizeof v) == 1 && v[0] == 'y') return true;
    return false;
  };
  std::vector<Change> out;
  // Depth first with a list of paths (no recursion, one fd at a time): a container may nest
  // directories as deep as it likes.
  struct Dir {
    std::string rel;  // "" for the root, else "a/b"
    bool hidden;      // under an opaque directory: nothing of the image shows through
  };
  std::vector<Dir> todo{{"", false}};
  while (!todo.empty()) {
    Dir d = std::move(todo.back());
    todo.pop_back();
    UniqueFd dir = d.rel.empty() ? UniqueFd(::fcntl(upper.get(), F_DUPFD_CLOEXEC, 3))
                                 : fs::open_in_root(upper.get(), d.rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (!dir) continue;  // gone meanwhile (a running container)
    for (const auto& name : fs::list_dir(dir.get(), "/" + d.rel)) {
      const std::string rel = d.rel.empty() ? name : d.rel + "/" + name;
      struct stat st;
      if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
      if (S_ISCHR(st.st_mode) && st.st_rdev == 0) {
        out.push_back({'D', "/" + rel});
        continue;
      }
      out.push_back({!d.hidden && in_image(rel) ? 'C' : 'A', "/" + rel});
      if (S_ISDIR(st.st_mode) && rel.size() < PATH_MAX) {
        UniqueFd sub(::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        todo.push_back({rel, d.hidden || (sub && opaque(sub.get()))});
      }
    }
  }
  // The engine's mount points are not the container's changes; nor is an /etc that holds
  // nothing else and was made for them (absent from the image) or copied up unchanged.
  auto mount_point = [](const Change& ch) {
    return std::find(kInitLayerPaths.begin(), kInitLayerPaths.end(), ch.path.substr(1)) != kInitLayerPaths.end();
  };
  const size_t before = out.size();
  out.erase(std::remove_if(out.begin(), out.end(), mount_point), out.end());
  if (out.size() != before) {
    const bool more = std::any_of(out.begin(), out.end(), [](const Change& ch) { return ch.path.rfind("/etc/", 0) == 0; });
    auto etc = std::find_if(out.begin(), out.end(), [](const Change& ch) { return ch.path == "/etc"; });
    if (etc != out.end() && !more) {
      bool same = etc->kind == 'A';
      struct stat up, low;
      if (!same && ::fstatat(upper.get(), "etc", &up, AT_SYMLINK_NOFOLLOW) == 0)
        for (auto& l : lowers)
          if (::fstatat(l.get(), "etc", &low, AT_SYMLINK_NOFOLLOW) == 0) {
            same = up.st_mode == low.st_mode && up.st_uid == low.st_uid && up.st_gid == low.st_gid;
            break;
          }
      if (same) out.erase(etc);
    }
  }
  std::sort(out.begin(), out.end(), [](const Change& a, const Change& b) { return a.path < b.path; });
  return out;
}

void Engine::update(const std::string& ref, const json& changes) {
  // Docker's update: every resource but the device lists.
  static const std::set<std::string> resources = {
      "Memory",     "MemorySwap", "MemoryReservation", "KernelMemory", "NanoCpus",          "CpuShares",
      "CpuPeriod",  "CpuQuota",   "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems",
      "PidsLimit",  "BlkioWeight"};
  for (auto& [k, _] : changes.items())
    if (!resources.count(k) && k != "RestartPolicy") throw Error(ErrorKind::invalid_argument, "update: `" + k + "` cannot be changed");
  Container c = lookup(ref);
  UniqueFd lk = lock(c.id());
  c = lookup(c.id());
  json host_json = c.data["HostConfig"];
  for (auto& [k, v] : changes.items()) host_json[k] = v;
  HostConfig host = parse_host_config(host_json);
  // Docker: a memory limit above the swap limit raises the swap limit with it (-1 stays).
  if (changes.contains("Memory") && !changes.contains("MemorySwap") && host.memory_swap > 0 && host.memory_swap < host.memory)
    host.memory_swap = host.memory;
  ignore_kernel_memory(host);
  check_host_config(host);
  discard_unsupported_blkio_weight(host);  // as at create: never a failure halfway through the update
  const json res = resources_of(host);
  if (changes.contains("RestartPolicy") && restart_policy(host).name != "no" && host.auto_remove)
    throw Error(ErrorKind::invalid_argument, "Restart policy cannot be updated because AutoRemove is enabled for the container");
  State s = state_locked(c);
  const std::string dir = container_dir(c.id());
  const bool resources_changed = changes.size() > (changes.contains("RestartPolicy") ? 1u : 0u);
  if ((s.running() || s.status == Status::paused) && resources_changed) {
    runtime_ops(c.id()).update(c.id(), res);
  }
  // The shim judges restarts by its orders: the new policy goes to shim.json and to the shim.
  if (changes.contains("RestartPolicy") && shim_alive(dir)) {
    shim::Orders o = shim::read_orders(dir);
    o.restart = restart_policy(host);
    shim::write_orders(dir, o);
    const std::string reply = shim_request(c, "restart-policy " + o.restart.name + " " + std::to_string(o.restart.max) + "\n");
    if (reply != "ok") throw Error("update: the shim refused the restart policy: " + reply);
  }
  c.data["HostConfig"] = to_json(host);
  save(c);
  emit(c, "update");
}

Engine::DiskUsage Engine::disk_usage() {
  DiskUsage u;
  // Layers (chain IDs) of every image, and which images use each.
  std::map<std::string, int64_t> layer_size;
  std::map<std::string, int> layer_images;
  std::map<std::string, std::vector<std::string>> chains_of;  // image id -> its layers
  std::map<std::string, size_t> row_of;                       // image id -> index in u.images
  for (auto& img : images_.list()) {
    const std::string id = img.id.str();
    if (auto it = row_of.find(id); it != row_of.end()) {
      u.images[it->second].names.push_back(img.record.name);
      continue;
    }
    row_of[id] = u.images.size();
    std::vector<std::string> chains;
    for (size_t i = 0; i < img.config.diff_ids.size(); ++i) {
      const std::string chain = oci::chain_id(img.config.diff_ids, i + 1).str();
      chains.push_back(chain);
      if (!layer_size.count(chain)) layer_size[chain] = std::max<int64_t>(0, images_.layer_size(chain));
      layer_images[chain]++;
    }
    chains_of[id] = chains;
    u.images.push_back({img, {img.record.name}, 0, 0, 0});
  }
  for (auto& row : u.images)
    for (auto& chain : chains_of[row.image.id.str()]) {
      row.size += layer_size[chain];
      if (layer_images[chain] > 1) row.shared += layer_size[chain];
    }
  for (auto& [chain, size] : layer_size) u.layers_size += size;
  // Containers: their own layer, their volumes, the images they use.
  std::map<std::string, int> volume_links;
  for (auto& c : list()) {
    DiskUsage::ContainerUse cu;
    cu.state = state(c);
    if (cu.state.removed) continue;
    cu.size_rw = sizes(c).rw;
    for (auto& v : c.data.value("Volumes", json::array())) {
      ++cu.local_volumes;
      volume_links[v.value("Name", "")]++;
    }
    if (auto it = row_of.find(c.data.value("ImageID", c.rec.image)); it != row_of.end()) u.images[it->second].containers++;
    cu.container = std::move(c);
    u.containers.push_back(std::move(cu));
  }
  std::set<std::string> used_layers;
  for (auto& row : u.images)
    if (row.containers > 0)
      for (auto& chain : chains_of[row.image.id.str()]) used_layers.insert(chain);
  for (auto& [chain, size] : layer_size)
    if (!used_layers.count(chain)) u.images_reclaimable += size;
  for (auto& v : volumes_.list()) {
    auto it = volume_links.find(v.name);
    u.volumes.push_back({v, it == volume_links.end() ? 0 : it->second, fs::disk_usage(v.mountpoint).bytes});
  }
  u.content_size = images_.content_size();
  std::set<std::string> cache_layers;
  for (auto& img : images_.list_build_cache()) {
    ++u.build_cache_entries;
    for (size_t i = 0; i < img.config.diff_ids.size(); ++i) {
      const std::string chain = oci::chain_id(img.config.diff_ids, i + 1).str();
      if (!layer_size.count(chain) && cache_layers.insert(chain).second && images_.db().get_snapshot(opts_.images.ns, chain)) {
        const int64_t bytes = std::max<int64_t>(0, images_.layer_size(chain));
        u.build_cache_size += bytes;
        u.build_cache_layers.emplace_back(chain, bytes);
      }
    }
  }
  return u;
}

Engine::Sizes Engine::sizes(const Container& c) {
  Sizes out;
  auto& db = images_.db();
  auto& sn = images_.snapshots();
  const auto snap = db.get_snapshot(opts_.images.ns, c.rec.snapshot);
  if (!snap) return out;
  // The native snapshotter's layer is a full copy: the image is already in it.
  if (opts_.images.driver != snapshot::Driver::overlay) {
    out.rw = out.root_fs = sn.usage(c.rec.snapshot).bytes;
    return out;
  }
  // Docker's SizeRw: the bytes of the files the container added or changed (ChangesSize) —
  // not the blocks of its layer's directories, nor the engine's mount points (init layer):
  // an untouched container is 0B.
  try {
    UniqueFd upper(::open(sn.fs_dir(*snap).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    std::set<std::pair<dev_t, ino_t>> seen;  // a file's hard links count once
    for (const Change& ch : changes(c.id())) {
      struct stat st {};
      if (ch.kind == 'D' || !upper || ::fstatat(upper.get(), ch.path.c_str() + 1, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
      if (S_ISDIR(st.st_mode) || (st.st_nlink > 1 && !seen.insert({st.st_dev, st.st_ino}).second)) continue;
      out.rw += st.st_size;
    }
  } catch (const Error&) {
    out.rw = sn.usage(c.rec.snapshot).bytes;  // the layer's blocks, then
  }
  // SizeRootFs: that and the image's layers (their sizes as unpacked, as `images` shows them).
  out.root_fs = out.rw;
  for (const auto& s : sn.ancestors(*snap)) out.root_fs += std::max<int64_t>(0, images_.layer_size(s.key));
  return out;
}

bool Engine::wait_shim_gone(const std::string& id) {
  const std::string dir = container_dir(id);
  for (int i = 0; i < 500 && shim_alive(dir); ++i) ::usleep(10000);
  return !shim_alive(dir);
}

bool Engine::halt(Container& c, const State& s, int sig, int timeout, UniqueFd lk) {
  // The exit that follows is a stop (no restart); `wait` is asked before the signal so that
  // the exit cannot be missed. The caller's lock is let go once the signal is sent: the
  // shim's cleanup after the exit takes it.
  try {
    shim_request(c, "stop\n");
    UniqueFd waiter = shim_connect(c, "wait\n");
    if (s.status == Status::paused) {
      try {
        thaw(c);
        ::unlink(paused_mark(container_dir(c.id())).c_str());
      } catch (const std::exception&) {
      }
    }
    // Docker's: a stop's signals are kill events — recorded before the signal goes, so that
    // the shim's die (written as soon as the process ends) comes after its kill.
    emit(c, "kill", {{"signal", std::to_string(sig)}});
    shim_request(c, "signal " + std::to_string(sig) + "\n");
    lk.reset();
    pollfd p{waiter.get(), POLLIN, 0};
    int r;
    while ((r = ::poll(&p, 1, timeout * 1000)) < 0 && errno == EINTR) {
    }
    if (r == 0 && sig != SIGKILL) {
      emit(c, "kill", {{"signal", "9"}});
      shim_request(c, "signal 9\n");
    }
    fs::read_line(waiter.get());
  } catch (const Error&) {
    // exited meanwhile
  }
  lk.reset();
  // Let the shim finish (exit record, cleanup) so that the state is final.
  return wait_shim_gone(c.id());
}

void Engine::end_restarts(Container& c, UniqueFd lk) {
  try {
    shim_request(c, "stop\n");
  } catch (const Error&) {
    // its shim is gone already
  }
  lk.reset();
  wait_shim_gone(c.id());
}

void Engine::mark_stopped_by_user(Container& c) {
  json& js = c.data["State"];
  if (js.value("ManuallyStopped", false)) return;
  js["ManuallyStopped"] = true;
  save(c);
}

void Engine::kill(const std::string& ref, int sig) {
  Container c = lookup(ref);
  UniqueFd lk = lock(c.id());  // not started or removed meanwhile
  c = lookup(c.id());
  State s = state_locked(c);
  if (s.status == Status::restarting) {
    // Docker's: between two runs there is no process to signal; the kill ends the restarts.
    mark_stopped_by_user(c);
    end_restarts(c, std::move(lk));
    state(c);
    emit(c, "kill", {{"signal", std::to_string(sig)}});
    return;
  }
  if (!s.running()) throw Error(ErrorKind::not_running, "cannot kill container " + c.rec.name + ": container is not running");
  // A kill the user asked for is a stop as far as the restart policy goes (Docker).
  if (sig == SIGKILL || sig == SIGTERM || sig == SIGINT) {
    mark_stopped_by_user(c);
    shim_request(c, "stop\n");
  }
  std::string reply = shim_request(c, "signal " + std::to_string(sig) + "\n");
  if (reply != "ok") throw Error("cannot kill container " + c.rec.name + ": " + (reply.size() > 6 ? reply.substr(6) : reply));
  emit(c, "kill", {{"signal", std::to_string(sig)}});
  // A paused container is resumed after a signal meant to end it, as Docker does (SIGKILL, its
  // stop signal, or any signal when it names none): a frozen process does not act on it (not
  // even on SIGKILL) until it is thawed. Any other signal waits for an unpause.
  bool ends = sig == SIGKILL;
  if (!ends && s.status == Status::paused) {
    const std::string stop_sig = c.config().stop_signal;
    try {
      ends = stop_sig.empty() || parse_signal(stop_sig) == sig;
    } catch (const Error&) {
      ends = false;
    }
  }
  if (s.status == Status::paused && ends) {
    thaw(c);
    ::unlink(paused_mark(container_dir(c.id())).c_str());
    emit(c, "unpause");
  }
}

void Engine::restart(const std::string& ref, std::optional<int> timeout, const std::function<void()>& stopped) {
  Container c = lookup(ref);
  const std::string mark = restarting_mark(container_dir(c.id()));
  const bool rm = c.host_config().auto_remove;
  if (rm) {
    fs::mkdir_p(container_dir(c.id()), 0700);
    fs::write_file_atomic(mark, "", 0600);
  }
  try {
    if (state(c).running()) stop(c.id(), timeout);
    if (stopped) stopped();
    start(c.id());
  } catch (...) {
    if (rm) ::unlink(mark.c_str());
    throw;
  }
  if (rm) ::unlink(mark.c_str());
  emit(c, "restart");
}

Engine::AutostartResult Engine::autostart() {
  AutostartResult r;
  struct Due {
    std::string id, name;
    std::vector<std::string> after;  // ids of containers it needs running first
  };
  std::vector<Due> due;
  for (Container& c : list()) {
    try {
      const State s = state(c);  // a stale record is brought up to date; a --rm leftover goes
      if (s.removed || s.running() || s.status == Status::restarting || !s.started) continue;
      const HostConfig host = c.host_config();
      const shim::RestartPolicy policy = restart_policy(host);
      const bool by_user = c.data.value("State", json::object()).value("ManuallyStopped", false);
      const bool wanted = policy.name == "always" || (policy.name == "unless-stopped" && !by_user) ||
                          (policy.name == "on-failure" && policy.due(s.exit_code, s.restarts));
      if (!wanted) continue;
      Due d{c.id(), c.rec.name, {}};
      std::vector<std::string> refs;
      for (const std::string* mode : {&host.network_mode, &host.ipc_mode, &host.pid_mode})
        if (mode->rfind("container:", 0) == 0) refs.push_back(mode->substr(10));
      for (const std::string& l : host.links) refs.push_back(split_link(l).first);
      for (const std::string& ref : refs) {
        try {
          d.after.push_back(lookup(ref).id());
        } catch (const Error&) {
          // gone: its start says so
        }
      }
      due.push_back(std::move(d));
    } catch (const std::exception& e) {
      r.failed.emplace_back(c.rec.name, e.what());
    }
  }
  // In dependency order: next, the first one whose dependencies (among the due ones) were
  // dealt with; in a cycle, the first one left.
  std::set<std::string> pending;
  for (const Due& d : due) pending.insert(d.id);
  while (!pending.empty()) {
    const Due* next = nullptr;
    for (const Due& d : due) {
      if (!pending.count(d.id)) continue;
      if (!next) next = &d;
      if (std::none_of(d.after.begin(), d.after.end(),
                       [&](const std::string& id) { return id != d.id && pending.count(id); })) {
        next = &d;
        break;
      }
    }
    pending.erase(next->id);
    try {
      start(next->id);
      r.started.push_back(next->name);
    } catch (const std::exception& e) {
      r.failed.emplace_back(next->name, e.what());
    }
  }
  return r;
}

void Engine::stop(const std::string& ref, std::optional<int> timeout) {
  Container c = lookup(ref);
  UniqueFd lk = lock(c.id());
  c = lookup(c.id());
  State s = state_locked(c);
  if (s.status == Status::restarting) {
    // Between two runs: the shim only has to give up the restart.
    mark_stopped_by_user(c);
    end_restarts(c, std::move(lk));
    state(c);
    return;
  }
  if (!s.running()) return;
  mark_stopped_by_user(c);
  const ContainerConfig config = c.config();
  std::string sig_name = config.stop_signal;
  halt(c, s, sig_name.empty() ? SIGTERM : parse_signal(sig_name), timeout.value_or(config.stop_timeout.value_or(10)), std::move(lk));
  state(c);
  emit(c, "stop");
}

void Engine::logs(const std::string& ref, const LogOptions& o, const logs::Sink& sink) {
  const Container c = lookup(ref);
  const std::string id = c.id();
  const std::string path = log_path(c);
  // Docker's words (the docker CLI shows them as they are).
  if (path.empty()) throw Error(ErrorKind::invalid_argument, "configured logging driver does not support reading");
  // Made first: a record written while the old ones are read is the follower's.
  logs::Follower log(path);
  if (!log.read_existing(o, sink) || !o.follow) return;
  // Whether it still runs changes only when its shim writes a record in the state directory
  // (an exit, a restart's pid) or dies: those wake us, as the log's writes do.
  const std::string dir = container_dir(id);
  UniqueFd watch(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (watch && ::inotify_add_watch(watch.get(), dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE |
                                                                  IN_DELETE_SELF) < 0)
    watch.reset();
  UniqueFd shim_fd;
  if (pid_t shim = shim::live_shim(dir); shim > 0) shim_fd.reset(runtime::pidfd_open(shim));
  bool check = true;
  for (;;) {
    bool running = true;
    if (check) {
      try {
        Container now = lookup(id);
        running = state(now).running();
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::not_found) throw;
        running = false;  // removed meanwhile
      }
    }
    if (!log.drain(sink) || !running) return;
    pollfd p[4] = {{log.fd(), POLLIN, 0}, {watch.get(), POLLIN, 0}, {shim_fd.get(), POLLIN, 0}, {o.cancel_fd, POLLIN, 0}};
    // Without inotify or a pidfd (an old kernel), look twice a second.
    const int timeout = log.fd() >= 0 && watch && shim_fd ? -1 : 500;
    int n = ::poll(p, 4, timeout);
    if (n < 0 && errno != EINTR) throw_errno("logs: poll");
    if (o.cancel_fd >= 0 && (p[3].revents & (POLLIN | POLLHUP | POLLERR))) return;
    check = n == 0 || p[1].revents || p[2].revents;
    if (p[1].revents) {
      alignas(inotify_event) char ev[4096];
      while (::read(watch.get(), ev, sizeof ev) > 0) {
      }
    }
    if (p[2].revents) shim_fd.reset();  // gone: its exit is final; state() says the rest
  }
}

double cpu_percent(const Stats& before, const Stats& after) {
  const int64_t wall = after.taken_ns - before.taken_ns;
  if (wall <= 0 || after.cpu_ns < before.cpu_ns) return 0;
  return 100.0 * static_cast<double>(after.cpu_ns - before.cpu_ns) / static_cast<double>(wall);
}

namespace {

// Every interface but lo in /proc/PID/net/dev (the network namespace of that process).
std::vector<network::InterfaceUsage> net_interfaces(pid_t pid) {
  std::string text;
  if (!fs::read_file_if_exists("/proc/" + std::to_string(pid) + "/net/dev", text)) return {};
  return network::parse_net_dev(text);
}

}  // namespace

uint64_t Stats::raw_number(std::initializer_list<const char*> path) const {
  const json* p = &raw;
  for (const char* k : path) {
    if (!p->is_object() || !p->contains(k)) return 0;
    p = &(*p)[k];
  }
  return p->is_number_unsigned() || p->is_number_integer() ? p->get<uint64_t>() : 0;
}

Stats Engine::stats(const std::string& ref) {
  Container c = lookup(ref);
  const State s = state(c);
  if (!s.running()) throw Error(ErrorKind::not_running, "container " + c.rec.name + " is not running");
  Stats st;
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  st.taken_ns = static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  try {
    if (const RuntimeOps ops = runtime_ops(c.id()); ops.external()) {
      st.raw = ops.stats(c.id(), runtime::bundle_cgroups_path(container_dir(c.id())));
    } else {
      st.raw = ops.stats(c.id());
    }
  } catch (const Error& e) {
    log::debug("stats " + c.rec.name + ": " + e.what());
  }
  if (!st.raw.is_object()) st.raw = json::object();
  st.cpu_ns = st.raw_number({"cpu", "usage", "total"});
  st.pids = st.raw_number({"pids", "current"});
  const uint64_t usage = st.raw_number({"memory", "usage", "usage"});
  // Docker's CLI: usage less the inactive file cache (cgroup v1: total_inactive_file).
  uint64_t inactive = st.raw_number({"memory", "raw", "inactive_file"});
  if (!inactive) inactive = st.raw_number({"memory", "raw", "total_inactive_file"});
  st.mem_usage = inactive < usage ? usage - inactive : usage;
  st.mem_limit = st.raw_number({"memory", "usage", "limit"});
  if (st.mem_limit >= (uint64_t{1} << 60)) st.mem_limit = 0;  // v1's "unlimited", v2's max
  if (st.raw.contains("blkio")) {
    for (auto& e : st.raw["blkio"].value("ioServiceBytesRecursive", json::array())) {
      const uint64_t v = e.value("value", uint64_t{0});
      if (e.value("op", "") == "Read") st.blk_read += v;
      else if (e.value("op", "") == "Write") st.blk_write += v;
    }
  }
  const std::string mode = c.host_config().network_mode;
  if (s.pid > 0 && mode != "host" && mode.rfind("container:", 0) != 0) st.interfaces = net_interfaces(s.pid);
  for (const auto& i : st.interfaces) {
    st.net_rx += i.rx_bytes;
    st.net_tx += i.tx_bytes;
  }
  return st;
}

Processes Engine::top(const std::string& ref, const std::vector<std::string>& ps_args) {
  Container c = lookup(ref);
  const State s = state(c);
  if (!s.running()) throw Error(ErrorKind::not_running, "container " + c.rec.name + " is not running");
  const RuntimeOps ops = runtime_ops(c.id());
  const auto pids = ops.pids(c.id());
  auto words = [](const std::string& s, size_t max) {
    std::vector<std::string> w;
    size_t i = 0;
    while (i < s.size()) {
      i = s.find_first_not_of(' ', i);
      if (i == std::string::npos) break;
      if (w.size() + 1 == max) {  // the last column (CMD) keeps its spaces
        w.push_back(s.substr(i));
        break;
      }
      size_t j = s.find(' ', i);
      w.push_back(s.substr(i, j == std::string::npos ? std::string::npos : j - i));
      i = j;
    }
    return w;
  };
  auto table = [&](const std::string& out, const std::function<bool(const std::vector<std::string>&, size_t)>& keep) {
    Processes p;
    std::vector<std::string> lines;
    for (auto& l : split(out, '\n'))
      if (!l.empty()) lines.push_back(std::move(l));
    if (lines.empty()) return p;
    p.titles = words(lines[0], SIZE_MAX);
    const auto pid_col = std::find(p.titles.begin(), p.titles.end(), "PID");
    if (pid_col == p.titles.end()) throw Error(ErrorKind::invalid_argument, "top: ps " + join(ps_args, " ") + " shows no PID column");
    const size_t col = static_cast<size_t>(pid_col - p.titles.begin());
    for (size_t i = 1; i < lines.size(); ++i) {
      auto row = words(lines[i], p.titles.size());
      if (keep(row, col)) p.rows.push_back(std::move(row));
    }
    return p;
  };
  // A sandbox runtime (gVisor) numbers the processes in its own kernel: they are not the
  // host's, only the runtime can list them (its `ps` table; no ps options).
  if (ops.external() && std::find(pids.begin(), pids.end(), s.pid) == pids.end()) {
    if (!ps_args.empty() && ps_args != std::vector<std::string>{"-ef"})
      throw Error(ErrorKind::invalid_argument, "top: ps options are not supported for a container of runtime " +
                                                   c.host_config().runtime + " (its processes live in the sandbox's kernel)");
    Processes p = table(ops.ps_table(c.id()), [](const auto&, size_t) { return true; });
    emit(c, "top");
    return p;
  }
  // Docker's way: ps with the caller's options over the host, then the rows whose PID is one
  // of the container's (so that any selection or format option of ps works).
  // As Docker's too, the container's pids are asked for (`-q PID,…`): options that select by
  // user or terminal (`-o pid,comm` alone: the caller's own) still show its processes; ps
  // options that refuse -q run again without it.
  std::vector<std::string> argv = {"ps"};
  argv.insert(argv.end(), ps_args.begin(), ps_args.end());
  std::string out, pid_list;
  for (int pid : pids) pid_list += (pid_list.empty() ? "" : ",") + std::to_string(pid);
  std::vector<std::string> quick = argv;
  if (!pid_list.empty()) quick.insert(quick.end(), {"-q", pid_list});
  if (pid_list.empty() || run_command(quick, "", out, "ps") != 0) {
    out.clear();
    if (run_command(argv, "", out, "ps") != 0)
      throw Error(ErrorKind::invalid_argument, "top: ps " + join(ps_args, " ") + ": " + out);
  }
  Processes p = table(out, [&](const std::vector<std::string>& row, size_t col) {
    return row.size() > col && std::find(pids.begin(), pids.end(), std::atoi(row[col].c_str())) != pids.end();
  });
  emit(c, "top");  // Docker's event
  return p;
}

int Engine::wait(const std::string& ref) { return wait(ref, WaitOptions{}); }

int Engine::wait(const std::string& ref, const WaitOptions& o) {
  Container c = lookup(ref);
  const std::string id = c.id(), name = c.rec.name;
  // The events from before the check on: an exit between the check and the subscription is
  // not missed (the shim writes the exit record before it appends the die event).
  const int64_t t0 = o.since > 0 ? std::min(o.since, now_ns()) : now_ns();
  const State s = state(c);
  if (o.condition == WaitCondition::not_running && !s.running() && s.status != Status::restarting) return s.exit_code;
  int code = s.exit_code;
  bool done = false;
  EventOptions eo;
  eo.since = t0;
  eo.cancel_fd = o.cancel_fd;
  events(eo, [&](const events::Event& e) {
    if (e.type != "container" || e.id != id) return true;
    if (e.action == "die") {
      if (auto it = e.attributes.find("exitCode"); it != e.attributes.end()) code = std::atoi(it->second.c_str());
      done = o.condition != WaitCondition::removed;
    } else if (e.action == "destroy") {
      done = true;  // gone: nothing more to wait for, whatever the condition
    }
    return !done;
  });
  if (!done) throw Error(ErrorKind::unavailable, "wait for container " + name + ": cancelled");
  return code;
}

void Engine::cleanup(const std::string& id, bool rm, bool volumes, std::vector<std::string>* deferred) {
  Container c;
  try {
    c = lookup(id);
  } catch (const Error&) {
    return;  // already removed
  }
  UniqueFd lk = lock(c.id());
  c = lookup(c.id());
  State s = state_locked(c);
  if (s.running()) return;  // restarted meanwhile
  // The stop of a restart: what an exit undoes, but the container stays (its start follows).
  if (rm && fs::exists(restarting_mark(container_dir(c.id())))) rm = false;
  trace("cleanup");
  // By what is on the host, not the record: a berth killed while starting the container may
  // not have written its NetworkSettings.
  if (c.data.contains("NetworkSettings") || fs::exists(netns_path(c.id())) || !networks_.networks_of(c.id()).empty()) {
    if (rm && deferred) {
      // Left to the shim too (`container cleanup --network-only`, after we are gone): the
      // plugins' DEL takes tens of ms that a foreground --rm need not wait for. Without
      // attachments (--network none) only the namespace's mount and file are left.
      if (networks_.networks_of(c.id()).empty()) {
        // A record cut short by a kill (the endpoints' first write): none without networks.
        if (!c.endpoints().empty()) forget_network_leftovers(c.id());
        deferred->push_back("umount " + netns_path(c.id()));
        deferred->push_back("rm " + netns_path(c.id()));
      } else {
        deferred->push_back("network");
        // Its host ports are free once the shim's DEL is done: a start that wants them waits.
        networks_.mark_releasing(c.id());
      }
    } else {
      release_network(c);
      trace("network released");
      if (!rm) save(c);
    }
  }
  const std::string dir = container_dir(c.id());
  // Handed to the shim (deferred): it detaches the mount and removes the directories after we
  // are gone; the container itself is gone for every berth command once the records are.
  if (!(rm && deferred)) unmount_rootfs(c.id(), rm);
  trace("rootfs unmounted");
  // The local driver's devices this one mounted: unmounted when it was their last user.
  for (auto& vol : c.data.value("Volumes", json::array()))
    if (auto v = volumes_.get(vol.value("Name", "")); v && !v->options.empty()) {
      try {
        volumes_.release(*v, c.id());
      } catch (const std::exception& e) {
        log::warn(e.what());
      }
    }
  if (!rm) return;
  // The shim deletes the runtime's state itself; only a dead shim's is left to us.
  if (!shim_alive(dir) && runtime_state_left(c.id())) {
    try {
      delete_runtime_state(c.id());
    } catch (const std::exception& e) {
      log::warn(e.what());
    }
  }
  // The snapshot's directory goes first (unless deferred): a removal that fails (an immutable
  // file, EIO) keeps the records, so that rm can be run again — the other way round it left a
  // directory that no record named. Then both records in one transaction, then the rest.
  bool snapshot_dir_removed = false;
  if (!deferred)
    if (auto s = images_.db().get_snapshot(opts_.images.ns, c.rec.snapshot)) {
      try {
        fs::remove_all(images_.snapshots().dir(s->id));
      } catch (const Error& e) {
        throw Error("cannot remove container " + c.rec.name + " (kept, run rm again): " + e.what());
      }
      snapshot_dir_removed = true;
    }
  std::optional<metadata::Snapshot> snap;
  images_.db().transaction([&] {
    snap = images_.db().remove_snapshot(opts_.images.ns, c.rec.snapshot);
    images_.db().delete_container(opts_.images.ns, c.id());
  });
  trace("records removed");
  ::unlink(lock_path(opts_, c.id()).c_str());
  // No command finds the container now: its lock is not needed for the rest (and the volume
  // users' lock must not be taken under it: connect takes the two the other way round).
  lk.reset();
  // Anonymous volumes go with a --rm container (Docker's rule) or with rm -v — unless another
  // container still mounts one (--volumes-from, or by its name): then it stays, as Docker's.
  std::vector<std::string> anonymous, destroyed;
  if (volumes || c.host_config().auto_remove)
    for (auto& v : c.data.value("Volumes", json::array()))
      if (v.value("Anonymous", false)) anonymous.push_back(v.value("Name", ""));
  if (!anonymous.empty()) {
    UniqueFd users = lock_users(true);
    for (auto& name : anonymous) {
      if (auto others = volume_users(name); !others.empty()) {
        log::warn("volume " + name + " kept: container " + others[0] + " uses it");
        continue;
      }
      if (volumes_.remove(name)) destroyed.push_back(name);
    }
  }
  emit(c, "destroy");
  for (const auto& name : destroyed) emit("volume", "destroy", name, {{"driver", "local"}});
  std::vector<std::string> dirs = {opts_.images.root + "/containers/" + c.id(), dir};
  if (snap && !snapshot_dir_removed) dirs.insert(dirs.begin(), images_.snapshots().dir(snap->id));
  if (deferred) {
    // A shareable IPC's /dev/shm is mounted in the state directory: unmounted before its rm.
    if (fs::exists(dir + "/shm")) deferred->push_back("umount " + dir + "/shm");
    if (fs::exists(dir + "/sys")) deferred->push_back("umount " + dir + "/sys");
    deferred->push_back("umount " + dir + "/rootfs");
    for (auto& d : dirs) deferred->push_back("rm " + d);
    return;
  }
  for (auto& d : dirs) fs::remove_all(d);
  trace("removed");
}

void Engine::remove(const std::string& ref, bool force, bool volumes) {
  Container c = lookup(ref);
  UniqueFd lk = lock(c.id());
  c = lookup(c.id());
  State s = state_locked(c);
  if (s.status == Status::restarting) {
    if (!force)
      throw Error(ErrorKind::conflict, "You cannot remove a restarting container " + c.id() +
                                           ". Stop the container before attempting removal or force remove");
    // Its shim gives up the restart and ends before the container goes (else its backoff
    // ran out on a container removed under it).
    end_restarts(c, std::move(lk));
    cleanup(c.id(), true, volumes);
    return;
  }
  if (s.running()) {
    if (!force)
      throw Error(ErrorKind::conflict, "cannot remove container \"" + c.rec.name + "\": container is " + std::string(status_name(s.status)) +
                  ": stop the container before removing or force remove");
    if (!halt(c, s, SIGKILL, 0, std::move(lk))) throw Error("container " + c.rec.name + " did not stop");
  }
  lk.reset();  // cleanup takes it again
  cleanup(c.id(), true, volumes);
}

PruneResult Engine::prune_containers(const PruneFilter& f) {
  PruneResult r;
  for (auto& c : list()) {
    const State s = state(c);
    if (s.removed || s.running() || s.status == Status::restarting) continue;
    if (!f.matches(c.data["Config"].value("Labels", json::object()), c.rec.created / 1000000000)) continue;
    const int64_t size = sizes(c).rw;
    cleanup(c.id(), true);
    r.deleted.push_back(c.id());
    r.reclaimed += size;
  }
  return r;
}

PruneResult Engine::prune_volumes(const PruneFilter& f, bool all) {
  PruneResult r;
  for (auto& v : volumes_.list()) {
    if (!v.anonymous && !all) continue;
    if (!f.matches(json(v.labels), v.created)) continue;
    const int64_t size = fs::disk_usage(v.mountpoint).bytes;
    try {
      if (remove_volume(v.name, true)) {
        r.deleted.push_back(v.name);
        r.reclaimed += size;
      }
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::conflict) throw;  // in use: kept
    }
  }
  return r;
}

PruneResult Engine::prune_networks(const PruneFilter& f) {
  PruneResult r;
  for (auto& n : networks_.list()) {
    if (n.name == network::Networks::kDefault) continue;
    if (!f.matches(n.labels, n.created / 1000000000)) continue;
    if (!networks_.members(n.name).empty()) continue;  // attached: no 5 s wait in remove
    try {
      if (remove_network(n.id, true)) r.deleted.push_back(n.name);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::conflict && e.kind() != ErrorKind::permission) throw;  // in use: kept
    }
  }
  return r;
}

void Engine::rename(const std::string& ref, const std::string& new_name) {
  Container c = lookup(ref);
  const std::string name = plain_name(new_name);
  if (!valid_name(name)) throw Error(ErrorKind::invalid_argument, "invalid container name `" + name + "`");
  UniqueFd lk = lock(c.id());
  c = lookup(c.id());
  if (c.rec.name == name)
    throw Error(ErrorKind::invalid_argument, "Renaming a container with the same name as its current name");
  const std::string old = c.rec.name;
  c.rec.name = name;
  save(c);
  networks_.rename(c.id(), name);  // peers know it by its new name
  // The shim's events (die, exec_*) name it by its new name from now on.
  if (shim_alive(container_dir(c.id()))) {
    try {
      shim_request(c, "name " + name + "\n");
    } catch (const Error& e) {
      log::debug(e.what());
    }
  }
  emit(c, "rename", {{"oldName", "/" + old}});
  lk.reset();
  // A link follows the container it names (Docker's hold it by reference): the links that
  // named the old name name the new one, each record updated under its own lock.
  for (const Container& o : list()) {
    if (o.id() == c.id()) continue;
    const json links = o.data.value("HostConfig", json::object()).value("Links", json());
    if (!links.is_array() ||
        std::none_of(links.begin(), links.end(), [&](const json& l) { return l.is_string() && split_link(l.get<std::string>()).first == old; }))
      continue;
    try {
      UniqueFd olk = lock(o.id());
      Container fresh = lookup(o.id());
      json& list = fresh.data["HostConfig"]["Links"];
      for (json& l : list)
        if (l.is_string())
          if (const auto [n, alias] = split_link(l.get<std::string>()); n == old) l = name + ":" + alias;
      save(fresh);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found) throw;  // removed meanwhile
    }
  }
}

void Engine::freeze(const Container& c) {
  auto tell_shim = [&](const char* request) {
    try {
      shim_request(c, request);
    } catch (const Error&) {
      // no shim to tell (its container is ending), or one from before this request
    }
  };
  tell_shim("pause\n");
  try {
    runtime_ops(c.id()).pause(c.id());
  } catch (...) {
    tell_shim("resume\n");
    throw;
  }
}

void Engine::thaw(const Container& c) {
  runtime_ops(c.id()).resume(c.id());
  try {
    shim_request(c, "resume\n");
  } catch (const Error&) {
  }
}

void Engine::pause(const std::string& ref, bool pause) {
  Container c = lookup(ref);
  UniqueFd lk = lock(c.id());
  c = lookup(c.id());
  State s = state_locked(c);
  const std::string mark = paused_mark(container_dir(c.id()));
  if (pause) {
    if (s.status == Status::paused) throw Error(ErrorKind::conflict, "container " + c.rec.name + " is already paused");
    if (s.status != Status::running) throw Error(ErrorKind::not_running, "container " + c.rec.name + " is not running");
    // The mark first: a crash between the two leaves a mark the runtime's state overrules,
    // never a paused container shown running.
    fs::write_file_atomic(mark, "", 0600);
    try {
      freeze(c);
    } catch (...) {
      ::unlink(mark.c_str());
      throw;
    }
  } else {
    if (s.status != Status::paused) throw Error(ErrorKind::conflict, "container " + c.rec.name + " is not paused");
    thaw(c);
    ::unlink(mark.c_str());
  }
  emit(c, pause ? "pause" : "unpause");
}

std::string Engine::netns_path(const std::string& id) const {
  return opts_.state + "/" + opts_.images.ns + "/netns/" + id;
}

namespace {

// Docker's NetworkSettings.Ports: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}.
json docker_ports(const std::vector<network::PortMapping>& ports, const json& exposed) {
  json out = json::object();
  for (auto& [k, v] : exposed.items()) out[k] = nullptr;
  for (auto& p : ports) {
    std::string key = std::to_string(p.container_port) + "/" + p.protocol;
    if (!out[key].is_array()) out[key] = json::array();
    out[key].push_back({{"HostIp", p.host_ip.empty() ? "0.0.0.0" : p.host_ip}, {"HostPort", std::to_string(p.host_port)}});
  }
  return out;
}

}  // namespace

std::string Engine::primary_network(const Container& c) {
  const json settings = c.data.value("NetworkSettings", json::object());
  const json nets = settings.value("Networks", json::object());
  for (auto& [name, ep] : nets.items())
    if (ep.value("IfName", "") == "eth0") return name;
  return "";
}

void Engine::refill_spares(const Refill& r) { make_spares(r.network, r.spare_taken); }

void Engine::make_spares(const std::string& first, bool spare_taken) {
  if (first.empty() || !opts_.hooks.fill_spares) return;
  try {
    // Also when this start had to run the plugins although spares were there: they were not
    // usable (spare_usable), and the maker removes them.
    auto net = networks_.find(first);
    if (!net || net->warm == 0 || (spare_taken && net->warm <= networks_.spares_ready(first))) return;
    opts_.hooks.fill_spares(first);
    trace("spares maker started");
  } catch (const std::exception& e) {
    log::debug(e.what());
  }
}

network::Member Engine::new_member(Container& c, const json& endpoint, const std::string& ifname, bool primary) {
  const std::string pdir = opts_.images.root + "/containers/" + c.id();
  network::Member m;
  m.container_id = c.id();
  m.container_name = c.rec.name;
  const ContainerConfig config = c.config();
  m.hostname = config.hostname;
  m.domainname = config.domainname;
  m.ns = opts_.images.ns;
  EndpointConfig ec = endpoint_config(endpoint);
  m.aliases = std::move(ec.aliases);
  m.ifname = ifname;
  m.netns = netns_path(c.id());
  m.ip = ec.ipv4;
  m.mac = ec.mac;
  m.hosts_file = pdir + "/hosts";
  m.hosts_base = pdir + "/hosts.base";
  const HostConfig host = c.host_config();
  for (const auto& l : host.links) m.links.push_back(split_link(l));
  if (primary) m.ports = port_mappings(config, host);
  return m;
}

network::Member Engine::attach_one(Container& c, const network::Network& net, const json& endpoint,
                                   const std::string& ifname, bool primary) {
  network::Member m = networks_.attach(net, new_member(c, endpoint, ifname, primary));
  record_endpoint(c, net, endpoint, m, primary);
  return m;
}

void Engine::record_endpoint(Container& c, const network::Network& net, const json& endpoint,
                             const network::Member& m, bool primary) {
  const std::string& ifname = m.ifname;
  json& settings = c.data["NetworkSettings"];
  const json ipam = endpoint.is_object() ? endpoint.value("IPAMConfig", json()) : json();
  json entry = {{"IPAMConfig", ipam.is_object() && !ipam.empty() ? ipam : json(nullptr)},
                {"Links", nullptr},
                {"NetworkID", net.id},
                {"EndpointID", c.id().substr(0, 12) + "-" + net.id.substr(0, 12)},
                {"IPAddress", m.ip},
                {"IPPrefixLen", m.cidr.find('/') == std::string::npos ? 0 : std::atoi(m.cidr.c_str() + m.cidr.find('/') + 1)},
                {"Gateway", m.gateway},
                {"MacAddress", m.mac},
                {"Aliases", endpoint.value("Aliases", json::array())},
                {"IfName", ifname}};
  settings["Networks"][net.name] = entry;
  if (primary) {
    for (auto* k : {"IPAddress", "IPPrefixLen", "Gateway", "MacAddress"}) settings[k] = entry[k];
    settings["Ports"] = docker_ports(m.ports, c.data["Config"].value("ExposedPorts", json::object()));
  }
}

std::string Engine::create_sandbox(Container& c, bool& spare_taken) {
  const std::string mode = c.host_config().network_mode;
  if (mode == "host" || mode.rfind("container:", 0) == 0 || namespace_path(mode)) return "";
  // `none` too: Docker's none has its loopback up (a runtime's new namespace has it down).
  const std::string path = netns_path(c.id());
  remove_netns_quietly(path);  // a crash's leftover
  c.data["NetworkSettings"] = {{"Networks", json::object()}, {"SandboxKey", path}, {"Ports", json::object()}};
  // The first network's spare, made ahead: its namespace comes attached already.
  const json eps = c.endpoints();
  if (mode != "none" && eps.contains(mode)) {
    if (auto net = networks_.find(mode)) {
      if (auto m = networks_.take_spare(*net, new_member(c, eps[mode], "eth0", true))) {
        record_endpoint(c, *net, eps[mode], *m, true);
        spare_taken = true;
        trace("spare network namespace taken");
        return path;
      }
    }
  }
  network::create_netns(path);
  trace("network namespace created");
  return path;
}

void Engine::attach_networks(Container& c) {
  const std::string mode = c.host_config().network_mode;
  try {
    const json eps = c.endpoints();
    std::vector<std::string> order;
    if (eps.contains(mode)) order.push_back(mode);
    for (auto& [name, ep] : eps.items())
      if (name != mode) order.push_back(name);
    int i = 0;
    // Docker's `network connect` event for each network the start attaches (and `disconnect`
    // when the container's network goes: release_network).
    auto connected = [&](const network::Network& net) {
      emit("network", "connect", net.id, {{"container", c.id()}, {"name", net.name}, {"type", net.driver}});
    };
    for (auto& name : order) {
      if (c.data["NetworkSettings"]["Networks"].contains(name)) {  // a spare taken: ports to publish
        const network::Network net = networks_.get(name);
        auto m = networks_.member(name, c.id());
        if (m && m->ports_pending) networks_.publish(net, *m);
        connected(net);
        ++i;
        continue;
      }
      network::Network net = name == network::Networks::kDefault ? networks_.ensure_default() : networks_.get(name);
      attach_one(c, net, eps[name], "eth" + std::to_string(i), i == 0);
      connected(net);
      ++i;
    }
  } catch (...) {
    release_network(c);
    throw;
  }
}

void Engine::release_network(Container& c) {
  release_network(c.id());
  c.data.erase("NetworkSettings");
}

void Engine::release_network(const std::string& id) {
  // By the attachment records, not the container's: they are what the plugins need, and
  // they outlive a container record removed first (a foreground --rm).
  for (auto& name : networks_.networks_of(id)) {
    try {
      networks_.detach(name, id);
      if (auto net = networks_.find(name))
        emit("network", "disconnect", net->id, {{"container", id}, {"name", net->name}, {"type", net->driver}});
    } catch (const std::exception& e) {
      log::warn(e.what());
    }
  }
  forget_network_leftovers(id);
  remove_netns_quietly(netns_path(id));
}

void Engine::forget_network_leftovers(const std::string& id) {
  try {
    networks_.forget(id);
  } catch (const std::exception& e) {
    log::warn(e.what());
  }
}

namespace {

// A network connect or disconnect naming `host` or `none` (by name or id): Docker's refusal.
void builtin_network_refused(const std::string& ref) {
  if (auto builtin = network::builtin_network(ref)) {
    const std::string n = builtin->value("Name", "");
    throw Error(ErrorKind::invalid_argument, "container cannot be disconnected from " + n + " network or connected to " + n + " network");
  }
}

}  // namespace

void Engine::connect(const std::string& ref, const std::string& name, const json& endpoint_given) {
  Container c = lookup(ref);
  UniqueFd users = lock_users(false);  // the network stays until the record says it is used
  UniqueFd lk = lock(c.id());
  c = lookup(c.id());
  const std::string mode = c.host_config().network_mode;
  if (mode == "none" || mode == "host" || mode.rfind("container:", 0) == 0 || namespace_path(mode))
    throw Error(ErrorKind::conflict, "container " + c.rec.name + " uses --network " + mode + ": it cannot be connected to other networks");
  std::optional<network::Network> found =
      network::Networks::canonical(name) == network::Networks::kDefault ? networks_.ensure_default() : networks_.find(name);
  if (!found) {
    builtin_network_refused(name);
    throw Error(ErrorKind::not_found, "network " + name + " not found");
  }
  const network::Network net = *found;
  refuse_on_default_network(net.name, endpoint_given);
  json endpoint = endpoint_given;
  add_short_id_alias(endpoint, net.name, c.id());
  json& eps = c.data["NetworkingConfig"]["EndpointsConfig"];
  State s = state_locked(c);
  // A connect killed after its attachment was recorded (its plugins' ADD done or cut short)
  // and before the container's record was: the record names no such network, the attachment
  // does (an eth1 inspect did not show). Given back first (DEL), else this connect failed
  // with "already attached" and only a disconnect of what inspect never listed mended it.
  if (!eps.contains(net.name) && networks_.member(net.name, c.id())) networks_.detach(net.name, c.id());
  // A container that does not run takes the new endpoint settings (aliases, address) for its
  // next start, as Docker's does (compose connects the networks it created the container with).
  if (eps.contains(net.name) && s.running())
    throw Error(ErrorKind::conflict, "container " + c.rec.name + " is already connected to network " + net.name);
  // Checked before anything is made or recorded: a stopped container must not keep an
  // endpoint it could never start with.
  if (const EndpointConfig ec = endpoint_config(endpoint); !ec.ipv4.empty()) network::Networks::check_static_ip(net, ec.ipv4);
  if (s.running() && c.data.contains("NetworkSettings")) {
    std::set<std::string> used;
    const json attached = c.data["NetworkSettings"].value("Networks", json::object());
    for (auto& [n, e] : attached.items()) used.insert(e.value("IfName", ""));
    int i = 0;
    while (used.count("eth" + std::to_string(i))) ++i;
    attach_one(c, net, endpoint, "eth" + std::to_string(i), false);
  }
  const bool had_dns = s.running() && embedded_dns(c);
  eps[net.name] = endpoint;
  save(c);
  // Its first user network: the shim serves 127.0.0.11 from now on, and resolv.conf says so
  // (Docker switches a default-network container over; DNS-only lookups — nslookup, a
  // resolver directive — failed before).
  if (s.running() && !had_dns)
    if (auto d = dns_orders(c, netns_path(c.id()), opts_.images.root + "/containers/" + c.id() + "/hosts")) {
      const json j = {{"netns", d->netns}, {"hosts", d->hosts_file}, {"servers", d->servers}};
      try {
        if (const std::string r = shim_request(c, "dns " + j.dump() + "\n"); r.rfind("ok", 0) == 0) sync_resolv_conf(c, true, true);
        else log::warn("container " + c.rec.name + ": its DNS server did not start: " + r);
      } catch (const std::exception& e) {
        log::warn("container " + c.rec.name + ": its DNS server did not start: " + e.what());
      }
    }
  emit("network", "connect", net.id, {{"container", c.id()}, {"name", net.name}, {"type", net.driver}});
}

void Engine::disconnect(const std::string& ref, const std::string& name, bool force) {
  Container c = lookup(ref);
  UniqueFd lk = lock(c.id());
  c = lookup(c.id());
  auto net = networks_.find(name);
  if (!net) builtin_network_refused(name);
  const std::string net_name = net ? net->name : name;
  json& eps = c.data["NetworkingConfig"]["EndpointsConfig"];
  bool attached = networks_.member(net_name, c.id()).has_value();
  if (!eps.contains(net_name) && !attached) {
    if (!net && !force) throw Error(ErrorKind::not_found, "network " + name + " not found");
    throw Error(ErrorKind::conflict, "container " + c.rec.name + " is not connected to network " + net_name);
  }
  if (attached) networks_.detach(net_name, c.id());
  eps.erase(net_name);
  if (c.data.contains("NetworkSettings")) {
    c.data["NetworkSettings"]["Networks"].erase(net_name);
    if (c.host_config().network_mode == net_name) {
      for (auto* k : {"IPAddress", "Gateway", "MacAddress"}) c.data["NetworkSettings"][k] = "";
      c.data["NetworkSettings"]["Ports"] = json::object();
    }
  }
  save(c);
  emit("network", "disconnect", net ? net->id : net_name,
       {{"container", c.id()}, {"name", net_name}, {"type", net ? net->driver : "bridge"}});
}

std::vector<std::string> Engine::network_users(const std::string& name) {
  std::vector<std::string> users;
  for (auto& c : list()) {
    if (c.endpoints().contains(name)) users.push_back(c.rec.name);
  }
  return users;
}

void Engine::with_rootfs(const Container& c, const std::function<void(const std::string&)>& f, bool with_mounts) {
  // f over a view of the container that `make` mounts at a directory of its own, unmounted
  // (with everything mounted inside it) and removed after, whatever happens.
  auto in_view = [&](const std::function<void(const std::string&)>& make) {
    detach_views(c.id());  // a killed copy's (we hold the lock: no live one's)
    const std::string view = container_dir(c.id()) + "/tmp-" + std::to_string(::getpid());
    fs::mkdir_p(view, 0700);
    auto undo = [&] {
      ::umount2(view.c_str(), MNT_DETACH);
      ::rmdir(view.c_str());
    };
    try {
      make(view);
      f(view);
    } catch (...) {
      undo();
      throw;
    }
    undo();
  };
  Container cc = c;
  State s = state_locked(cc);
  if (s.running()) {
    // The container's own view — its volumes and bind mounts over its root, as docker cp
    // sees them — is its init's root: paths opened beneath /proc/PID/root cross the mounts
    // of the container's mount namespace. Without them, the root filesystem alone.
    if (with_mounts && s.pid > 0) {
      // The pid read from the run record is pinned (its /proc directory, which stops working
      // if that process ends) and checked to be the shim's child before its root is used: a
      // reused pid must never hand over another process's root (the host's).
      UniqueFd proc(::open(("/proc/" + std::to_string(s.pid)).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      UniqueFd stat_fd(proc ? ::openat(proc.get(), "stat", O_RDONLY | O_CLOEXEC) : -1);
      std::string stat;
      char buf[1024];
      ssize_t n = stat_fd ? ::read(stat_fd.get(), buf, sizeof buf - 1) : -1;
      if (n > 0) stat.assign(buf, static_cast<size_t>(n));
      const size_t paren = stat.rfind(')');
      pid_t ppid = 0;
      if (paren != std::string::npos) std::sscanf(stat.c_str() + paren + 1, " %*c %d", &ppid);
      UniqueFd root(proc && ppid > 0 && ppid == shim::live_shim(container_dir(c.id()))
                        ? ::openat(proc.get(), "root", O_PATH | O_DIRECTORY | O_CLOEXEC)
                        : -1);
      // A sandbox runtime's process (gVisor's) is not in the container's root: its own root is
      // not the container's root filesystem, which then is all there is to see.
      struct stat in {}, mine {};
      if (root && (::fstat(root.get(), &in) < 0 || ::stat((container_dir(c.id()) + "/rootfs").c_str(), &mine) < 0 ||
                   in.st_dev != mine.st_dev || in.st_ino != mine.st_ino))
        root.reset();
      if (root) {
        f("/proc/self/fd/" + std::to_string(root.get()));
        return;
      }
      // A sandbox runtime's (gVisor's): a clone of its live root filesystem's mount, with the
      // volumes and binds over it as for a stopped container (the live mount is left as is).
      in_view([&](const std::string& view) {
        UniqueFd at(::open(view.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!at) throw_errno("open `" + view + "`");
        fs::bind_tree_at(container_dir(c.id()) + "/rootfs", at.get(), false, "cp: the root filesystem");
        mount_volumes_at(c, view);
      });
      return;
    }
    f(container_dir(c.id()) + "/rootfs");
    return;
  }
  // Not running: a private mount of its layers for the time of the operation, and with them
  // its volumes and binds (docker cp reaches a stopped container's volumes too: without them
  // a copy into one went under its mount point, where the container never sees it).
  in_view([&](const std::string& view) {
    snapshot::mount_all(images_.snapshots().mounts(c.rec.snapshot), view, snapshot::MountUse::host_view);
    if (with_mounts) mount_volumes_at(c, view);
  });
}

void Engine::mount_volumes_at(const Container& c, const std::string& root) {
  struct Mount {
    std::string destination, source;
    bool read_only;
  };
  std::vector<Mount> mounts;
  for (auto& vol : c.data.value("Volumes", json::array())) {
    const auto v = volumes_.get(vol.value("Name", ""));
    if (!v) continue;
    const Bind as_bind = volume_bind(vol);
    mounts.push_back({fs::clean_path(as_bind.destination), v->mountpoint, as_bind.read_only()});
  }
  for (const Bind& b : binds_of(c.host_config()))
    if (b.host_path()) mounts.push_back({b.destination, b.source, b.read_only()});
  // Parents before what is mounted inside them.
  std::stable_sort(mounts.begin(), mounts.end(), [](const Mount& a, const Mount& b) {
    return std::count(a.destination.begin(), a.destination.end(), '/') < std::count(b.destination.begin(), b.destination.end(), '/');
  });
  UniqueFd rootfd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!rootfd) throw_errno("open `" + root + "`");
  for (const Mount& m : mounts) {
    if (m.destination.empty() || m.destination == "/") continue;
    struct stat st {};
    if (::stat(m.source.c_str(), &st) < 0) continue;  // a bind's source gone: nothing to show there
    // The mount point, resolved inside the root (a symlink the container made cannot send the
    // mount onto the host), made if missing as the runtime would have.
    UniqueFd target;
    if (S_ISDIR(st.st_mode)) {
      target = fs::mkdir_in_root(rootfd.get(), m.destination);
    } else {
      const std::string parent = m.destination.substr(0, m.destination.rfind('/'));
      UniqueFd dir = parent.empty() ? UniqueFd(::dup(rootfd.get())) : fs::mkdir_in_root(rootfd.get(), parent);
      const std::string name = m.destination.substr(m.destination.rfind('/') + 1);
      if (dir) {
        // Made without opening it (a FIFO the container left there would block an open for
        // good, with the container's lock held), then taken only if it is a regular file.
        ::mknodat(dir.get(), name.c_str(), S_IFREG | 0644, 0);
        target = fs::open_in_root(rootfd.get(), m.destination, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat ts {};
        if (target && (::fstat(target.get(), &ts) < 0 || !S_ISREG(ts.st_mode)))
          throw Error(ErrorKind::conflict, "cp: the mount point " + m.destination + " in container " + c.rec.name + " is not a regular file");
      }
    }
    if (!target) throw_errno("cp: the mount point " + m.destination + " in container " + c.rec.name);
    fs::bind_tree_at(m.source, target.get(), m.read_only, "cp: mount " + m.destination);
  }
}

void Engine::export_rootfs(const std::string& ref, int out_fd) {
  Container c = lookup(ref);
  UniqueFd lk = lock(c.id());
  // A running userns-remap container's root is its idmapped view: the host's ids of its range
  // there; the tar has the container's own (as a stopped one's private mount of its layers
  // shows them, and as Docker's export writes them).
  diff::IdShift unshift;
  if (const UsernsRemap remap = remap_of(c); remap.on() && state_locked(c).running())
    unshift = {remap.uid, remap.gid, remap.size};
  with_rootfs(c, [&](const std::string& merged) {
    UniqueFd dir(::open(merged.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) throw_errno("open `" + merged + "`");
    diff::create_layer(dir.get(), [&](const void* p, size_t n) {
      fs::write_fd(out_fd, std::string_view(static_cast<const char*>(p), n), "export output");
    }, diff::Compression::none, {}, unshift);
  });
  emit(c, "export");
}

namespace {

// Docker's rule for what is copied into a container started with --read-only: only into a
// volume or bind that is writable (or a running one's tmpfs) — a directory on a mount of its
// own, not read-only. Without it, a stopped container's private view of its layers took the
// files the container could never have written.
void check_copy_target(bool readonly_rootfs, int root, int dir) {
  auto mount_id = [](int fd) -> uint64_t {
    struct statx sx {};
    if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) < 0 || !(sx.stx_mask & STATX_MNT_ID))
      throw_errno("cp: statx");
    return sx.stx_mnt_id;
  };
  const bool own_mount = mount_id(root) != mount_id(dir);
  if (!own_mount) {
    if (readonly_rootfs) throw Error(ErrorKind::conflict, "cp: container rootfs is marked read-only");
    return;
  }
  struct statvfs vfs {};
  if (::fstatvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
    throw Error(ErrorKind::conflict, "cp: mounted volume is marked read-only");
}

std::string base_name(const std::string& p) {
  std::string c = fs::clean_path(p);
  auto slash = c.rfind('/');
  return slash == std::string::npos ? c : c.substr(slash + 1);
}

// Copies the file or directory `src` (an fd opened O_PATH) into directory `dst_dir` as `name`.
// `o.owner`: every copied entry's (Docker's cp without -a), else the source's; `o.to_host`:
// out of a container onto the host (see snapshot::CopyOptions).
void copy_node(int src, int dst_dir, const std::string& name, const snapshot::CopyOptions& o) {
  const snapshot::Owner* owner = o.owner;
  struct stat st {};
  if (::fstat(src, &st) < 0) throw_errno("cp: stat");
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
    throw Error(ErrorKind::invalid_argument, "cp: invalid name `" + name + "`");
  if (o.to_host) {
    // A running container's /proc, /sys…: the kernel's, read with our privileges — not its files.
    if (fs::on_kernel_fs(src))
      throw Error(ErrorKind::invalid_argument, "cp: `" + name + "` is on a kernel filesystem of the container (proc, sysfs, …): not copied");
    // What is replaced on the host is a file, a link or (merged into) a directory: never a
    // device, FIFO or socket (`cp c:/f /dev/null` removed the host's null device).
    struct stat d {};
    if (::fstatat(dst_dir, name.c_str(), &d, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(d.st_mode) && !S_ISDIR(d.st_mode) &&
        !S_ISLNK(d.st_mode))
      throw Error(ErrorKind::invalid_argument, "cp: `" + fs::fd_target(dst_dir) + "/" + name +
                                                   "` exists and is not a regular file, directory or symlink: not replaced");
  }
  if (S_ISDIR(st.st_mode)) {
    const bool made = ::mkdirat(dst_dir, name.c_str(), 0700) == 0;
    if (!made && errno != EEXIST) throw_errno("cp: mkdir `" + name + "`");
    UniqueFd to(::openat(dst_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!to) throw_errno("cp: open `" + name + "`");
    UniqueFd from(::openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!from) throw_errno("cp: open source directory");
    try {
      snapshot::copy_tree(from.get(), to.get(), o);
    } catch (const Error& e) {
      // A copy that failed half-way (a tree too deep, a full disk) leaves no part of itself.
      to.reset();
      if (made) fs::remove_all(fs::fd_path(dst_dir) + "/" + name);
      throw Error("cp: " + std::string(e.what()), e.code());
    }
    return;  // copy_tree gave `to` its owner, mode and times
  }
  if (S_ISLNK(st.st_mode)) {
    // The link itself (Docker's cp without -L): its target is a string, nothing is read
    // through it.
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t n = ::readlinkat(src, "", target.data(), target.size());
    if (n < 0) throw_errno("cp: read link `" + name + "`");
    target.resize(static_cast<size_t>(n));
    if (::unlinkat(dst_dir, name.c_str(), 0) < 0 && errno != ENOENT) throw_errno("cp: replace `" + name + "`");
    if (::symlinkat(target.c_str(), dst_dir, name.c_str()) < 0) throw_errno("cp: create link `" + name + "`");
    ::fchownat(dst_dir, name.c_str(), owner ? owner->uid : o.unshift.uid_of(st.st_uid), owner ? owner->gid : o.unshift.gid_of(st.st_gid),
               AT_SYMLINK_NOFOLLOW);
    struct timespec t[2] = {st.st_atim, st.st_mtim};
    ::utimensat(dst_dir, name.c_str(), t, AT_SYMLINK_NOFOLLOW);
    return;
  }
  if (!S_ISREG(st.st_mode)) throw Error(ErrorKind::invalid_argument, "cp: `" + name + "` is not a regular file, directory or symlink");
  UniqueFd from(::openat(src, ".", O_RDONLY | O_CLOEXEC));
  if (!from) from.reset(::open(fs::fd_path(src).c_str(), O_RDONLY | O_CLOEXEC));
  if (!from) throw_errno("cp: open source");
  // O_NOFOLLOW: a symlink planted at the target is not written through.
  ::unlinkat(dst_dir, name.c_str(), 0);
  UniqueFd to(::openat(dst_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       st.st_mode & 07777));
  if (!to) throw_errno("cp: create `" + name + "`");
  std::vector<char> buf(1 << 16);  // not on the stack: a daemon's threads may have small ones
  for (;;) {
    size_t n = fs::read_fd(from.get(), buf.data(), buf.size(), "cp source");
    if (n == 0) break;
    fs::write_fd(to.get(), std::string_view(buf.data(), n), "cp target");
  }
  ::fchown(to.get(), owner ? owner->uid : o.unshift.uid_of(st.st_uid), owner ? owner->gid : o.unshift.gid_of(st.st_gid));
  ::fchmod(to.get(), st.st_mode & 07777 & ~(o.to_host && !o.keep_setid ? (S_ISUID | S_ISGID) : 0));
  struct timespec t[2] = {st.st_atim, st.st_mtim};  // cp -a's times, as Docker's tar keeps them
  ::futimens(to.get(), t);
}


// Docker's cp rule: a source directory written `DIR/.` copied into an existing directory gives
// its contents, not itself. True when it did.
bool copy_contents(int src, int dst_dir, const std::string& src_path, const snapshot::CopyOptions& o) {
  const bool dot = src_path == "." || (src_path.size() >= 2 && src_path.compare(src_path.size() - 2, 2, "/.") == 0);
  struct stat st {};
  if (!dot || ::fstat(src, &st) < 0 || !S_ISDIR(st.st_mode)) return false;
  if (o.to_host && fs::on_kernel_fs(src))
    throw Error(ErrorKind::invalid_argument, "cp: `" + src_path + "` is on a kernel filesystem of the container (proc, sysfs, …): not copied");
  UniqueFd from(::openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!from) throw_errno("cp: open source directory");
  try {
    snapshot::copy_tree(from.get(), dst_dir, o);
  } catch (const Error& e) {
    throw Error("cp: " + std::string(e.what()), e.code());
  }
  return true;
}

// Docker's cp rule: a destination written as a directory (a trailing `/`) that is not one
// cannot take a file — neither a new name nor an existing file is written (a directory source
// is made there).
void must_be_directory(int src_fd, const std::string& dst) {
  struct stat st {};
  if (dst.empty() || dst.back() != '/' || (::fstat(src_fd, &st) == 0 && S_ISDIR(st.st_mode))) return;
  throw Error(ErrorKind::invalid_argument, "cp: " + dst + ": no such directory");
}

}  // namespace

void Engine::copy(const std::string& ref, const std::string& src, const std::string& dst, bool from_container,
                  bool follow_link, bool archive) {
  const int nofollow = follow_link ? 0 : O_NOFOLLOW;
  // Docker: without -a, what is copied belongs to the container's root user (into it) or to
  // the caller (out of it); with -a, to the source's owners. A rootless caller is the
  // container's root already.
  std::optional<snapshot::Owner> own;
  if (!archive) {
    if (from_container) own = snapshot::Owner{::geteuid(), ::getegid()};
    else if (::geteuid() == 0) own = snapshot::Owner{0, 0};
  }
  snapshot::CopyOptions copts;
  copts.owner = own ? &*own : nullptr;
  // Out of the container: no device nodes made on the host, setuid/setgid bits only with -a,
  // the kernel's filesystems (a running container's /proc, /sys) left out.
  copts.to_host = from_container;
  copts.keep_setid = archive;
  Container c = lookup(ref);
  UniqueFd lk = lock(c.id());
  const UsernsRemap remap = remap_of(c);
  const bool readonly_rootfs = c.host_config().readonly_rootfs;
  with_rootfs(c, [&](const std::string& rootfs) {
    UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_errno("open rootfs");
    // A running container with userns-remap is seen (/proc/PID/root) with the host's ids: its
    // root is the remapped range's first id. (A stopped one's view has its own ids.)
    if (remap.on() && !from_container && rootfs.rfind("/proc/", 0) == 0) {
      if (archive)
        throw Error(ErrorKind::invalid_argument, "cp -a into a running container with userns-remap is not supported (without -a, or into the container stopped)");
      own = snapshot::Owner{remap.uid, remap.gid};
      copts.owner = &*own;
    }
    // Out of it with -a: the container's own ids, as a stopped one's (and Docker's cp) give.
    if (remap.on() && from_container && rootfs.rfind("/proc/", 0) == 0) copts.unshift = {remap.uid, remap.gid, remap.size};
    if (from_container) {
      UniqueFd s = fs::open_in_root(root.get(), src, O_PATH | O_CLOEXEC | nofollow);
      if (!s) throw_errno("cp: " + c.rec.name + ":" + src);
      // DST: an existing directory receives SRC's name; otherwise DST is the new name.
      UniqueFd d(::open(dst.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!d) must_be_directory(s.get(), dst);
      if (d && copy_contents(s.get(), d.get(), src, copts)) return;
      if (d) {
        copy_node(s.get(), d.get(), base_name(src) == "" ? "rootfs" : base_name(src), copts);
      } else {
        std::string parent = fs::clean_path(fs::absolute(dst));
        parent = parent.substr(0, parent.rfind('/'));
        UniqueFd pd(::open(parent.empty() ? "/" : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!pd) throw_errno("cp: " + parent);
        copy_node(s.get(), pd.get(), base_name(dst), copts);
      }
      return;
    }
    UniqueFd s(::open(src.c_str(), O_PATH | O_CLOEXEC | nofollow));
    if (!s) throw_errno("cp: " + src);
    UniqueFd d = fs::open_in_root(root.get(), dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d) check_copy_target(readonly_rootfs, root.get(), d.get());
    if (d && copy_contents(s.get(), d.get(), src, copts)) return;
    if (d) {
      copy_node(s.get(), d.get(), base_name(src), copts);
      return;
    }
    must_be_directory(s.get(), c.rec.name + ":" + dst);
    std::string clean = fs::clean_path("/" + dst);
    std::string parent = clean.substr(0, clean.rfind('/'));
    UniqueFd pd = fs::open_in_root(root.get(), parent.empty() ? "/" : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!pd) throw_errno("cp: " + c.rec.name + ":" + parent);
    check_copy_target(readonly_rootfs, root.get(), pd.get());
    copy_node(s.get(), pd.get(), base_name(clean), copts);
  }, true);
  emit(c, from_container ? "archive-path" : "extract-to-dir");
}

namespace {

// `path` of a container whose root is mounted at `rootfs`: its parent directory opened
// inside the root (symlinks resolved there, never outside; an empty fd when it is not
// there: errno says why), its last name ("." for the root) and the cleaned path.
struct InRoot {
  UniqueFd parent;
  std::string name, path;
};
// `DIR/.` (or "."): the directory's contents, Docker's form.
bool dir_contents(const std::string& path) { return path == "." || path.ends_with("/."); }

InRoot in_root(const std::string& rootfs, const std::string& path);

// For `DIR/.` and `PATH/` (PATH a directory, or a link to one: followed inside the root), the
// directory opened; nothing for other paths and the root itself. A `PATH/` that is no
// directory: ENOTDIR.
std::optional<UniqueFd> through_dir(const std::string& rootfs, const std::string& path, const InRoot& at,
                                    const std::string& container) {
  const bool slash = path.size() > 1 && path.back() == '/';
  if (at.path == "/" || (!dir_contents(path) && !slash)) return std::nullopt;
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw_errno("open rootfs");
  UniqueFd d = fs::open_in_root(root.get(), at.path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (!d) throw Error(ErrorKind::not_found, "Could not find the file " + path + " in container " + container);
  return d;
}

InRoot in_root(const std::string& rootfs, const std::string& path) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw_errno("open rootfs");
  InRoot r;
  r.path = fs::clean_path("/" + path);
  const std::string parent = r.path == "/" ? "/" : r.path.substr(0, r.path.rfind('/'));
  r.name = r.path == "/" ? "." : r.path.substr(r.path.rfind('/') + 1);
  r.parent = fs::open_in_root(root.get(), parent.empty() ? "/" : parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
  return r;
}

}  // namespace

void Engine::copy_out_tar(const std::string& ref, const std::string& src, int out_fd, bool follow_link) {
  if (follow_link) throw Error(ErrorKind::invalid_argument, "cp: -L with a tar stream (-) is not supported yet");
  Container c = lookup(ref);
  UniqueFd lk = lock(c.id());
  const UsernsRemap remap = remap_of(c);
  with_rootfs(c, [&](const std::string& rootfs) {
    // A running userns-remap container's view has the host's ids of its range: the tar has its own.
    diff::IdShift unshift;
    if (remap.on() && rootfs.rfind("/proc/", 0) == 0) unshift = {remap.uid, remap.gid, remap.size};
    const InRoot at = in_root(rootfs, src);
    if (!at.parent) throw_errno("cp: " + c.rec.name + ":" + (at.path == "/" ? "/" : at.path.substr(0, at.path.rfind('/'))));
    // Docker's forms: `DIR/.` is the directory's contents ("./…"), `LINK/` the directory a
    // link leads to (resolved inside the root) under the link's name.
    if (const auto d = through_dir(rootfs, src, at, c.rec.name)) {
      if (fs::on_kernel_fs(d->get()))
        throw Error(ErrorKind::invalid_argument, "cp: " + c.rec.name + ":" + src + " is on a kernel filesystem of the container (proc, sysfs, …): not copied");
      diff::create_tar(d->get(), ".", [&](const void* p, size_t n) {
        fs::write_fd(out_fd, std::string_view(static_cast<const char*>(p), n), "cp output");
      }, unshift, dir_contents(src) ? "" : at.name);
      return;
    }
    struct stat st;
    if (::fstatat(at.parent.get(), at.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) throw_errno("cp: " + c.rec.name + ":" + src);
    UniqueFd entry(::openat(at.parent.get(), at.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (entry && fs::on_kernel_fs(entry.get()))
      throw Error(ErrorKind::invalid_argument, "cp: " + c.rec.name + ":" + src + " is on a kernel filesystem of the container (proc, sysfs, …): not copied");
    diff::create_tar(at.parent.get(), at.name, [&](const void* p, size_t n) {
      fs::write_fd(out_fd, std::string_view(static_cast<const char*>(p), n), "cp output");
    }, unshift);
  }, true);
  emit(c, "archive-path");
}

Engine::PathStat Engine::stat_path(const std::string& ref, const std::string& path) {
  Container c = lookup(ref);
  UniqueFd lk = lock(c.id());
  PathStat out;
  with_rootfs(c, [&](const std::string& rootfs) {
    const InRoot at = in_root(rootfs, path);
    struct stat st {};
    if (std::optional<UniqueFd> d; at.parent && (d = through_dir(rootfs, path, at, c.rec.name))) {
      if (::fstat(d->get(), &st) < 0) throw_errno("cp: stat " + path);
      out.name = dir_contents(path) ? "." : at.name;
      out.size = st.st_size;
      out.mode = st.st_mode;
      out.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      return;
    }
    // A path written as a directory ("f/") names no file (lstat's ENOTDIR): the docker CLI
    // then refuses to copy a file there ("no such directory") rather than overwrite f.
    if (!at.parent || ::fstatat(at.parent.get(), at.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        (path.size() > 1 && path.back() == '/' && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)))
      throw Error(ErrorKind::not_found, "Could not find the file " + path + " in container " + c.rec.name);
    out.name = at.path == "/" ? "/" : at.name;
    out.size = st.st_size;
    out.mode = st.st_mode;
    out.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      const ssize_t n = ::readlinkat(at.parent.get(), at.name.c_str(), buf, sizeof buf);
      if (n > 0) out.link_target.assign(buf, static_cast<size_t>(n));
    }
  }, true);
  return out;
}

void Engine::copy_in_tar(const std::string& ref, int in_fd, const std::string& dst) {
  Container c = lookup(ref);
  UniqueFd lk = lock(c.id());
  with_rootfs(c, [&](const std::string& rootfs) {
    UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_errno("open rootfs");
    UniqueFd d = fs::open_in_root(root.get(), fs::clean_path("/" + dst), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!d && errno == ENOENT) throw Error(ErrorKind::not_found, "Could not find the file " + dst + " in container " + c.rec.name);
    if (!d) throw_errno("cp: " + c.rec.name + ":" + dst + ": the destination must be an existing directory");
    check_copy_target(c.host_config().readonly_rootfs, root.get(), d.get());
    // A tar, or a gzip- or zstd-compressed one (the API takes those; the CLI sends plain tar).
    // A few KiB of gzip can carry gigabytes of zeros: what would not fit on the container's
    // filesystem is refused as it inflates, before it fills the disk.
    diff::ApplyOptions ao;
    ao.rootless = ::geteuid() != 0;
    ao.whiteouts = false;  // a file named .wh.x is a file (Docker's cp), never a deletion
    ao.keep_root = true;         // DST keeps its own mode and owner (Docker's untar)
    ao.absolute_inside = true;   // `/f` lands at DST/f
    // A running container with userns-remap is seen with the host's ids: the tar's (the
    // container's) are shifted into the remapped range.
    if (const UsernsRemap remap = remap_of(c); remap.on() && rootfs.rfind("/proc/", 0) == 0) {
      ao.shift_uid = remap.uid;
      ao.shift_gid = remap.gid;
      ao.shift_size = remap.size;
    }
    try {
      diff::apply_stream(in_fd, d.get(), ao, true, "cp input");
    } catch (const Error& e) {
      throw Error(ErrorKind::invalid_argument, std::string("cp: ") + e.what());
    }
  }, true);
  emit(c, "extract-to-dir");  // Docker's events for a copy into a container and out of it
}

image::Image Engine::commit(const std::string& ref, const std::string& image_ref, const std::string& comment,
                            const std::string& author, bool pause, const std::vector<std::string>& changes,
                            const json& user_config) {
  Container c = lookup(ref);
  UniqueFd lk = lock(c.id());  // not started, stopped or removed meanwhile
  c = lookup(c.id());
  const bool own = !user_config.is_null();
  json config = own ? user_config : c.data["Config"];
  if (own && !config.is_object()) throw Error(ErrorKind::invalid_argument, "commit: the config must be a JSON object");
  for (auto& change : changes) {
    try {
      apply_instruction(config, change);
    } catch (const Error& e) {
      throw Error(ErrorKind::invalid_argument, std::string("commit --change: ") + e.what());
    }
  }
  if (own) config = merge_commit_config(std::move(config), c.data["Config"]);
  State s = state_locked(c);
  const bool paused_here = pause && s.status == Status::running;
  const std::string mark = commit_pause_mark(container_dir(c.id()));
  if (paused_here) {
    fs::write_file_atomic(mark, "", 0600);  // first: a commit killed after the freeze is seen
    try {
      freeze(c);
    } catch (...) {
      ::unlink(mark.c_str());
      throw;
    }
  }
  auto thaw_here = [&] {
    if (!paused_here) return;
    thaw(c);
    ::unlink(mark.c_str());
  };
  try {
    image::Image base = images_.resolve(c.data.value("ImageID", ""));
    // The history's "created by": the container's Cmd, as Docker's commit writes it.
    std::string created_by;
    for (const auto& arg : c.data["Config"].value("Cmd", json::array()))
      if (arg.is_string()) created_by += (created_by.empty() ? "" : " ") + arg.get<std::string>();
    auto img = images_.commit(base, images_.snapshots().fs_dir(c.rec.snapshot), image_ref, config, comment, author,
                              kInitLayerPaths, created_by);
    thaw_here();
    // Docker's container event, with what it names.
    std::map<std::string, std::string> extra = {{"comment", comment}, {"imageID", img.id.str()}};
    if (!image_ref.empty()) extra["imageRef"] = image_ref;
    emit(c, "commit", std::move(extra));
    return img;
  } catch (...) {
    thaw_here();
    throw;
  }
}

json Engine::mounts(const Container& c) {
  json mounts = json::array();
  for (const Bind& b : shown_binds(c.data.value("HostConfig", json::object()))) {
    if (!b.host_path()) continue;  // a named volume: below, from the record's Volumes
    mounts.push_back({{"Type", "bind"},
                      {"Source", b.source},
                      {"Destination", b.destination},
                      {"Mode", b.options_text()},
                      {"RW", !b.read_only()},
                      {"Propagation", b.propagation()}});
  }
  for (auto& v : c.data.value("Volumes", json::array())) {
    auto vol = volumes_.get(v.value("Name", ""));
    const std::string opts = v.value("Options", "");
    const Bind as_bind = volume_bind(v);
    mounts.push_back({{"Type", "volume"},
                      {"Name", v.value("Name", "")},
                      {"Source", vol ? vol->mountpoint : ""},
                      {"Destination", v.value("Destination", "")},
                      {"Driver", "local"},
                      {"Mode", opts},
                      {"RW", !as_bind.read_only()},
                      {"Propagation", ""}});
  }
  // --mount type=tmpfs (Docker lists those, not --tmpfs's).
  for (const auto& m : c.data.value("HostConfig", json::object()).value("Mounts", json::array()))
    if (m.is_object() && m.value("Type", "") == "tmpfs")
      mounts.push_back({{"Type", "tmpfs"},
                        {"Source", ""},
                        {"Destination", m.value("Target", m.value("Destination", ""))},
                        {"Mode", ""},
                        {"RW", !m.value("ReadOnly", false)},
                        {"Propagation", ""}});
  return mounts;
}

json Engine::inspect(Container& c) {
  State s = state(c);
  if (s.removed) throw Error(ErrorKind::not_found, "No such container: " + c.rec.name);
  const json& config = c.data["Config"];
  std::vector<std::string> args = command_line(config);
  std::string path = args.empty() ? "" : args.front();
  if (!args.empty()) args.erase(args.begin());
  const std::string pdir = opts_.images.root + "/containers/" + c.id();
  const json mounts = this->mounts(c);
  json network_settings = c.data.value("NetworkSettings", json::object());
  if (!network_settings.contains("Networks")) network_settings["Networks"] = json::object();
  if (!network_settings.contains("Ports")) network_settings["Ports"] = json::object();
  // The networks it is configured for and not attached to now (created, stopped, connected
  // while stopped), as Docker's lists them: their settings, empty addresses.
  const json configured = c.endpoints();
  for (const auto& [name, ep] : configured.items()) {
    if (network_settings["Networks"].contains(name)) continue;
    const auto net = networks_.find(name);
    network_settings["Networks"][name] = {
        {"IPAMConfig", ep.is_object() && ep.contains("IPAMConfig") ? ep["IPAMConfig"] : json(nullptr)},
        {"Links", nullptr},
        {"Aliases", ep.is_object() && ep.contains("Aliases") ? ep["Aliases"] : json(nullptr)},
        {"NetworkID", net ? net->id : ""},
        {"EndpointID", ""},
        {"Gateway", ""},
        {"IPAddress", ""},
        {"IPPrefixLen", 0},
        {"IPv6Gateway", ""},
        {"GlobalIPv6Address", ""},
        {"GlobalIPv6PrefixLen", 0},
        {"MacAddress", ""},
        {"DriverOpts", nullptr}};
  }
  // Docker's legacy fields, there (empty) whatever the network: `{{.NetworkSettings.IPAddress}}`
  // is a staple of scripts, and a template fails on a field the document lacks.
  for (const char* k : {"Bridge", "SandboxID", "SandboxKey", "LinkLocalIPv6Address", "EndpointID", "Gateway",
                        "GlobalIPv6Address", "IPAddress", "IPv6Gateway", "MacAddress"})
    if (!network_settings.contains(k)) network_settings[k] = "";
  for (const char* k : {"LinkLocalIPv6PrefixLen", "GlobalIPv6PrefixLen", "IPPrefixLen"})
    if (!network_settings.contains(k)) network_settings[k] = 0;
  if (!network_settings.contains("HairpinMode")) network_settings["HairpinMode"] = false;
  for (const char* k : {"SecondaryIPAddresses", "SecondaryIPv6Addresses"})
    if (!network_settings.contains(k)) network_settings[k] = nullptr;
  json out = {{"Id", c.id()},
          {"Created", rfc3339(c.rec.created)},
          {"Path", path},
          {"Args", args},
          {"State",
           {{"Status", status_name(s.status)},
            {"Running", s.running() || s.status == Status::restarting},  // Docker's: running while restarting
            {"Paused", s.status == Status::paused},
            {"Restarting", s.status == Status::restarting},
            {"OOMKilled", s.oom_killed},
            {"Dead", false},
            {"Pid", s.running() ? s.pid : 0},
            {"ExitCode", s.exit_code},
            {"Error", s.error},
            {"StartedAt", rfc3339(s.started)},
            {"FinishedAt", rfc3339(s.finished)}}},
          {"Image", c.data.value("ImageID", "")},
          {"ResolvConfPath", pdir + "/resolv.conf"},
          {"HostnamePath", pdir + "/hostname"},
          {"HostsPath", pdir + "/hosts"},
          // Docker's: a path only for json-file (local's files are the daemon's own); berth's
          // k8s-file shows its file.
          {"LogPath", c.host_config().log_config.type == "local" ? std::string() : log_path(c)},
          {"Name", "/" + c.rec.name},
          {"RestartCount", s.restarts},
          {"Driver", opts_.images.driver == snapshot::Driver::native ? "native" : "overlay"},
          {"Platform", "linux"},
          {"HostConfig", [&] {
             // Docker's inspect shows the paths a container's /proc and /sys mask (the
             // defaults unless given; none when privileged).
             json h = c.data["HostConfig"];
             // Devices as Docker's objects (kept as the CLI's SRC[:DST][:PERMS] strings).
             if (h.is_object() && h.value("Devices", json()).is_array()) {
               json devices = json::array();
               for (const auto& d : h["Devices"]) {
                 if (!d.is_string()) {
                   devices.push_back(d);
                   continue;
                 }
                 const auto parts = split(d.get<std::string>(), ':');
                 const auto perms = [](const std::string& p) {
                   return !p.empty() && p.find_first_not_of("rwm") == std::string::npos;
                 };
                 std::string src = parts.empty() ? "" : parts[0], dst = src, mode = "rwm";
                 if (parts.size() == 2 && perms(parts[1])) mode = parts[1];
                 else if (parts.size() >= 2) dst = parts[1];
                 if (parts.size() >= 3) mode = parts[2];
                 devices.push_back({{"PathOnHost", src}, {"PathInContainer", dst}, {"CgroupPermissions", mode}});
               }
               h["Devices"] = devices;
             }
             if (h.is_object())
               for (auto [field, paths] : {std::pair{"MaskedPaths", &kDefaultMaskedPaths}, {"ReadonlyPaths", &kDefaultReadonlyPaths}})
                 if (h.value(field, json()).is_null()) h[field] = h.value("Privileged", false) ? json(nullptr) : json(*paths);
             return h;
           }()},
          {"Config", config},
          {"NetworkingConfig", c.data.value("NetworkingConfig", json::object())},
          {"Mounts", mounts},
          {"GraphDriver",
           {{"Name", "overlay"},
            {"Data", {{"UpperDir", images_.snapshots().fs_dir(c.rec.snapshot)},
                      {"MergedDir", container_dir(c.id()) + "/rootfs"}}}}},
          {"NetworkSettings", network_settings}};
  // Docker's fields berth has no value of its own for: what Docker shows without SELinux or
  // AppArmor, and HostConfig's empty defaults (templates that name them must not fail).
  for (const char* k : {"MountLabel", "ProcessLabel", "AppArmorProfile"})
    if (!out.contains(k)) out[k] = "";
  if (!out.contains("ExecIDs")) out["ExecIDs"] = nullptr;
  if (json& h = out["HostConfig"]; h.is_object())
    for (const char* k : {"ContainerIDFile", "UsernsMode", "Cgroup", "Isolation", "CgroupParent"})
      if (!h.contains(k)) h[k] = "";
  // --network none: Docker lists the "none" network, with empty settings.
  if (json& nets = out["NetworkSettings"]["Networks"];
      nets.is_object() && nets.empty() && c.host_config().network_mode == "none")
    nets["none"] = {{"IPAMConfig", nullptr}, {"Links", nullptr}, {"Aliases", nullptr}, {"NetworkID", ""},
                    {"EndpointID", ""}, {"Gateway", ""}, {"IPAddress", ""}, {"IPPrefixLen", 0}, {"IPv6Gateway", ""},
                    {"GlobalIPv6Address", ""}, {"GlobalIPv6PrefixLen", 0}, {"MacAddress", ""}, {"DriverOpts", nullptr}};
  // Docker's State.Health, once it has run with a health check.
  if (auto h = shim::read_health(container_dir(c.id()))) {
    json log = json::array();
    for (const auto& r : h->log)
      log.push_back({{"Start", rfc3339(r.start)}, {"End", rfc3339(r.end)}, {"ExitCode", r.exit_code}, {"Output", r.output}});
    out["State"]["Health"] = {{"Status", h->status}, {"FailingStreak", h->failing_streak}, {"Log", log}};
  }
  return out;
}

}  // namespace berth::engine
