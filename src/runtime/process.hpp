// Steps shared by the container's init and by `exec`'d processes just before execve.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/error.hpp"
#include "oci/spec.hpp"

namespace berth::runtime {

std::string env_value(const std::vector<std::string>& env, const std::string& key);
// The kind of an execve/lookup failure: command_not_found (ENOENT, ENOTDIR),
// command_not_executable (EACCES, ENOEXEC, …), else internal.
ErrorKind exec_error_kind(int err);
// Error "exec `NAME`: strerror(err)" of that kind.
[[noreturn]] void throw_exec_error(const std::string& name, int err);
// PATH lookup as execvp would do it, with runc's messages and the kinds above.
std::string find_executable(const std::string& name, const std::vector<std::string>& env);
// process.rlimits, but a file limit too low for the runtime's own last steps: that one
// (lowered only) by set_late_rlimits, right before execve.
void set_rlimits(const oci::Process& p);
void set_late_rlimits(const oci::Process& p);
// linux.personality, process.scheduler (sched_setattr) and process.ioPriority (ioprio_set)
// for the calling process; they are inherited by the user program.
void apply_personality(const oci::Spec& spec);
void apply_scheduler(const oci::Process& p);
void apply_io_priority(const oci::Process& p);
// sched_setaffinity to a CPU list such as "0-3,7" (`field` names it in errors).
void set_cpu_affinity(pid_t pid, const std::string& list, const std::string& field);
// False in a user namespace whose /proc/self/setgroups says "deny".
bool setgroups_allowed();
// chdir to the process cwd and verify with getcwd that it lies inside the root: a cwd reached
// through a leaked fd or a symlink out of the root shows as unreachable (CVE-2024-21626 class).
void enter_cwd(const std::string& cwd);
// Marks every fd from `first` up close-on-exec: only stdio and preserved fds reach execve.
void cloexec_from(int first);
int pidfd_open(pid_t pid);

// argv/envp views of strings (the strings must outlive the result).
std::vector<char*> cstrings(std::vector<std::string>& v);

}  // namespace berth::runtime
