// cgroup v2: one directory in the unified tree (normally /sys/fs/cgroup).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "runtime/bpf_devices.hpp"
#include "runtime/cgroup_impl.hpp"

namespace berth::runtime::cgroup_detail {
namespace {

std::string max_or(int64_t v) {
  return v == -1 ? std::string("max") : std::to_string(v);
}

class CgroupV2 final : public Cgroup {
 public:
  CgroupV2(std::string path, std::string dir, std::string mount)
      : path_(std::move(path)), dir_(std::move(dir)), mount_(std::move(mount)) {}

  nlohmann::json to_json() const override {
    return {{"version", "v2"}, {"path", path_}, {"dir", dir_}, {"mount", mount_}};
  }

  void set(const oci::LinuxResources& r) override {
    warnings_.clear();
    if (r.memory) set_memory(*r.memory);
    if (r.cpu) set_cpu(*r.cpu);
    if (r.pidsLimit)  // OCI: 0 or a negative limit is no limit
      write("pids.max", *r.pidsLimit > 0 ? std::to_string(*r.pidsLimit) : "max", "pids.limit");
    if (r.blockIO) set_io(*r.blockIO);
    for (auto& h : r.hugepageLimits) {
      const std::string field = "linux.resources.hugepageLimits";
      if (!v2_has_controller(dir_, "hugetlb"))
        throw Error(field + ": the hugetlb controller is not enabled for " + dir_);
      // Every size the host offers has its file; a missing one is a size it does not offer.
      const std::string file = "hugetlb." + h.pageSize + ".max";
      if (!fs::exists(dir_ + "/" + file)) {
        warnings_.push_back(field + ": page size " + h.pageSize +
                            " is not offered by this host, its limit is ignored");
        continue;
      }
      write_knob(dir_, file, std::to_string(h.limit));
    }
    for (auto& [k, v] : r.unified) {
      if (!valid_knob_name(k))
        throw Error("linux.resources.unified: invalid file name `" + k + "`");
      write(k, v, "unified." + k);
    }
    // v2 has no devices files: the rules become an eBPF program on the directory, replacing
    // the one a previous set (create, then update) attached. No rules: leave it as it is.
    if (!r.devices.empty()) {
      UniqueFd fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!fd) throw_errno("linux.resources.devices: open " + dir_);
      try {
        attach_device_program(fd.get(), r.devices);
      } catch (const Error& e) {
        throw Error("linux.resources.devices: " + std::string(e.what()) + " (" + dir_ + ")",
                    e.code());
      }
    }
  }

  void add(pid_t pid, Joined done) override {
    if (!done.v2) write_knob(dir_, "cgroup.procs", std::to_string(pid));
  }
  FastJoin open_fast_join() const override {
    FastJoin j;
    j.v2_dir.reset(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    return j;
  }
  std::vector<pid_t> pids() const override { return read_procs(dir_); }
  void destroy() override {
    remove_dir(dir_, std::chrono::steady_clock::now() + std::chrono::seconds(1));
  }
  std::string path() const override { return path_; }
  std::string host_dir(const std::string&) const override { return dir_; }

 private:
  // Writes a file of our directory. A missing file is almost always a controller that is not
  // enabled for us (a parent's subtree_control), so the error says that rather than ENOENT.
  void write(const std::string& file, const std::string& value, const std::string& field) {
    if (!fs::exists(dir_ + "/" + file)) {
      const std::string ctrl = file.substr(0, file.find('.'));
      if (ctrl != "cgroup" && !v2_has_controller(dir_, ctrl))
        throw Error("linux.resources." + field + ": the " + ctrl +
                    " controller is not enabled for " + dir_ + " (cannot write " + file + ")");
      throw Error("linux.resources." + field + ": not supported by this kernel (no " + dir_ + "/" +
                  file + ")");
    }
    write_knob(dir_, file, value);
  }

  void set_memory(const oci::MemoryResources& m) {
    if (set_nonzero(m.reservation))
      write("memory.low", max_or(*m.reservation), "memory.reservation");
    const std::string swap = v2_swap_max(m.limit.value_or(0), m.swap.value_or(0));
    if (!swap.empty()) {
      // Without swap accounting there is no memory.swap.max: fine if no swap limit is wanted
      // ("max") or swap is to be off ("0", the same as not having it), as runc decides.
      if (fs::exists(dir_ + "/memory.swap.max"))
        write_knob(dir_, "memory.swap.max", swap);
      else if (swap != "max" && swap != "0")
        write("memory.swap.max", swap, "memory.swap");
    }
    if (set_nonzero(m.limit)) write("memory.max", max_or(*m.limit), "memory.limit");
    // v1-only knobs: v2 has no per-cgroup swappiness, no OOM-killer switch, no kmem limits.
    if (m.swappiness)
      warnings_.push_back("linux.resources.memory.swappiness: ignored on cgroup v2");
    if (m.disableOOMKiller && *m.disableOOMKiller)
      warnings_.push_back("linux.resources.memory.disableOOMKiller: ignored on cgroup v2");
    if (set_nonzero(m.kernel) || set_nonzero(m.kernelTCP))
      warnings_.push_back("linux.resources.memory.kernel/kernelTCP: ignored on cgroup v2");
  }

  void set_cpu(const oci::CpuResources& c) {
    if (set_nonzero(c.shares))
      write("cpu.weight", std::to_string(shares_to_weight(*c.shares)), "cpu.shares");
    const std::string max = v2_cpu_max(c.quota, c.period, read_knob(dir_, "cpu.max"));
    if (!max.empty()) write("cpu.max", max, "cpu.quota");
    if (c.burst) write("cpu.max.burst", std::to_string(*c.burst), "cpu.burst");
    if (c.idle) write("cpu.idle", std::to_string(*c.idle), "cpu.idle");
    if (set_nonzero(c.realtimePeriod) || set_nonzero(c.realtimeRuntime))
      warnings_.push_back(
          "linux.resources.cpu.realtime*: ignored on cgroup v2 (no RT group scheduling)");
    if (!c.cpus.empty()) write("cpuset.cpus", c.cpus, "cpu.cpus");
    if (!c.mems.empty()) write("cpuset.mems", c.mems, "cpu.mems");
  }

  void set_io(const oci::BlockIOResources& b) {
    auto dev = [](const oci::BlockIODevice& x) {
      return std::to_string(x.major) + ":" + std::to_string(x.minor);
    };
    if (set_nonzero(b.weight))
      write("io.weight", "default " + std::to_string(*b.weight), "blockIO.weight");
    for (auto& x : b.weightDevice)
      if (x.weight)
        write("io.weight", dev(x) + " " + std::to_string(*x.weight), "blockIO.weightDevice");
    if (set_nonzero(b.leafWeight))
      warnings_.push_back("linux.resources.blockIO.leafWeight: ignored on cgroup v2");
    // One io.max line per limit; the kernel merges keys per device. Rate 0 removes a v1
    // throttle rule, so it is "max" here.
    const std::pair<const std::vector<oci::BlockIODevice>*, const char*> throttles[] = {
        {&b.throttleReadBpsDevice, "rbps"},
        {&b.throttleWriteBpsDevice, "wbps"},
        {&b.throttleReadIOPSDevice, "riops"},
        {&b.throttleWriteIOPSDevice, "wiops"}};
    for (auto& [list, key] : throttles)
      for (auto& x : *list)
        write("io.max", dev(x) + " " + key + "=" + (x.rate ? std::to_string(x.rate) : "max"),
              "blockIO");
  }

  std::string path_, dir_, mount_;
};

}  // namespace

std::unique_ptr<Cgroup> make_v2_in(const CgroupHierarchy& h, const std::string& cgroups_path,
                                   const std::string& id) {
  std::string own_text;
  fs::read_file_if_exists("/proc/self/cgroup", own_text);
  const std::string p = resolve_path(cgroups_path, id, own_cgroup(own_text, h));
  const std::string d = fs::join(h.mountpoint, p);
  std::vector<std::string> made;
  try {
    make_dirs(h.mountpoint, p, false, made);
    // Every available controller, from the root down to our parent, as runc does: which ones a
    // later `set` (or the container, through its cgroup namespace) needs is not known here.
    enable_controllers(h.mountpoint, p);
  } catch (...) {
    for (auto it = made.rbegin(); it != made.rend(); ++it) ::rmdir(it->c_str());
    throw;
  }
  return std::make_unique<CgroupV2>(p, d, h.mountpoint);
}

std::unique_ptr<Cgroup> make_v2(const std::string& cgroups_path, const std::string& id) {
  for (const CgroupHierarchy* h : container_hierarchies())
    if (h->v2) return make_v2_in(*h, cgroups_path, id);
  throw Error("cgroup: no cgroup v2 hierarchy is mounted on this host");
}

std::unique_ptr<Cgroup> load_v2(const nlohmann::json& j) {
  return std::make_unique<CgroupV2>(j.at("path").get<std::string>(), j.at("dir").get<std::string>(),
                                    j.value("mount", ""));
}

}  // namespace berth::runtime::cgroup_detail
