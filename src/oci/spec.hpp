// The OCI runtime spec (config.json) as typed values, with parsing that validates every field
// the runtime uses and names the offending field on error ("mounts[2].destination: must be an
// absolute path"). Fields the runtime does not know are ignored, as the spec requires.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "oci/resources.hpp"

namespace berth::oci {

inline constexpr const char* kOciVersion = "1.2.0";

struct User {
  uint32_t uid = 0, gid = 0;
  std::optional<uint32_t> umask;
  std::vector<uint32_t> additionalGids;
};

struct Rlimit {
  int resource = 0;  // RLIMIT_*
  std::string type;  // "RLIMIT_NOFILE"
  uint64_t soft = 0, hard = 0;
};

struct Capabilities {
  // Capability numbers per set. nullopt = set not given (left empty).
  std::vector<int> bounding, effective, inheritable, permitted, ambient;
};

struct ConsoleSize {
  unsigned height = 0, width = 0;
};

struct Scheduler {
  std::string policy;  // "SCHED_OTHER", "SCHED_FIFO", ...
  int nice = 0, priority = 0;
  std::vector<std::string> flags;  // "SCHED_FLAG_RESET_ON_FORK", ...
  uint64_t runtime = 0, deadline = 0, period = 0;
};

struct IoPriority {
  std::string ioclass;  // "IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"
  int priority = 0;     // 0..7
};

// CPU lists ("0-3,7"); empty = not given. Only for exec'd processes.
struct ExecCpuAffinity {
  std::string initial, final;
};

struct Process {
  bool terminal = false;
  std::optional<ConsoleSize> consoleSize;
  User user;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool noNewPrivileges = false;
  std::optional<int> oomScoreAdj;
  std::string apparmorProfile, selinuxLabel;
  std::optional<Scheduler> scheduler;
  std::optional<IoPriority> ioPriority;
  std::optional<ExecCpuAffinity> execCPUAffinity;
};

struct Root {
  std::string path;
  bool readonly = false;
};

struct IdMapping {
  uint32_t containerID = 0, hostID = 0, size = 0;
};

struct Mount {
  std::string destination, type, source;
  std::vector<std::string> options;
  // For idmap/ridmap: the mapping of the mount (empty: the container's user namespace's).
  std::vector<IdMapping> uidMappings, gidMappings;
  bool idmapped() const;  // "idmap" or "ridmap" among the options
};

struct Hook {
  std::string path;
  std::vector<std::string> args, env;
  std::optional<int> timeout;  // seconds
};

struct Hooks {
  std::vector<Hook> prestart, createRuntime, createContainer, startContainer, poststart, poststop;
};

struct Namespace {
  std::string type;  // pid network mount ipc uts user cgroup time
  std::string path;  // empty = create a new one
};

struct Device {
  std::string path, type;  // c b u p
  int64_t major = 0, minor = 0;
  std::optional<uint32_t> fileMode, uid, gid;
};

struct TimeOffset {
  int64_t secs = 0;
  uint32_t nanosecs = 0;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uidMappings, gidMappings;
  std::map<std::string, TimeOffset> timeOffsets;  // "monotonic", "boottime"
  std::vector<Device> devices;
  std::string cgroupsPath;
  std::optional<LinuxResources> resources;
  std::string rootfsPropagation;
  std::vector<std::string> maskedPaths, readonlyPaths;
  std::map<std::string, std::string> sysctl;
  std::string mountLabel;
  nlohmann::json seccomp;     // raw; null when absent
  nlohmann::json intelRdt;    // raw; null when absent
  std::optional<std::string> personality;  // domain: "LINUX" or "LINUX32"

  const Namespace* find_namespace(std::string_view type) const;
};

struct Spec {
  std::string ociVersion;
  std::optional<Process> process;
  Root root;
  std::string hostname, domainname;
  std::vector<Mount> mounts;
  Hooks hooks;
  std::map<std::string, std::string> annotations;
  std::optional<Linux> linux;
};

// "SCHED_BATCH" -> 3; nullopt for an unknown name.
std::optional<int> scheduler_policy(std::string_view name);
// "0-3,7" -> {0,1,2,3,7}; empty for a malformed list.
std::vector<int> parse_cpu_list(std::string_view list);

// Parses config.json text. Throws berth::Error("config.json: <field>: <reason>").
Spec parse_spec(std::string_view text);
Spec parse_spec_json(const nlohmann::json& j);

// Parses one `process` object (as `exec --process FILE` gives it).
Process parse_process_json(const nlohmann::json& j);

// Capability name ("CAP_SYS_ADMIN") → number, -1 if unknown. And the reverse.
int capability_from_name(std::string_view name);
std::string capability_name(int cap);
// The highest capability number this kernel knows (from /proc/sys/kernel/cap_last_cap).
int last_capability();
// "RLIMIT_NOFILE" → RLIMIT_NOFILE, -1 if unknown.
int rlimit_from_name(std::string_view name);

}  // namespace berth::oci
