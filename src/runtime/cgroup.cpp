// Host layout detection, path resolution and the helpers shared by the v1 and v2 backends.
#include "runtime/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sched.h>

#include <csignal>
#include <cstdint>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "common/error.hpp"
#include "common/strings.hpp"
#include "common/fs.hpp"
#include "common/mountinfo.hpp"
#include "runtime/cgroup_impl.hpp"

namespace berth::runtime {
namespace cgroup_detail {

namespace {

// The v1 controllers a hierarchy's super options can name; everything else there is a mount
// option (rw, xattr, clone_children, release_agent=…, noprefix…). "name=…" marks a named
// hierarchy without controllers, like systemd's.
const std::set<std::string, std::less<>> kV1Controllers = {
    "cpu",   "cpuacct",    "cpuset",  "memory", "devices", "freezer", "net_cls", "net_prio",
    "blkio", "perf_event", "hugetlb", "pids",   "rdma",    "misc",    "debug"};

// The non-empty "/"-separated components of a path.
std::vector<std::string> components(std::string_view path) {
  std::vector<std::string> out;
  for (auto& c : split(path, '/'))
    if (!c.empty()) out.push_back(std::move(c));
  return out;
}

std::vector<std::string> words(std::string_view s) {
  std::istringstream is{std::string(s)};
  std::vector<std::string> out;
  std::string w;
  while (is >> w) out.push_back(w);
  return out;
}

bool contains(const std::vector<std::string>& v, std::string_view x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

bool under_sys_fs_cgroup(const std::string& p) {
  return p == "/sys/fs/cgroup" || p.rfind("/sys/fs/cgroup/", 0) == 0;
}

void collect_procs(const std::string& dir, std::vector<pid_t>& out) {
  std::string text;
  if (!fs::read_file_if_exists(dir + "/cgroup.procs", text)) return;
  std::istringstream is(text);
  pid_t p;
  while (is >> p) out.push_back(p);
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return;  // removed meanwhile
  std::vector<std::string> subs;
  while (dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (e->d_type == DT_DIR && name != "." && name != "..") subs.push_back(dir + "/" + name);
  }
  d.reset();
  for (auto& s : subs) collect_procs(s, out);
}

}  // namespace

std::vector<CgroupHierarchy> parse_mountinfo(std::string_view text, bool read_v2_controllers) {
  // One entry per hierarchy (keyed by its controller set, or "cgroup2"), in the order first
  // seen; a later mount of the same hierarchy replaces the entry only if it is a better view:
  // a mount of the hierarchy's root, and then one under /sys/fs/cgroup.
  std::vector<CgroupHierarchy> out;
  std::vector<int> score;
  std::map<std::string, size_t> index;
  for (auto& line : split(text, '\n')) {
    // "36 35 98:0 /root /mnt rw,noatime master:1 - cgroup cgroup rw,memory": the optional
    // fields before " - " vary in number, so both halves are read from their own start.
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    auto left = split(std::string_view(line).substr(0, dash), ' ');
    auto right = split(std::string_view(line).substr(dash + 3), ' ');
    if (left.size() < 5 || right.size() < 3) continue;
    const std::string& fstype = right[0];
    CgroupHierarchy h;
    h.root = unescape_mountinfo(left[3]);
    h.mountpoint = unescape_mountinfo(left[4]);
    std::string key;
    if (fstype == "cgroup2") {
      h.v2 = true;
      key = "cgroup2";
    } else if (fstype == "cgroup") {
      for (auto& o : split(right[2], ','))
        if (kV1Controllers.count(o) || o.rfind("name=", 0) == 0) h.controllers.push_back(o);
      if (h.controllers.empty()) continue;
      auto sorted = h.controllers;
      std::sort(sorted.begin(), sorted.end());
      for (auto& c : sorted) key += c + ",";
    } else {
      continue;
    }
    int s = (h.root == "/" ? 2 : 0) + (under_sys_fs_cgroup(h.mountpoint) ? 1 : 0);
    if (auto it = index.find(key); it != index.end()) {
      if (s > score[it->second]) {
        out[it->second] = std::move(h);
        score[it->second] = s;
      }
      continue;
    }
    index[key] = out.size();
    out.push_back(std::move(h));
    score.push_back(s);
  }
  if (read_v2_controllers)
    for (auto& h : out)
      if (h.v2) h.controllers = words(read_knob(h.mountpoint, "cgroup.controllers"));
  return out;
}

CgroupMode mode_of(const std::vector<CgroupHierarchy>& hs) {
  bool v1 = false, v2 = false;
  for (auto& h : hs) {
    if (!h.v2) {
      v1 = true;
    } else {
      v2 = true;
      // A unified /sys/fs/cgroup makes the host v2 even if some named v1 hierarchy is
      // mounted somewhere (e.g. name=systemd for an old distribution's container).
      if (h.mountpoint == "/sys/fs/cgroup") return CgroupMode::v2;
    }
  }
  if (v1 && v2) return CgroupMode::hybrid;
  return v2 ? CgroupMode::v2 : CgroupMode::v1;
}

std::vector<const CgroupHierarchy*> container_hierarchies() {
  std::vector<const CgroupHierarchy*> out;
  const bool v2_only = host_cgroup_mode() == CgroupMode::v2;
  for (auto& h : host_hierarchies())
    if (!v2_only || h.v2) out.push_back(&h);
  return out;
}

std::string own_cgroup(std::string_view text, const CgroupHierarchy& h) {
  auto want = h.controllers;
  std::sort(want.begin(), want.end());
  for (auto& line : split(text, '\n')) {
    // "4:memory:/user.slice", "2:cpu,cpuacct:/", "0::/init.scope"; the path may hold ':'.
    auto c1 = line.find(':');
    if (c1 == std::string::npos) continue;
    auto c2 = line.find(':', c1 + 1);
    if (c2 == std::string::npos) continue;
    std::string id = line.substr(0, c1);
    std::string ctrls = line.substr(c1 + 1, c2 - c1 - 1);
    std::string path = line.substr(c2 + 1);
    if (h.v2) {
      if (id != "0" || !ctrls.empty()) continue;
    } else {
      auto got = split(ctrls, ',');
      std::sort(got.begin(), got.end());
      if (got != want) continue;
    }
    if (path.empty() || path[0] != '/') return "/";
    // A mount of a sub-cgroup shows `root` at its mountpoint: make the path relative to it.
    if (h.root != "/" && !h.root.empty()) {
      if (path == h.root) return "/";
      if (path.rfind(h.root + "/", 0) == 0) return path.substr(h.root.size());
      return "/";  // outside what the mount shows
    }
    return path;
  }
  return "/";
}

std::string resolve_path(const std::string& cgroups_path, const std::string& id,
                         const std::string& own) {
  if (cgroups_path.empty() && id.empty())
    throw Error("linux.cgroupsPath: empty, and no container id to derive a path from");
  std::string p = cgroups_path.empty() ? "/berth/" + id : cgroups_path;
  // ".." could climb out of the runtime's own cgroup (relative paths) or, once joined to a
  // mountpoint, out of the hierarchy: refuse rather than guess what was meant.
  for (auto& c : split(p, '/'))
    if (c == "..") throw Error("linux.cgroupsPath: `" + p + "` must not contain `..` components");
  if (p[0] != '/') p = own + "/" + p;
  p = fs::clean_path(p);
  if (p == "/") throw Error("linux.cgroupsPath: `" + p + "` is the root cgroup, not a container's");
  return p;
}

uint64_t shares_to_weight(uint64_t shares) {
  if (shares == 0) return 0;
  // v1 clamps cpu.shares to [2, 262144] itself; do the same so the formula cannot underflow.
  shares = std::clamp<uint64_t>(shares, 2, 262144);
  // The linear map of [2, 262144] onto [1, 10000] from runc's
  // ConvertCPUSharesToCgroupV2Value (libcontainer/cgroups/utils.go), also used by crun:
  // 2 → 1, 1024 (the v1 default) → 39, 262144 → 10000.
  return 1 + ((shares - 2) * 9999) / 262142;
}

std::string v2_swap_max(int64_t limit, int64_t swap) {
  // Follows runc's ConvertMemorySwapToCgroupV2Value: v1's memsw counts memory + swap, v2's
  // memory.swap.max counts swap alone.
  if (limit == -1 && swap == 0) return "max";  // "unlimited memory" means unlimited swap too
  if (swap == -1) return "max";
  if (swap == 0) return "";
  if (limit == 0 || limit == -1)
    throw Error("linux.resources.memory.swap: a swap limit needs a memory limit on cgroup v2");
  if (swap < limit)
    throw Error("linux.resources.memory.swap: must be -1 or at least memory.limit (" +
                std::to_string(swap) + " < " + std::to_string(limit) + ")");
  return std::to_string(swap - limit);
}

std::string v2_cpu_max(std::optional<int64_t> quota, std::optional<uint64_t> period,
                       std::string_view current) {
  const bool has_quota = quota && *quota != 0, has_period = period && *period != 0;
  if (!has_quota && !has_period) return "";
  std::string q;
  if (has_quota) {
    q = *quota > 0 ? std::to_string(*quota) : "max";
  } else {
    // Only the period changes: keep the quota the file has ("max" if unreadable).
    auto w = words(current);
    q = w.empty() ? "max" : w[0];
  }
  // Without a period the kernel keeps the current one.
  return has_period ? q + " " + std::to_string(*period) : q;
}

std::string v1_device_rule(const oci::DeviceRule& d) {
  if (d.type.empty() || d.type == "a") return "a *:* rwm";
  auto num = [](const std::optional<int64_t>& v) {
    return v && *v >= 0 ? std::to_string(*v) : std::string("*");
  };
  return d.type + " " + num(d.major) + ":" + num(d.minor) + " " +
         (d.access.empty() ? "rwm" : d.access);
}

bool valid_knob_name(std::string_view name) {
  return !name.empty() && name.find('/') == std::string_view::npos &&
         name.find("..") == std::string_view::npos && name != ".";
}

void write_knob(const std::string& dir, const std::string& file, const std::string& value) {
  const std::string path = dir + "/" + file;
  const std::string what = "write cgroup file " + path + " = " + value;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw_errno(what);
  // Kernel knobs take the value in one write.
  ssize_t n;
  do {
    n = ::write(fd.get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw_errno(what);
}

std::string read_knob(const std::string& dir, const std::string& file) {
  std::string v;
  fs::read_file_if_exists(dir + "/" + file, v);
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
  return v;
}

std::vector<pid_t> read_procs(const std::string& dir) {
  std::vector<pid_t> out;
  collect_procs(dir, out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void remove_dir(const std::string& dir, std::chrono::steady_clock::time_point deadline) {
  // The container may have made sub-cgroups (systemd inside, nested runtimes): a directory
  // with children cannot be removed, so they go first.
  {
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
    if (!d) {
      if (errno == ENOENT) return;
      throw_errno("open cgroup " + dir);
    }
    std::vector<std::string> subs;
    while (dirent* e = ::readdir(d.get())) {
      std::string name = e->d_name;
      if (e->d_type == DT_DIR && name != "." && name != "..") subs.push_back(dir + "/" + name);
    }
    d.reset();
    for (auto& s : subs) remove_dir(s, deadline);
  }
  // rmdir fails with EBUSY while tasks are still in the cgroup: killed ones leave it only
  // when they have exited, which takes a moment.
  // Back off from 100 µs: usually the last task is gone within a fraction of a millisecond,
  // and a fixed 10 ms sleep showed up in the run latency.
  auto pause = std::chrono::microseconds(100);
  for (;;) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    if (errno != EBUSY) throw_errno("remove cgroup " + dir);
    if (std::chrono::steady_clock::now() >= deadline)
      throw_errno("remove cgroup " + dir + " (processes are still in it)", EBUSY);
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(10000));
  }
}

void make_dirs(const std::string& mount, const std::string& path, bool cpuset,
               std::vector<std::string>& made) {
  std::string cur = mount;
  while (cur.size() > 1 && cur.back() == '/') cur.pop_back();
  for (auto& c : components(path)) {
    const std::string parent = cur;
    cur += "/" + c;
    if (::mkdir(cur.c_str(), 0755) == 0)
      made.push_back(cur);
    else if (errno != EEXIST)
      throw_errno("create cgroup " + cur);
    if (!cpuset) continue;
    // A new cpuset starts with empty cpus and mems, and the kernel refuses tasks until both
    // are set: give each level its parent's (cgroup.clone_children would do it, but it is a
    // per-directory flag the host may not have set).
    for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
      if (!read_knob(cur, f).empty()) continue;
      std::string v = read_knob(parent, f);
      if (!v.empty()) write_knob(cur, f, v);
    }
  }
}

bool v2_has_controller(const std::string& dir, const std::string& controller) {
  return contains(words(read_knob(dir, "cgroup.controllers")), controller);
}

void enable_controllers(const std::string& mount, const std::string& path,
                        const std::vector<std::string>& controllers) {
  std::string cur = mount;
  while (cur.size() > 1 && cur.back() == '/') cur.pop_back();
  // The root and every ancestor, not the leaf itself: a v2 cgroup with controllers enabled in
  // its subtree_control cannot hold processes, and the container's processes go in the leaf.
  for (auto& c : components(path)) {
    auto avail = words(read_knob(cur, "cgroup.controllers"));
    auto enabled = words(read_knob(cur, "cgroup.subtree_control"));
    for (auto& ctrl : controllers.empty() ? avail : controllers) {
      if (!contains(avail, ctrl) || contains(enabled, ctrl)) continue;
      try {
        write_knob(cur, "cgroup.subtree_control", "+" + ctrl);
      } catch (const Error&) {
        // See the header: the write of the limit that needed it will name the missing file.
      }
    }
    cur += "/" + c;
  }
}

}  // namespace cgroup_detail

using namespace cgroup_detail;

const std::vector<CgroupHierarchy>& host_hierarchies() {
  static const std::vector<CgroupHierarchy> hs =
      parse_mountinfo(fs::read_file("/proc/self/mountinfo"), true);
  return hs;
}

CgroupMode host_cgroup_mode() {
  static const CgroupMode m = mode_of(host_hierarchies());
  return m;
}

std::unique_ptr<Cgroup> Cgroup::create(const std::string& cgroups_path, const std::string& id) {
  if (host_hierarchies().empty())
    throw Error("cgroup: no cgroup hierarchy is mounted on this host (see /proc/self/mountinfo)");
  if (host_cgroup_mode() == CgroupMode::v2) return make_v2(cgroups_path, id);
  return make_v1(cgroups_path, id);
}

namespace {

// clone3's argument, as the kernel reads it (include/uapi/linux/sched.h; not in glibc 2.36).
struct CloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
      set_tid_size, cgroup;
};
constexpr uint64_t kCloneIntoCgroup = 0x200000000ULL;

}  // namespace

pid_t clone_into_cgroup(unsigned long flags, int cgroup_fd, bool* placed) {
  *placed = false;
#ifdef SYS_clone3
  if (cgroup_fd >= 0) {
    CloneArgs a{};
    a.flags = flags | kCloneIntoCgroup;
    // With CLONE_PARENT the child's exit signal is the caller's own, and clone3 refuses one.
    a.exit_signal = (flags & CLONE_PARENT) ? 0 : SIGCHLD;
    a.cgroup = static_cast<uint64_t>(cgroup_fd);
    long rc = ::syscall(SYS_clone3, &a, sizeof a);
    if (rc >= 0) {
      *placed = rc > 0;
      return static_cast<pid_t>(rc);
    }
    // Too old a kernel (5.7 brought it), a seccomp profile that hides clone3, a cgroup that
    // cannot take processes directly: the plain clone below says what is really wrong, if
    // anything, and the caller moves the child.
  }
#endif
  if (flags == 0) return ::fork();
  return static_cast<pid_t>(::syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0));
}

void join_self(std::vector<UniqueFd>& v1_tasks) {
  for (auto& fd : v1_tasks) {
    if (::write(fd.get(), "0", 1) != 1) throw_errno("cgroup: join (write 0 to tasks)");
    fd.reset();
  }
  v1_tasks.clear();
}

std::unique_ptr<Cgroup> Cgroup::from_json(const nlohmann::json& saved) {
  try {
    const std::string version = saved.at("version").get<std::string>();
    if (version == "v2") return load_v2(saved);
    if (version == "v1") return load_v1(saved);
    throw Error("saved cgroup: unknown version `" + version + "`");
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("saved cgroup: ") + e.what());
  }
}

}  // namespace berth::runtime
