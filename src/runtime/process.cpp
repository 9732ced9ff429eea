#include "runtime/process.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

#include "common/error.hpp"
#include "common/fs.hpp"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace berth::runtime {

static const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string env_value(const std::vector<std::string>& env, const std::string& key) {
  for (auto& e : env)
    if (e.compare(0, key.size() + 1, key + "=") == 0) return e.substr(key.size() + 1);
  return {};
}

ErrorKind exec_error_kind(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return ErrorKind::command_not_found;
    case EACCES:
    case EPERM:
    case ENOEXEC:
    case EISDIR:
    case ETXTBSY:
    case ELIBBAD:
      return ErrorKind::command_not_executable;
    default:
      return ErrorKind::internal;
  }
}

void throw_exec_error(const std::string& name, int err) {
  throw Error(exec_error_kind(err), "exec `" + name + "`: " + std::strerror(err), err);
}

// PATH lookup as execvp would do it, with runc's messages (engines map them to exit 126/127).
std::string find_executable(const std::string& name, const std::vector<std::string>& env) {
  auto check = [](const std::string& p) -> int {
    struct stat st;
    if (::stat(p.c_str(), &st) < 0) return errno;
    if (S_ISDIR(st.st_mode)) return EACCES;
    if (::access(p.c_str(), X_OK) < 0) return errno;
    return 0;
  };
  if (name.find('/') != std::string::npos) {
    int err = check(name);
    if (err)
      throw Error(exec_error_kind(err), "exec: \"" + name + "\": stat " + name + ": " + std::strerror(err), err);
    return name;
  }
  std::string path = env_value(env, "PATH");
  if (path.empty()) path = kDefaultPath;
  int first_err = 0;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find(':', i);
    if (j == std::string::npos) j = path.size();
    std::string dir = path.substr(i, j - i);
    if (dir.empty()) dir = ".";
    std::string cand = dir + "/" + name;
    int err = check(cand);
    if (!err) return cand;
    if (err == EACCES && !first_err) first_err = err;
    i = j + 1;
  }
  if (first_err)
    throw Error(ErrorKind::command_not_executable, "exec: \"" + name + "\": permission denied", EACCES);
  throw Error(ErrorKind::command_not_found, "exec: \"" + name + "\": executable file not found in $PATH", ENOENT);
}

namespace {
// What the runtime itself may still open after the rlimits are set (its procfs, the start
// socket's connection, the rootfs's files on the way to the program).
constexpr uint64_t kRuntimeFds = 64;

void set_rlimit(const oci::Rlimit& r, uint64_t soft, uint64_t hard) {
  struct rlimit rl;
  rl.rlim_cur = soft;
  rl.rlim_max = hard;
  if (::setrlimit(r.resource, &rl) < 0)
    throw_errno("process.rlimits: set " + r.type + " to soft " + std::to_string(r.soft) +
                " hard " + std::to_string(r.hard));
}
}  // namespace

void set_rlimits(const oci::Process& p) {
  for (auto& r : p.rlimits) {
    // A file limit below what the runtime still needs: the hard limit now (a raise needs the
    // privileges we have only now), the rest right before execve (set_late_rlimits: lowering
    // needs none).
    if (r.resource == RLIMIT_NOFILE && r.soft < kRuntimeFds) {
      if (r.hard >= kRuntimeFds) set_rlimit(r, kRuntimeFds, r.hard);
      continue;
    }
    set_rlimit(r, r.soft, r.hard);
  }
}

void set_late_rlimits(const oci::Process& p) {
  for (auto& r : p.rlimits)
    if (r.resource == RLIMIT_NOFILE && r.soft < kRuntimeFds) set_rlimit(r, r.soft, r.hard);
}

void apply_personality(const oci::Spec& spec) {
  if (!spec.linux || !spec.linux->personality) return;
  const unsigned long domain = *spec.linux->personality == "LINUX32" ? PER_LINUX32 : PER_LINUX;
  if (::personality(domain) < 0) throw_errno("linux.personality: " + *spec.linux->personality);
}

namespace {

// The kernel's struct sched_attr (linux/sched/types.h clashes with glibc's sched.h).
struct SchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;
  uint32_t sched_util_min, sched_util_max;
};

uint64_t sched_flag_bit(const std::string& name) {
  static const std::pair<const char*, uint64_t> table[] = {
      {"SCHED_FLAG_RESET_ON_FORK", 0x01}, {"SCHED_FLAG_RECLAIM", 0x02},
      {"SCHED_FLAG_DL_OVERRUN", 0x04},    {"SCHED_FLAG_KEEP_POLICY", 0x08},
      {"SCHED_FLAG_KEEP_PARAMS", 0x10},   {"SCHED_FLAG_UTIL_CLAMP_MIN", 0x20},
      {"SCHED_FLAG_UTIL_CLAMP_MAX", 0x40},
  };
  for (auto& [n, v] : table)
    if (name == n) return v;
  return 0;
}

}  // namespace

void apply_scheduler(const oci::Process& p) {
  if (!p.scheduler) return;
  const oci::Scheduler& s = *p.scheduler;
  SchedAttr a{};
  a.size = sizeof a;
  a.sched_policy = static_cast<uint32_t>(*oci::scheduler_policy(s.policy));
  for (auto& f : s.flags) a.sched_flags |= sched_flag_bit(f);
  a.sched_nice = s.nice;
  a.sched_priority = static_cast<uint32_t>(s.priority);
  a.sched_runtime = s.runtime;
  a.sched_deadline = s.deadline;
  a.sched_period = s.period;
  if (::syscall(SYS_sched_setattr, 0, &a, 0) < 0)
    throw_errno("process.scheduler: sched_setattr " + s.policy);
}

void apply_io_priority(const oci::Process& p) {
  if (!p.ioPriority) return;
  constexpr int kWhoProcess = 1, kClassShift = 13;
  const std::string& c = p.ioPriority->ioclass;
  const int cls = c == "IOPRIO_CLASS_RT" ? 1 : c == "IOPRIO_CLASS_BE" ? 2 : 3;
  if (::syscall(SYS_ioprio_set, kWhoProcess, 0, (cls << kClassShift) | p.ioPriority->priority) < 0)
    throw_errno("process.ioPriority: ioprio_set " + c);
}

void set_cpu_affinity(pid_t pid, const std::string& list, const std::string& field) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : oci::parse_cpu_list(list)) {
    if (cpu >= CPU_SETSIZE) throw Error(field + ": CPU " + std::to_string(cpu) + " is out of range");
    CPU_SET(cpu, &set);
  }
  if (::sched_setaffinity(pid, sizeof set, &set) < 0)
    throw_errno(field + ": sched_setaffinity `" + list + "`");
}

bool setgroups_allowed() {
  // Read only from a procfs: the container's /proc is what its mounts made it, and a mount over
  // it (an image's VOLUME /proc) could hold a `self/setgroups` saying "deny" — we would skip
  // setgroups() and the process would keep the caller's supplementary groups.
  UniqueFd f(::open("/proc/self/setgroups", O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct statfs sf;
  if (!f || ::fstatfs(f.get(), &sf) < 0 || sf.f_type != PROC_SUPER_MAGIC) return true;
  char buf[16] = {};
  const ssize_t n = ::read(f.get(), buf, sizeof buf - 1);
  return !(n >= 4 && std::string_view(buf, 4) == "deny");
}

void enter_cwd(const std::string& cwd) {
  if (::chdir(cwd.c_str()) < 0) throw_errno("chdir to cwd `" + cwd + "`");
  char buf[4096];
  if (!::getcwd(buf, sizeof buf) || buf[0] != '/')
    throw Error("process.cwd `" + cwd + "` is outside the container's root");
}

void cloexec_from(int first) {
  ::syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, CLOSE_RANGE_CLOEXEC);
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::vector<char*> cstrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}


}  // namespace berth::runtime
