#include "runtime/linux_init.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "runtime/cgroup.hpp"
#include "runtime/signals.hpp"
#include "runtime/caps.hpp"
#include "runtime/hooks.hpp"
#include "runtime/lsm.hpp"
#include "runtime/mounts.hpp"
#include "runtime/process.hpp"
#include "runtime/seccomp.hpp"
#include "runtime/terminal.hpp"


namespace berth::runtime {

bool sync_send(int fd, char type, const std::string& payload) {
  std::string msg(1, type);
  msg += payload;
  for (;;) {
    ssize_t n = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
    if (n >= 0) return true;
    if (errno != EINTR) return false;
  }
}

bool sync_recv(int fd, char& type, std::string& payload) {
  // A SEQPACKET message: its size first (MSG_PEEK|MSG_TRUNC), then a buffer of just that size.
  // (A fixed 256 KiB buffer cost ~64 page faults per message.)
  ssize_t len;
  while ((len = ::recv(fd, nullptr, 0, MSG_PEEK | MSG_TRUNC)) < 0 && errno == EINTR) {
  }
  if (len <= 0) return false;
  std::string buf(static_cast<size_t>(len), '\0');
  ssize_t n;
  while ((n = ::recv(fd, buf.data(), buf.size(), 0)) < 0 && errno == EINTR) {
  }
  if (n <= 0) return false;
  type = buf[0];
  payload.assign(buf.data() + 1, static_cast<size_t>(n - 1));
  return true;
}

namespace {

// Loads the seccomp filter; with SCMP_ACT_NOTIFY, hands the notify fd to the listener with
// the container process state, as config-linux.md describes.
void load_seccomp(const InitConfig& cfg, const std::string& state_json) {
  int nfd = cfg.seccomp->load();
  if (nfd < 0) return;
  auto state = nlohmann::json::parse(state_json, nullptr, false);
  // The pid as the runtime (and the listener, on the host) sees it, not getpid() in our ns.
  const int pid = state.is_object() ? state.value("pid", ::getpid()) : ::getpid();
  nlohmann::json msg = {{"ociVersion", oci::kOciVersion},
                        {"fds", {"seccompFd"}},
                        {"pid", pid},
                        {"metadata", cfg.seccomp->listener_metadata()},
                        {"state", state}};
  send_fd(cfg.seccomp_listener_fd, nfd, msg.dump());
  ::close(nfd);
  ::close(cfg.seccomp_listener_fd);
}

}  // namespace

void container_init(const InitConfig& cfg) {
  int report_fd = cfg.sync_fd;
  try {
    if (cfg.lock_fd >= 0) ::close(cfg.lock_fd);
    const oci::Spec& spec = *cfg.spec;
    const oci::Process& proc = *spec.process;
    char type;
    std::string payload;
    // Until execve this process is the runtime binary living inside the container: make it
    // non-dumpable so that container processes (of a shared pid namespace, say) cannot ptrace
    // it or open /proc/<pid>/exe, mem, fd/... (CVE-2019-5736 class). execve restores
    // dumpability for the user program. A rootless parent can only write our uid_map/gid_map
    // while we are dumpable, so then this waits until the parent's go. (Not decided by our
    // geteuid(): it becomes 0 once a rootless parent has written uid_map, and non-dumpable
    // between its uid_map and gid_map writes we made the second fail with EACCES.)
    if (cfg.parent_is_root) ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (!sync_recv(cfg.sync_fd, type, payload) || type != kSyncGo) ::_exit(1);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (cfg.join_v1_tasks) join_self(*cfg.join_v1_tasks);
    std::vector<UniqueFd> idmapped;
    for (auto& m : spec.mounts)
      if (m.idmapped()) idmapped.push_back(recv_fd(cfg.sync_fd));

    for (auto [fd, nstype] : cfg.join_ns) {
      if (::setns(fd, nstype) < 0) throw_errno("join namespace");
      ::close(fd);
    }
    if (cfg.new_userns) {
      // Become root of the new user namespace if the mappings let us.
      (void)::setresgid(0, 0, 0);
      (void)::setresuid(0, 0, 0);
    }
    if (cfg.new_cgroupns && ::unshare(CLONE_NEWCGROUP) < 0) throw_errno("unshare cgroup namespace");
    if (::setsid() < 0) throw_errno("setsid");
    if (!spec.hostname.empty() && ::sethostname(spec.hostname.data(), spec.hostname.size()) < 0)
      throw_errno("sethostname `" + spec.hostname + "`");
    if (!spec.domainname.empty() &&
        ::setdomainname(spec.domainname.data(), spec.domainname.size()) < 0)
      throw_errno("setdomainname `" + spec.domainname + "`");

    // Made in the container's namespaces while the host's /proc is still in view.
    std::optional<Procfs> procfs(Procfs::open_private());
    MountContext mctx;
    mctx.spec = &spec;
    mctx.bundle = cfg.bundle;
    mctx.rootfs = cfg.rootfs;
    mctx.shared_mntns = cfg.shared_mntns;
    mctx.userns = cfg.new_userns || spec.linux->find_namespace("user");
    mctx.cgroupns = spec.linux->find_namespace("cgroup") != nullptr;
    mctx.cgroup = cfg.cgroup;
    mctx.idmapped = std::move(idmapped);
    mctx.proc_pidns_fd = cfg.late_pidns_fd;
    prepare_rootfs(mctx);
    mount_all(mctx);
    create_devices(mctx);
    // The working directory is created like runc does when the image lacks it.
    fs::mkdir_in_root(mctx.rootfs_fd.get(), proc.cwd);

    UniqueFd slave;
    if (proc.terminal) {
      UniqueFd ptmx = fs::open_in_root(mctx.rootfs_fd.get(), "/dev/pts/ptmx", O_PATH);
      if (!ptmx) ptmx = fs::open_in_root(mctx.rootfs_fd.get(), "/dev/ptmx", O_PATH);
      if (!ptmx) throw_errno("open /dev/ptmx in the container (is /dev/pts mounted?)");
      Pty pty = open_pty(ptmx.get());
      if (proc.consoleSize) set_winsize(pty.master.get(), proc.consoleSize->height, proc.consoleSize->width);
      mount_console(mctx, pty.slave.get());
      if (cfg.console_fd < 0) throw Error("process.terminal is set but there is no console socket");
      send_fd(cfg.console_fd, pty.master.get(), "/dev/ptmx");
      ::close(cfg.console_fd);
      slave = std::move(pty.slave);
    }

    // prestart and createRuntime hooks run in the runtime namespace (by the parent).
    if (!sync_send(cfg.sync_fd, kSyncHooks)) ::_exit(1);
    if (!sync_recv(cfg.sync_fd, type, payload)) ::_exit(1);
    if (type != kSyncGo) ::_exit(1);
    const std::string state_json = payload;
    run_hooks(spec.hooks.createContainer, "createContainer", state_json);

    write_sysctls(spec, *procfs);
    mask_paths(mctx);
    readonly_paths(mctx);
    enter_rootfs(mctx, cfg.no_pivot);
    finalize_root(spec);
    set_rlimits(proc);
    apply_personality(spec);
    apply_scheduler(proc);
    apply_io_priority(proc);

    enter_cwd(proc.cwd);

    if (cfg.late_pidns_fd >= 0) {
      // Into the other container's PID namespace, holding nothing that leads to the host: every
      // fd but stdio, the preserved ones and those still needed is closed first (a directory fd
      // of the host, or the runtime's procfs, opened through /proc/PID/fd by a process of that
      // namespace with SYS_PTRACE, would be the host's tree).
      procfs.reset();
      mctx.idmapped.clear();
      mctx.rootfs_fd.reset();
      if (::setns(cfg.late_pidns_fd, CLONE_NEWPID) < 0) throw_errno("join the PID namespace");
      close_fds_except(3U + static_cast<unsigned>(cfg.preserve_fds),
                       {cfg.sync_fd, cfg.start_fd, cfg.seccomp_listener_fd, cfg.parent_pidfd, slave.get()});
      // The process that goes on is born in it, a child of our parent's; it waits until the
      // parent has its pid.
      int gate[2];
      if (::pipe2(gate, O_CLOEXEC) < 0) throw_errno("pipe");
      const long child = ::syscall(SYS_clone, CLONE_PARENT, nullptr, nullptr, nullptr, 0);
      if (child < 0) throw_errno("clone into the PID namespace");
      if (child > 0) {
        ::close(gate[0]);
        const bool told = sync_send(cfg.sync_fd, kSyncPid, std::to_string(child));
        if (told) (void)!::write(gate[1], "g", 1);
        ::_exit(told ? 0 : 1);
      }
      ::close(gate[1]);
      char b;
      ssize_t n;
      while ((n = ::read(gate[0], &b, 1)) < 0 && errno == EINTR) {
      }
      ::close(gate[0]);
      if (n != 1) ::_exit(1);  // the parent never learnt of us
      if (::setsid() < 0) throw_errno("setsid");
      procfs.emplace(Procfs::open_private());
    }

    if (slave) {
      make_controlling_tty(slave.get());
      slave.reset();
    }
    if (proc.user.umask) ::umask(static_cast<mode_t>(*proc.user.umask));
    else ::umask(022);
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we still
    // have it (the profile must then allow what follows, as with runc). With no_new_privs
    // it is loaded last, right before execve, so it cannot break the runtime's own steps.
    const bool seccomp_early = cfg.seccomp && !proc.noNewPrivileges;
    if (seccomp_early) load_seccomp(cfg, state_json);
    apply_lsm(proc, *procfs);
    apply_user_and_capabilities(proc, setgroups_allowed());
    if (proc.noNewPrivileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
      throw_errno("prctl(PR_SET_NO_NEW_PRIVS)");
    std::string exe = find_executable(proc.args[0], proc.env);

    // Nothing but stdio and the preserved fds may reach the user program: every other fd
    // is close-on-exec from here on (CVE-2024-21626 class).
    cloexec_from(3 + cfg.preserve_fds);

    if (!sync_send(cfg.sync_fd, kSyncReady)) ::_exit(1);
    ::close(cfg.sync_fd);
    report_fd = -1;

    int conn;
    for (;;) {
      conn = ::accept4(cfg.start_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn >= 0) break;
      if (errno != EINTR) ::_exit(1);
    }
    report_fd = conn;
    ::close(cfg.start_fd);
    // `start` sends the start byte and the state JSON, then shuts down its write side.
    std::string msg;
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(conn, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      msg.append(buf, static_cast<size_t>(n));
    }
    if (msg.empty() || msg[0] != kSyncStart) ::_exit(1);
    run_hooks(spec.hooks.startContainer, "startContainer",
              msg.size() > 1 ? msg.substr(1) : state_json);
    set_late_rlimits(proc);
    if (cfg.seccomp && !seccomp_early) load_seccomp(cfg, state_json);
    // `run` blocks every signal while it sets up, and the shim ignores some: the user program
    // starts with default actions and none blocked.
    reset_signals();
    if (cfg.parent_death_signal) {
      // Set after every credential change (which clears it); a parent that died before this
      // point sent nothing, so look.
      ::prctl(PR_SET_PDEATHSIG, cfg.parent_death_signal, 0, 0, 0);
      struct pollfd pp = {cfg.parent_pidfd, POLLIN, 0};
      if (cfg.parent_pidfd < 0 || ::poll(&pp, 1, 0) != 0) ::_exit(1);
    }
    std::vector<std::string> args = proc.args;
    std::vector<std::string> env = proc.env;
    auto argv = cstrings(args);
    auto envp = cstrings(env);
    ::execve(exe.c_str(), argv.data(), envp.data());
    throw_exec_error(proc.args[0], errno);
  } catch (const std::exception& e) {
    if (report_fd >= 0) sync_send(report_fd, kSyncError, encode_error(e));
    ::_exit(1);
  }
}

}  // namespace berth::runtime
