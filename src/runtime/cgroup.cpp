#include "runtime/cgroup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <sstream>
#include <thread>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "runtime/cgroup_impl.hpp"

namespace berth::runtime {
namespace cgroup_detail {

namespace {
const std::set<std::string, std::less<>> kV1Controllers = {
    "cpu",     "cpuacct",    "cpuset",  "memory", "devices", "freezer", "net_cls",
    "net_prio", "blkio",     "perf_event", "hugetlb", "pids",  "rdma",    "misc"};

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(sep, i);
    if (j == std::string_view::npos) j = s.size();
    out.emplace_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}
}  // namespace

std::vector<CgroupHierarchy> parse_mountinfo(std::string_view text, bool read_v2_controllers) {
  std::vector<CgroupHierarchy> out;
  std::set<std::vector<std::string>> seen;
  for (auto& line : split(text, '\n')) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    auto left = split(std::string_view(line).substr(0, dash), ' ');
    auto right = split(std::string_view(line).substr(dash + 3), ' ');
    if (left.size() < 5 || right.size() < 3) continue;
    const std::string& root = left[3];
    const std::string& mountpoint = left[4];
    const std::string& fstype = right[0];
    if (root != "/") continue;  // a bind of a sub-cgroup (e.g. inside a container)
    CgroupHierarchy h;
    h.mountpoint = mountpoint;
    if (fstype == "cgroup2") {
      h.v2 = true;
      if (read_v2_controllers) {
        std::string c;
        if (fs::read_file_if_exists(mountpoint + "/cgroup.controllers", c)) {
          std::istringstream is(c);
          std::string w;
          while (is >> w) h.controllers.push_back(w);
        }
      }
      if (!seen.insert({"cgroup2"}).second) continue;
    } else if (fstype == "cgroup") {
      for (auto& o : split(right[2], ',')) {
        if (kV1Controllers.count(o) || o.rfind("name=", 0) == 0) h.controllers.push_back(o);
      }
      if (h.controllers.empty()) continue;
      if (!seen.insert(h.controllers).second) continue;
    } else {
      continue;
    }
    out.push_back(std::move(h));
  }
  return out;
}

CgroupMode mode_of(const std::vector<CgroupHierarchy>& hs) {
  bool v1 = false, v2 = false;
  for (auto& h : hs) (h.v2 ? v2 : v1) = true;
  if (v1 && v2) return CgroupMode::hybrid;
  if (v2) return CgroupMode::v2;
  return CgroupMode::v1;
}

std::string own_cgroup(std::string_view text, const CgroupHierarchy& h) {
  for (auto& line : split(text, '\n')) {
    auto parts = split(line, ':');
    if (parts.size() < 3) continue;
    // The path may itself contain ':'; rejoin the tail.
    std::string path = parts[2];
    for (size_t i = 3; i < parts.size(); ++i) path += ":" + parts[i];
    if (h.v2) {
      if (parts[0] == "0" && parts[1].empty()) return path;
      continue;
    }
    auto ctrls = split(parts[1], ',');
    std::sort(ctrls.begin(), ctrls.end());
    auto want = h.controllers;
    std::sort(want.begin(), want.end());
    if (ctrls == want) return path;
  }
  return "/";
}

std::string resolve_path(const std::string& cgroups_path, const std::string& id,
                         const std::string& own) {
  std::string p = cgroups_path.empty() ? "/berth/" + id : cgroups_path;
  for (auto& c : split(p, '/'))
    if (c == "..")
      throw Error("linux.cgroupsPath: `" + cgroups_path + "` must not contain `..`");
  if (p[0] != '/') p = own + "/" + p;
  p = fs::clean_path(p);
  if (p == "/") throw Error("linux.cgroupsPath: `" + cgroups_path + "` is the root cgroup");
  return p;
}

uint64_t shares_to_weight(uint64_t shares) {
  if (shares == 0) return 0;
  // runc (libcontainer/cgroups/utils.go ConvertCPUSharesToCgroupV2Value) and crun map
  // [2, 262144] linearly onto [1, 10000].
  return 1 + ((shares - 2) * 9999) / 262142;
}

std::string v2_swap_max(int64_t limit, int64_t swap) {
  if (swap == -1) return "max";
  if (limit == -1 || limit == 0) return std::to_string(swap);  // no memory limit: all swap
  if (swap < limit)
    throw Error("linux.resources.memory.swap: must be -1 or at least memory.limit (" +
                std::to_string(swap) + " < " + std::to_string(limit) + ")");
  return std::to_string(swap - limit);
}

void write_knob(const std::string& dir, const std::string& file, const std::string& value) {
  const std::string path = dir + "/" + file;
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw_errno("write cgroup file " + path + " = " + value);
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n < 0) throw_errno("write cgroup file " + path + " = " + value, err);
}

std::vector<pid_t> read_procs(const std::string& dir) {
  std::vector<pid_t> out;
  std::string text;
  if (!fs::read_file_if_exists(dir + "/cgroup.procs", text)) return out;
  std::istringstream is(text);
  pid_t p;
  while (is >> p) out.push_back(p);
  return out;
}

// Enables every available controller in each ancestor's subtree_control, from the top down,
// so that the new directory gets them. A level that refuses (it has processes of its own, or
// a controller is busy) is left as it is: the limits that then cannot be written will fail
// with a message naming the file.
void enable_controllers(const std::string& mount, const std::string& path) {
  std::string cur = mount;
  const std::string clean = fs::clean_path(path);
  size_t i = 1;
  while (i < clean.size()) {
    std::string avail;
    fs::read_file_if_exists(cur + "/cgroup.controllers", avail);
    std::istringstream is(avail);
    std::string c;
    while (is >> c) {
      try {
        write_knob(cur, "cgroup.subtree_control", "+" + c);
      } catch (const Error&) {
      }
    }
    size_t j = clean.find('/', i);
    if (j == std::string::npos) j = clean.size();
    cur += "/" + clean.substr(i, j - i);
    i = j + 1;
  }
}

void remove_dir(const std::string& dir) {
  for (int i = 0; i < 100; ++i) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    if (errno != EBUSY) throw_errno("remove cgroup " + dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw_errno("remove cgroup " + dir + " (still has processes)", EBUSY);
}

}  // namespace cgroup_detail

using namespace cgroup_detail;

const std::vector<CgroupHierarchy>& host_hierarchies() {
  static const std::vector<CgroupHierarchy> hs = [] {
    return parse_mountinfo(fs::read_file("/proc/self/mountinfo"), true);
  }();
  return hs;
}

CgroupMode host_cgroup_mode() {
  static const CgroupMode m = mode_of(host_hierarchies());
  return m;
}

std::unique_ptr<Cgroup> Cgroup::create(const std::string& cgroups_path, const std::string& id) {
  if (host_hierarchies().empty()) throw Error("no cgroup hierarchy is mounted on this host");
  if (host_cgroup_mode() == CgroupMode::v2) return make_v2(cgroups_path, id);
  return make_v1(cgroups_path, id);
}

std::unique_ptr<Cgroup> Cgroup::from_json(const nlohmann::json& saved) {
  if (saved.value("version", "") == "v2") return load_v2(saved);
  return load_v1(saved);
}

}  // namespace berth::runtime
