// cgroup v1 — and hybrid hosts, where the v1 hierarchies are joined by a directory in the
// v2 tree (which may carry a few controllers, e.g. only hugetlb on this project's CI machines).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <optional>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "runtime/cgroup_impl.hpp"

namespace berth::runtime::cgroup_detail {
namespace {

// One hierarchy's directory for the container.
struct V1Dir {
  std::vector<std::string> controllers;  // as mounted: {"cpu","cpuacct"}, {"name=systemd"}
  std::string dir;
};

class CgroupV1 final : public Cgroup {
 public:
  CgroupV1(std::string path, std::vector<V1Dir> dirs, std::string unified,
           std::string unified_mount)
      : path_(std::move(path)),
        dirs_(std::move(dirs)),
        unified_(std::move(unified)),
        unified_mount_(std::move(unified_mount)) {}

  nlohmann::json to_json() const override {
    nlohmann::json dirs = nlohmann::json::array();
    for (auto& d : dirs_) dirs.push_back({{"controllers", d.controllers}, {"dir", d.dir}});
    return {{"version", "v1"},
            {"path", path_},
            {"dirs", dirs},
            {"unified", unified_},
            {"unified_mount", unified_mount_}};
  }

  void set(const oci::LinuxResources& r) override {
    warnings_.clear();
    if (!r.devices.empty()) {
      // In order: a later rule overrides an earlier one ("deny all" then the allows).
      const std::string& d = need("devices", "devices");
      for (auto& rule : r.devices)
        write_knob(d, rule.allow ? "devices.allow" : "devices.deny", v1_device_rule(rule));
    }
    if (r.memory) set_memory(*r.memory);
    if (r.cpu) set_cpu(*r.cpu);
    if (r.pidsLimit) {
      // OCI: 0 or a negative limit is no limit.
      write_knob(need("pids", "pids.limit"), "pids.max",
                 *r.pidsLimit > 0 ? std::to_string(*r.pidsLimit) : "max");
    }
    if (r.blockIO) set_blkio(*r.blockIO);
    for (auto& h : r.hugepageLimits) set_hugetlb(h);
    if (!r.unified.empty()) set_unified(r.unified);
  }

  void add(pid_t pid, Joined done) override {
    if (!done.v1)
      for (auto& d : dirs_) write_knob(d.dir, "cgroup.procs", std::to_string(pid));
    if (!unified_.empty() && !done.v2) write_knob(unified_, "cgroup.procs", std::to_string(pid));
  }

  FastJoin open_fast_join() const override {
    FastJoin j;
    if (!unified_.empty()) j.v2_dir.reset(::open(unified_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (auto& d : dirs_) {
      UniqueFd fd(::open((d.dir + "/tasks").c_str(), O_WRONLY | O_CLOEXEC));
      if (!fd) {
        j.v1_tasks.clear();
        break;
      }
      j.v1_tasks.push_back(std::move(fd));
    }
    return j;
  }

  std::vector<pid_t> pids() const override {
    // Every hierarchy holds all of the container's processes: read one that any v1 host has.
    for (const char* c : {"pids", "memory", "freezer"})
      if (const std::string* d = find(c)) return read_procs(*d);
    if (!dirs_.empty()) return read_procs(dirs_.front().dir);
    if (!unified_.empty()) return read_procs(unified_);
    return {};
  }

  void destroy() override {
    // One deadline for all hierarchies: the processes leave all of them at once.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    std::optional<Error> first;
    auto remove = [&](const std::string& d) {
      try {
        remove_dir(d, deadline);
      } catch (const Error& e) {
        if (!first) first = e;
      }
    };
    for (auto& d : dirs_) remove(d.dir);
    if (!unified_.empty()) remove(unified_);
    if (first) throw *first;
  }

  std::string path() const override { return path_; }

  std::string host_dir(const std::string& controller) const override {
    if (controller.empty()) return unified_;
    const std::string* d = find(controller);
    return d ? *d : std::string();
  }

 private:
  const std::string* find(std::string_view controller) const {
    for (auto& d : dirs_)
      if (std::find(d.controllers.begin(), d.controllers.end(), controller) != d.controllers.end())
        return &d.dir;
    return nullptr;
  }

  const std::string& need(const std::string& controller, const std::string& field) const {
    if (const std::string* d = find(controller)) return *d;
    throw Error("linux.resources." + field + ": the " + controller +
                " cgroup controller is not mounted on this host");
  }

  // A knob whose absence means "this kernel does not have it" gets that message, not ENOENT.
  void write_checked(const std::string& d, const std::string& file, const std::string& value,
                     const std::string& field) {
    if (!fs::exists(d + "/" + file))
      throw Error("linux.resources." + field + ": not supported by this kernel (no " + d + "/" +
                  file + ")");
    write_knob(d, file, value);
  }

  // cpu.cfs_period_us/cfs_quota_us and cpu.rt_period_us/rt_runtime_us are checked against each
  // other and the parent's, so the order that works depends on the old values. As runc does:
  // period first; if the kernel refuses it (EINVAL) and a new value follows, retry the period
  // after that value.
  static void write_period_pair(const std::string& d, const std::string& period_file,
                                const std::string& period, const std::string& value_file,
                                const std::string& value) {
    bool period_pending = false;
    if (!period.empty()) {
      try {
        write_knob(d, period_file, period);
      } catch (const Error& e) {
        if (e.code() != EINVAL || value.empty()) throw;
        period_pending = true;
      }
    }
    if (value.empty()) return;
    write_knob(d, value_file, value);
    if (period_pending) write_knob(d, period_file, period);
  }

  void set_memory(const oci::MemoryResources& m) {
    const bool any = set_nonzero(m.limit) || set_nonzero(m.reservation) || set_nonzero(m.swap) ||
                     m.swappiness || (m.disableOOMKiller && *m.disableOOMKiller) ||
                     set_nonzero(m.kernel) || set_nonzero(m.kernelTCP);
    if (!any) return;
    const std::string& d = need("memory", "memory");
    const bool memsw = fs::exists(d + "/memory.memsw.limit_in_bytes");
    int64_t limit = m.limit.value_or(0), swap = m.swap.value_or(0);
    // runc: unlimited memory without a swap value means unlimited memory+swap too (else an
    // old memsw would still cap it).
    if (limit == -1 && swap == 0 && memsw) swap = -1;
    if (swap != 0 && !memsw) {
      // Without swap accounting memory+swap cannot be capped; that only matters if it asked
      // for swap beyond the memory limit.
      if (swap > 0 && swap != limit)
        throw Error("linux.resources.memory.swap: swap limit not supported by this kernel (no " +
                    d + "/memory.memsw.limit_in_bytes; swap accounting is off, see swapaccount=1)");
      swap = 0;
    }
    if (set_nonzero(m.reservation))
      write_knob(d, "memory.soft_limit_in_bytes", std::to_string(*m.reservation));
    const std::string lim = std::to_string(limit), sw = std::to_string(swap);
    if (limit != 0 && swap != 0) {
      // memsw may never be below the limit: when lowering, the limit must go first; when
      // raising, memsw. The kernel tells which with EINVAL.
      try {
        write_knob(d, "memory.limit_in_bytes", lim);
        write_knob(d, "memory.memsw.limit_in_bytes", sw);
      } catch (const Error& e) {
        if (e.code() != EINVAL) throw;
        write_knob(d, "memory.memsw.limit_in_bytes", sw);
        write_knob(d, "memory.limit_in_bytes", lim);
      }
    } else if (limit != 0) {
      write_knob(d, "memory.limit_in_bytes", lim);
    } else if (swap != 0) {
      write_knob(d, "memory.memsw.limit_in_bytes", sw);
    }
    if (m.swappiness) write_knob(d, "memory.swappiness", std::to_string(*m.swappiness));
    if (m.disableOOMKiller && *m.disableOOMKiller) write_knob(d, "memory.oom_control", "1");
    if (set_nonzero(m.kernel))
      warnings_.push_back(
          "linux.resources.memory.kernel: kernel memory limits are deprecated and ignored");
    if (set_nonzero(m.kernelTCP)) {
      if (fs::exists(d + "/memory.kmem.tcp.limit_in_bytes"))
        write_knob(d, "memory.kmem.tcp.limit_in_bytes", std::to_string(*m.kernelTCP));
      else
        warnings_.push_back(
            "linux.resources.memory.kernelTCP: not supported by this kernel, ignored");
    }
  }

  void set_cpu(const oci::CpuResources& c) {
    const bool cpu = set_nonzero(c.shares) || set_nonzero(c.quota) || set_nonzero(c.period) ||
                     set_nonzero(c.realtimePeriod) || set_nonzero(c.realtimeRuntime) || c.burst ||
                     c.idle;
    if (cpu) {
      const std::string& d = need("cpu", "cpu");
      if (set_nonzero(c.shares)) write_knob(d, "cpu.shares", std::to_string(*c.shares));
      write_period_pair(d, "cpu.cfs_period_us",
                        set_nonzero(c.period) ? std::to_string(*c.period) : "", "cpu.cfs_quota_us",
                        set_nonzero(c.quota) ? std::to_string(*c.quota) : "");
      if (c.burst) write_checked(d, "cpu.cfs_burst_us", std::to_string(*c.burst), "cpu.burst");
      if (set_nonzero(c.realtimePeriod) || set_nonzero(c.realtimeRuntime)) {
        if (!fs::exists(d + "/cpu.rt_runtime_us"))
          throw Error("linux.resources.cpu.realtimeRuntime: not supported by this kernel (no " + d +
                      "/cpu.rt_runtime_us; it needs CONFIG_RT_GROUP_SCHED)");
        write_period_pair(d, "cpu.rt_period_us",
                          set_nonzero(c.realtimePeriod) ? std::to_string(*c.realtimePeriod) : "",
                          "cpu.rt_runtime_us",
                          set_nonzero(c.realtimeRuntime) ? std::to_string(*c.realtimeRuntime) : "");
      }
      if (c.idle) write_checked(d, "cpu.idle", std::to_string(*c.idle), "cpu.idle");
    }
    if (!c.cpus.empty()) write_knob(need("cpuset", "cpu.cpus"), "cpuset.cpus", c.cpus);
    if (!c.mems.empty()) write_knob(need("cpuset", "cpu.mems"), "cpuset.mems", c.mems);
  }

  void set_blkio(const oci::BlockIOResources& b) {
    const bool throttle = !b.throttleReadBpsDevice.empty() || !b.throttleWriteBpsDevice.empty() ||
                          !b.throttleReadIOPSDevice.empty() || !b.throttleWriteIOPSDevice.empty();
    if (!set_nonzero(b.weight) && !set_nonzero(b.leafWeight) && b.weightDevice.empty() && !throttle)
      return;
    const std::string& d = need("blkio", "blockIO");
    auto dev = [](const oci::BlockIODevice& x, uint64_t v) {
      return std::to_string(x.major) + ":" + std::to_string(x.minor) + " " + std::to_string(v);
    };
    // CFQ's blkio.weight is gone from kernels since 5.0; BFQ offers blkio.bfq.weight instead.
    auto pick = [&](const char* cfq, const char* bfq) {
      return fs::exists(d + "/" + cfq) || !fs::exists(d + "/" + bfq) ? std::string(cfq)
                                                                     : std::string(bfq);
    };
    const std::string weight = pick("blkio.weight", "blkio.bfq.weight");
    const std::string weight_dev = pick("blkio.weight_device", "blkio.bfq.weight_device");
    if (set_nonzero(b.weight))
      write_checked(d, weight, std::to_string(*b.weight), "blockIO.weight");
    if (set_nonzero(b.leafWeight))
      write_checked(d, "blkio.leaf_weight", std::to_string(*b.leafWeight), "blockIO.leafWeight");
    for (auto& x : b.weightDevice) {
      if (x.weight) write_checked(d, weight_dev, dev(x, *x.weight), "blockIO.weightDevice");
      if (x.leafWeight)
        write_checked(d, "blkio.leaf_weight_device", dev(x, *x.leafWeight), "blockIO.weightDevice");
    }
    const std::pair<const std::vector<oci::BlockIODevice>*, const char*> throttles[] = {
        {&b.throttleReadBpsDevice, "read_bps_device"},
        {&b.throttleWriteBpsDevice, "write_bps_device"},
        {&b.throttleReadIOPSDevice, "read_iops_device"},
        {&b.throttleWriteIOPSDevice, "write_iops_device"}};
    for (auto& [list, name] : throttles)
      for (auto& x : *list)
        write_checked(d, std::string("blkio.throttle.") + name, dev(x, x.rate), "blockIO");
  }

  // The v2 tree's mountpoint and our path in it, for enabling controllers down to us.
  std::string unified_rel() const {
    return unified_.size() > unified_mount_.size() ? unified_.substr(unified_mount_.size()) : "/";
  }

  // hugetlb goes to the v1 hierarchy if there is one, else (hybrid) to the v2 tree if that has
  // the controller. A page size the host does not offer has no file there: skipped.
  void set_hugetlb(const oci::HugepageLimit& h) {
    const std::string field = "linux.resources.hugepageLimits";
    std::string d, file;
    if (const std::string* v1 = find("hugetlb")) {
      d = *v1;
      file = "hugetlb." + h.pageSize + ".limit_in_bytes";
    } else if (!unified_.empty() && v2_has_controller(unified_mount_, "hugetlb")) {
      enable_controllers(unified_mount_, unified_rel(), {"hugetlb"});
      if (!v2_has_controller(unified_, "hugetlb"))
        throw Error(field + ": the hugetlb controller could not be enabled for " + unified_ +
                    " (see cgroup.subtree_control of its parents)");
      d = unified_;
      file = "hugetlb." + h.pageSize + ".max";
    } else {
      throw Error(field + ": the hugetlb cgroup controller is not available on this host");
    }
    if (!fs::exists(d + "/" + file)) {
      warnings_.push_back(field + ": page size " + h.pageSize +
                          " is not offered by this host, its limit is ignored");
      return;
    }
    write_knob(d, file, std::to_string(h.limit));
  }

  // linux.resources.unified names cgroup v2 files: on a hybrid host they go to our directory
  // in the v2 tree, with the controller they belong to enabled down to it if the tree has it.
  void set_unified(const std::map<std::string, std::string>& unified) {
    if (unified_.empty())
      throw Error(
          "linux.resources.unified: needs cgroup v2, and this host has only v1 hierarchies");
    for (auto& [k, v] : unified) {
      if (!valid_knob_name(k))
        throw Error("linux.resources.unified: invalid file name `" + k + "`");
      const std::string ctrl = k.substr(0, k.find('.'));
      if (ctrl != "cgroup" && v2_has_controller(unified_mount_, ctrl))
        enable_controllers(unified_mount_, unified_rel(), {ctrl});
      if (!fs::exists(unified_ + "/" + k)) {
        std::string avail = read_knob(unified_mount_, "cgroup.controllers");
        throw Error("linux.resources.unified." + k + ": no such file in " + unified_ +
                    " (controllers of this host's cgroup v2 tree: " +
                    (avail.empty() ? "none" : avail) + ")");
      }
      write_knob(unified_, k, v);
    }
  }

  std::string path_;
  std::vector<V1Dir> dirs_;
  std::string unified_;        // hybrid: our directory in the v2 tree
  std::string unified_mount_;  // hybrid: where the v2 tree is mounted
};

}  // namespace

std::unique_ptr<Cgroup> make_v1(const std::string& cgroups_path, const std::string& id) {
  std::string own_text;
  fs::read_file_if_exists("/proc/self/cgroup", own_text);
  std::vector<V1Dir> dirs;
  std::string unified, unified_mount, shown;
  std::vector<std::string> made;
  try {
    for (const CgroupHierarchy* h : container_hierarchies()) {
      // Relative paths may land in a different place in each hierarchy (the runtime's own
      // cgroup differs between them).
      const std::string p = resolve_path(cgroups_path, id, own_cgroup(own_text, *h));
      const std::string d = fs::join(h->mountpoint, p);
      const bool cpuset = !h->v2 && std::find(h->controllers.begin(), h->controllers.end(),
                                              "cpuset") != h->controllers.end();
      make_dirs(h->mountpoint, p, cpuset, made);
      if (h->v2) {
        unified = d;
        unified_mount = h->mountpoint;
      } else {
        if (shown.empty()) shown = p;
        dirs.push_back({h->controllers, d});
      }
    }
  } catch (...) {
    for (auto it = made.rbegin(); it != made.rend(); ++it) ::rmdir(it->c_str());
    throw;
  }
  return std::make_unique<CgroupV1>(shown, std::move(dirs), std::move(unified),
                                    std::move(unified_mount));
}

std::unique_ptr<Cgroup> load_v1(const nlohmann::json& j) {
  std::vector<V1Dir> dirs;
  const auto& jd = j.at("dirs");
  if (jd.is_object()) {
    // Older state files: {"<first controller>": "<dir>"}.
    for (auto& [k, v] : jd.items()) dirs.push_back({{k}, v.get<std::string>()});
  } else {
    for (auto& e : jd)
      dirs.push_back(
          {e.at("controllers").get<std::vector<std::string>>(), e.at("dir").get<std::string>()});
  }
  std::string unified = j.value("unified", "");
  std::string mount = j.value("unified_mount", "");
  if (!unified.empty() && mount.empty())
    for (auto& h : host_hierarchies())
      if (h.v2 && unified.rfind(h.mountpoint + "/", 0) == 0) mount = h.mountpoint;
  return std::make_unique<CgroupV1>(j.at("path").get<std::string>(), std::move(dirs),
                                    std::move(unified), std::move(mount));
}

}  // namespace berth::runtime::cgroup_detail
