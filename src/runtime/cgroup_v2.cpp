// cgroup v2 (unified hierarchy at /sys/fs/cgroup).
#include <unistd.h>

#include <sstream>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "runtime/cgroup_impl.hpp"

namespace berth::runtime::cgroup_detail {
namespace {

class CgroupV2 final : public Cgroup {
 public:
  CgroupV2(std::string path, std::string dir) : path_(std::move(path)), dir_(std::move(dir)) {}

  nlohmann::json to_json() const override {
    return {{"version", "v2"}, {"path", path_}, {"dir", dir_}};
  }

  void set(const oci::LinuxResources& r) override {
    if (r.memory) {
      auto& m = *r.memory;
      auto v = [](int64_t x) { return x == -1 ? std::string("max") : std::to_string(x); };
      if (m.reservation) write_knob(dir_, "memory.low", v(*m.reservation));
      if (m.limit) write_knob(dir_, "memory.max", v(*m.limit));
      if (m.swap) write_knob(dir_, "memory.swap.max", v2_swap_max(m.limit.value_or(-1), *m.swap));
      if (m.disableOOMKiller && *m.disableOOMKiller)
        throw Error("linux.resources.memory.disableOOMKiller: not supported on cgroup v2");
    }
    if (r.cpu) {
      auto& c = *r.cpu;
      if (c.shares) write_knob(dir_, "cpu.weight", std::to_string(shares_to_weight(*c.shares)));
      if (c.quota || c.period) {
        std::string quota = c.quota && *c.quota > 0 ? std::to_string(*c.quota) : "max";
        write_knob(dir_, "cpu.max", quota + " " + std::to_string(c.period.value_or(100000)));
      }
      if (c.burst) write_knob(dir_, "cpu.max.burst", std::to_string(*c.burst));
      if (c.idle) write_knob(dir_, "cpu.idle", std::to_string(*c.idle));
      if (c.realtimePeriod || c.realtimeRuntime)
        throw Error("linux.resources.cpu.realtime*: not supported on cgroup v2");
      if (!c.cpus.empty()) write_knob(dir_, "cpuset.cpus", c.cpus);
      if (!c.mems.empty()) write_knob(dir_, "cpuset.mems", c.mems);
    }
    if (r.pidsLimit)
      write_knob(dir_, "pids.max", *r.pidsLimit > 0 ? std::to_string(*r.pidsLimit) : "max");
    if (r.blockIO) {
      auto& b = *r.blockIO;
      auto dev = [](const oci::BlockIODevice& x) {
        return std::to_string(x.major) + ":" + std::to_string(x.minor);
      };
      if (b.weight) write_knob(dir_, "io.weight", "default " + std::to_string(*b.weight));
      for (auto& x : b.weightDevice)
        if (x.weight) write_knob(dir_, "io.weight", dev(x) + " " + std::to_string(*x.weight));
      for (auto& x : b.throttleReadBpsDevice) write_knob(dir_, "io.max", dev(x) + " rbps=" + std::to_string(x.rate));
      for (auto& x : b.throttleWriteBpsDevice) write_knob(dir_, "io.max", dev(x) + " wbps=" + std::to_string(x.rate));
      for (auto& x : b.throttleReadIOPSDevice) write_knob(dir_, "io.max", dev(x) + " riops=" + std::to_string(x.rate));
      for (auto& x : b.throttleWriteIOPSDevice) write_knob(dir_, "io.max", dev(x) + " wiops=" + std::to_string(x.rate));
    }
    for (auto& h : r.hugepageLimits) {
      const std::string f = "hugetlb." + h.pageSize + ".max";
      if (!fs::exists(dir_ + "/" + f))
        throw Error("linux.resources.hugepageLimits: page size `" + h.pageSize + "` is not supported by this host");
      write_knob(dir_, f, std::to_string(h.limit));
    }
    for (auto& [k, v] : r.unified) {
      if (k.find('/') != std::string::npos || k.find("..") != std::string::npos)
        throw Error("linux.resources.unified: invalid file name `" + k + "`");
      write_knob(dir_, k, v);
    }
    // Device rules need an eBPF program on v2 (not in this build): say so rather than
    // silently running without them. The default "deny all" rule alone is what engines send
    // and the runtime's own device nodes are all it creates, so that one is accepted.
    for (auto& d : r.devices)
      if (d.allow || d.type != "a")
        log::warn("linux.resources.devices: device rules are not enforced on cgroup v2 yet");
  }

  void add(pid_t pid) override { write_knob(dir_, "cgroup.procs", std::to_string(pid)); }
  std::vector<pid_t> pids() const override { return read_procs(dir_); }
  void destroy() override { remove_dir(dir_); }
  std::string path() const override { return path_; }
  std::string host_dir(const std::string&) const override { return dir_; }

 private:
  std::string path_, dir_;
};

}  // namespace

std::unique_ptr<Cgroup> make_v2(const std::string& cgroups_path, const std::string& id) {
  const CgroupHierarchy* h = nullptr;
  for (auto& x : host_hierarchies())
    if (x.v2) h = &x;
  if (!h) throw Error("no cgroup v2 hierarchy is mounted");
  std::string own_text;
  fs::read_file_if_exists("/proc/self/cgroup", own_text);
  std::string p = resolve_path(cgroups_path, id, own_cgroup(own_text, *h));
  std::string d = h->mountpoint + p;
  fs::mkdir_p(d, 0755);
  enable_controllers(h->mountpoint, p);
  return std::make_unique<CgroupV2>(p, d);
}

std::unique_ptr<Cgroup> load_v2(const nlohmann::json& j) {
  return std::make_unique<CgroupV2>(j.value("path", ""), j.value("dir", ""));
}

}  // namespace berth::runtime::cgroup_detail
