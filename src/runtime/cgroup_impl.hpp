// Internals of the cgroup module shared by cgroup.cpp, cgroup_v1.cpp and cgroup_v2.cpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runtime/cgroup.hpp"

namespace berth::runtime::cgroup_detail {

// Parses /proc/self/mountinfo text into the cgroup hierarchies mounted at their root.
// `read_v2_controllers` is false in tests (cgroup.controllers is not read).
std::vector<CgroupHierarchy> parse_mountinfo(std::string_view text, bool read_v2_controllers);
CgroupMode mode_of(const std::vector<CgroupHierarchy>& hs);

// The calling process's cgroup in a hierarchy, from /proc/self/cgroup text.
std::string own_cgroup(std::string_view proc_self_cgroup, const CgroupHierarchy& h);

// Resolves cgroupsPath (see Cgroup::create) to a clean absolute path inside the hierarchy;
// throws on ".." components.
std::string resolve_path(const std::string& cgroups_path, const std::string& id,
                         const std::string& own);

// cpu.shares (v1, 2..262144) → cpu.weight (v2, 1..10000), the conversion runc and crun use.
uint64_t shares_to_weight(uint64_t shares);
// OCI memory.swap is memory+swap; v2's memory.swap.max is swap alone. -1 → "max".
std::string v2_swap_max(int64_t limit, int64_t swap);

void write_knob(const std::string& dir, const std::string& file, const std::string& value);
std::vector<pid_t> read_procs(const std::string& dir);
void remove_dir(const std::string& dir);
// v2: enables the available controllers in every ancestor of `path` below `mount`.
void enable_controllers(const std::string& mount, const std::string& path);  // rmdir with a short retry on EBUSY

// Create the container's directories (see Cgroup::create for the path rules).
std::unique_ptr<Cgroup> make_v1(const std::string& cgroups_path, const std::string& id);
std::unique_ptr<Cgroup> make_v2(const std::string& cgroups_path, const std::string& id);
std::unique_ptr<Cgroup> load_v1(const nlohmann::json& j);
std::unique_ptr<Cgroup> load_v2(const nlohmann::json& j);

}  // namespace berth::runtime::cgroup_detail
