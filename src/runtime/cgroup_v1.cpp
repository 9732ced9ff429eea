// cgroup v1 — and hybrid hosts, where the v1 hierarchies are joined by a directory in the
// v2 tree (which may carry a few controllers, e.g. hugetlb on this project's CI machines).
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "runtime/cgroup_impl.hpp"

namespace berth::runtime::cgroup_detail {
namespace {

std::string key_of(const CgroupHierarchy& h) { return h.controllers.front(); }

bool has(const CgroupHierarchy& h, const std::string& c) {
  for (auto& x : h.controllers)
    if (x == c) return true;
  return false;
}

std::string device_rule(const oci::DeviceRule& d) {
  std::string type = d.type.empty() ? "a" : d.type;
  if (type == "a") return "a *:* rwm";
  auto num = [](const std::optional<int64_t>& v) { return v && *v >= 0 ? std::to_string(*v) : "*"; };
  return type + " " + num(d.major) + ":" + num(d.minor) + " " + (d.access.empty() ? "rwm" : d.access);
}

class CgroupV1 final : public Cgroup {
 public:
  CgroupV1(std::string path, std::map<std::string, std::string> dirs, std::string unified)
      : path_(std::move(path)), dirs_(std::move(dirs)), unified_(std::move(unified)) {}

  nlohmann::json to_json() const override {
    return {{"version", "v1"}, {"path", path_}, {"dirs", dirs_}, {"unified", unified_}};
  }

  void set(const oci::LinuxResources& r) override {
    if (!r.devices.empty()) {
      std::string d = dir("devices");
      for (auto& rule : r.devices)
        write_knob(d, rule.allow ? "devices.allow" : "devices.deny", device_rule(rule));
    }
    if (r.memory) set_memory(*r.memory);
    if (r.cpu) set_cpu(*r.cpu);
    if (r.pidsLimit) {
      write_knob(dir("pids"), "pids.max", *r.pidsLimit > 0 ? std::to_string(*r.pidsLimit) : "max");
    }
    if (r.blockIO) set_blkio(*r.blockIO);
    for (auto& h : r.hugepageLimits) {
      if (dirs_.count("hugetlb")) {
        write_checked(dir("hugetlb"), "hugetlb." + h.pageSize + ".limit_in_bytes", std::to_string(h.limit), "hugepageLimits");
      } else if (!unified_.empty()) {
        enable_unified();
        write_checked(unified_, "hugetlb." + h.pageSize + ".max", std::to_string(h.limit), "hugepageLimits");
      } else {
        throw Error("linux.resources.hugepageLimits: the hugetlb controller is not available");
      }
    }
    if (!r.unified.empty()) {
      if (unified_.empty())
        throw Error("linux.resources.unified: needs cgroup v2, this host has only v1");
      enable_unified();
      for (auto& [k, v] : r.unified) {
        if (k.find('/') != std::string::npos || k.find("..") != std::string::npos)
          throw Error("linux.resources.unified: invalid file name `" + k + "`");
        write_knob(unified_, k, v);
      }
    }
  }

  void add(pid_t pid) override {
    for (auto& [k, d] : dirs_) write_knob(d, "cgroup.procs", std::to_string(pid));
    if (!unified_.empty()) write_knob(unified_, "cgroup.procs", std::to_string(pid));
  }

  std::vector<pid_t> pids() const override {
    for (const char* k : {"pids", "memory", "freezer"})
      if (auto it = dirs_.find(k); it != dirs_.end()) return read_procs(it->second);
    if (!dirs_.empty()) return read_procs(dirs_.begin()->second);
    return {};
  }

  void destroy() override {
    for (auto& [k, d] : dirs_) remove_dir(d);
    if (!unified_.empty()) remove_dir(unified_);
  }

  std::string path() const override { return path_; }
  std::string host_dir(const std::string& controller) const override {
    if (controller.empty()) return unified_;
    auto it = dirs_.find(controller);
    return it == dirs_.end() ? "" : it->second;
  }

 private:
  std::string dir(const std::string& controller) const {
    auto it = dirs_.find(controller);
    if (it == dirs_.end())
      throw Error("cgroup controller `" + controller + "` is not mounted on this host");
    return it->second;
  }

  // On a hybrid host the v2 tree is left alone unless a limit needs one of its controllers:
  // then they are enabled down to our directory.
  void enable_unified() {
    for (auto& h : host_hierarchies())
      if (h.v2 && unified_.rfind(h.mountpoint, 0) == 0)
        enable_controllers(h.mountpoint, unified_.substr(h.mountpoint.size()));
  }

  // A knob whose absence means "not supported here" gets that message, not ENOENT.
  void write_checked(const std::string& d, const std::string& file, const std::string& value,
                     const std::string& field) {
    if (!fs::exists(d + "/" + file))
      throw Error("linux.resources." + field + ": `" + file + "` is not supported by this host");
    write_knob(d, file, value);
  }

  void set_memory(const oci::MemoryResources& m) {
    std::string d = dir("memory");
    if (m.reservation) write_knob(d, "memory.soft_limit_in_bytes", std::to_string(*m.reservation));
    if (m.swap && !fs::exists(d + "/memory.memsw.limit_in_bytes") &&
        !(m.limit && *m.swap == *m.limit) && *m.swap != -1)
      throw Error("linux.resources.memory.swap: swap accounting is not enabled in this kernel");
    bool memsw = m.swap && fs::exists(d + "/memory.memsw.limit_in_bytes");
    if (m.limit && memsw) {
      // memsw must stay >= limit at every moment: raise memsw first when growing.
      try {
        write_knob(d, "memory.limit_in_bytes", std::to_string(*m.limit));
        write_knob(d, "memory.memsw.limit_in_bytes", std::to_string(*m.swap));
      } catch (const Error&) {
        write_knob(d, "memory.memsw.limit_in_bytes", std::to_string(*m.swap));
        write_knob(d, "memory.limit_in_bytes", std::to_string(*m.limit));
      }
    } else if (m.limit) {
      write_knob(d, "memory.limit_in_bytes", std::to_string(*m.limit));
    } else if (memsw) {
      write_knob(d, "memory.memsw.limit_in_bytes", std::to_string(*m.swap));
    }
    if (m.swappiness && *m.swappiness <= 100)
      write_knob(d, "memory.swappiness", std::to_string(*m.swappiness));
    if (m.disableOOMKiller && *m.disableOOMKiller) write_knob(d, "memory.oom_control", "1");
  }

  void set_cpu(const oci::CpuResources& c) {
    if (c.shares || c.quota || c.period || c.realtimePeriod || c.realtimeRuntime || c.burst || c.idle) {
      std::string d = dir("cpu");
      if (c.shares) write_knob(d, "cpu.shares", std::to_string(*c.shares));
      if (c.period) write_knob(d, "cpu.cfs_period_us", std::to_string(*c.period));
      if (c.quota) write_knob(d, "cpu.cfs_quota_us", std::to_string(*c.quota));
      if (c.burst) write_checked(d, "cpu.cfs_burst_us", std::to_string(*c.burst), "cpu.burst");
      if (c.realtimePeriod) write_knob(d, "cpu.rt_period_us", std::to_string(*c.realtimePeriod));
      if (c.realtimeRuntime) write_knob(d, "cpu.rt_runtime_us", std::to_string(*c.realtimeRuntime));
      if (c.idle) write_checked(d, "cpu.idle", std::to_string(*c.idle), "cpu.idle");
    }
    if (!c.cpus.empty()) write_knob(dir("cpuset"), "cpuset.cpus", c.cpus);
    if (!c.mems.empty()) write_knob(dir("cpuset"), "cpuset.mems", c.mems);
  }

  void set_blkio(const oci::BlockIOResources& b) {
    std::string d = dir("blkio");
    auto dev = [](const oci::BlockIODevice& x, uint64_t v) {
      return std::to_string(x.major) + ":" + std::to_string(x.minor) + " " + std::to_string(v);
    };
    std::string weight = fs::exists(d + "/blkio.weight") ? "blkio.weight" : "blkio.bfq.weight";
    std::string weight_dev = fs::exists(d + "/blkio.weight_device") ? "blkio.weight_device" : "blkio.bfq.weight_device";
    if (b.weight) write_checked(d, weight, std::to_string(*b.weight), "blockIO.weight");
    if (b.leafWeight) write_checked(d, "blkio.leaf_weight", std::to_string(*b.leafWeight), "blockIO.leafWeight");
    for (auto& x : b.weightDevice)
      if (x.weight) write_checked(d, weight_dev, dev(x, *x.weight), "blockIO.weightDevice");
    for (auto& x : b.throttleReadBpsDevice) write_knob(d, "blkio.throttle.read_bps_device", dev(x, x.rate));
    for (auto& x : b.throttleWriteBpsDevice) write_knob(d, "blkio.throttle.write_bps_device", dev(x, x.rate));
    for (auto& x : b.throttleReadIOPSDevice) write_knob(d, "blkio.throttle.read_iops_device", dev(x, x.rate));
    for (auto& x : b.throttleWriteIOPSDevice) write_knob(d, "blkio.throttle.write_iops_device", dev(x, x.rate));
  }

  std::string path_;
  std::map<std::string, std::string> dirs_;  // first controller (or name=...) → directory
  std::string unified_;                      // hybrid: directory in the v2 tree
};

// cpuset refuses tasks until cpus and mems are set: copy them down from the parent at each
// level created.
void init_cpuset(const std::string& mount, const std::string& path) {
  std::string cur = mount;
  const std::string clean = fs::clean_path(path);
  size_t i = 1;
  while (i < clean.size()) {
    size_t j = clean.find('/', i);
    if (j == std::string::npos) j = clean.size();
    const std::string parent = cur;
    cur += "/" + clean.substr(i, j - i);
    i = j + 1;
    if (::mkdir(cur.c_str(), 0755) < 0 && errno != EEXIST) throw_errno("mkdir cgroup " + cur);
    for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
      std::string v;
      fs::read_file_if_exists(cur + "/" + f, v);
      if (!v.empty() && v != "\n") continue;
      std::string pv;
      fs::read_file_if_exists(parent + "/" + f, pv);
      if (!pv.empty() && pv.back() == '\n') pv.pop_back();
      if (!pv.empty()) write_knob(cur, f, pv);
    }
  }
}

}  // namespace

std::unique_ptr<Cgroup> make_v1(const std::string& cgroups_path, const std::string& id) {
  std::string own_text;
  fs::read_file_if_exists("/proc/self/cgroup", own_text);
  std::map<std::string, std::string> dirs;
  std::string unified, shown;
  std::vector<std::string> made;
  try {
    for (auto& h : host_hierarchies()) {
      std::string p = resolve_path(cgroups_path, id, own_cgroup(own_text, h));
      if (shown.empty()) shown = p;
      std::string d = h.mountpoint + p;
      bool existed = fs::is_dir(d);
      if (!h.v2 && has(h, "cpuset"))
        init_cpuset(h.mountpoint, p);
      else
        fs::mkdir_p(d, 0755);
      if (!existed) made.push_back(d);
      if (h.v2)
        unified = d;
      else
        dirs[key_of(h)] = d;
    }
  } catch (...) {
    for (auto it = made.rbegin(); it != made.rend(); ++it) ::rmdir(it->c_str());
    throw;
  }
  return std::make_unique<CgroupV1>(shown, std::move(dirs), std::move(unified));
}

std::unique_ptr<Cgroup> load_v1(const nlohmann::json& j) {
  return std::make_unique<CgroupV1>(j.value("path", ""),
                                    j.value("dirs", std::map<std::string, std::string>{}),
                                    j.value("unified", ""));
}

}  // namespace berth::runtime::cgroup_detail
