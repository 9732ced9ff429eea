// The default seccomp profile, compiled by the runtime and run by a small classic-BPF
// interpreter over every syscall number: the verdict for each is what the profile says
// (Docker's allow list, EPERM for the rest, ENOSYS above the newest one it names).
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "engine/spec.hpp"
#include "runtime/seccomp.hpp"

using namespace berth;
using nlohmann::json;

namespace {

#if defined(__x86_64__)

// Runs a seccomp program over one seccomp_data; returns its SECCOMP_RET_* value.
uint32_t run_bpf(const std::string& prog, const seccomp_data& d) {
  const auto* f = reinterpret_cast<const sock_filter*>(prog.data());
  const size_t n = prog.size() / sizeof(sock_filter);
  uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {};
  auto load = [&](uint32_t off) {
    uint32_t v;
    EXPECT_LE(off + 4, sizeof d);
    std::memcpy(&v, reinterpret_cast<const char*>(&d) + off, 4);
    return v;
  };
  for (size_t pc = 0; pc < n; ++pc) {
    const sock_filter& i = f[pc];
    const uint32_t src = BPF_SRC(i.code) == BPF_X ? x : i.k;
    switch (BPF_CLASS(i.code)) {
      case BPF_LD:
        a = BPF_MODE(i.code) == BPF_ABS ? load(i.k) : BPF_MODE(i.code) == BPF_MEM ? mem[i.k] : i.k;
        break;
      case BPF_LDX: x = BPF_MODE(i.code) == BPF_MEM ? mem[i.k] : i.k; break;
      case BPF_ST: mem[i.k] = a; break;
      case BPF_STX: mem[i.k] = x; break;
      case BPF_ALU:
        switch (BPF_OP(i.code)) {
          case BPF_AND: a &= src; break;
          case BPF_OR: a |= src; break;
          case BPF_ADD: a += src; break;
          case BPF_SUB: a -= src; break;
          case BPF_RSH: a >>= src; break;
          case BPF_LSH: a <<= src; break;
          default: ADD_FAILURE() << "alu op " << i.code; return 0;
        }
        break;
      case BPF_JMP: {
        if (BPF_OP(i.code) == BPF_JA) {
          pc += i.k;
          break;
        }
        bool t = BPF_OP(i.code) == BPF_JEQ   ? a == src
                 : BPF_OP(i.code) == BPF_JGT ? a > src
                 : BPF_OP(i.code) == BPF_JGE ? a >= src
                                             : (a & src) != 0;
        pc += t ? i.jt : i.jf;
        break;
      }
      case BPF_RET: return BPF_RVAL(i.code) == BPF_A ? a : i.k;
      case BPF_MISC: (BPF_MISCOP(i.code) == BPF_TAX ? x = a : a = x); break;
    }
  }
  ADD_FAILURE() << "the program ran off its end";
  return 0;
}

uint32_t verdict(const std::string& prog, int nr, uint64_t arg0 = 0, uint32_t arch = AUDIT_ARCH_X86_64) {
  seccomp_data d{};
  d.nr = nr;
  d.arch = arch;
  d.args[0] = arg0;
  return run_bpf(prog, d);
}

constexpr uint32_t kAllow = SECCOMP_RET_ALLOW;
constexpr uint32_t kEperm = SECCOMP_RET_ERRNO | EPERM;
constexpr uint32_t kEnosys = SECCOMP_RET_ERRNO | ENOSYS;

const std::vector<std::string> kDockerCaps = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",  "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};

std::string program(const std::vector<std::string>& caps) {
  auto f = runtime::SeccompFilter::compile(engine::default_seccomp(caps));
  return f->program();
}

// Syscalls newer than libseccomp's table, by their x86_64 number.
const std::pair<const char*, int> kNew[] = {
    {"statmount", 457},     {"listmount", 458},     {"lsm_get_self_attr", 459},
    {"lsm_set_self_attr", 460}, {"lsm_list_modules", 461}, {"mseal", 462},
    {"setxattrat", 463},    {"getxattrat", 464},    {"listxattrat", 465},
    {"removexattrat", 466}, {"open_tree_attr", 467}, {"file_getattr", 468},
    {"file_setattr", 469},  {"uretprobe", 335}};

std::string name_of(int nr) {
  for (auto& [n, k] : kNew)
    if (k == nr) return n;
  char* s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
  std::string out = s ? s : "";
  free(s);
  return out;
}

TEST(SeccompProfile, EverySyscallGetsTheProfilesVerdict) {
  const json profile = engine::default_seccomp(kDockerCaps);
  EXPECT_EQ(profile["defaultAction"], "SCMP_ACT_ERRNO");
  std::set<std::string> allowed;
  for (auto& n : profile["syscalls"][0]["names"]) allowed.insert(n.get<std::string>());
  const std::set<std::string> conditional = {"clone", "clone3", "personality", "socket"};
  const std::string prog = program(kDockerCaps);
  int newest = 0;
  for (int nr = 0; nr < 470; ++nr)
    if (allowed.count(name_of(nr))) newest = nr;
  EXPECT_EQ(newest, 462);  // mseal: the newest syscall Docker's list names
  int checked = 0;
  for (int nr = 0; nr < 600; ++nr) {
    const std::string name = name_of(nr);
    if (conditional.count(name)) continue;
    uint32_t want = allowed.count(name) ? kAllow : nr > newest ? kEnosys : kEperm;
    EXPECT_EQ(verdict(prog, nr), want) << nr << " " << name;
    ++checked;
  }
  EXPECT_GT(checked, 550);
}

TEST(SeccompProfile, EverydaySyscallsAreAllowed) {
  // Independent of the list: what every shell, package manager and runtime does (rmdir was
  // once left out, and `rm -r` failed with EPERM in every container).
  const std::string prog = program(kDockerCaps);
  for (const char* name :
       {"read", "write", "openat", "close", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename",
        "renameat2", "link", "symlink", "chmod", "fchownat", "getdents64", "execve", "wait4", "clone",
        "mmap", "mprotect", "futex", "socket", "connect", "bind", "listen", "accept4", "sendto",
        "recvfrom", "epoll_wait", "pipe2", "dup2", "kill", "setuid", "setgid", "chroot", "statx",
        "newfstatat", "utimensat", "fchmodat2", "faccessat2", "close_range", "io_setup", "ptrace"}) {
    const int nr = seccomp_syscall_resolve_name(name);
    ASSERT_GE(nr, 0) << name;
    EXPECT_EQ(verdict(prog, nr, name == std::string("socket") ? 2 : 0x11), kAllow) << name;
  }
}

TEST(SeccompProfile, RulesOnArguments) {
  const std::string prog = program(kDockerCaps);
  const int personality = seccomp_syscall_resolve_name("personality");
  const int socket = seccomp_syscall_resolve_name("socket");
  const int clone = seccomp_syscall_resolve_name("clone");
  EXPECT_EQ(verdict(prog, personality, 0), kAllow);
  EXPECT_EQ(verdict(prog, personality, 0xffffffff), kAllow);
  EXPECT_EQ(verdict(prog, personality, 0x0400000), kEperm);  // READ_IMPLIES_EXEC
  EXPECT_EQ(verdict(prog, personality, 0x0040000), kEperm);  // ADDR_NO_RANDOMIZE
  EXPECT_EQ(verdict(prog, socket, 2), kAllow);               // AF_INET
  EXPECT_EQ(verdict(prog, socket, 39), kAllow);
  EXPECT_EQ(verdict(prog, socket, 44), kAllow);
  EXPECT_EQ(verdict(prog, socket, 38), kEperm);  // AF_ALG
  EXPECT_EQ(verdict(prog, socket, 40), kEperm);  // AF_VSOCK
  EXPECT_EQ(verdict(prog, clone, 0x11), kAllow);  // SIGCHLD: fork
  EXPECT_EQ(verdict(prog, clone, 0x10000000 | 0x11), kEperm);  // CLONE_NEWUSER
  EXPECT_EQ(verdict(prog, clone, 0x00020000), kEperm);        // CLONE_NEWNS
  EXPECT_EQ(verdict(prog, seccomp_syscall_resolve_name("clone3")), kEnosys);
  EXPECT_EQ(verdict(prog, seccomp_syscall_resolve_name("unshare")), kEperm);
  EXPECT_EQ(verdict(prog, seccomp_syscall_resolve_name("mount")), kEperm);
  EXPECT_EQ(verdict(prog, seccomp_syscall_resolve_name("io_uring_setup")), kEperm);
  EXPECT_EQ(verdict(prog, seccomp_syscall_resolve_name("chroot")), kAllow);  // CAP_SYS_CHROOT
  EXPECT_EQ(verdict(prog, seccomp_syscall_resolve_name("ptrace")), kAllow);
  EXPECT_EQ(verdict(prog, 461), kEperm);   // lsm_list_modules: older than mseal, not listed
  EXPECT_EQ(verdict(prog, 467), kEnosys);  // open_tree_attr: newer than the list
  EXPECT_EQ(verdict(prog, 462), kAllow);   // mseal, from berth's own table
  // The other architectures of the filter: i386 getpid (20), and x32 getpid.
  EXPECT_EQ(verdict(prog, 20, 0, AUDIT_ARCH_I386), kAllow);
  EXPECT_EQ(verdict(prog, 0x40000000 | 39), kAllow);
  EXPECT_EQ(verdict(prog, 0x40000000 | seccomp_syscall_resolve_name("mount")), kEperm);
  // An unknown architecture is killed by libseccomp's program.
  EXPECT_EQ(verdict(prog, 39, 0, AUDIT_ARCH_AARCH64) & SECCOMP_RET_ACTION_FULL, SECCOMP_RET_KILL_THREAD);
}

TEST(SeccompProfile, CapabilitiesOpenTheirGroups) {
  std::vector<std::string> caps = kDockerCaps;
  caps.push_back("CAP_SYS_ADMIN");
  caps.push_back("CAP_SYS_TIME");
  const std::string prog = program(caps);
  EXPECT_EQ(verdict(prog, seccomp_syscall_resolve_name("unshare")), kAllow);
  EXPECT_EQ(verdict(prog, seccomp_syscall_resolve_name("mount")), kAllow);
  EXPECT_EQ(verdict(prog, seccomp_syscall_resolve_name("clone"), 0x10000000), kAllow);
  EXPECT_EQ(verdict(prog, seccomp_syscall_resolve_name("clone3")), kAllow);
  EXPECT_EQ(verdict(prog, seccomp_syscall_resolve_name("settimeofday")), kAllow);
  EXPECT_EQ(verdict(prog, 460), kAllow);  // lsm_set_self_attr, CAP_SYS_ADMIN's
  EXPECT_EQ(verdict(prog, seccomp_syscall_resolve_name("init_module")), kEperm);
  // Without CAP_SYS_CHROOT: no chroot.
  std::vector<std::string> none;
  EXPECT_EQ(verdict(program(none), seccomp_syscall_resolve_name("chroot")), kEperm);
}

TEST(SeccompProfile, ADenyListKeepsNoStub) {
  // defaultAction ALLOW: new syscalls are allowed anyway; nothing is prepended.
  json p = {{"defaultAction", "SCMP_ACT_ALLOW"},
            {"syscalls", {{{"names", {"mount"}}, {"action", "SCMP_ACT_ERRNO"}}}}};
  const std::string prog = runtime::SeccompFilter::compile(p)->program();
  EXPECT_EQ(verdict(prog, 600), kAllow);
  EXPECT_EQ(verdict(prog, seccomp_syscall_resolve_name("mount")), kEperm);
  // A name from berth's own table still gets its rule.
  p["syscalls"][0]["names"] = {"open_tree_attr"};
  EXPECT_EQ(verdict(runtime::SeccompFilter::compile(p)->program(), 467), kEperm);
}

#endif

}  // namespace
