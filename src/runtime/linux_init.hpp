// The container's first process, between clone() and execve().
//
// It runs in the new namespaces, talks to the `create` process over a SOCK_SEQPACKET pair
// (messages below), builds the filesystem view, drops privileges and then waits on the
// start socket until `start` connects. It never returns: it execs or _exits.
// This process is single-threaded (a plain clone of a single-threaded parent), so allocation
// is safe here; every failure is caught at the top and reported to the parent as a message.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/fd.hpp"
#include "oci/spec.hpp"

namespace berth::runtime {

class Cgroup;
class SeccompFilter;

// Messages on the sync socket: one type byte, then a payload.
enum SyncMsg : char {
  kSyncGo = 'G',       // parent → child: continue (payload: state JSON for hooks, or empty)
  kSyncHooks = 'H',    // child → parent: mounts done; run prestart/createRuntime hooks
  kSyncReady = 'R',    // child → parent: set up, waiting for start
  kSyncPid = 'P',      // child → parent: the init is now this pid (payload), see late_pidns_fd
  kSyncError = 'E',    // either way: payload is a one-line error
  kSyncStart = 'S',    // start → child over the start socket
};

struct InitConfig {
  const oci::Spec* spec = nullptr;
  std::string bundle;
  std::string rootfs;
  bool no_pivot = false;
  bool shared_mntns = false;  // no mount namespace: the runtime's, rootfs bound by bind_shared_root
  int preserve_fds = 0;
  int sync_fd = -1;      // child end of the sync socketpair
  int start_fd = -1;     // listening start socket
  int console_fd = -1;   // connected console socket, or -1
  int lock_fd = -1;      // parent's state lock; closed first thing
  bool new_userns = false;
  bool new_cgroupns = false;
  // The parent's euid is 0 (it can write our id maps whatever our dumpability). Decided by the
  // parent: our own geteuid() turns 0 the moment a rootless parent maps us to root.
  bool parent_is_root = false;
  const Cgroup* cgroup = nullptr;
  std::vector<UniqueFd>* join_v1_tasks = nullptr;  // v1 `tasks` files to write "0" to (join_self)
  std::vector<std::pair<int, int>> join_ns;  // (fd, CLONE_NEW*) to setns, user first
  SeccompFilter* seccomp = nullptr;  // compiled by the parent; loaded here
  int seccomp_listener_fd = -1;      // connected listenerPath socket for SCMP_ACT_NOTIFY
  int parent_death_signal = 0;       // CreateOptions::parent_death_signal
  int parent_pidfd = -1;             // with it: a pidfd of the parent, to see that it still lives
  // A PID namespace to join (another container's) once the rootfs is set up and nothing of the
  // host is held: until then the init is not in it, so that the namespace's processes cannot
  // reach it (/proc/PID/root, cwd or fd: the host's tree before pivot_root). The init mounts
  // that namespace's /proc (procfs `pidns=`), then forks the process that goes on, inside it,
  // and says its pid (kSyncPid). -1: joined by the parent before the clone, as before.
  int late_pidns_fd = -1;
};

[[noreturn]] void container_init(const InitConfig& cfg);

// A runtime-spec namespace type ("network", "mount", ...) → its CLONE_NEW* flag, 0 if unknown.
int namespace_flag(std::string_view type);

// Sends one message on a SOCK_SEQPACKET socket; receive one (type, payload).
bool sync_send(int fd, char type, const std::string& payload = {});
bool sync_recv(int fd, char& type, std::string& payload);

}  // namespace berth::runtime
