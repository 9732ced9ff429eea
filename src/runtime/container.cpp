#include "runtime/container.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "oci/spec.hpp"
#include "runtime/cgroup.hpp"
#include "runtime/cgroup_impl.hpp"
#include "runtime/foreground.hpp"
#include "runtime/hooks.hpp"
#include "runtime/idmap.hpp"
#include "runtime/linux_init.hpp"
#include "runtime/lsm.hpp"
#include "runtime/mounts.hpp"
#include "runtime/process.hpp"
#include "runtime/seccomp.hpp"
#include "runtime/terminal.hpp"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace berth::runtime {
namespace {



nlohmann::json state_json(const ContainerState& st, Status status) {
  nlohmann::json j = {{"ociVersion", oci::kOciVersion},
                      {"id", st.id},
                      {"status", status_name(status)},
                      {"bundle", st.bundle},
                      {"annotations", st.annotations}};
  if (status != Status::stopped) j["pid"] = st.pid;
  else j["pid"] = 0;
  if (j["annotations"].empty()) j.erase("annotations");
  return j;
}

// Waits until a process is gone (pidfd readable), up to timeout_ms. True if it exited.
bool wait_gone(pid_t pid, int timeout_ms) {
  UniqueFd pfd(pidfd_open(pid));
  if (!pfd) return errno == ESRCH;
  struct pollfd p = {pfd.get(), POLLIN, 0};
  int n;
  while ((n = ::poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
  }
  return n > 0;
}

// Whether this kernel's procfs takes `pidns=` (Linux 6.15): a /proc of another PID namespace
// mounted by a process outside it. Asked of a new procfs context; nothing is mounted.
bool proc_takes_pidns(int pidns_fd) {
  UniqueFd fc(static_cast<int>(::syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC)));
  return fc && ::syscall(SYS_fsconfig, fc.get(), FSCONFIG_SET_FD, "pidns", nullptr, pidns_fd) == 0;
}

// Everything the parent holds for a container being created, undone unless committed.
struct CreateCleanup {
  const StateStore* store = nullptr;
  std::string id;
  std::unique_ptr<Cgroup> cgroup;
  pid_t pid = -1;
  bool dir_made = false;
  bool committed = false;
  bool not_our_child = false;  // CLONE_PARENT: our parent reaps it; wait for its exit only
  std::string rootfs;
  unsigned long long root_mount_id = 0;  // bind_shared_root's, to take away
  ~CreateCleanup() {
    if (committed) return;
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      if (not_our_child) wait_gone(pid, 5000);
      else
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
    try {
      if (root_mount_id) unbind_shared_root(rootfs, root_mount_id);
    } catch (const std::exception& e) {
      log::warn(std::string("cleanup: ") + e.what());
    }
    try {
      if (cgroup) cgroup->destroy();
    } catch (const std::exception& e) {
      log::warn(std::string("cleanup: ") + e.what());
    }
    try {
      if (dir_made) store->remove(id);
    } catch (const std::exception& e) {
      log::warn(std::string("cleanup: ") + e.what());
    }
  }
};

// Writes /proc/<pid>/<file> of the init through the host's procfs; `field` names the config
// field in the error.
void write_proc_file(pid_t pid, const std::string& file, const std::string& data,
                     const std::string& field) {
  try {
    fs::write_file("/proc/" + std::to_string(pid) + "/" + file, data);
  } catch (const Error& e) {
    throw Error(field + ": " + e.what(), e.code());
  }
}

void write_id_map(pid_t pid, const char* file, const std::vector<oci::IdMapping>& maps) {
  write_proc_file(pid, file, id_map_text(maps),
                  std::string("linux.") + (std::string(file) == "uid_map" ? "uidMappings" : "gidMappings"));
}

UniqueFd bind_start_socket(const std::string& dir) {
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) throw_errno("socket");
  UniqueFd dfd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) throw_errno("open `" + dir + "`");
  std::string path = fs::fd_path(dfd.get()) + "/start.sock";
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    throw_errno("bind start socket in `" + dir + "`");
  ::chmod((dir + "/start.sock").c_str(), 0600);
  if (::listen(s.get(), 1) < 0) throw_errno("listen");
  return s;
}


// Sends a signal to exactly the process recorded in the state (not a reused pid).
void signal_init(const ContainerState& st, int sig) {
  UniqueFd pfd(pidfd_open(st.pid));
  if (!pfd || process_start_time(st.pid) != st.pid_start) throw Error("container not running");
  if (::syscall(SYS_pidfd_send_signal, pfd.get(), sig, nullptr, 0) < 0)
    throw_errno("kill container `" + st.id + "`");
}

bool has_pidns(const ContainerState& st) {
  if (st.facts.known) return st.facts.own_pidns;
  if (st.config.empty()) return true;
  try {
    auto spec = oci::parse_spec(st.config);
    return spec.linux && spec.linux->find_namespace("pid") &&
           spec.linux->find_namespace("pid")->path.empty();
  } catch (const Error&) {
    return true;
  }
}

void kill_cgroup(const ContainerState& st, int sig) {
  if (st.cgroup.is_null()) return;
  auto cg = Cgroup::from_json(st.cgroup);
  for (pid_t p : cg->pids()) ::kill(p, sig);
}

// A sysctl is only allowed when the container has its own copy of the kernel namespace that
// the setting belongs to; anything else would change the host (runc's rules).
void validate_sysctls(const oci::Linux& l) {
  auto has_new = [&](const char* type) {
    auto* ns = l.find_namespace(type);
    return ns != nullptr;  // a joined namespace (path) is the owner's business, as with runc
  };
  static const char* kIpc[] = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                               "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                               "kernel.shm_rmid_forced"};
  for (auto& [key, value] : l.sysctl) {
    const std::string field = "config.json: linux.sysctl." + key;
    bool ipc = key.rfind("fs.mqueue.", 0) == 0;
    for (auto* k : kIpc) ipc = ipc || key == k;
    if (ipc) {
      if (!has_new("ipc")) throw Error(field + ": needs an ipc namespace of its own");
    } else if (key.rfind("net.", 0) == 0) {
      if (!has_new("network")) throw Error(field + ": not allowed in the host's network namespace");
    } else if (key == "kernel.hostname" || key == "kernel.domainname") {
      if (!has_new("uts")) throw Error(field + ": needs a uts namespace of its own");
    } else {
      throw Error(field + ": not in a separate kernel namespace; it would change the host");
    }
  }
}

// The device rules to apply: the config's, then (like runc and crun) access to the nodes the
// runtime itself creates in /dev and to the config's linux.devices, which would be useless
// behind a "deny all" rule.
oci::LinuxResources with_default_devices(const oci::Spec& spec) {
  oci::LinuxResources r = *spec.linux->resources;
  if (r.devices.empty()) return r;
  auto allow = [&](const char* type, int64_t major, std::optional<int64_t> minor, const char* access) {
    oci::DeviceRule d;
    d.allow = true;
    d.type = type;
    d.major = major;
    d.minor = minor;
    d.access = access;
    r.devices.push_back(d);
  };
  allow("c", -1, -1, "m");     // mknod of any char device (the capability still gates it)
  allow("b", -1, -1, "m");     // and of any block device
  allow("c", 1, 3, "rwm");     // null
  allow("c", 1, 8, "rwm");     // random
  allow("c", 1, 7, "rwm");     // full
  allow("c", 5, 0, "rwm");     // tty
  allow("c", 1, 5, "rwm");     // zero
  allow("c", 1, 9, "rwm");     // urandom
  allow("c", 136, -1, "rwm");  // /dev/pts/*
  allow("c", 5, 2, "rwm");     // /dev/ptmx
  allow("c", 10, 200, "rwm");  // /dev/net/tun (runc's list: a tunnel still needs CAP_NET_ADMIN)
  for (auto& d : spec.linux->devices)
    if (d.type == "c" || d.type == "u" || d.type == "b")
      allow(d.type == "b" ? "b" : "c", d.major, d.minor, "rwm");
  return r;
}

}  // namespace

int namespace_flag(std::string_view type) {
  if (type == "pid") return CLONE_NEWPID;
  if (type == "network") return CLONE_NEWNET;
  if (type == "mount") return CLONE_NEWNS;
  if (type == "ipc") return CLONE_NEWIPC;
  if (type == "uts") return CLONE_NEWUTS;
  if (type == "user") return CLONE_NEWUSER;
  if (type == "cgroup") return CLONE_NEWCGROUP;
  if (type == "time") return CLONE_NEWTIME;
  return 0;
}

// console_fd_in: an already connected console socket (owned from here on), or -1.
// *uses_terminal (if given) says whether the process got a terminal.
pid_t create_container_impl(const CreateOptions& opts, int console_fd_in, bool* uses_terminal) {
  UniqueFd console;
  if (console_fd_in >= 0) console.reset(console_fd_in);
  validate_id(opts.id);
  StateStore store(opts.root);
  const std::string bundle = fs::absolute(opts.bundle);
  if (!fs::is_dir(bundle)) throw Error("bundle `" + bundle + "` does not exist");
  std::string config_text;
  if (!fs::read_file_if_exists(bundle + "/config.json", config_text))
    throw Error("bundle `" + bundle + "`: config.json does not exist");
  oci::Spec spec = oci::parse_spec(config_text);
  if (!spec.process) throw Error("config.json: process: is required to create a container");
  if (!spec.linux) throw Error("config.json: linux: is required on Linux");
  const bool shared_mntns = !spec.linux->find_namespace("mount");
  if (!spec.linux->intelRdt.is_null())
    throw Error("config.json: linux.intelRdt: Intel RDT is not supported by this runtime");
  validate_sysctls(*spec.linux);
  validate_lsm(*spec.process);
  std::unique_ptr<SeccompFilter> seccomp = SeccompFilter::compile(spec.linux->seccomp, opts.root + "/@seccomp");
  const std::string rootfs =
      fs::clean_path(spec.root.path[0] == '/' ? spec.root.path : bundle + "/" + spec.root.path);
  if (!fs::is_dir(rootfs)) throw Error("root.path: rootfs `" + rootfs + "` does not exist");
  if (spec.process->terminal && opts.console_socket.empty() && console_fd_in < 0)
    throw Error("process.terminal is set: a --console-socket is required");
  if (opts.preserve_fds < 0) throw Error("--preserve-fds must not be negative");

  CreateCleanup cleanup;
  cleanup.store = &store;
  cleanup.id = opts.id;
  store.create_dir(opts.id);
  cleanup.dir_made = true;
  UniqueFd lock = store.lock(opts.id);

  try {
    cleanup.cgroup = Cgroup::create(spec.linux->cgroupsPath, opts.id);
  } catch (const Error& e) {
    // Rootless without a delegated cgroup (runc's rule): a container that asks for no limits
    // stays in the caller's cgroup; one that asks for limits cannot have them.
    if (::geteuid() == 0) throw;
    if (spec.linux->resources && has_limits(*spec.linux->resources))
      throw Error(std::string(e.what()) +
                  " (rootless: resource limits need a cgroup delegated to this user)");
    log::debug(std::string("rootless: running without a cgroup: ") + e.what());
  }
  if (cleanup.cgroup && spec.linux->resources) {
    cleanup.cgroup->set(with_default_devices(spec));
    for (auto& w : cleanup.cgroup->warnings()) log::warn(w);
  }

  UniqueFd seccomp_listener;
  if (seccomp && seccomp->uses_notify()) seccomp_listener = connect_unix(seccomp->listener_path());
  if (!console && !opts.console_socket.empty()) console = connect_unix(opts.console_socket);

  // Namespaces: new ones via clone flags (cgroup after joining the cgroup, time via unshare
  // in this process since clone() has no flag bit for it); existing ones by path.
  int flags = 0;
  bool new_userns = false, new_cgroupns = false;
  std::vector<std::pair<int, int>> join;
  std::vector<UniqueFd> join_fds;
  UniqueFd own_pidns, own_timens, join_pidns;
  for (auto& ns : spec.linux->namespaces) {
    int f = namespace_flag(ns.type);
    if (ns.path.empty()) {
      if (f == CLONE_NEWCGROUP) new_cgroupns = true;
      else if (f == CLONE_NEWTIME) {
        own_timens.reset(::open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC));
        if (::unshare(CLONE_NEWTIME) < 0) throw_errno("unshare time namespace");
        std::string offsets;
        for (auto& [clock, off] : spec.linux->timeOffsets)
          offsets += clock + " " + std::to_string(off.secs) + " " + std::to_string(off.nanosecs) + "\n";
        if (!offsets.empty()) fs::write_file("/proc/self/timens_offsets", offsets);
      } else {
        flags |= f;
        if (f == CLONE_NEWUSER) new_userns = true;
      }
      continue;
    }
    UniqueFd fd(::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("linux.namespaces: open " + ns.type + " namespace `" + ns.path + "`");
    if (f == CLONE_NEWPID) {
      join_pidns = std::move(fd);  // below, once the user namespace is known
      continue;
    }
    if (f == CLONE_NEWTIME) {
      // It applies to children of the caller: entered here, left after the clone.
      own_timens.reset(::open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC));
      if (::setns(fd.get(), f) < 0)
        throw_errno("linux.namespaces: join " + ns.type + " namespace `" + ns.path + "`");
      continue;
    }
    join.emplace_back(fd.get(), f);
    join_fds.push_back(std::move(fd));
  }
  // Another PID namespace (another container's): the init joins it itself once its rootfs is
  // set up (InitConfig::late_pidns_fd) where the kernel can mount that namespace's /proc from
  // outside it and the init stays in the runtime's user namespace (the mount needs privilege
  // over the PID namespace's). Otherwise it is born in it (entered here for the clone), and its
  // processes can reach the init's host view until pivot_root — runc's window too.
  bool late_pidns = false;
  if (join_pidns) {
    const auto* user = spec.linux->find_namespace("user");
    if (!new_userns && !(user && !user->path.empty()) && proc_takes_pidns(join_pidns.get())) {
      late_pidns = true;
    } else {
      own_pidns.reset(::open("/proc/self/ns/pid_for_children", O_RDONLY | O_CLOEXEC));
      if (::setns(join_pidns.get(), CLONE_NEWPID) < 0)
        throw_errno("linux.namespaces: join pid namespace `" + spec.linux->find_namespace("pid")->path + "`");
    }
  }
  std::stable_partition(join.begin(), join.end(),
                        [](auto& p) { return p.second == CLONE_NEWUSER; });
  // A new user namespace with an existing network, IPC or UTS namespace (an engine's, made
  // outside it): joining those takes privilege over the namespace that owns them, which the
  // init no longer has once in its new user namespace. This process joins them for the clone
  // (the init is born in them) and goes back to its own after (as runc joins them before its
  // unshare of the user namespace).
  struct OwnNamespaces {  // to go back to after the clone (on every way out)
    std::vector<std::pair<UniqueFd, int>> fds;
    void go_back() {
      for (auto& [fd, type] : fds)
        if (::setns(fd.get(), type) < 0) throw_errno("return to the runtime's namespaces");
      fds.clear();
    }
    ~OwnNamespaces() {
      for (auto& [fd, type] : fds) (void)::setns(fd.get(), type);
    }
  } own_ns;
  if (new_userns) {
    for (auto it = join.begin(); it != join.end();) {
      const int type = it->second;
      const char* self = type == CLONE_NEWNET ? "/proc/self/ns/net" : type == CLONE_NEWIPC ? "/proc/self/ns/ipc"
                         : type == CLONE_NEWUTS ? "/proc/self/ns/uts" : nullptr;
      if (!self) {
        ++it;
        continue;
      }
      UniqueFd mine(::open(self, O_RDONLY | O_CLOEXEC));
      if (!mine) throw_errno(std::string("open ") + self);
      if (::setns(it->first, type) < 0) throw_errno("linux.namespaces: join a namespace");
      own_ns.fds.emplace_back(std::move(mine), type);
      it = join.erase(it);
    }
  }

  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) throw_errno("socketpair");
  UniqueFd parent_sock(sp[0]), child_sock(sp[1]);
  UniqueFd start_sock = bind_start_socket(store.dir(opts.id));

  InitConfig icfg;
  icfg.spec = &spec;
  icfg.bundle = bundle;
  icfg.rootfs = rootfs;
  icfg.no_pivot = opts.no_pivot;
  icfg.shared_mntns = shared_mntns;
  if (shared_mntns) {
    cleanup.rootfs = rootfs;
    cleanup.root_mount_id = bind_shared_root(rootfs);
  }
  icfg.preserve_fds = opts.preserve_fds;
  icfg.sync_fd = child_sock.get();
  icfg.start_fd = start_sock.get();
  icfg.console_fd = console ? console.get() : -1;
  icfg.lock_fd = lock.get();
  icfg.new_userns = new_userns;
  icfg.new_cgroupns = new_cgroupns;
  icfg.parent_is_root = ::geteuid() == 0;
  icfg.cgroup = cleanup.cgroup.get();
  icfg.join_ns = join;
  icfg.seccomp = seccomp.get();
  icfg.seccomp_listener_fd = seccomp_listener ? seccomp_listener.get() : -1;
  if (late_pidns) icfg.late_pidns_fd = join_pidns.get();

  UniqueFd parent_pidfd;
  if (opts.parent_death_signal) {
    parent_pidfd.reset(pidfd_open(::getppid()));
    if (!parent_pidfd) throw_errno("pidfd of the monitor");
    icfg.parent_death_signal = opts.parent_death_signal;
    icfg.parent_pidfd = parent_pidfd.get();
    flags |= CLONE_PARENT;
    cleanup.not_our_child = true;
  }

  // The init joins its cgroup as it is born (v2, clone3) or as its first act (v1), not by
  // its pid written from here: see Cgroup::FastJoin. Not into a new user namespace, not
  // rootless: there the parent moves it, as before.
  Cgroup::FastJoin fast;
  if (cleanup.cgroup && ::geteuid() == 0) {
    fast = cleanup.cgroup->open_fast_join();
    if (new_userns) fast.v1_tasks.clear();
  }
  Cgroup::Joined joined;
  joined.v1 = !fast.v1_tasks.empty();
  if (joined.v1) icfg.join_v1_tasks = &fast.v1_tasks;

  ::fflush(nullptr);
  pid_t pid = clone_into_cgroup(flags, fast.v2_dir.get(), &joined.v2);
  if (pid < 0) throw_errno("clone (linux.namespaces)");
  if (pid == 0) {
    parent_sock.reset();
    container_init(icfg);
  }
  own_ns.go_back();
  fast = {};
  cleanup.pid = pid;
  if (own_pidns && ::setns(own_pidns.get(), CLONE_NEWPID) < 0) throw_errno("return to pid namespace");
  if (own_timens && ::setns(own_timens.get(), CLONE_NEWTIME) < 0) throw_errno("return to time namespace");
  child_sock.reset();
  start_sock.reset();
  console.reset();
  seccomp_listener.reset();
  join_fds.clear();
  join_pidns.reset();

  if (new_userns) {
    // Unprivileged, gid_map can only be written once setgroups is denied (user_namespaces(7)).
    if (::geteuid() != 0) write_proc_file(pid, "setgroups", "deny", "linux.gidMappings");
    write_id_map(pid, "uid_map", spec.linux->uidMappings);
    write_id_map(pid, "gid_map", spec.linux->gidMappings);
  }
  // process.oomScoreAdj is written here, through the host's procfs and with the runtime's
  // privileges (lowering the score needs CAP_SYS_RESOURCE, which the init lacks in a user
  // namespace); the user program inherits it.
  if (spec.process->oomScoreAdj)
    write_proc_file(pid, "oom_score_adj", std::to_string(*spec.process->oomScoreAdj),
                    "process.oomScoreAdj");
  if (cleanup.cgroup) cleanup.cgroup->add(pid, joined);

  ContainerState st;
  st.id = opts.id;
  st.pid = pid;
  st.bundle = bundle;
  st.rootfs = rootfs;
  st.annotations = spec.annotations;
  if (cleanup.cgroup) st.cgroup = cleanup.cgroup->to_json();
  st.config = config_text;
  st.owner = ::getuid();
  st.created = now_rfc3339();
  st.root_mount_id = cleanup.root_mount_id;
  st.facts.known = true;
  st.facts.poststart = !spec.hooks.poststart.empty();
  st.facts.poststop = !spec.hooks.poststop.empty();
  const oci::Namespace* pidns = spec.linux->find_namespace("pid");
  st.facts.own_pidns = pidns && pidns->path.empty();

  auto fail_from_child = [&](const std::string& msg) -> Error {
    return msg.empty() ? Error("container init exited during setup") : decode_error(msg);
  };
  // Idmapped mounts are prepared here, with the privilege the init gave up (see idmap.hpp).
  std::vector<UniqueFd> idmapped;
  for (auto& m : spec.mounts) {
    if (!m.idmapped()) continue;
    UniqueFd userns;
    if (new_userns)
      userns.reset(::open(("/proc/" + std::to_string(pid) + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
    else if (auto* ns = spec.linux ? spec.linux->find_namespace("user") : nullptr; ns && !ns->path.empty())
      userns.reset(::open(ns->path.c_str(), O_RDONLY | O_CLOEXEC));
    idmapped.push_back(make_idmapped_tree(m, bundle, userns ? userns.get() : -1));
  }
  if (!sync_send(parent_sock.get(), kSyncGo)) throw Error("container init exited during setup");
  for (auto& t : idmapped) send_fd(parent_sock.get(), t.get(), "idmap");
  idmapped.clear();
  char type;
  std::string payload;
  for (;;) {
    if (!sync_recv(parent_sock.get(), type, payload)) throw fail_from_child("");
    if (type == kSyncError) throw fail_from_child(payload);
    if (type == kSyncHooks) {
      const std::string sj = state_json(st, Status::creating).dump();
      // prestart (deprecated) sees "created", as in crun and the runtime-tools suite
      // (hooks_stdin); createRuntime, its successor, "creating" as in runc.
      run_hooks(spec.hooks.prestart, "prestart", state_json(st, Status::created).dump());
      run_hooks(spec.hooks.createRuntime, "createRuntime", sj);
      // createContainer hooks run before create returns: like runc they see "creating".
      if (!sync_send(parent_sock.get(), kSyncGo, sj))
        throw fail_from_child("");
      continue;
    }
    if (type == kSyncPid && late_pidns) {
      // The init went into the other PID namespace: its child there goes on, ours (or our
      // parent's, with CLONE_PARENT) as it was; the first one has ended.
      const pid_t in_ns = static_cast<pid_t>(std::atoi(payload.c_str()));
      if (in_ns <= 0) throw Error("container init: a bad pid `" + payload + "`");
      if (!cleanup.not_our_child)
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
      pid = cleanup.pid = st.pid = in_ns;
      late_pidns = false;
      continue;
    }
    if (type == kSyncReady) {
      if (late_pidns) throw fail_from_child("");  // never told its new pid
      break;
    }
    throw Error("unexpected message from container init");
  }
  st.pid_start = process_start_time(pid);
  store.save(st);
  if (!opts.pid_file.empty())
    fs::write_file_atomic(fs::absolute(opts.pid_file), std::to_string(pid), 0644);
  cleanup.committed = true;
  if (uses_terminal) *uses_terminal = spec.process->terminal;
  return pid;
}

pid_t create_container(const CreateOptions& opts) {
  int console = -1;
  if (opts.console_fd >= 0 && (console = ::fcntl(opts.console_fd, F_DUPFD_CLOEXEC, 3)) < 0)
    throw_errno("dup console socket");
  return create_container_impl(opts, console, nullptr);
}

void start_container(const std::string& root, const std::string& id) {
  validate_id(id);
  StateStore store(root);
  UniqueFd lock = store.lock(id);
  ContainerState st = store.load(id);
  Status s = current_status(st);
  if (s != Status::created)
    throw Error("cannot start container `" + id + "`: it is " + status_name(s) + ", not created");
  UniqueFd conn = connect_unix(store.dir(id) + "/start.sock");
  std::string msg(1, kSyncStart);
  msg += state_json(st, Status::created).dump();
  fs::write_fd(conn.get(), msg, "start socket");
  ::shutdown(conn.get(), SHUT_WR);
  std::string reply;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(conn.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  ::unlink((store.dir(id) + "/start.sock").c_str());
  if (!reply.empty()) {
    throw reply[0] == kSyncError ? decode_error(std::string_view(reply).substr(1)) : Error("container failed to start");
  }
  st.started = true;
  store.save(st);
  if (st.facts.known && !st.facts.poststart) return;
  try {
    auto spec = oci::parse_spec(st.config);
    run_hooks(spec.hooks.poststart, "poststart", state_json(st, Status::running).dump());
  } catch (const std::exception& e) {
    log::warn(std::string("poststart: ") + e.what());
  }
}

nlohmann::json container_state(const std::string& root, const std::string& id) {
  validate_id(id);
  StateStore store(root);
  ContainerState st = store.load(id);
  return state_json(st, current_status(st));
}

void kill_container(const std::string& root, const std::string& id, int sig, bool all) {
  validate_id(id);
  StateStore store(root);
  ContainerState st = store.load(id);
  Status s = current_status(st);
  if (s == Status::stopped) {
    if (all) return;  // nothing left to signal
    throw Error("container `" + id + "` is not running");
  }
  if (all) {
    kill_cgroup(st, sig);
    return;
  }
  signal_init(st, sig);
}

void delete_container(const std::string& root, const std::string& id, bool force) {
  validate_id(id);
  StateStore store(root);
  // Like runc: forcing the delete of something already gone is success (engines clean up
  // with `delete --force` after a failed create, when the runtime has already removed it).
  if (force && !store.exists(id)) return;
  UniqueFd lock = store.lock(id);
  ContainerState st;
  try {
    st = store.load(id);
  } catch (const Error&) {
    // Holding the lock with no state.json: its creator died midway; remove what is left.
    if (store.exists(id) && !fs::exists(store.dir(id) + "/state.json")) {
      store.remove(id);
      return;
    }
    throw;
  }
  Status s = current_status(st);
  if ((s == Status::running || s == Status::paused) && !force)
    throw Error("cannot delete container `" + id + "` that is not stopped: " + status_name(s) +
                " (use --force)");
  if (s != Status::stopped) {
    try {
      signal_init(st, SIGKILL);
    } catch (const Error&) {
    }
    if (!has_pidns(st)) kill_cgroup(st, SIGKILL);
    // Frozen tasks take SIGKILL only once thawed.
    if (s == Status::paused) freeze_cgroup(*Cgroup::from_json(st.cgroup), false);
    if (!wait_gone(st.pid, 10000)) throw Error("container `" + id + "` did not die after SIGKILL");
  }
  if (!st.cgroup.is_null()) {
    auto cg = Cgroup::from_json(st.cgroup);
    // Without a pid namespace, processes may outlive init: kill what is left.
    for (int i = 0; i < 50 && !cg->pids().empty(); ++i) {
      for (pid_t p : cg->pids()) ::kill(p, SIGKILL);
      ::usleep(10000);
    }
    cg->destroy();
  }
  if (st.root_mount_id) unbind_shared_root(st.rootfs, st.root_mount_id);
  try {
    if (!st.config.empty() && !(st.facts.known && !st.facts.poststop)) {
      auto spec = oci::parse_spec(st.config);
      run_hooks(spec.hooks.poststop, "poststop", state_json(st, Status::stopped).dump());
    }
  } catch (const std::exception& e) {
    log::warn(std::string("poststop: ") + e.what());
  }
  store.remove(id);
}

namespace {
// A loaded container with a live process and its cgroup, for the verbs that act on both.
struct Live {
  ContainerState st;
  Status status;
  std::unique_ptr<Cgroup> cg;
};
Live load_live(const StateStore& store, const std::string& id, const char* verb) {
  validate_id(id);
  Live l{store.load(id), Status::stopped, nullptr};
  l.status = current_status(l.st);
  if (l.status == Status::stopped)
    throw Error(std::string("cannot ") + verb + " container `" + id + "`: it is stopped");
  if (l.st.cgroup.is_null()) throw Error("container `" + id + "` has no cgroup");
  l.cg = Cgroup::from_json(l.st.cgroup);
  return l;
}
}  // namespace

void pause_container(const std::string& root, const std::string& id) {
  StateStore store(root);
  UniqueFd lock = store.lock(id);
  Live l = load_live(store, id, "pause");
  if (l.status != Status::running)
    throw Error("cannot pause container `" + id + "`: it is " + status_name(l.status));
  freeze_cgroup(*l.cg, true);
}

void resume_container(const std::string& root, const std::string& id) {
  StateStore store(root);
  UniqueFd lock = store.lock(id);
  Live l = load_live(store, id, "resume");
  if (l.status != Status::paused)
    throw Error("cannot resume container `" + id + "`: it is " + status_name(l.status) + ", not paused");
  freeze_cgroup(*l.cg, false);
}

void update_container(const std::string& root, const std::string& id,
                      const nlohmann::json& resources) {
  StateStore store(root);
  UniqueFd lock = store.lock(id);
  Live l = load_live(store, id, "update");
  oci::LinuxResources r = oci::parse_resources(resources);
  l.cg->set(r);
  for (auto& w : l.cg->warnings()) log::warn(w);
}

std::vector<pid_t> container_pids(const std::string& root, const std::string& id) {
  StateStore store(root);
  return load_live(store, id, "list processes of").cg->pids();
}

nlohmann::json container_stats(const std::string& root, const std::string& id) {
  StateStore store(root);
  Live l = load_live(store, id, "get stats of");
  return {{"type", "stats"}, {"id", id}, {"data", cgroup_stats(*l.cg)}};
}

namespace {
// The memory controller's OOM kill count in a cgroup directory (v1 memory.oom_control, v2
// memory.events); none when neither file is there.
std::optional<uint64_t> oom_kill_count(const std::string& dir) {
  for (const char* file : {"/memory.oom_control", "/memory.events"}) {
    std::string text;
    if (!fs::read_file_if_exists(dir + file, text)) continue;
    for (const auto& line : split(text, '\n'))
      if (line.rfind("oom_kill ", 0) == 0) return std::strtoull(line.c_str() + 9, nullptr, 10);
  }
  return std::nullopt;
}
}  // namespace

bool container_oom_killed(const std::string& root, const std::string& id) {
  try {
    // The container has stopped (that is when one asks); its cgroup is there until delete.
    StateStore store(root);
    validate_id(id);
    ContainerState st = store.load(id);
    if (st.cgroup.is_null()) return false;
    // Only the memory controller's count (v1 memory.oom_control, v2 memory.events): not the
    // whole of cgroup_stats (fourteen files here), at every container's end.
    const auto cg = Cgroup::from_json(st.cgroup);
    for (const std::string& dir : {cg->host_dir("memory"), cg->host_dir("")})
      if (auto n = dir.empty() ? std::nullopt : oom_kill_count(dir)) return *n > 0;
    return false;
  } catch (const std::exception&) {
    return false;
  }
}

std::string bundle_cgroups_path(const std::string& bundle) {
  std::string text;
  fs::read_file_if_exists(bundle + "/config.json", text);
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("linux") || !j["linux"].is_object()) return "";
  const auto& p = j["linux"].value("cgroupsPath", nlohmann::json(""));
  return p.is_string() ? p.get<std::string>() : "";
}

bool cgroup_oom_killed(const std::string& cgroups_path) {
  if (cgroups_path.empty() || cgroups_path[0] != '/') return false;
  for (const auto& h : host_hierarchies()) {
    if (!h.v2 && std::find(h.controllers.begin(), h.controllers.end(), "memory") == h.controllers.end()) continue;
    if (auto n = oom_kill_count(h.mountpoint + cgroups_path); n && *n > 0) return true;
  }
  return false;
}

nlohmann::json cgroup_stats_at(const std::string& cgroups_path) {
  if (cgroups_path.empty() || cgroups_path[0] != '/') throw Error("cgroup `" + cgroups_path + "`: not an absolute path");
  nlohmann::json saved;
  if (host_cgroup_mode() == CgroupMode::v2) {
    for (const auto& h : host_hierarchies())
      if (h.v2) saved = {{"version", "v2"}, {"path", cgroups_path}, {"dir", h.mountpoint + cgroups_path}, {"mount", h.mountpoint}};
  } else {
    nlohmann::json dirs = nlohmann::json::array();
    std::string unified, mount;
    for (const auto& h : host_hierarchies()) {
      const std::string dir = h.mountpoint + cgroups_path;
      if (!fs::exists(dir)) continue;
      if (h.v2) {
        unified = dir;
        mount = h.mountpoint;
      } else {
        dirs.push_back({{"controllers", h.controllers}, {"dir", dir}});
      }
    }
    saved = {{"version", "v1"}, {"path", cgroups_path}, {"dirs", dirs}, {"unified", unified}, {"unified_mount", mount}};
  }
  if (saved.is_null()) throw Error("no cgroup hierarchy is mounted");
  return cgroup_stats(*Cgroup::from_json(saved));
}

void remove_empty_cgroup(const std::string& cgroups_path) {
  if (cgroups_path.empty() || cgroups_path[0] != '/' || cgroups_path == "/") return;
  for (const auto& h : host_hierarchies()) ::rmdir((h.mountpoint + cgroups_path).c_str());
}

bool kill_foreign_cgroup(const std::string& cgroups_path, int timeout_ms) {
  if (cgroups_path.empty() || cgroups_path[0] != '/' || cgroups_path == "/") return true;
  std::vector<std::string> dirs;
  for (const auto& h : host_hierarchies())
    if (fs::is_dir(h.mountpoint + cgroups_path)) dirs.push_back(h.mountpoint + cgroups_path);
  // A frozen process does not die of SIGKILL until thawed.
  auto write_quietly = [](const std::string& file, std::string_view value) {
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
    if (fd) (void)!::write(fd.get(), value.data(), value.size());
  };
  for (auto& d : dirs) {
    write_quietly(d + "/freezer.state", "THAWED");
    write_quietly(d + "/cgroup.freeze", "0");
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool empty = false;
  while (!empty) {
    empty = true;
    for (auto& d : dirs)
      for (pid_t pid : cgroup_detail::read_procs(d)) {
        empty = false;
        ::kill(pid, SIGKILL);
      }
    if (empty || std::chrono::steady_clock::now() > deadline) break;
    ::usleep(10000);
  }
  remove_empty_cgroup(cgroups_path);
  return empty;
}

std::vector<ListEntry> list_containers(const std::string& root) {
  StateStore store(root);
  std::vector<ListEntry> out;
  for (auto& id : store.ids()) {
    try {
      ContainerState st = store.load(id);
      out.push_back({st, current_status(st)});
    } catch (const Error&) {
      // being created or half-deleted: not listed
    }
  }
  return out;
}

int run_container(const CreateOptions& opts, bool detach, bool keep) {
  // In the foreground without a console socket we own the pty if the config asks for one:
  // create gets our end of a socketpair and says whether it sent a terminal through it.
  int console_fd = -1;
  UniqueFd console_peer;
  if (!detach && opts.console_socket.empty()) {
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) throw_errno("socketpair");
    console_fd = sp[0];
    console_peer.reset(sp[1]);
  }
  // Block signals before the child exists so none is lost; forward them once it runs.
  SignalBlock signals(!detach);
  bool terminal = false;
  pid_t pid = create_container_impl(opts, console_fd, &terminal);
  UniqueFd master;
  if (terminal && console_peer) master = recv_fd(console_peer.get());
  try {
    start_container(opts.root, opts.id);
  } catch (...) {
    signals.restore();
    try {
      delete_container(opts.root, opts.id, true);
    } catch (const std::exception& e) {
      log::warn(e.what());
    }
    throw;
  }
  if (detach) return 0;

  int code = wait_foreground(pid, signals.set(), std::move(master));
  signals.restore();
  if (!keep) delete_container(opts.root, opts.id, true);
  return code;
}

}  // namespace berth::runtime
