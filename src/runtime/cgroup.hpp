// One interface over cgroup v1, v2 and hybrid hosts.
//
// A Cgroup is the set of directories one container occupies: on v2 one directory in the
// unified tree; on v1 one directory per mounted hierarchy (cpu, memory, pids, name=systemd…);
// on a hybrid host the v1 directories plus one in the v2 tree (which may carry only some
// controllers, e.g. hugetlb). Which files a resource is written to depends on the version.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fd.hpp"
#include "oci/resources.hpp"

namespace berth::runtime {

enum class CgroupMode { v1, v2, hybrid };

// One mounted hierarchy of the host (from /proc/self/mountinfo).
struct CgroupHierarchy {
  std::string mountpoint;                // /sys/fs/cgroup/memory, /sys/fs/cgroup/unified, ...
  std::vector<std::string> controllers;  // {"memory"}, {"cpu","cpuacct"}, {"name=systemd"}, v2: available ones
  bool v2 = false;
  // The cgroup this mount shows at its mountpoint (mountinfo "root"): "/" normally, a
  // sub-cgroup when a container runtime bind-mounted only its part of the hierarchy.
  std::string root = "/";
};

// How this host's cgroups are laid out; detected once and cached.
CgroupMode host_cgroup_mode();

class Cgroup;
// Freezing (v1 freezer.state, v2 cgroup.freeze), waiting until the kernel reports it done.
void freeze_cgroup(const Cgroup& cg, bool frozen);
bool cgroup_frozen(const Cgroup& cg);
// runc's stats shape: {"cpu": {"usage": {...}}, "memory": {"usage": {...}}, "pids": {...}};
// memory.oom_kill counts the processes the OOM killer ended in the cgroup.
nlohmann::json cgroup_stats(const Cgroup& cg);
const std::vector<CgroupHierarchy>& host_hierarchies();

// What a process already joined (Cgroup::FastJoin).
struct CgroupJoined {
  bool v2 = false;  // the v2 directory (the unified one on a hybrid host)
  bool v1 = false;  // every v1 hierarchy
};

class Cgroup {
 public:
  virtual ~Cgroup() = default;

  // Creates the directories for `cgroups_path` (absolute: from the hierarchy roots; relative:
  // below the cgroup of the calling process; empty: "/berth/<id>"), without joining.
  static std::unique_ptr<Cgroup> create(const std::string& cgroups_path, const std::string& id);
  // Re-opens a container's cgroup from what to_json() saved (for state/kill/delete).
  static std::unique_ptr<Cgroup> from_json(const nlohmann::json& saved);
  virtual nlohmann::json to_json() const = 0;

  // Writes the limits; throws berth::Error naming the file and value on failure.
  // Limits whose controller is not available on this host: an error, except hugetlb page
  // sizes the host does not offer and fields that have no meaning on this version.
  virtual void set(const oci::LinuxResources& r) = 0;
  // Moves a process into every directory, but those `done` says it is already in.
  using Joined = CgroupJoined;
  virtual void add(pid_t pid, Joined done = {}) = 0;

  // Joining without the kernel's global migration lock. A pid written to cgroup.procs takes
  // cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period: 5-16 ms on an
  // idle host, more than the rest of a container's start. A new child can be placed straight
  // into a v2 directory by clone3(CLONE_INTO_CGROUP) (`v2_dir`, see clone_into_cgroup), and a
  // single-threaded process that writes "0" (itself) to a v1 hierarchy's `tasks` file moves
  // only itself, which needs no global lock (`v1_tasks`, see join_self). Either may be empty
  // (not this version, or a file that did not open): add() then does that part.
  struct FastJoin {
    UniqueFd v2_dir;
    std::vector<UniqueFd> v1_tasks;  // all of them or none
  };
  virtual FastJoin open_fast_join() const = 0;
  // All pids currently in the cgroup (v2: cgroup.procs; v1: from a controller hierarchy).
  virtual std::vector<pid_t> pids() const = 0;
  // Removes the directories (retrying briefly while the kernel drains exiting tasks).
  // Missing directories are fine. Throws if a directory still holds processes.
  virtual void destroy() = 0;
  // The path the container sees as its cgroup in the unified tree or a v1 hierarchy,
  // e.g. "/berth/abc"; and the host directory for a hierarchy (v1 controller name or "" for v2).
  virtual std::string path() const = 0;
  virtual std::string host_dir(const std::string& controller) const = 0;

  // What the last set() skipped without failing (a hugetlb page size the host does not offer,
  // a field with no meaning on this cgroup version…), one sentence each, for the caller to log.
  const std::vector<std::string>& warnings() const { return warnings_; }

 protected:
  std::vector<std::string> warnings_;
};

// fork(2) with `flags` (CLONE_NEW*, CLONE_PARENT; SIGCHLD is added), the child placed into the
// v2 cgroup `cgroup_fd` when it is >= 0 and the kernel lets clone3 do it (*placed says whether
// it did); otherwise a plain clone and the caller moves the child. Returns as fork does.
pid_t clone_into_cgroup(unsigned long flags, int cgroup_fd, bool* placed);
// In a new single-threaded child: joins each v1 hierarchy through its `tasks` file (see
// Cgroup::FastJoin) and closes the fds. Throws berth::Error if the kernel refuses.
void join_self(std::vector<UniqueFd>& v1_tasks);

}  // namespace berth::runtime
