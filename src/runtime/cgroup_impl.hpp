// Internals of the cgroup module shared by cgroup.cpp, cgroup_v1.cpp and cgroup_v2.cpp.
// Free functions so that the parsing and conversions can be unit-tested on any host.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/cgroup.hpp"

namespace berth::runtime::cgroup_detail {

// ---- Host layout ---------------------------------------------------------------------------

// Parses /proc/self/mountinfo text into the cgroup hierarchies (v1 controllers from the super
// options, so co-mounted "cpu,cpuacct" is one hierarchy). A hierarchy mounted more than once
// is listed once, preferring a mount of its root. `read_v2_controllers`: fill the v2 entry's
// controllers from <mountpoint>/cgroup.controllers (false in tests).
std::vector<CgroupHierarchy> parse_mountinfo(std::string_view text, bool read_v2_controllers);
// v2 if /sys/fs/cgroup itself is cgroup2 (or cgroup2 is all there is), hybrid if v1
// hierarchies and a cgroup2 tree are both mounted, else v1.
CgroupMode mode_of(const std::vector<CgroupHierarchy>& hs);
// The hierarchies a container gets directories in: on v2 only the unified tree (preferring
// the one at /sys/fs/cgroup); on v1 and hybrid all of them.
std::vector<const CgroupHierarchy*> container_hierarchies();

// The calling process's cgroup in a hierarchy, from /proc/self/cgroup text, relative to the
// hierarchy's mountpoint (h.root stripped); "/" if not found.
std::string own_cgroup(std::string_view proc_self_cgroup, const CgroupHierarchy& h);

// Resolves cgroupsPath (see Cgroup::create) to a clean absolute path below the hierarchy's
// mountpoint: absolute as is, relative below `own`, empty → "/berth/<id>". Throws on ".."
// components and on the root cgroup itself.
std::string resolve_path(const std::string& cgroups_path, const std::string& id,
                         const std::string& own);

// ---- Conversions (pure) --------------------------------------------------------------------

// cpu.shares (v1, 2..262144) → cpu.weight (v2, 1..10000), the conversion runc and crun use;
// 0 (unset) → 0.
uint64_t shares_to_weight(uint64_t shares);
// v2 memory.swap.max for OCI memory.limit and memory.swap (which counts memory + swap, as
// v1's memsw does; 0 = unset for both). "" = nothing to write. Throws if swap is below the
// limit or set without a limit.
std::string v2_swap_max(int64_t limit, int64_t swap);
// v2 cpu.max for OCI quota/period (0 or absent = unset; quota -1 = "max"). `current` is the
// file's present content, whose quota is kept when only the period changes. "" = no write.
std::string v2_cpu_max(std::optional<int64_t> quota, std::optional<uint64_t> period,
                       std::string_view current);
// A v1 devices.allow/devices.deny line: "c 1:3 rwm", "*" for a missing or negative number,
// "a *:* rwm" for type "a".
std::string v1_device_rule(const oci::DeviceRule& d);
// Whether `name` may be written as a file of the container's cgroup directory (the keys of
// linux.resources.unified): no "/", no "..", not empty.
bool valid_knob_name(std::string_view name);

// Engines send 0 for "no value" in most numeric resource fields; like runc, a 0 there writes
// nothing.
template <typename T>
bool set_nonzero(const std::optional<T>& v) {
  return v && *v != 0;
}

// ---- Filesystem ----------------------------------------------------------------------------

// Writes a kernel knob in one write(2). Errors read
// "write cgroup file <dir>/<file> = <value>: <strerror>" and carry the errno.
void write_knob(const std::string& dir, const std::string& file, const std::string& value);
// Reads a knob without its trailing newline; "" if the file does not exist.
std::string read_knob(const std::string& dir, const std::string& file);
// All pids in `dir`'s cgroup.procs and in those of its sub-cgroups, sorted.
std::vector<pid_t> read_procs(const std::string& dir);
// Removes `dir` and any sub-cgroups the container made inside it, retrying on EBUSY (exiting
// tasks take a moment to leave) until `deadline`. A missing directory is fine.
void remove_dir(const std::string& dir, std::chrono::steady_clock::time_point deadline);
// Creates `path` (absolute, below `mount`) one level at a time, appending the directories it
// made to `made`. `cpuset`: copy cpuset.cpus and cpuset.mems down from the parent into every
// level where they are empty (v1 refuses tasks in a cpuset without them).
void make_dirs(const std::string& mount, const std::string& path, bool cpuset,
               std::vector<std::string>& made);
// v2: enables `controllers` (all of the available ones if empty) in cgroup.subtree_control of
// the mount root and of every ancestor of `path` down to its parent. A level that refuses (it
// holds processes itself, or a controller is busy there) is left as it is: the limits that
// then cannot be written fail with a message naming the file.
void enable_controllers(const std::string& mount, const std::string& path,
                        const std::vector<std::string>& controllers = {});
// Whether `dir`'s cgroup.controllers (v2) lists `controller`.
bool v2_has_controller(const std::string& dir, const std::string& controller);

// ---- Construction --------------------------------------------------------------------------

// Create the container's directories (see Cgroup::create for the path rules).
std::unique_ptr<Cgroup> make_v1(const std::string& cgroups_path, const std::string& id);
std::unique_ptr<Cgroup> make_v2(const std::string& cgroups_path, const std::string& id);
// make_v2 in a given cgroup2 tree (tests drive the v2 code in a hybrid host's unified tree).
std::unique_ptr<Cgroup> make_v2_in(const CgroupHierarchy& h, const std::string& cgroups_path,
                                   const std::string& id);
std::unique_ptr<Cgroup> load_v1(const nlohmann::json& j);
std::unique_ptr<Cgroup> load_v2(const nlohmann::json& j);

}  // namespace berth::runtime::cgroup_detail
