#include "engine/spec.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/mountinfo.hpp"
#include "common/strings.hpp"
#include "engine/model.hpp"
#include "engine/volumes.hpp"
#include "network/networks.hpp"
#include "oci/spec.hpp"

namespace berth::engine {

const std::vector<std::string> kDefaultMaskedPaths = {
    "/proc/acpi",     "/proc/asound",       "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi",   "/proc/timer_list", "/proc/timer_stats",
    "/sys/devices/virtual/powercap", "/sys/firmware"};
const std::vector<std::string> kDefaultReadonlyPaths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                                        "/proc/sysrq-trigger"};

const std::vector<std::pair<std::string, std::string>> kDefaultNetSysctls = {
    {"net.ipv4.ip_unprivileged_port_start", "0"}, {"net.ipv4.ping_group_range", "0 2147483647"}};

using nlohmann::json;

namespace {

const char* const kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Docker's default capability set (daemon/pkg/oci/caps/defaults.go).
const std::vector<std::string> kDefaultCaps = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",           "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID", "CAP_SETFCAP",          "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string cap_name(const std::string& flag) {
  std::string c = upper(flag);
  if (c.rfind("CAP_", 0) != 0) c = "CAP_" + c;
  if (c != "CAP_ALL" && oci::capability_from_name(c) < 0)
    throw Error(ErrorKind::invalid_argument, "unknown capability `" + flag + "`");
  return c;
}

// Every capability this process may hand out (its bounding set): --privileged and
// --cap-add ALL get these, like Podman (a host may lack some, e.g. CAP_SYS_RESOURCE here).
std::vector<std::string> all_caps() {
  std::vector<std::string> out;
  for (int c = 0; c <= oci::last_capability(); ++c)
    if (::prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1) out.push_back(oci::capability_name(c));
  return out;
}

// Reads a small file of the rootfs without following links out of it; "" when absent or
// not a regular file. The image's author or the container's root made it: a FIFO there would
// block us (holding the container's lock) and a device node is the host's device to us (the
// engine is in no device cgroup; opening some, a watchdog, acts) — so it is looked at through
// an O_PATH fd first and opened for reading only when it is a regular file.
std::string read_in_rootfs(const std::string& rootfs, const std::string& path) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw_errno("open rootfs `" + rootfs + "`");
  UniqueFd at = fs::open_in_root(root.get(), path, O_PATH | O_CLOEXEC);
  if (!at) return "";  // absent, or a link that leads nowhere inside the rootfs
  struct stat st;
  if (::fstat(at.get(), &st) < 0) throw_errno("stat " + path + " in the image");
  if (!S_ISREG(st.st_mode)) return "";
  // The same inode, now readable (the magic link cannot lead anywhere else).
  UniqueFd fd(::open(("/proc/self/fd/" + std::to_string(at.get())).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) throw_errno("open " + path + " in the image");
  std::string out;
  char buf[8192];
  for (;;) {
    size_t n = fs::read_fd(fd.get(), buf, sizeof buf, path);
    if (n == 0) break;
    out.append(buf, n);
    if (out.size() > (16 << 20)) throw Error(path + " in the image is larger than 16 MiB");
  }
  return out;
}

std::vector<std::vector<std::string>> colon_records(const std::string& text) {
  std::vector<std::vector<std::string>> out;
  for (auto& line : split(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    out.push_back(split(line, ':'));
  }
  return out;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

uint32_t to_id(const std::string& s, const std::string& what) {
  unsigned long long v = std::strtoull(s.c_str(), nullptr, 10);
  if (!all_digits(s) || v > 0xfffffffeULL) throw Error(ErrorKind::invalid_argument, "invalid " + what + " `" + s + "`");
  return static_cast<uint32_t>(v);
}

json mount(const std::string& dst, const std::string& type, const std::string& src,
           std::vector<std::string> opts) {
  return {{"destination", dst}, {"type", type}, {"source", src}, {"options", opts}};
}

json device_rule(bool allow, const std::string& type, int64_t major, int64_t minor,
                 const std::string& access) {
  json r = {{"allow", allow}, {"access", access}};
  if (type != "a") r["type"] = type;
  if (major >= 0) r["major"] = major;
  if (minor >= 0) r["minor"] = minor;
  return r;
}

// Docker's --device-cgroup-rule: "TYPE MAJOR:MINOR ACCESS" (type a, b or c; a number or * for
// each of major and minor; access of r, w and m) as an allow rule.
json device_cgroup_rule(const std::string& text) {
  auto bad = [&]() -> json {
    throw Error(ErrorKind::invalid_argument, "invalid --device-cgroup-rule `" + text + "`: TYPE MAJOR:MINOR ACCESS, e.g. 'c 42:* rmw'");
  };
  const auto parts = split(text, ' ');
  if (parts.size() != 3 || (parts[0] != "a" && parts[0] != "b" && parts[0] != "c")) return bad();
  const auto colon = parts[1].find(':');
  if (colon == std::string::npos) return bad();
  auto number = [&](const std::string& v) -> int64_t {
    if (v == "*") return -1;
    if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) bad();
    return std::stoll(v);
  };
  const int64_t maj = number(parts[1].substr(0, colon)), min = number(parts[1].substr(colon + 1));
  if (parts[2].empty() || parts[2].size() > 3 || parts[2].find_first_not_of("rwm") != std::string::npos) return bad();
  return device_rule(true, parts[0], maj, min, parts[2]);
}

// --device /dev/x[:/dev/y[:rwm]]
void add_device(const std::string& flag, json& linux, json& rules) {
  std::string host = flag, ctr, perms = "rwm";
  if (auto c = flag.find(':'); c != std::string::npos) {
    host = flag.substr(0, c);
    ctr = flag.substr(c + 1);
    if (auto c2 = ctr.find(':'); c2 != std::string::npos) {
      perms = ctr.substr(c2 + 1);
      ctr = ctr.substr(0, c2);
    }
  }
  if (ctr.empty()) ctr = host;
  if (perms.empty() || perms.find_first_not_of("rwm") != std::string::npos)
    throw Error(ErrorKind::invalid_argument, "--device " + flag + ": invalid permissions `" + perms + "` (r, w and m)");
  if (host.empty() || host[0] != '/' || ctr[0] != '/')
    throw Error(ErrorKind::invalid_argument, "--device " + flag + ": paths must be absolute");
  struct stat st {};
  if (::stat(host.c_str(), &st) < 0) throw_errno("--device " + flag + ": " + host);
  std::string type;
  if (S_ISCHR(st.st_mode)) type = "c";
  else if (S_ISBLK(st.st_mode)) type = "b";
  else throw Error(ErrorKind::invalid_argument, "--device " + flag + ": " + host + " is not a device node");
  int64_t maj = major(st.st_rdev), min = minor(st.st_rdev);
  linux["devices"].push_back({{"path", ctr},
                              {"type", type},
                              {"major", maj},
                              {"minor", min},
                              {"fileMode", st.st_mode & 07777},
                              {"uid", st.st_uid},
                              {"gid", st.st_gid}});
  rules.push_back(device_rule(true, type, maj, min, perms));
}

// Docker's checks of a bind's propagation (its daemon's, at start): a shared bind needs its
// source on a shared mount — else what the container mounts there could never reach the host —,
// a slave one on a shared or slave mount. The source's mount is the last (topmost) mountinfo
// entry whose mount point contains its real path.
void check_propagation(const Bind& b) {
  const std::string p = b.propagation();
  const bool shared = p == "shared" || p == "rshared";
  if (!shared && p != "slave" && p != "rslave") return;
  char* real = ::realpath(b.source.c_str(), nullptr);
  if (!real) throw_errno("bind source path `" + b.source + "`");
  const std::string path = real;
  std::free(real);
  std::string info;
  fs::read_file_if_exists("/proc/self/mountinfo", info);
  std::string on;
  bool is_shared = false, is_slave = false;
  for (const auto& line : split(info, '\n')) {
    const auto f = split(line, ' ');
    if (f.size() < 7) continue;
    const std::string mp = unescape_mountinfo(f[4]);
    const bool contains = mp == "/" || path == mp || path.compare(0, mp.size() + 1, mp + "/") == 0;
    if (!contains || mp.size() < on.size()) continue;
    on = mp;
    is_shared = is_slave = false;
    for (size_t i = 6; i < f.size() && f[i] != "-"; ++i) {
      is_shared |= f[i].rfind("shared:", 0) == 0;
      is_slave |= f[i].rfind("master:", 0) == 0;
    }
  }
  if (on.empty()) return;  // no mountinfo to judge by
  if (shared && !is_shared)
    throw Error(ErrorKind::invalid_argument, "path " + b.source + " is mounted on " + on + " but it is not a shared mount");
  if (!shared && !is_shared && !is_slave)
    throw Error(ErrorKind::invalid_argument,
                "path " + b.source + " is mounted on " + on + " but it is not a shared or slave mount");
}

// -v SRC:DST[:OPTS] where SRC is an absolute host path (named volumes come in as mounts). A
// missing source is made as a directory (Docker's -v does that; its --mount refuses, which
// apply_mounts checks at create).
// `recursive_ro`: whether the kernel and the runtime can make the mounts below a read-only
// bind read-only too (SpecInputs::recursive_ro).
json bind_mount(const Bind& b, bool recursive_ro) {
  struct stat st {};
  if (::stat(b.source.c_str(), &st) < 0) {
    if (errno != ENOENT) throw_errno("bind source path `" + b.source + "`");
    fs::mkdir_p(b.source, 0755);
  }
  check_propagation(b);
  std::vector<std::string> opts = {b.recursive() ? "rbind" : "bind"};
  if (b.read_only()) {
    opts.push_back("ro");
    const auto mode = b.recursive_ro();
    if (mode == Bind::RecursiveRo::required && !recursive_ro)
      throw Error(ErrorKind::unavailable, "bind mount `" + b.source + "` on `" + b.destination +
                                              "`: recursively read-only needs Linux 5.12 (mount_setattr) and a runtime that knows `rro`");
    if (b.recursive() && recursive_ro && mode != Bind::RecursiveRo::off) opts.push_back("rro");
  }
  opts.push_back(b.propagation());
  return mount(b.destination, "bind", b.source, opts);
}

// --tmpfs /dst[:opts]
json tmpfs_mount(const std::string& spec) {
  std::string dst = spec, opts;
  if (auto c = spec.find(':'); c != std::string::npos) {
    dst = spec.substr(0, c);
    opts = spec.substr(c + 1);
  }
  if (dst.empty() || dst[0] != '/') throw Error(ErrorKind::invalid_argument, "invalid --tmpfs `" + spec + "`: target must be absolute");
  std::vector<std::string> o = {"nosuid", "nodev", "noexec"};
  for (auto& x : opts.empty() ? std::vector<std::string>{} : split(opts, ',')) {
    if (x == "exec") o.erase(std::remove(o.begin(), o.end(), "noexec"), o.end());
    else if (x == "suid") o.erase(std::remove(o.begin(), o.end(), "nosuid"), o.end());
    else if (x == "dev") o.erase(std::remove(o.begin(), o.end(), "nodev"), o.end());
    else if (!x.empty()) o.push_back(x);
  }
  return mount(fs::clean_path(dst), "tmpfs", "tmpfs", o);
}

const std::map<std::string, std::string> kRlimits = {
    {"core", "RLIMIT_CORE"},     {"cpu", "RLIMIT_CPU"},         {"data", "RLIMIT_DATA"},
    {"fsize", "RLIMIT_FSIZE"},   {"locks", "RLIMIT_LOCKS"},     {"memlock", "RLIMIT_MEMLOCK"},
    {"msgqueue", "RLIMIT_MSGQUEUE"}, {"nice", "RLIMIT_NICE"},   {"nofile", "RLIMIT_NOFILE"},
    {"nproc", "RLIMIT_NPROC"},   {"rss", "RLIMIT_RSS"},         {"rtprio", "RLIMIT_RTPRIO"},
    {"rttime", "RLIMIT_RTTIME"}, {"sigpending", "RLIMIT_SIGPENDING"}, {"stack", "RLIMIT_STACK"},
    {"as", "RLIMIT_AS"}};

}  // namespace

std::vector<std::string> privileged_capabilities() { return all_caps(); }

int64_t parse_bytes(const std::string& s, const std::string& flag) {
  if (s.empty()) throw Error(ErrorKind::invalid_argument, "invalid " + flag + " value ``");
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  size_t frac_end = i;
  if (i < s.size() && s[i] == '.') {
    frac_end = i + 1;
    while (frac_end < s.size() && std::isdigit(static_cast<unsigned char>(s[frac_end]))) ++frac_end;
  }
  if (frac_end == 0) throw Error(ErrorKind::invalid_argument, "invalid " + flag + " value `" + s + "`");
  double v = std::strtod(s.substr(0, frac_end).c_str(), nullptr);
  // Docker's RAMInBytes: an optional space, a unit letter, then an optional i and b (1k, 1kb,
  // 1KiB, 1 g), all binary.
  std::string unit = s.substr(frac_end);
  if (!unit.empty() && unit[0] == ' ') unit.erase(0, 1);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  double mul = 1;
  if (unit.empty()) mul = 1;
  else if (unit == "k") mul = 1024.0;
  else if (unit == "m") mul = 1024.0 * 1024;
  else if (unit == "g") mul = 1024.0 * 1024 * 1024;
  else if (unit == "t") mul = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "p") mul = 1024.0 * 1024 * 1024 * 1024 * 1024;
  else throw Error(ErrorKind::invalid_argument, "invalid " + flag + " value `" + s + "` (a size such as 512m or 1g)");
  double bytes = v * mul;
  if (bytes > 9.0e18) throw Error(ErrorKind::invalid_argument, "invalid " + flag + " value `" + s + "`: too large");
  return static_cast<int64_t>(bytes);
}

UserIds resolve_user(const std::string& rootfs, const std::string& user,
                     const std::vector<std::string>& group_add) {
  UserIds ids;
  std::string u = user, g;
  if (auto c = user.find(':'); c != std::string::npos) {
    u = user.substr(0, c);
    g = user.substr(c + 1);
    if (g.empty()) throw Error(ErrorKind::invalid_argument, "invalid user `" + user + "`");
  }
  if (u.empty()) u = "0";
  auto passwd = colon_records(read_in_rootfs(rootfs, "/etc/passwd"));
  auto group = colon_records(read_in_rootfs(rootfs, "/etc/group"));
  std::string user_name;
  bool found = false;
  // A short line gives what it has (runc's and Docker's reader): a missing gid is 0, a
  // missing home "/".
  for (auto& f : passwd) {
    if (f.size() < 3) continue;
    if (f[0] == u || (all_digits(u) && f[2] == u)) {
      ids.uid = to_id(f[2], "uid");
      ids.gid = f.size() > 3 && !f[3].empty() ? to_id(f[3], "gid") : 0;
      ids.home = f.size() > 5 && !f[5].empty() ? f[5] : "/";
      user_name = f[0];
      found = true;
      break;
    }
  }
  if (!found) {
    if (!all_digits(u)) throw Error(ErrorKind::invalid_argument, "unable to find user " + u + ": no matching entries in passwd file");
    ids.uid = to_id(u, "uid");
    ids.gid = 0;
  }
  auto find_group = [&](const std::string& name) -> uint32_t {
    for (auto& f : group)
      if (f.size() >= 3 && (f[0] == name || (all_digits(name) && f[2] == name)))
        return to_id(f[2], "gid");
    if (all_digits(name)) return to_id(name, "gid");
    throw Error(ErrorKind::invalid_argument, "unable to find group " + name + ": no matching entries in group file");
  };
  // Supplementary groups, as Docker's gives them: the primary group first, always (`-u 1234`
  // runs with groups 0, and an exec as another user never keeps the container's groups);
  // for a user found in passwd without a group given, the groups that list it as a member,
  // in /etc/group's order. Then --group-add.
  // A set beside the list: a group file the container wrote may list the user ~700k times
  // (a quadratic search cost a minute of CPU per exec); past the kernel's NGROUPS_MAX the
  // answer is known (setgroups refuses).
  std::set<uint32_t> seen;
  auto add = [&](uint32_t gid) {
    if (!seen.insert(gid).second) return;
    if (ids.groups.size() >= 65536)
      throw Error(ErrorKind::invalid_argument, "user " + (user_name.empty() ? u : user_name) + " is in more than 65536 groups (NGROUPS_MAX)");
    ids.groups.push_back(gid);
  };
  if (!g.empty()) ids.gid = find_group(g);
  add(ids.gid);
  if (g.empty() && !user_name.empty()) {
    const std::string primary = std::to_string(ids.gid);
    for (auto& f : group) {
      if (f.size() < 3) continue;
      bool member = f[2] == primary;
      if (f.size() >= 4)
        for (auto& m : split(f[3], ','))
          member = member || m == user_name;
      if (member) add(to_id(f[2], "gid"));
    }
  }
  for (auto& ga : group_add) add(find_group(ga));
  return ids;
}

ContainerConfig merge_config(const oci::ImageConfig& image, const json& given_json) {
  const ContainerConfig given = parse_container_config(given_json);
  check_exposed_ports(given.exposed_ports);
  ContainerConfig img;
  try {
    img = parse_container_config(image.config);
  } catch (const Error& e) {
    throw Error(ErrorKind::invalid_argument, std::string("the image's config: ") + e.what());
  }
  // Docker's merge: what the request sets wins, empty strings and lists take the image's.
  ContainerConfig c = given;
  auto inherit = [](std::string& mine, const std::string& image_value) {
    if (mine.empty()) mine = image_value;
  };
  inherit(c.working_dir, img.working_dir);
  inherit(c.user, img.user);
  inherit(c.stop_signal, img.stop_signal);
  // Docker's rules: no Entrypoint given takes the image's, an empty list keeps it empty; either
  // way the image's Cmd unless one is given. `--entrypoint ""` (the docker CLI sends [""])
  // replaces both, and leaves no entrypoint.
  const bool entrypoint_given = given_json.is_object() && given_json.contains("Entrypoint") &&
                                !given_json["Entrypoint"].is_null();
  if (c.entrypoint.empty()) {
    if (!entrypoint_given) c.entrypoint = img.entrypoint;
    if (c.cmd.empty()) c.cmd = img.cmd;
  }
  if (c.entrypoint.size() == 1 && c.entrypoint[0].empty()) c.entrypoint.clear();
  // The image's variables, each replaced by the request's of the same name.
  std::vector<std::string> env;
  auto key = [](const std::string& kv) { return kv.substr(0, kv.find('=')); };
  for (auto& e : img.env)
    if (std::none_of(given.env.begin(), given.env.end(), [&](auto& g) { return key(g) == key(e); }))
      env.push_back(e);
  env.insert(env.end(), given.env.begin(), given.env.end());
  c.env = env;
  c.labels = img.labels;
  for (auto& [k, v] : given.labels) c.labels[k] = v;
  auto unite = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    for (auto& x : b)
      if (std::find(a.begin(), a.end(), x) == a.end()) a.push_back(x);
    return a;
  };
  c.volumes = unite(img.volumes, given.volumes);
  c.exposed_ports = unite(img.exposed_ports, given.exposed_ports);
  // The image's health check, each field the request leaves unset (empty, 0) taken from it.
  if (img.healthcheck) {
    if (!c.healthcheck) {
      c.healthcheck = img.healthcheck;
    } else {
      auto& h = *c.healthcheck;
      const auto& i = *img.healthcheck;
      if (h.test.empty()) h.test = i.test;
      for (auto [mine, theirs] : {std::pair{&h.interval, i.interval}, {&h.timeout, i.timeout},
                                  {&h.start_period, i.start_period}, {&h.start_interval, i.start_interval}})
        if (*mine == 0) *mine = theirs;
      if (h.retries == 0) h.retries = i.retries;
    }
  }
  return c;
}

namespace {
// This machine's architecture and the ones its kernel also runs (every architecture in the
// filter costs compile time at each start).
std::vector<std::string> native_arches() {
#if defined(__x86_64__)
  return {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
#elif defined(__aarch64__)
  return {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
#else
  return {};
#endif
}
}  // namespace

namespace {

// Docker's default profile (moby/profiles seccomp default.json) is an allow list: these are
// allowed for every container, whatever its capabilities. Everything else fails with EPERM,
// and syscalls newer than the newest one named here with ENOSYS (the runtime's stub), so that
// libc falls back as on an older kernel.
const char* const kAllowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
    "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect",
    "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old",
    "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat",
    "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod",
    "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
    "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64",
    "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
    "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat",
    "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid",
    "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername",
    "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
    "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage",
    "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
    "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
    "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack",
    "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
    "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
    "mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv",
    "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep",
    "newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_open",
    "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
    "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
    "process_mrelease", "process_vm_readv", "process_vm_writev", "pselect6",
    "pselect6_time64", "ptrace", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
    "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64",
    "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat", "renameat2",
    "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
    "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
    "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
    "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
    "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
    "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
    "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
    "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr",
    "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
    "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
    "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo",
    "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
    "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
    "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat",
    "uretprobe", "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice",
    "wait4", "waitid", "waitpid", "write", "writev",
    // x86 only (other architectures do not know the names; they are skipped there)
    "arch_prctl", "modify_ldt",
};

// Allowed only with a capability (Docker's "includes": {"caps": [...]}).
const std::pair<const char*, std::vector<const char*>> kCapGated[] = {
    {"CAP_SYS_ADMIN", {"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen",
                       "fspick", "lookup_dcookie", "lsm_set_self_attr", "mount", "mount_setattr",
                       "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
                       "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2",
                       "unshare"}},
    {"CAP_SYS_BOOT", {"reboot"}},
    {"CAP_SYS_CHROOT", {"chroot"}},
    {"CAP_SYS_MODULE", {"delete_module", "init_module", "finit_module"}},
    {"CAP_SYS_PACCT", {"acct"}},
    {"CAP_SYS_PTRACE", {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                        "process_vm_writev", "ptrace"}},
    {"CAP_SYS_RAWIO", {"iopl", "ioperm"}},
    {"CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64"}},
    {"CAP_SYS_TTY_CONFIG", {"vhangup"}},
    {"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}},
    {"CAP_SYSLOG", {"syslog"}},
    {"CAP_BPF", {"bpf"}},
    {"CAP_PERFMON", {"perf_event_open"}},
    {"CAP_DAC_READ_SEARCH", {"open_by_handle_at"}},
};

}  // namespace

json default_seccomp(const std::vector<std::string>& caps) {
  auto has = [&](const char* c) { return std::find(caps.begin(), caps.end(), c) != caps.end(); };
  std::vector<std::string> allowed(std::begin(kAllowed), std::end(kAllowed));
  for (auto& [cap, names] : kCapGated)
    if (has(cap))
      for (const char* n : names)
        if (std::find(allowed.begin(), allowed.end(), n) == allowed.end()) allowed.push_back(n);
  json rules = json::array();
  rules.push_back({{"names", allowed}, {"action", "SCMP_ACT_ALLOW"}});
  auto allow_if = [&](const char* name, unsigned index, uint64_t value, const char* op,
                      uint64_t value_two = 0) {
    json arg = {{"index", index}, {"value", value}, {"op", op}};
    if (value_two) arg["valueTwo"] = value_two;
    rules.push_back({{"names", {name}}, {"action", "SCMP_ACT_ALLOW"}, {"args", {arg}}});
  };
  // personality: Linux and the 32-bit/uname-2.6 flavours, and the query; never
  // READ_IMPLIES_EXEC or ADDR_NO_RANDOMIZE.
  for (uint64_t p : {0x0ULL, 0x8ULL, 0x20000ULL, 0x20008ULL, 0xffffffffULL})
    allow_if("personality", 0, p, "SCMP_CMP_EQ");
  // socket: every family but AF_ALG (38) and AF_VSOCK (40) — one condition per rule, and
  // rules of one action add up (OR).
  allow_if("socket", 0, 38, "SCMP_CMP_LT");
  allow_if("socket", 0, 39, "SCMP_CMP_EQ");
  allow_if("socket", 0, 40, "SCMP_CMP_GT");
  if (!has("CAP_SYS_ADMIN")) {
    // clone without a namespace flag (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET);
    // clone3, whose flags seccomp cannot see, fails with ENOSYS so libc falls back to clone.
    allow_if("clone", 0, 0x7E020000ULL, "SCMP_CMP_MASKED_EQ", 0);
    rules.back()["args"][0]["valueTwo"] = 0;
    rules.push_back({{"names", {"clone3"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 38}});
  }
  return {{"defaultAction", "SCMP_ACT_ERRNO"},
          {"defaultErrnoRet", 1},
          {"architectures", native_arches()},
          {"syscalls", rules}};
}

namespace {

bool plain_word(const std::string& s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](unsigned char ch) {
    return ch <= ' ' || ch == 0x7f;
  });
}

bool ip_address(const std::string& s) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

void check_mount_target(const std::string& dst_in, const std::string& type) {
  if (dst_in.empty() || dst_in[0] != '/') return;  // refused later with its own message
  const std::string dst = fs::clean_path(dst_in);
  if ((dst == "/proc" || dst.rfind("/proc/", 0) == 0) && type != "proc")
    throw Error(ErrorKind::invalid_argument, "invalid mount destination `" + dst + "`: nothing but procfs may be mounted on /proc");
  if (dst == "/") throw Error(ErrorKind::invalid_argument, "invalid mount destination `" + dst_in + "`: destination can't be '/'");
}

void apply_mounts(HostConfig& host, ContainerConfig& config) {
  for (auto& m : host.mounts) {
    if (!m.is_object()) throw Error(ErrorKind::invalid_argument, "HostConfig.Mounts: want objects");
    auto text = [&](const char* k) {
      const json v = m.value(k, json(""));
      if (!v.is_string()) throw Error(ErrorKind::invalid_argument, std::string("HostConfig.Mounts: ") + k + " wants a string");
      return v.get<std::string>();
    };
    const std::string type = text("Type").empty() ? "volume" : text("Type"), src = text("Source"), dst = text("Target");
    const std::string what = "--mount type=" + type + (src.empty() ? "" : ",source=" + src) + ",target=" + dst;
    if (dst.empty()) throw Error(ErrorKind::invalid_argument, what + ": the target is required");
    if (dst[0] != '/') throw Error(ErrorKind::invalid_argument, what + ": the target must be an absolute path");
    const bool ro = m.value("ReadOnly", false) == true;
    std::vector<std::string> opts;
    if (ro) opts.push_back("ro");
    auto joined = [&] {
      std::string o;
      for (auto& x : opts) o += (o.empty() ? ":" : ",") + x;
      return o;
    };
    if (type == "bind") {
      if (src.empty() || src[0] != '/') throw Error(ErrorKind::invalid_argument, what + ": the source must be an absolute host path");
      struct stat st {};
      if (::stat(src.c_str(), &st) < 0)
        throw Error(ErrorKind::invalid_argument, "invalid mount config for type \"bind\": bind source path does not exist: " + src);
      const json bo = m.value("BindOptions", json::object());
      const std::string propagation =
          bo.is_object() && bo.value("Propagation", json("")).is_string() ? bo.value("Propagation", "") : "";
      if (!propagation.empty()) opts.push_back(propagation);
      // Docker 25's recursion options (API 1.44), with its daemon's rules.
      auto flag = [&](const char* k) { return bo.is_object() && bo.value(k, json(false)) == true; };
      const bool non_recursive = flag("NonRecursive"), ro_top_only = flag("ReadOnlyNonRecursive"),
                 ro_forced = flag("ReadOnlyForceRecursive");
      if ((ro_top_only || ro_forced) && !ro)
        throw Error(ErrorKind::invalid_argument, what + ": option '" + (ro_forced ? "ReadOnlyForceRecursive" : "ReadOnlyNonRecursive") +
                                                     "' (bind-recursive=" + (ro_forced ? "readonly" : "writable") +
                                                     ") requires 'ReadOnly' (readonly) to be specified in conjunction");
      if (ro_forced && (ro_top_only || non_recursive))
        throw Error(ErrorKind::invalid_argument, what + ": option 'ReadOnlyForceRecursive' conflicts with '" +
                                                     (non_recursive ? "NonRecursive" : "ReadOnlyNonRecursive") + "'");
      if (ro_forced && !propagation.empty() && propagation != "rprivate")
        throw Error(ErrorKind::invalid_argument, what + ": option 'ReadOnlyForceRecursive' requires 'BindOptions.Propagation' to be 'rprivate'");
      if (non_recursive) opts.push_back("bind");
      if (ro_top_only) opts.push_back("norro");
      if (ro_forced) opts.push_back("rro");
      host.binds.push_back(src + ":" + dst + joined());
    } else if (type == "volume") {
      const json vo = m.value("VolumeOptions", json::object());
      if (vo.is_object() && vo.value("NoCopy", false) == true) opts.push_back("nocopy");
      if (vo.is_object() && vo.contains("DriverConfig") && vo["DriverConfig"].is_object() &&
          !vo["DriverConfig"].value("Name", "").empty() && vo["DriverConfig"].value("Name", "") != "local")
        throw Error(ErrorKind::invalid_argument, what + ": volume driver `" + vo["DriverConfig"].value("Name", "") +
                                                     "` is not supported (local only)");
      if (src.empty()) {
        if (!opts.empty()) throw Error(ErrorKind::invalid_argument, what + ": options on an anonymous volume are not supported");
        config.volumes.push_back(dst);
      } else {
        // A volume's name, never a host path (a bind is type=bind: a policy that allows
        // volumes and not binds must be able to tell them apart).
        if (!VolumeStore::valid_name(src))
          throw Error(ErrorKind::invalid_argument, what + ": \"" + src + "\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use type=bind");
        host.binds.push_back(src + ":" + dst + joined());
      }
    } else if (type == "tmpfs") {
      if (!src.empty()) throw Error(ErrorKind::invalid_argument, what + ": a tmpfs has no source");
      std::string o;
      const json to = m.value("TmpfsOptions", json::object());
      if (to.is_object() && to.value("SizeBytes", json(0)).is_number_integer() && to.value("SizeBytes", int64_t{0}) > 0)
        o = "size=" + std::to_string(to.value("SizeBytes", int64_t{0}));
      if (to.is_object() && to.value("Mode", json(0)).is_number_integer() && to.value("Mode", 0) > 0) {
        char mode[16];
        std::snprintf(mode, sizeof mode, "%o", to.value("Mode", 0) & 07777);
        o += (o.empty() ? "" : ",") + std::string("mode=") + mode;
      }
      if (ro) o += (o.empty() ? "" : ",") + std::string("ro");
      host.tmpfs[dst] = o;
    } else {
      throw Error(ErrorKind::invalid_argument, what + ": mount type `" + type + "` is not supported (bind, volume, tmpfs)");
    }
  }
}

namespace {

// A port number written out: digits only, `low`..65535.
bool is_port(const std::string& s, int low) {
  return !s.empty() && s.size() <= 5 && s.find_first_not_of("0123456789") == std::string::npos && std::stoi(s) >= low &&
         std::stoi(s) <= 65535;
}

// "80", "80/tcp", "53/udp", "9/sctp": Docker's port keys (ExposedPorts, PortBindings).
void check_port_key(const std::string& key) {
  const size_t slash = key.find('/');
  const std::string proto = slash == std::string::npos ? "tcp" : key.substr(slash + 1);
  if (!is_port(key.substr(0, slash), 1) || (proto != "tcp" && proto != "udp" && proto != "sctp"))
    throw Error(ErrorKind::invalid_argument, "invalid port specification: " + json(key).dump());
}

// A binding's HostPort: "" or "0" (a free one), a port, or a range to pick a free one from.
void check_host_port(const std::string& p) {
  const size_t dash = p.find('-');
  const bool ok = p.empty() || (dash == std::string::npos ? is_port(p, 0)
                                                          : is_port(p.substr(0, dash), 1) && is_port(p.substr(dash + 1), 1) &&
                                                                std::stoi(p.substr(0, dash)) <= std::stoi(p.substr(dash + 1)));
  if (!ok) throw Error(ErrorKind::invalid_argument, "invalid port specification: " + json(p).dump());
}

// A cpuset list ("0-3,5") → its members; nullopt when it does not parse.
std::optional<std::set<long>> cpuset_members(const std::string& list) {
  std::set<long> out;
  for (auto& part : split(list, ',')) {
    const size_t dash = part.find('-');
    const std::string a = part.substr(0, dash), b = dash == std::string::npos ? a : part.substr(dash + 1);
    auto num = [](const std::string& s) -> long {
      return s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos ? -1 : std::stol(s);
    };
    const long lo = num(a), hi = num(b);
    if (lo < 0 || hi < lo || hi - lo > 65536) return std::nullopt;
    for (long i = lo; i <= hi; ++i) out.insert(i);
  }
  return out;
}

// --cpuset-cpus/--cpuset-mems: a list of what the host has online (Docker's check; the cgroup
// write at start said "Numerical result out of range").
void check_cpuset(const std::string& list, const char* what, const char* online_file) {
  if (list.empty()) return;
  const auto asked = cpuset_members(list);
  if (!asked) throw Error(ErrorKind::invalid_argument, std::string("invalid value ") + list + " for " + what);
  std::string online;
  if (!fs::read_file_if_exists(online_file, online)) return;
  while (!online.empty() && std::isspace(static_cast<unsigned char>(online.back()))) online.pop_back();
  const auto have = cpuset_members(online);
  if (!have) return;
  for (long i : *asked)
    if (!have->count(i))
      throw Error(ErrorKind::invalid_argument, std::string("Requested ") + (std::string(what) == "cpuset cpus" ? "CPUs" : "memory nodes") +
                                                   " are not available - requested " + list + ", available: " + online);
}

}  // namespace

void check_exposed_ports(const std::vector<std::string>& keys) {
  for (auto& k : keys) check_port_key(k);
}

void check_host_config(const HostConfig& h) {
  if (const auto& m = h.ipc_mode; !m.empty() && m != "private" && m != "shareable" && m != "host" && m != "none" &&
                                  (m.rfind("container:", 0) != 0 || m.size() == 10) && !namespace_path(m))
    throw Error(ErrorKind::invalid_argument,
                "invalid --ipc `" + m + "`: private, shareable, host, none, container:NAME or ns:PATH");
  if (!h.uts_mode.empty() && h.uts_mode != "host" && !namespace_path(h.uts_mode))
    throw Error(ErrorKind::invalid_argument, "invalid --uts `" + h.uts_mode + "`: host or ns:PATH (or none given for its own)");
  for (auto& part : split(h.cgroup_parent, '/'))
    if (part == ".." || part == "." || part.find_first_of(" \t\n") != std::string::npos)
      throw Error(ErrorKind::invalid_argument, "invalid --cgroup-parent `" + h.cgroup_parent + "`: a cgroup path without . or .. or spaces");
  if (const auto& n = h.restart_policy.name; !n.empty() && n != "no" && n != "always" && n != "on-failure" && n != "unless-stopped")
    throw Error(ErrorKind::invalid_argument, "invalid restart policy `" + n + "`");
  if (h.restart_policy.maximum_retry_count < 0)
    throw Error(ErrorKind::invalid_argument, "invalid restart policy: the maximum retry count cannot be negative");
  if (h.restart_policy.maximum_retry_count > 0 && h.restart_policy.name != "on-failure")
    throw Error(ErrorKind::invalid_argument, "maximum retry count cannot be used with restart policy '" +
                                                 (h.restart_policy.name.empty() ? std::string("no") : h.restart_policy.name) + "'");
  // Ports: Docker's keys, and a host port that is a port (a free one when empty or 0) or a
  // range to pick a free one from ("8000-8010").
  for (auto& [key, binds] : h.port_bindings) {
    check_port_key(key);
    for (auto& b : binds) {
      check_host_port(b.host_port);
      // The docker CLI sends `-p [::1]:8080:80` as HostIp "::1": berth has no IPv6 to publish on.
      if (network::is_ipv6(b.host_ip))
        throw Error(ErrorKind::invalid_argument, "HostIp " + b.host_ip + ": berth publishes ports on IPv4 addresses only");
    }
  }
  if (h.shm_size < 0) throw Error(ErrorKind::invalid_argument, "SHM size can not be less than 0");
  // The kernel's pids.max takes up to PID_MAX_LIMIT (4194304); a negative one is no limit.
  if (h.pids_limit && *h.pids_limit > 4194304)
    throw Error(ErrorKind::invalid_argument, "invalid pids limit " + std::to_string(*h.pids_limit) +
                                                 ": at most 4194304 (the kernel's maximum), or -1 for no limit");
  for (auto& u : h.ulimits)  // -1: unlimited
    if ((u.soft < 0 ? u.hard >= 0 : u.hard >= 0 && u.soft > u.hard))
      throw Error(ErrorKind::invalid_argument, "ulimit soft limit must be less than or equal to hard limit: " + u.name + "=" +
                                                   std::to_string(u.soft) + ":" + std::to_string(u.hard));
  check_cpuset(h.cpuset_cpus, "cpuset cpus", "/sys/devices/system/cpu/online");
  check_cpuset(h.cpuset_mems, "cpuset mems", "/sys/devices/system/node/online");
  for (const Bind& b : binds_of(h)) {
    check_mount_target(b.destination, "bind");
    // Docker's rule: one of ro and rw (an "ro,rw" would read differently to different readers).
    const bool ro = std::any_of(b.options.begin(), b.options.end(), [](auto& o) { return o == "ro" || o == "readonly" || o == "rro"; });
    const bool rw = std::any_of(b.options.begin(), b.options.end(), [](auto& o) { return o == "rw"; });
    if (ro && rw)
      throw Error(ErrorKind::invalid_argument, "invalid mode `" + b.options_text() + "` for " + b.destination + ": ro or rw, not both");
    const auto has = [&](const char* o) { return std::find(b.options.begin(), b.options.end(), o) != b.options.end(); };
    if (has("rro") && has("norro"))
      throw Error(ErrorKind::invalid_argument, "invalid mode `" + b.options_text() + "` for " + b.destination + ": rro or norro, not both");
    if (has("bind") && has("rbind"))
      throw Error(ErrorKind::invalid_argument, "invalid mode `" + b.options_text() + "` for " + b.destination + ": bind or rbind, not both");
    if (has("norro") && !ro)
      throw Error(ErrorKind::invalid_argument, "invalid mode `" + b.options_text() + "` for " + b.destination + ": norro needs ro");
    // A submount that propagates in later would not be read-only: Docker's rule.
    if (has("rro") && b.propagation() != "rprivate" && b.propagation() != "private")
      throw Error(ErrorKind::invalid_argument, "invalid mode `" + b.options_text() + "` for " + b.destination +
                                                   ": rro (recursively read-only) needs rprivate propagation");
  }
  for (auto& [dst, opts] : h.tmpfs) check_mount_target(dst, "tmpfs");
  for (auto& x : h.mounts) {
    if (!x.value("Target", json()).is_string() || !x.value("Type", json("bind")).is_string())
      throw Error(ErrorKind::invalid_argument, "HostConfig.Mounts: Target and Type want strings");
    check_mount_target(x.value("Target", ""), x.value("Type", "bind"));
  }
  if (h.oom_score_adj && (*h.oom_score_adj < -1000 || *h.oom_score_adj > 1000))
    throw Error(ErrorKind::invalid_argument, "invalid value " + std::to_string(*h.oom_score_adj) +
                                                 ", range for oom score adj is [-1000, 1000]");
  if (!h.cgroupns_mode.empty() && h.cgroupns_mode != "private" && h.cgroupns_mode != "host")
    throw Error(ErrorKind::invalid_argument, "invalid --cgroupns `" + h.cgroupns_mode + "`: private or host");
  for (auto& r : h.device_cgroup_rules) device_cgroup_rule(r);
  // What berth does not do is refused, never silently dropped (a container that seems
  // configured but is not).
  auto given = [&](const char* key) {
    auto it = h.extra.find(key);
    return it != h.extra.end() && !it->is_null() && !(it->is_string() && it->get_ref<const std::string&>().empty()) &&
           !((it->is_array() || it->is_object()) && it->empty());
  };
  if (given("UsernsMode") && h.extra["UsernsMode"] != "host")
    throw Error(ErrorKind::invalid_argument, "--userns " + h.extra["UsernsMode"].dump() +
                                                 " is not supported: host only (the engine's userns-remap setting maps the others)");
  if (given("DeviceRequests")) throw Error(ErrorKind::invalid_argument, "device requests (--gpus) are not supported");
  if (given("StorageOpt")) throw Error(ErrorKind::invalid_argument, "--storage-opt is not supported");
  if (given("VolumeDriver") && h.extra["VolumeDriver"] != "local")
    throw Error(ErrorKind::invalid_argument, "volume driver " + h.extra["VolumeDriver"].dump() + " is not supported (local only)");
  if (given("Isolation") && h.extra["Isolation"] != "default")
    throw Error(ErrorKind::invalid_argument, "--isolation " + h.extra["Isolation"].dump() + " is not supported on Linux");
  if (h.nano_cpus < 0 || (h.nano_cpus > 0 && h.nano_cpus < 10'000'000))
    throw Error(ErrorKind::invalid_argument, "invalid NanoCpus " + std::to_string(h.nano_cpus) + ": the range of CPUs starts at 0.01");
  // Docker's: no more than the host has (the CLI says so before; the API's callers too).
  if (const long ncpu = ::sysconf(_SC_NPROCESSORS_ONLN); ncpu > 0 && h.nano_cpus > int64_t{ncpu} * 1'000'000'000)
    throw Error(ErrorKind::invalid_argument, "Range of CPUs is from 0.01 to " + std::to_string(ncpu) + ".00, as there are only " +
                                                 std::to_string(ncpu) + " CPUs available");
  for (auto& e : h.extra_hosts) {
    auto colon = e.find(':');
    const std::string name = colon == std::string::npos ? "" : e.substr(0, colon);
    const std::string ip = colon == std::string::npos ? "" : e.substr(colon + 1);
    if (!plain_word(name) || (!ip_address(ip) && ip != "host-gateway"))
      throw Error(ErrorKind::invalid_argument, "invalid --add-host " + json(e).dump() + ": want HOST:IP");
  }
  for (auto& d : h.dns)
    if (!ip_address(d)) throw Error(ErrorKind::invalid_argument, "invalid --dns " + json(d).dump() + ": want an IP address");
  for (auto& d : h.dns_search)
    if (!plain_word(d)) throw Error(ErrorKind::invalid_argument, "invalid --dns-search " + json(d).dump() + ": no spaces or line breaks");
  for (auto& d : h.dns_options)
    if (!plain_word(d)) throw Error(ErrorKind::invalid_argument, "invalid --dns-option " + json(d).dump() + ": no spaces or line breaks");
}

namespace {

// A host block device named by path (Docker's --blkio-weight-device, --device-read-bps, …):
// its major and minor numbers.
json block_device(const std::string& path, const char* what) {
  struct stat st {};
  if (path.empty() || path[0] != '/' || ::stat(path.c_str(), &st) != 0)
    throw Error(ErrorKind::invalid_argument, std::string(what) + ": `" + path + "`: no such device");
  if (!S_ISBLK(st.st_mode))
    throw Error(ErrorKind::invalid_argument, std::string(what) + ": `" + path + "` is not a block device");
  return {{"major", major(st.st_rdev)}, {"minor", minor(st.st_rdev)}};
}

[[noreturn]] void bad_resource(const std::string& msg) { throw Error(ErrorKind::invalid_argument, msg); }

}  // namespace

json seccomp_profile(const std::string& v) {
  std::string text = v;
  if (v.empty() || v.front() != '{') {
    text.clear();
    try {
      if (!fs::read_file_if_exists(v, text, 4 << 20)) throw Error(ErrorKind::invalid_argument, "cannot read `" + v + "`");
    } catch (const Error& e) {
      throw Error(ErrorKind::invalid_argument, std::string("--security-opt seccomp: ") + e.what());
    }
  }
  const std::string shown = v.empty() || v.front() != '{' ? "`" + v + "`" : "the profile";
  json profile;
  try {
    profile = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(ErrorKind::invalid_argument, "--security-opt seccomp: " + shown + " is not JSON: " + e.what());
  }
  if (!profile.is_object()) throw Error(ErrorKind::invalid_argument, "--security-opt seccomp: " + shown + " is not a JSON object");
  return profile;
}

json resources_of(const HostConfig& h) {
  json res = json::object();
  // Memory (Docker's rules and words).
  if (h.memory < 0) bad_resource("invalid memory limit: it cannot be negative");
  if (h.memory > 0 && h.memory < 6 * 1024 * 1024) bad_resource("minimum memory limit allowed is 6MB");
  if (h.memory_reservation < 0) bad_resource("invalid memory reservation: it cannot be negative");
  if (h.memory_reservation > 0 && h.memory_reservation < 6 * 1024 * 1024) bad_resource("minimum memory reservation allowed is 6MB");
  if (h.memory > 0 && h.memory_reservation > h.memory)
    bad_resource("minimum memory limit can not be less than memory reservation limit, see usage");
  if (h.memory_swappiness && *h.memory_swappiness != -1 && (*h.memory_swappiness < 0 || *h.memory_swappiness > 100))
    bad_resource("invalid value: " + std::to_string(*h.memory_swappiness) + ", valid memory swappiness range is 0-100");
  if (h.memory > 0) {
    res["memory"]["limit"] = h.memory;
    if (h.memory_swap != 0) {
      if (h.memory_swap > 0 && h.memory_swap < h.memory)
        bad_resource("minimum memoryswap limit should be larger than memory limit");
      res["memory"]["swap"] = h.memory_swap;
    }
  }
  if (h.memory_reservation > 0) res["memory"]["reservation"] = h.memory_reservation;
  if (h.memory_swappiness && *h.memory_swappiness >= 0) res["memory"]["swappiness"] = *h.memory_swappiness;
  if (h.oom_kill_disable && *h.oom_kill_disable) res["memory"]["disableOOMKiller"] = true;
  // CPU: --cpus is a quota over a 100 ms period, so it excludes --cpu-period/--cpu-quota.
  if (h.nano_cpus > 0 && h.cpu_period > 0) bad_resource("conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (h.nano_cpus > 0 && h.cpu_quota > 0) bad_resource("conflicting options: Nano CPUs and CPU Quota cannot both be set");
  if (h.cpu_period != 0 && (h.cpu_period < 1000 || h.cpu_period > 1000000))
    bad_resource("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
  if (h.cpu_quota != 0 && h.cpu_quota != -1 && h.cpu_quota < 1000) bad_resource("CPU cfs quota can not be less than 1ms (i.e. 1000)");
  if (h.cpu_realtime_period < 0 || h.cpu_realtime_runtime < 0) bad_resource("CPU real-time period and runtime cannot be negative");
  if (h.cpu_realtime_period > 0 && h.cpu_realtime_runtime > h.cpu_realtime_period)
    bad_resource("cpu real-time runtime cannot be higher than cpu real-time period");
  if (h.cpu_shares < 0) bad_resource("invalid CPU shares: it cannot be negative");
  if (h.nano_cpus > 0) res["cpu"]["quota"] = h.nano_cpus / 10000, res["cpu"]["period"] = 100000;
  if (h.cpu_quota != 0) res["cpu"]["quota"] = h.cpu_quota;
  if (h.cpu_period > 0) res["cpu"]["period"] = h.cpu_period;
  if (h.cpu_realtime_period > 0) res["cpu"]["realtimePeriod"] = h.cpu_realtime_period;
  if (h.cpu_realtime_runtime > 0) res["cpu"]["realtimeRuntime"] = h.cpu_realtime_runtime;
  if (h.cpu_shares > 0) res["cpu"]["shares"] = h.cpu_shares;
  if (!h.cpuset_cpus.empty()) res["cpu"]["cpus"] = h.cpuset_cpus;
  if (!h.cpuset_mems.empty()) res["cpu"]["mems"] = h.cpuset_mems;
  if (h.pids_limit && *h.pids_limit != 0) res["pids"] = {{"limit", *h.pids_limit}};
  // Block I/O: a weight, per-device weights and throttles.
  if (h.blkio_weight != 0 && (h.blkio_weight < 10 || h.blkio_weight > 1000)) bad_resource("range of blkio weight is from 10 to 1000");
  if (h.blkio_weight > 0) res["blockIO"]["weight"] = h.blkio_weight;
  for (auto& d : h.blkio_weight_device) {
    if (d.weight < 10 || d.weight > 1000) bad_resource("invalid --blkio-weight-device `" + d.path + "`: the weight is from 10 to 1000");
    json e = block_device(d.path, "--blkio-weight-device");
    e["weight"] = d.weight;
    res["blockIO"]["weightDevice"].push_back(e);
  }
  const std::pair<const std::vector<ThrottleDevice>*, const char*> throttles[] = {
      {&h.blkio_device_read_bps, "throttleReadBpsDevice"},
      {&h.blkio_device_write_bps, "throttleWriteBpsDevice"},
      {&h.blkio_device_read_iops, "throttleReadIOPSDevice"},
      {&h.blkio_device_write_iops, "throttleWriteIOPSDevice"}};
  for (auto& [list, key] : throttles)
    for (auto& d : *list) {
      if (d.rate <= 0) bad_resource("invalid device rate for `" + d.path + "`: it must be a positive number");
      json e = block_device(d.path, "device throttle");
      e["rate"] = d.rate;
      res["blockIO"][key].push_back(e);
    }
  return res;
}

json make_spec(const SpecInputs& in) {
  const ContainerConfig& c = *in.config;
  const HostConfig& h = *in.host;
  const bool privileged = h.privileged;
  const bool tty = c.tty;

  // Process: args, env, user, cwd.
  std::vector<std::string> args = command_line(c);
  if (args.empty()) throw Error(ErrorKind::invalid_argument, "no command specified");
  if (h.init) args.insert(args.begin(), {"/sbin/berth-init", "--"});
  UserIds ids = resolve_user(in.rootfs, c.user, h.group_add);
  std::vector<std::string> env = c.env;
  // A bare NAME (`-e NAME` with NAME unset on the client) replaced the image's NAME=… in the
  // config and is kept there, as Docker keeps it; the process has no NAME at all.
  std::erase_if(env, [](const std::string& e) { return e.find('=') == std::string::npos; });
  auto has_env = [&](const std::string& k) {
    return std::any_of(env.begin(), env.end(), [&](auto& e) { return e.rfind(k + "=", 0) == 0; });
  };
  std::vector<std::string> linked;
  for (const auto& kv : in.link_env)
    if (!has_env(kv.substr(0, kv.find('=')))) linked.push_back(kv);
  env.insert(env.begin(), linked.begin(), linked.end());
  if (!has_env("PATH")) env.insert(env.begin(), kDefaultPath);
  const std::string& hostname = c.hostname;
  if (!has_env("HOSTNAME") && !hostname.empty()) env.push_back("HOSTNAME=" + hostname);
  if (tty && !has_env("TERM")) env.push_back("TERM=xterm");
  if (!has_env("HOME")) env.push_back("HOME=" + ids.home);
  std::string cwd = c.working_dir;
  if (cwd.empty()) cwd = "/";
  if (cwd[0] != '/') throw Error(ErrorKind::invalid_argument, "the working directory `" + cwd + "` is invalid: it must be absolute");

  // Capabilities.
  std::vector<std::string> caps = privileged ? all_caps() : kDefaultCaps;
  for (auto& d : h.cap_drop) {
    std::string n = cap_name(d);
    if (n == "CAP_ALL") caps.clear();
    else caps.erase(std::remove(caps.begin(), caps.end(), n), caps.end());
  }
  for (auto& a : h.cap_add) {
    std::string n = cap_name(a);
    if (n == "CAP_ALL") caps = all_caps();
    else if (std::find(caps.begin(), caps.end(), n) == caps.end()) caps.push_back(n);
  }
  json capset = {{"bounding", caps}, {"effective", caps}, {"permitted", caps}};
  if (ids.uid != 0) capset["effective"] = json::array();  // Docker: a non-root user starts without

  json process = {{"terminal", tty},
                  {"user", {{"uid", ids.uid}, {"gid", ids.gid}}},
                  {"args", args},
                  {"env", env},
                  {"cwd", cwd},
                  {"capabilities", capset}};
  if (!ids.groups.empty()) process["user"]["additionalGids"] = ids.groups;
  if (h.oom_score_adj) process["oomScoreAdj"] = *h.oom_score_adj;
  bool no_new_privs = false;
  json seccomp = privileged ? json() : default_seccomp(caps);
  for (auto& o : h.security_opt) {
    if (o == "no-new-privileges" || o == "no-new-privileges:true" || o == "no-new-privileges=true") {
      no_new_privs = true;
    } else if (o == "no-new-privileges:false" || o == "no-new-privileges=false") {
      no_new_privs = false;
    } else if (o.rfind("seccomp=", 0) == 0 || o.rfind("seccomp:", 0) == 0) {
      std::string v = o.substr(8);
      if (v == "unconfined") {
        seccomp = json();
      } else {
        // Its JSON (create reads a file into it; a container made before that still names
        // its file).
        seccomp = seccomp_profile(v);
      }
    } else if (o.rfind("label=", 0) == 0 || o.rfind("label:", 0) == 0 || o.rfind("apparmor=", 0) == 0 ||
               o.rfind("apparmor:", 0) == 0) {
      std::string v = o.substr(o.find_first_of("=:") + 1);
      if (v != "disable" && v != "unconfined")
        throw Error(ErrorKind::invalid_argument, "--security-opt " + o + ": this host has no AppArmor or SELinux");
    } else {
      throw Error(ErrorKind::invalid_argument, "invalid --security-opt `" + o + "`");
    }
  }
  process["noNewPrivileges"] = no_new_privs;
  json rlimits = json::array();
  for (auto& u : h.ulimits) {
    auto it = kRlimits.find(u.name);
    if (it == kRlimits.end()) throw Error(ErrorKind::invalid_argument, "invalid --ulimit name `" + u.name + "`");
    // -1 (Docker's "unlimited"): RLIM_INFINITY, the spec's uint64 all ones.
    auto limit = [](int64_t v) { return v < 0 ? json(std::numeric_limits<uint64_t>::max()) : json(v); };
    rlimits.push_back({{"type", it->second}, {"soft", limit(u.soft)}, {"hard", limit(u.hard)}});
  }
  if (!rlimits.empty()) process["rlimits"] = rlimits;

  // Namespaces, mounts.
  const std::string net = h.network_mode.empty() ? "none" : h.network_mode;
  json namespaces = json::array();
  if (!in.pidns.empty()) namespaces.push_back({{"type", "pid"}, {"path", in.pidns}});
  else if (h.pid_mode != "host") namespaces.push_back({{"type", "pid"}});
  if (!in.ipcns.empty()) namespaces.push_back({{"type", "ipc"}, {"path", in.ipcns}});
  else if (h.ipc_mode != "host") namespaces.push_back({{"type", "ipc"}});
  // Its own UTS namespace (the hostname set), the host's, or one joined by path (a pod's: the
  // hostname is the pod's, set when it was made).
  const bool own_uts = h.uts_mode != "host" && in.utsns.empty();
  if (own_uts) namespaces.push_back({{"type", "uts"}});
  else if (!in.utsns.empty()) namespaces.push_back({{"type", "uts"}, {"path", in.utsns}});
  namespaces.push_back({{"type", "mount"}});
  if (h.cgroupns_mode != "host") namespaces.push_back({{"type", "cgroup"}});
  if (!in.netns.empty()) namespaces.push_back({{"type", "network"}, {"path", in.netns}});
  else if (net != "host") namespaces.push_back({{"type", "network"}});
  const bool ro_sys = !privileged || net != "host";
  json mounts = json::array({
      mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      mount("/sys", "sysfs", "sysfs", ro_sys && !privileged ? std::vector<std::string>{"nosuid", "noexec", "nodev", "ro"}
                                                            : std::vector<std::string>{"nosuid", "noexec", "nodev"}),
      mount("/sys/fs/cgroup", "cgroup", "cgroup",
            {"nosuid", "noexec", "nodev", "relatime", privileged ? "rw" : "ro"}),
      mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
  });
  // /dev/shm: a tmpfs of its own; the shareable one's host directory (its own or the one it
  // joined); the host's with --ipc host; none with --ipc none; a mount given for it (a pod's
  // shared one) instead of all these.
  bool shm_given = false;
  for (const Bind& b : binds_of(h)) shm_given |= b.destination == "/dev/shm";
  for (auto& m : in.volume_mounts) shm_given |= m.value("destination", "") == "/dev/shm";
  if (shm_given) {
  } else if (!in.shm_dir.empty())
    mounts.push_back(mount("/dev/shm", "bind", in.shm_dir, {"rbind", "rprivate", "nosuid", "noexec", "nodev"}));
  else if (h.ipc_mode == "host")
    mounts.push_back(mount("/dev/shm", "bind", "/dev/shm", {"rbind", "rprivate", "nosuid", "noexec", "nodev"}));
  else if (h.ipc_mode != "none")
    mounts.push_back(mount("/dev/shm", "tmpfs", "shm",
                           {"nosuid", "noexec", "nodev", "mode=1777", "size=" + std::to_string(shm_size(h))}));
  std::set<std::string> user_targets;
  json user_mounts = json::array();
  for (const Bind& b : binds_of(h))
    if (b.host_path()) user_mounts.push_back(bind_mount(b, in.recursive_ro));  // named volumes: in volume_mounts
  for (auto& m : in.volume_mounts) user_mounts.push_back(m);
  for (auto& [dst, opts] : h.tmpfs) user_mounts.push_back(tmpfs_mount(opts.empty() ? dst : dst + ":" + opts));
  for (auto& m : user_mounts) {
    std::string d = m["destination"];
    if (!user_targets.insert(d).second) throw Error(ErrorKind::invalid_argument, "duplicate mount point: " + d);
  }
  // The container's own mounts — its etc files, the init, binds, volumes, tmpfs — go in
  // parents first (Docker's order, by the destination's depth; as given within one depth): a
  // bind inside a volume or a tmpfs (`-v vol:/a -v /host:/a/sub`) is mounted on it, not hidden
  // under it with the writes meant for it landing in the volume; a bind of a whole /etc keeps
  // the engine's /etc/hosts over it.
  json own = json::array();
  auto etc = [&](const std::string& file, const std::string& dst) {
    if (!file.empty() && !user_targets.count(dst))
      own.push_back(mount(dst, "bind", file, {"rbind", "rprivate"}));
  };
  etc(in.resolv_file, "/etc/resolv.conf");
  etc(in.hostname_file, "/etc/hostname");
  etc(in.hosts_file, "/etc/hosts");
  if (h.init) {
    const char* init = "/usr/bin/tini-static";
    if (!fs::exists(init)) throw Error(ErrorKind::invalid_argument, "--init: " + std::string(init) + " is not installed (Debian package tini)");
    own.push_back(mount("/sbin/berth-init", "bind", init, {"bind", "ro", "rprivate"}));
  }
  for (auto& m : user_mounts) own.push_back(m);
  auto depth = [](const json& m) {
    const std::string d = fs::clean_path("/" + m.value("destination", std::string()));
    return d == "/" ? 0 : std::count(d.begin(), d.end(), '/');
  };
  std::vector<json> ordered(own.begin(), own.end());
  std::stable_sort(ordered.begin(), ordered.end(), [&](const json& a, const json& b) { return depth(a) < depth(b); });
  for (auto& m : ordered) mounts.push_back(std::move(m));

  // Resources.
  json devices = json::array();
  json dev_rules = json::array();
  json linux = json::object();
  linux["devices"] = json::array();
  if (privileged) {
    dev_rules.push_back(device_rule(true, "a", -1, -1, "rwm"));
  } else {
    dev_rules.push_back(device_rule(false, "a", -1, -1, "rwm"));
    for (auto [maj, min] : {std::pair{1, 5}, {1, 3}, {1, 9}, {1, 8}, {5, 0}, {5, 1}})
      dev_rules.push_back(device_rule(true, "c", maj, min, "rwm"));
    dev_rules.push_back(device_rule(false, "c", 10, 229, "rwm"));
  }
  for (auto& d : h.devices) add_device(d, linux, dev_rules);
  for (auto& r : h.device_cgroup_rules) dev_rules.push_back(device_cgroup_rule(r));
  json res = resources_of(h);
  res["devices"] = dev_rules;
  linux["resources"] = res;
  linux["namespaces"] = namespaces;
  // Docker's rule: a shared bind makes the root's propagation shared (mounts made in the
  // container reach the host through it), a slave one slave; otherwise the runtime's default.
  std::string root_propagation;
  for (const Bind& b : binds_of(h)) {
    const std::string p = b.propagation();
    if (p == "shared" || p == "rshared") root_propagation = "shared";
    else if ((p == "slave" || p == "rslave") && root_propagation.empty()) root_propagation = "rslave";
  }
  if (!root_propagation.empty()) linux["rootfsPropagation"] = root_propagation;
  linux["cgroupsPath"] = (h.cgroup_parent.empty() ? std::string("/berth") : fs::clean_path("/" + h.cgroup_parent)) + "/" + in.id;
  if (!privileged) {
    linux["maskedPaths"] = kDefaultMaskedPaths;
    linux["readonlyPaths"] = kDefaultReadonlyPaths;
    // Docker's HostConfig.MaskedPaths and ReadonlyPaths (the API's; the CRI's security context):
    // given, they replace the defaults.
    for (auto [field, key] : {std::pair{"MaskedPaths", "maskedPaths"}, {"ReadonlyPaths", "readonlyPaths"}}) {
      auto it = h.extra.find(field);
      if (it == h.extra.end() || it->is_null()) continue;
      if (!it->is_array()) throw Error(ErrorKind::invalid_argument, std::string("HostConfig.") + field + ": want a list of paths");
      for (auto& p : *it)
        if (!p.is_string() || p.get<std::string>().empty() || p.get<std::string>()[0] != '/')
          throw Error(ErrorKind::invalid_argument, std::string("HostConfig.") + field + ": want absolute paths");
      linux[key] = *it;
    }
  }
  if (!seccomp.is_null()) linux["seccomp"] = seccomp;
  json sysctl = json::object();
  if (in.default_net_sysctls)
    for (const auto& [k, v] : kDefaultNetSysctls) sysctl[k] = v;
  for (const auto& [k, v] : h.sysctls) sysctl[k] = v;
  if (!sysctl.empty()) linux["sysctl"] = sysctl;

  json spec = {{"ociVersion", oci::kOciVersion},
               {"process", process},
               {"root", {{"path", in.rootfs}, {"readonly", h.readonly_rootfs}}},
               {"mounts", mounts},
               {"linux", linux},
               {"annotations", {{"io.berth.container.id", in.id}}}};
  if (own_uts && (net != "host" || !hostname.empty())) spec["hostname"] = hostname;
  if (own_uts && !c.domainname.empty()) spec["domainname"] = c.domainname;
  return spec;
}

}  // namespace berth::engine
