// exec: a new process inside an existing container.
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "runtime/signals.hpp"
#include "runtime/caps.hpp"
#include "runtime/cgroup.hpp"
#include "runtime/container.hpp"
#include "runtime/foreground.hpp"
#include "runtime/linux_init.hpp"
#include "runtime/lsm.hpp"
#include "runtime/process.hpp"
#include "runtime/seccomp.hpp"
#include "runtime/terminal.hpp"


namespace berth::runtime {
namespace {

uint32_t parse_id(const std::string& s, const char* what) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty())
    throw Error(std::string("--user: `") + s + "` is not a numeric " + what);
  return v;
}

// KEY=value sets KEY; a bare KEY unsets it (Docker's `exec -e KEY` with KEY unset where the
// client runs; the runtime's --env refuses a bare name before it gets here).
void set_env(std::vector<std::string>& env, const std::string& kv) {
  if (kv.empty() || kv[0] == '=') throw Error("--env: `" + kv + "` must have the form KEY=value");
  if (kv.find('=') == std::string::npos) {
    std::erase_if(env, [&](const std::string& e) { return e.size() > kv.size() && e.compare(0, kv.size(), kv) == 0 && e[kv.size()] == '='; });
    return;
  }
  std::string key = kv.substr(0, kv.find('=') + 1);
  for (auto& e : env)
    if (e.compare(0, key.size(), key) == 0) {
      e = kv;
      return;
    }
  env.push_back(kv);
}

oci::Process build_process(const ExecOptions& o, const oci::Spec& spec) {
  if (!o.process_file.empty()) {
    std::string text = fs::read_file(o.process_file);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number too big
      throw Error("--process `" + o.process_file + "`: invalid JSON: " + e.what());
    }
    return oci::parse_process_json(j);
  }
  if (o.args.empty()) throw Error("exec: a command to run is required (or --process FILE)");
  oci::Process p = spec.process ? *spec.process : oci::Process{};
  p.args = o.args;
  p.terminal = o.tty;
  p.consoleSize.reset();
  if (o.tty && o.console_rows && o.console_cols) p.consoleSize = oci::ConsoleSize{o.console_rows, o.console_cols};
  if (!o.cwd.empty()) {
    if (o.cwd[0] != '/') throw Error("--cwd: `" + o.cwd + "` must be an absolute path");
    p.cwd = o.cwd;
  }
  for (auto& e : o.env) set_env(p.env, e);
  if (!o.user.empty()) {
    auto colon = o.user.find(':');
    p.user.uid = parse_id(o.user.substr(0, colon), "uid");
    p.user.gid = colon == std::string::npos ? 0 : parse_id(o.user.substr(colon + 1), "gid");
  }
  if (!o.additional_gids.empty()) p.user.additionalGids = o.additional_gids;
  if (!o.caps.empty()) {
    if (!p.capabilities) p.capabilities = oci::Capabilities{};
    for (auto& name : o.caps) {
      int c = oci::capability_from_name(name);
      if (c < 0) throw Error("--cap: unknown capability `" + name + "`");
      // Never into the inheritable set (CVE-2022-29162 class).
      for (auto* set : {&p.capabilities->bounding, &p.capabilities->effective,
                        &p.capabilities->permitted})
        set->push_back(c);
    }
  }
  if (o.no_new_privs) p.noNewPrivileges = true;
  if (!o.apparmor.empty()) p.apparmorProfile = o.apparmor;
  if (!o.process_label.empty()) p.selinuxLabel = o.process_label;
  validate_lsm(p);
  return p;
}

const char* proc_ns_name(std::string_view type) {
  if (type == "network") return "net";
  if (type == "mount") return "mnt";
  return type.data();  // pid ipc uts user cgroup time: the same name (a string literal)
}


[[noreturn]] void exec_child(int sync_fd, const oci::Spec& spec, const oci::Process& p,
                             const std::vector<std::pair<int, int>>& join, int root_fd,
                             int console_fd, SeccompFilter* seccomp, int preserve_fds,
                             std::vector<UniqueFd>& v1_tasks) {
  try {
    // Nothing in the container may ptrace us or open our /proc files before execve.
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    char type;
    std::string payload;
    if (!sync_recv(sync_fd, type, payload) || type != kSyncGo) ::_exit(1);
    join_self(v1_tasks);  // the container's v1 cgroups, while still the host's root
    for (auto [fd, flag] : join)
      if (::setns(fd, flag) < 0) throw_errno("join the container's namespaces");
    for (auto [fd, flag] : join) ::close(fd);
    // A container in the runtime's mount namespace is its init's root, entered as it did.
    if (root_fd >= 0 && (::fchdir(root_fd) < 0 || ::chroot(".") < 0 || ::chdir("/") < 0))
      throw_errno("enter the container's root");
    // Now in the container's cgroup, whose cpuset reset our affinity.
    if (p.execCPUAffinity && !p.execCPUAffinity->final.empty())
      set_cpu_affinity(0, p.execCPUAffinity->final, "process.execCPUAffinity.final");
    if (p.terminal) {
      if (::setsid() < 0) throw_errno("setsid");
      UniqueFd ptmx(::open("/dev/pts/ptmx", O_PATH | O_CLOEXEC));
      if (!ptmx) ptmx.reset(::open("/dev/ptmx", O_PATH | O_CLOEXEC));
      if (!ptmx) throw_errno("open /dev/ptmx in the container");
      Pty pty = open_pty(ptmx.get());
      if (p.consoleSize) set_winsize(pty.master.get(), p.consoleSize->height, p.consoleSize->width);
      send_fd(console_fd, pty.master.get(), "/dev/ptmx");
      ::close(console_fd);
      make_controlling_tty(pty.slave.get());
    }
    set_rlimits(p);
    apply_personality(spec);
    apply_scheduler(p);
    apply_io_priority(p);
    enter_cwd(p.cwd);
    ::umask(p.user.umask ? static_cast<mode_t>(*p.user.umask) : 022);
    const bool seccomp_early = seccomp && !p.noNewPrivileges;
    if (seccomp_early) {
      int nfd = seccomp->load();
      if (nfd >= 0) ::close(nfd);
    }
    if (wants_lsm(p)) apply_lsm(p, Procfs::open_private());
    apply_user_and_capabilities(p, setgroups_allowed());
    if (p.noNewPrivileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
      throw_errno("prctl(PR_SET_NO_NEW_PRIVS)");
    std::string exe = find_executable(p.args[0], p.env);
    cloexec_from(3 + preserve_fds);
    set_late_rlimits(p);
    if (seccomp && !seccomp_early) {
      int nfd = seccomp->load();
      if (nfd >= 0) ::close(nfd);
    }
    // `run` blocks every signal while it sets up, and the shim ignores some: the user program
    // starts with default actions and none blocked.
    reset_signals();
    std::vector<std::string> args = p.args, env = p.env;
    auto argv = cstrings(args);
    auto envp = cstrings(env);
    ::execve(exe.c_str(), argv.data(), envp.data());
    throw_exec_error(p.args[0], errno);
  } catch (const std::exception& e) {
    sync_send(sync_fd, kSyncError, encode_error(e));
    ::_exit(1);
  }
}

}  // namespace

int exec_container(const ExecOptions& o) {
  validate_id(o.id);
  StateStore store(o.root);
  ContainerState st = store.load(o.id);
  Status s = current_status(st);
  if (s != Status::running && s != Status::created)
    throw Error("cannot exec in container `" + o.id + "`: it is " + status_name(s));
  oci::Spec spec = oci::parse_spec(st.config);
  oci::Process p = build_process(o, spec);
  if (p.terminal && o.console_socket.empty() && o.detach)
    throw Error("exec: --tty with --detach needs a --console-socket");
  if (o.preserve_fds < 0) throw Error("--preserve-fds must not be negative");
  std::unique_ptr<SeccompFilter> seccomp =
      spec.linux ? SeccompFilter::compile(spec.linux->seccomp, o.root + "/@seccomp") : nullptr;

  // The container's namespaces, read from its init; user first, mount last.
  std::vector<std::pair<int, int>> join;
  std::vector<UniqueFd> fds;
  UniqueFd pidns;
  const std::string base = "/proc/" + std::to_string(st.pid) + "/ns/";
  for (const char* type : {"user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount"}) {
    if (!spec.linux || !spec.linux->find_namespace(type)) continue;
    UniqueFd fd(::open((base + proc_ns_name(type)).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno(std::string("open the container's ") + type + " namespace");
    if (std::string(type) == "pid") {
      pidns = std::move(fd);
      continue;
    }
    join.emplace_back(fd.get(), namespace_flag(type));
    fds.push_back(std::move(fd));
  }
  // A namespace the container joined rather than made — an engine's network namespace, made
  // outside the container's user namespace — belongs to another user namespace: joined before
  // the container's user namespace, while this process still has the privilege over it.
  if (!join.empty() && join.front().second == CLONE_NEWUSER) {
    struct stat user {};
    if (::fstat(join.front().first, &user) == 0)
      std::stable_partition(join.begin(), join.end(), [&](const std::pair<int, int>& j) {
        if (j.second == CLONE_NEWUSER) return false;
        UniqueFd owner(::ioctl(j.first, NS_GET_USERNS));
        struct stat st {};
        return owner && ::fstat(owner.get(), &st) == 0 && (st.st_ino != user.st_ino || st.st_dev != user.st_dev);
      });
  }
  UniqueFd root;
  if (spec.linux && !spec.linux->find_namespace("mount")) {
    root.reset(::open((base + "../root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_errno("open the container's root");
  }
  if (process_start_time(st.pid) != st.pid_start)
    throw Error("cannot exec in container `" + o.id + "`: it has stopped");

  UniqueFd console, console_peer;
  if (p.terminal) {
    if (!o.console_socket.empty()) {
      console = connect_unix(o.console_socket);
    } else {
      int sp[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) throw_errno("socketpair");
      console.reset(sp[0]);
      console_peer.reset(sp[1]);
    }
  }
  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) throw_errno("socketpair");
  UniqueFd parent_sock(sp[0]), child_sock(sp[1]);

  // Into the container's cgroup as it is born (v2) or as its first act (v1): see
  // Cgroup::FastJoin. Rootless, the parent moves it.
  std::unique_ptr<Cgroup> cgroup = st.cgroup.is_null() ? nullptr : Cgroup::from_json(st.cgroup);
  Cgroup::FastJoin fast;
  if (cgroup && ::geteuid() == 0) fast = cgroup->open_fast_join();
  // execCPUAffinity.initial is the affinity before the cgroup's: not born into the v2 one.
  if (p.execCPUAffinity && !p.execCPUAffinity->initial.empty()) fast.v2_dir.reset();
  Cgroup::Joined joined;
  joined.v1 = !fast.v1_tasks.empty();

  SignalBlock signals(!o.detach);
  // The process must not appear in the container's PID namespace (its /proc) before it is in
  // the container's other namespaces and root: a container process allowed to ptrace it
  // (CAP_SYS_PTRACE passes the non-dumpable check) could follow /proc/PID/root to the host's
  // `/`. So a middle process, outside the PID namespace, joins them all (the user namespace
  // first) and enters the root, then forks the process into the PID namespace as our child
  // (CLONE_PARENT), tells us its pid and exits — runc's order.
  int rp[2];
  if (::pipe2(rp, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd pid_r(rp[0]), pid_w(rp[1]);
  ::fflush(nullptr);
  const pid_t middle = ::fork();
  if (middle < 0) throw_errno("fork");
  if (middle == 0) {
    pid_r.reset();
    parent_sock.reset();
    std::string report;
    try {
      ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
      for (auto [fd, flag] : join)
        if (::setns(fd, flag) < 0) throw_errno("join the container's namespaces");
      // A container in the runtime's mount namespace is its init's root, entered as it did.
      if (root && (::fchdir(root.get()) < 0 || ::chroot(".") < 0 || ::chdir("/") < 0))
        throw_errno("enter the container's root");
      if (pidns && ::setns(pidns.get(), CLONE_NEWPID) < 0) throw_errno("join the container's pid namespace");
      bool placed = false;
      const pid_t child = clone_into_cgroup(CLONE_PARENT, fast.v2_dir.get(), &placed);
      if (child < 0) throw_errno("fork");
      if (child == 0) {
        pid_w.reset();
        exec_child(child_sock.get(), spec, p, {}, -1, console ? console.get() : -1, seccomp.get(), o.preserve_fds,
                   fast.v1_tasks);
      }
      report = "ok " + std::to_string(child) + (placed ? " 1\n" : " 0\n");
    } catch (const std::exception& e) {
      report = "error " + encode_error(e) + "\n";
    }
    (void)!::write(pid_w.get(), report.data(), report.size());
    ::_exit(0);
  }
  pid_w.reset();
  std::string report;
  char buf[512];
  for (ssize_t n; (n = ::read(pid_r.get(), buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    report.append(buf, static_cast<size_t>(n));
  }
  while (::waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (report.rfind("error ", 0) == 0) throw decode_error(std::string_view(report).substr(6, report.size() - 7));
  pid_t pid = -1;
  int placed = 0;
  if (std::sscanf(report.c_str(), "ok %d %d", &pid, &placed) != 2 || pid <= 0)
    throw Error("exec: the process could not be made");
  joined.v2 = placed != 0;
  fast = {};
  child_sock.reset();
  console.reset();
  fds.clear();
  root.reset();
  auto fail = [&](const Error& err) {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    throw err;
  };
  try {
    if (p.execCPUAffinity && !p.execCPUAffinity->initial.empty())
      set_cpu_affinity(pid, p.execCPUAffinity->initial, "process.execCPUAffinity.initial");
    if (cgroup) cgroup->add(pid, joined);
  } catch (const Error& e) {
    fail(e);
  }
  if (!sync_send(parent_sock.get(), kSyncGo)) fail(Error("exec: the process died before it was set up"));
  char type;
  std::string payload;
  if (sync_recv(parent_sock.get(), type, payload)) {
    fail(type == kSyncError ? decode_error(payload) : Error("exec: unexpected message"));
  }
  // EOF: the socket was closed by execve.
  if (!o.pid_file.empty()) fs::write_file_atomic(fs::absolute(o.pid_file), std::to_string(pid), 0644);
  UniqueFd master;
  if (console_peer) master = recv_fd(console_peer.get());
  if (o.detach) return 0;
  return wait_foreground(pid, signals.set(), std::move(master));
}

}  // namespace berth::runtime
