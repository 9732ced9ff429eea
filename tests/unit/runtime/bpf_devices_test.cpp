// The cgroup v2 device filter. BpfDevicesCompile runs the compiled programs in a small
// interpreter against a reference model of the rules (any host); BpfDevicesCgroup attaches them
// to a real v2 cgroup and opens and mknods device nodes from a process in it (root, a cgroup2
// mount at /sys/fs/cgroup/unified or /sys/fs/cgroup).
#include "runtime/bpf_devices.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "oci/resources.hpp"

using namespace berth;
using namespace berth::runtime;

namespace {

constexpr uint32_t M = BPF_DEVCG_ACC_MKNOD, R = BPF_DEVCG_ACC_READ, W = BPF_DEVCG_ACC_WRITE;

// "allow c 1:3 rw", "deny a *:* rwm", "allow b *:5" (no access = empty = rwm).
oci::DeviceRule rule(const std::string& text) {
  std::istringstream in(text);
  std::string verdict, type, numbers, access;
  in >> verdict >> type >> numbers >> access;
  oci::DeviceRule r;
  r.allow = verdict == "allow";
  r.type = type;
  const size_t colon = numbers.find(':');
  auto num = [](const std::string& s) -> std::optional<int64_t> {
    if (s == "*") return std::nullopt;
    return std::stoll(s);
  };
  r.major = num(numbers.substr(0, colon));
  r.minor = num(numbers.substr(colon + 1));
  r.access = access;
  return r;
}

std::vector<oci::DeviceRule> rules(std::initializer_list<const char*> texts) {
  std::vector<oci::DeviceRule> out;
  for (const char* t : texts) out.push_back(rule(t));
  return out;
}

// ---- Interpreter and model -----------------------------------------------------------------

// Runs a program on bpf_cgroup_dev_ctx; only the instructions the compiler may emit are known.
// Returns -1 (with a test failure) on anything else.
int run(const std::vector<bpf_insn>& prog, char type, uint32_t major, uint32_t minor,
        uint32_t access) {
  const bpf_cgroup_dev_ctx ctx{
      (access << 16) | (type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR), major, minor};
  uint64_t reg[11] = {};
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const bpf_insn& i = prog[pc];
    const uint64_t imm = static_cast<uint64_t>(static_cast<int64_t>(i.imm));
    auto jump = [&](bool taken) {
      if (i.off < 0 || pc + 1 + i.off >= prog.size()) {
        ADD_FAILURE() << "jump out of the program at " << pc;
        pc = prog.size();
      } else if (taken) {
        pc += i.off;
      }
    };
    switch (i.code) {
      case BPF_LDX | BPF_MEM | BPF_W:
        if (i.src_reg != 1 || i.off < 0 || i.off > 8 || i.off % 4) {
          ADD_FAILURE() << "bad context load at " << pc;
          return -1;
        }
        reg[i.dst_reg] = i.off == 0 ? ctx.access_type : i.off == 4 ? ctx.major : ctx.minor;
        break;
      case BPF_ALU64 | BPF_MOV | BPF_X:
        reg[i.dst_reg] = reg[i.src_reg];
        break;
      case BPF_ALU64 | BPF_MOV | BPF_K:
        reg[i.dst_reg] = imm;
        break;
      case BPF_ALU64 | BPF_AND | BPF_K:
        reg[i.dst_reg] &= imm;
        break;
      case BPF_ALU64 | BPF_RSH | BPF_K:
        reg[i.dst_reg] >>= i.imm;
        break;
      case BPF_JMP | BPF_JNE | BPF_K:
        jump(reg[i.dst_reg] != imm);
        break;
      case BPF_JMP | BPF_JSET | BPF_K:
        jump((reg[i.dst_reg] & imm) != 0);
        break;
      case BPF_JMP | BPF_JA:
        jump(true);
        break;
      case BPF_JMP | BPF_EXIT:
        return static_cast<int>(reg[0]);
      default:
        ADD_FAILURE() << "unexpected opcode " << int(i.code) << " at " << pc;
        return -1;
    }
  }
  ADD_FAILURE() << "fell off the end of the program";
  return -1;
}

// The semantics, written plainly: each access bit asked for is decided by the last rule that
// matches the device and has the bit; no bits → the last rule matching the device; default deny.
bool model(const std::vector<oci::DeviceRule>& rs, char type, uint32_t major, uint32_t minor,
           uint32_t access) {
  auto num_ok = [](const std::optional<int64_t>& v, uint32_t n) {
    return !v || *v < 0 || *v == static_cast<int64_t>(n);
  };
  auto device = [&](const oci::DeviceRule& r) {
    return (r.type == "a" || r.type[0] == type) && num_ok(r.major, major) && num_ok(r.minor, minor);
  };
  auto has = [](const oci::DeviceRule& r, char c) {
    return r.access.empty() || r.access.find(c) != std::string::npos;
  };
  auto last = [&](auto pred) -> const oci::DeviceRule* {
    for (auto it = rs.rbegin(); it != rs.rend(); ++it)
      if (device(*it) && pred(*it)) return &*it;
    return nullptr;
  };
  if (access == 0) {
    const oci::DeviceRule* r = last([](auto&) { return true; });
    return r && r->allow;
  }
  const std::pair<uint32_t, char> bits[] = {{M, 'm'}, {R, 'r'}, {W, 'w'}};
  for (auto [bit, c] : bits) {
    if (!(access & bit)) continue;
    const oci::DeviceRule* r = last([&, c = c](auto& x) { return has(x, c); });
    if (!r || !r->allow) return false;
  }
  return true;
}

bool allowed(const std::vector<oci::DeviceRule>& rs, char type, uint32_t major, uint32_t minor,
             uint32_t access) {
  return run(compile_device_program(rs), type, major, minor, access) == 1;
}

// ---- Pure ------------------------------------------------------------------------------------

TEST(BpfDevicesCompile, NoRulesDeniesEverything) {
  for (uint32_t acc = 0; acc < 8; ++acc) {
    EXPECT_FALSE(allowed({}, 'c', 1, 3, acc));
    EXPECT_FALSE(allowed({}, 'b', 8, 0, acc));
  }
}

TEST(BpfDevicesCompile, AllowAllHasNoDenyingPath) {
  const auto prog = compile_device_program(rules({"allow a *:* rwm"}));
  for (auto& i :
       prog)  // no "r0 = 0": the deny exit would be unreachable, which the verifier rejects
    EXPECT_FALSE(i.code == (BPF_ALU64 | BPF_MOV | BPF_K) && i.dst_reg == 0 && i.imm == 0);
  for (uint32_t acc = 0; acc < 8; ++acc) EXPECT_TRUE(run(prog, 'b', 8, 1, acc) == 1);
}

TEST(BpfDevicesCompile, DenyAllThenAllowOne) {
  const auto rs = rules({"deny a *:* rwm", "allow c 1:3 rwm"});
  EXPECT_TRUE(allowed(rs, 'c', 1, 3, R | W));
  EXPECT_TRUE(allowed(rs, 'c', 1, 3, M));
  EXPECT_FALSE(allowed(rs, 'c', 1, 5, R));
  EXPECT_FALSE(allowed(rs, 'b', 1, 3, R));  // the type counts
}

TEST(BpfDevicesCompile, Wildcards) {
  const auto rs = rules({"deny a *:* rwm", "allow c 1:* rw", "allow b *:0 r", "allow c *:* m"});
  EXPECT_TRUE(allowed(rs, 'c', 1, 3, R | W));
  EXPECT_TRUE(allowed(rs, 'c', 1, 999, R));
  EXPECT_TRUE(allowed(rs, 'c', 1, 3, R | M));   // r from the second rule, m from the fourth
  EXPECT_FALSE(allowed(rs, 'b', 8, 0, R | M));  // no rule gives b ... m
  EXPECT_FALSE(allowed(rs, 'c', 5, 3, R));
  EXPECT_TRUE(allowed(rs, 'c', 5, 3, M));
  EXPECT_FALSE(allowed(rs, 'b', 5, 3, M));
  EXPECT_TRUE(allowed(rs, 'b', 8, 0, R));
  EXPECT_FALSE(allowed(rs, 'b', 8, 0, W));
  // runc's -1 is a wildcard too.
  EXPECT_TRUE(allowed(rules({"allow c -1:-1 r"}), 'c', 4, 64, R));
}

TEST(BpfDevicesCompile, AccessIsDecidedPerBit) {
  // Read only: a read-write open is not allowed.
  auto rs = rules({"deny a *:* rwm", "allow c 1:3 r"});
  EXPECT_TRUE(allowed(rs, 'c', 1, 3, R));
  EXPECT_FALSE(allowed(rs, 'c', 1, 3, W));
  EXPECT_FALSE(allowed(rs, 'c', 1, 3, R | W));
  // Granted in two rules: both bits allowed.
  rs = rules({"deny a *:* rwm", "allow c 1:3 r", "allow c 1:3 w"});
  EXPECT_TRUE(allowed(rs, 'c', 1, 3, R | W));
  EXPECT_FALSE(allowed(rs, 'c', 1, 3, M));
  // A denied bit denies a request that asks for it along with allowed ones.
  rs = rules({"allow a *:* rwm", "deny c 1:3 w"});
  EXPECT_TRUE(allowed(rs, 'c', 1, 3, R));
  EXPECT_FALSE(allowed(rs, 'c', 1, 3, R | W));
  EXPECT_TRUE(allowed(rs, 'c', 1, 5, R | W));
  // Empty access is rwm.
  EXPECT_TRUE(allowed(rules({"allow c 1:3"}), 'c', 1, 3, R | W | M));
}

TEST(BpfDevicesCompile, LastMatchWins) {
  EXPECT_FALSE(
      allowed(rules({"deny a *:* rwm", "allow c 1:3 rwm", "deny c 1:3 rwm"}), 'c', 1, 3, R));
  EXPECT_TRUE(
      allowed(rules({"deny a *:* rwm", "deny c 1:3 rwm", "allow c 1:3 rwm"}), 'c', 1, 3, R));
  // A later wildcard overrides earlier specific rules.
  EXPECT_FALSE(allowed(rules({"allow c 1:3 rwm", "deny c *:* w"}), 'c', 1, 3, W));
  EXPECT_TRUE(allowed(rules({"allow c 1:3 rwm", "deny c *:* w"}), 'c', 1, 3, R));
  // Type "a" with numbers matches both types, only those numbers.
  const auto rs = rules({"deny a *:* rwm", "allow a 7:0 r"});
  EXPECT_TRUE(allowed(rs, 'b', 7, 0, R));
  EXPECT_TRUE(allowed(rs, 'c', 7, 0, R));
  EXPECT_FALSE(allowed(rs, 'c', 7, 1, R));
}

TEST(BpfDevicesCompile, NoAccessBitsFollowsTheLastRuleForTheDevice) {
  EXPECT_TRUE(allowed(rules({"deny a *:* rwm", "allow c 1:3 r"}), 'c', 1, 3, 0));
  EXPECT_FALSE(allowed(rules({"deny a *:* rwm", "allow c 1:3 r"}), 'c', 1, 5, 0));
}

TEST(BpfDevicesCompile, NumbersNoDeviceHasNeverMatch) {
  const auto rs = rules({"deny a *:* rwm", "allow c 4294967299:3 rwm", "allow c 1:2147483648"});
  EXPECT_FALSE(allowed(rs, 'c', 3, 3, R));  // 2^32 + 3 is not 3
  EXPECT_FALSE(allowed(rs, 'c', 1, 0x80000000u, R));
}

TEST(BpfDevicesCompile, MatchesTheModelOnRandomRules) {
  std::mt19937 gen(20240601);
  auto pick = [&](size_t n) { return static_cast<size_t>(gen() % n); };
  const char* types[] = {"a", "b", "c"};
  const std::optional<int64_t> numbers[] = {std::nullopt, -1, 1, 3, 5};
  const char* accesses[] = {"", "r", "w", "m", "rw", "rm", "wm", "rwm"};
  size_t checked = 0;
  for (int round = 0; round < 400; ++round) {
    std::vector<oci::DeviceRule> rs(pick(9));
    for (auto& r : rs) {
      r.allow = pick(2);
      r.type = types[pick(3)];
      r.major = numbers[pick(5)];
      r.minor = numbers[pick(5)];
      r.access = accesses[pick(8)];
    }
    const auto prog = compile_device_program(rs);
    for (char type : {'b', 'c'})
      for (uint32_t major : {1u, 3u, 7u})
        for (uint32_t minor : {1u, 5u, 9u})
          for (uint32_t acc = 0; acc < 8; ++acc, ++checked)
            ASSERT_EQ(run(prog, type, major, minor, acc) == 1, model(rs, type, major, minor, acc))
                << "round " << round << " " << type << " " << major << ":" << minor << " acc "
                << acc;
  }
  EXPECT_EQ(checked, 400u * 2 * 3 * 3 * 8);
}

TEST(BpfDevicesCompile, TooManyRulesIsAnError) {
  std::vector<oci::DeviceRule> rs(5000, rule("allow c 1:3 rw"));
  EXPECT_THROW((void)compile_device_program(rs), Error);
  rs.resize(1000);
  EXPECT_NO_THROW((void)compile_device_program(rs));
}

// ---- Real cgroup -----------------------------------------------------------------------------

long sys_bpf(int cmd, union bpf_attr& a) {
  return ::syscall(SYS_bpf, cmd, &a, sizeof a);
}

// Loads `prog` under `name` (as someone else, or an older berth, would have).
UniqueFd load_raw(const std::vector<bpf_insn>& prog, const char* name) {
  union bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  a.insns = reinterpret_cast<uintptr_t>(prog.data());
  a.insn_cnt = static_cast<uint32_t>(prog.size());
  a.license = reinterpret_cast<uintptr_t>("GPL");
  std::strncpy(a.prog_name, name, sizeof a.prog_name - 1);
  return UniqueFd(static_cast<int>(sys_bpf(BPF_PROG_LOAD, a)));
}

bool attach_raw(int cgroup_fd, int prog_fd) {
  union bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.target_fd = static_cast<uint32_t>(cgroup_fd);
  a.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
  a.attach_type = BPF_CGROUP_DEVICE;
  a.attach_flags = BPF_F_ALLOW_MULTI;
  return sys_bpf(BPF_PROG_ATTACH, a) == 0;
}

std::string name_of(uint32_t id) {
  union bpf_attr a;
  std::memset(&a, 0, sizeof a);
  a.prog_id = id;
  UniqueFd fd(static_cast<int>(sys_bpf(BPF_PROG_GET_FD_BY_ID, a)));
  if (!fd) return "?";
  bpf_prog_info info;
  std::memset(&info, 0, sizeof info);
  std::memset(&a, 0, sizeof a);
  a.info.bpf_fd = static_cast<uint32_t>(fd.get());
  a.info.info_len = sizeof info;
  a.info.info = reinterpret_cast<uintptr_t>(&info);
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, a) < 0) return "?";
  return info.name;
}

bool is_cgroup2(const char* path) {
  struct statfs s;
  return ::statfs(path, &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC;
}

class BpfDevicesCgroup : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* mount = is_cgroup2("/sys/fs/cgroup/unified") ? "/sys/fs/cgroup/unified"
                        : is_cgroup2("/sys/fs/cgroup")       ? "/sys/fs/cgroup"
                                                             : nullptr;
    if (!mount) GTEST_SKIP() << "no cgroup2 mount";
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    dir_ = std::string(mount) + "/berth-bpf-test-" + std::to_string(::getpid());
    ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0) << dir_ << ": " << std::strerror(errno);
    made_ = true;
    cg_.reset(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(cg_) << std::strerror(errno);
    char tmpl[] = "/tmp/berth-bpf-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
  }

  void TearDown() override {
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
    cg_.reset();
    if (made_) {
      // The child is gone, so the cgroup is empty; its programs go with it.
      for (int i = 0; i < 100 && ::rmdir(dir_.c_str()) < 0 && errno == EBUSY; ++i) ::usleep(10000);
      EXPECT_NE(::access(dir_.c_str(), F_OK), 0) << "could not remove " << dir_;
    }
    for (auto& n : nodes_) ::unlink(n.c_str());
    if (!tmp_.empty()) ::rmdir(tmp_.c_str());
  }

  // A device node in the test's tmp dir, made outside the cgroup.
  std::string node(char type, unsigned major, unsigned minor) {
    const std::string p = tmp_ + "/" + type + std::to_string(major) + "_" + std::to_string(minor);
    ::unlink(p.c_str());
    if (::mknod(p.c_str(), (type == 'b' ? S_IFBLK : S_IFCHR) | 0666, makedev(major, minor)) < 0)
      ADD_FAILURE() << "mknod " << p << ": " << std::strerror(errno);
    nodes_.push_back(p);
    return p;
  }

  // Runs `op` in a child moved into the cgroup; its result (0 or an errno), -1 if the child
  // could not be run there.
  int in_cgroup(const std::function<int()>& op) {
    int go[2], res[2];
    if (::pipe2(go, O_CLOEXEC) < 0) return -1;
    if (::pipe2(res, O_CLOEXEC) < 0) return -1;
    child_ = ::fork();
    if (child_ == 0) {
      ::close(go[1]);
      ::close(res[0]);
      char c;
      if (::read(go[0], &c, 1) != 1) ::_exit(2);
      const int r = op();
      ::_exit(::write(res[1], &r, sizeof r) == sizeof r ? 0 : 3);
    }
    ::close(go[0]);
    ::close(res[1]);
    UniqueFd go_w(go[1]), res_r(res[0]);
    if (child_ < 0) return -1;
    const std::string pid = std::to_string(child_);
    UniqueFd procs(::open((dir_ + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    const bool moved =
        procs && ::write(procs.get(), pid.data(), pid.size()) == static_cast<ssize_t>(pid.size());
    if (!moved) ADD_FAILURE() << "move " << pid << " to " << dir_ << ": " << std::strerror(errno);
    int r = -1;
    if (moved && ::write(go_w.get(), "x", 1) == 1 && ::read(res_r.get(), &r, sizeof r) != sizeof r)
      r = -1;
    if (!moved) ::kill(child_, SIGKILL);
    ::waitpid(child_, nullptr, 0);
    child_ = -1;
    return r;
  }

  // 0 or the errno of open(path, flags) in the cgroup.
  int open_in_cgroup(const std::string& path, int flags) {
    return in_cgroup([&] {
      const int fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NOCTTY);
      if (fd < 0) return errno;
      ::close(fd);
      return 0;
    });
  }

  // 0 or the errno of mknod in the cgroup.
  int mknod_in_cgroup(char type, unsigned major, unsigned minor) {
    const std::string p = tmp_ + "/made-in-cgroup";
    nodes_.push_back(p);
    return in_cgroup([&] {
      const int r =
          ::mknod(p.c_str(), (type == 'b' ? S_IFBLK : S_IFCHR) | 0600, makedev(major, minor));
      const int err = r < 0 ? errno : 0;
      ::unlink(p.c_str());
      return err;
    });
  }

  void attach(std::initializer_list<const char*> texts) {
    ASSERT_NO_THROW(attach_device_program(cg_.get(), rules(texts)));
  }

  std::string dir_, tmp_;
  bool made_ = false;
  UniqueFd cg_;
  pid_t child_ = -1;
  std::vector<std::string> nodes_;
};

TEST_F(BpfDevicesCgroup, DenyAllAllowNull) {
  attach({"deny a *:* rwm", "allow c 1:3 rwm"});
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDWR), 0);
  EXPECT_EQ(open_in_cgroup("/dev/zero", O_RDONLY), EPERM);
  EXPECT_EQ(open_in_cgroup("/dev/full", O_WRONLY), EPERM);
  // Not a device: not filtered.
  EXPECT_EQ(open_in_cgroup("/proc/self/status", O_RDONLY), 0);
  // Outside the cgroup nothing changed.
  const int fd = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  ::close(fd);
}

TEST_F(BpfDevicesCgroup, WildcardMajorAndMinor) {
  attach({"deny a *:* rwm", "allow c 1:* rw"});
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDWR), 0);
  EXPECT_EQ(open_in_cgroup("/dev/zero", O_RDWR), 0);
  EXPECT_EQ(open_in_cgroup(node('c', 5, 2), O_RDWR), EPERM);    // ptmx
  EXPECT_EQ(open_in_cgroup(node('b', 1, 3), O_RDONLY), EPERM);  // same numbers, a block device

  attach({"deny a *:* rwm", "allow c *:3 rw"});
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDWR), 0);
  EXPECT_EQ(open_in_cgroup("/dev/zero", O_RDWR), EPERM);
}

TEST_F(BpfDevicesCgroup, TypeAAndBlockDevices) {
  // No driver for b 60:0 (a major for local use): past the filter, open says ENXIO.
  const std::string blk = node('b', 60, 0);
  attach({"deny a *:* rwm", "allow b 60:0 r"});
  EXPECT_NE(open_in_cgroup(blk, O_RDONLY), EPERM);
  EXPECT_EQ(open_in_cgroup(blk, O_RDWR), EPERM);
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDONLY), EPERM);

  attach({"allow a *:* rwm"});
  EXPECT_NE(open_in_cgroup(blk, O_RDWR), EPERM);
  EXPECT_EQ(open_in_cgroup("/dev/zero", O_RDWR), 0);

  attach({"allow a *:* rwm", "deny c 1:5 rwm"});
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDWR), 0);
  EXPECT_EQ(open_in_cgroup("/dev/zero", O_RDONLY), EPERM);
}

TEST_F(BpfDevicesCgroup, AccessSubsets) {
  attach({"deny a *:* rwm", "allow c 1:3 r"});
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDONLY), 0);
  EXPECT_EQ(open_in_cgroup("/dev/null", O_WRONLY), EPERM);
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDWR), EPERM);

  attach({"allow a *:* rwm", "deny c 1:3 w"});
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDONLY), 0);
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDWR), EPERM);
}

TEST_F(BpfDevicesCgroup, LastMatchWins) {
  attach({"deny a *:* rwm", "allow c 1:3 rwm", "deny c 1:3 rwm"});
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDONLY), EPERM);
  attach({"deny a *:* rwm", "deny c 1:3 rwm", "allow c 1:3 rwm"});
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDONLY), 0);
}

TEST_F(BpfDevicesCgroup, Mknod) {
  attach({"deny a *:* rwm", "allow c 1:3 rw"});
  EXPECT_EQ(mknod_in_cgroup('c', 1, 3), EPERM);
  attach({"deny a *:* rwm", "allow c *:* m"});
  EXPECT_EQ(mknod_in_cgroup('c', 1, 3), 0);
  EXPECT_EQ(mknod_in_cgroup('c', 99, 1), 0);
  EXPECT_EQ(mknod_in_cgroup('b', 7, 0), EPERM);
  // Making a node is not opening it.
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDONLY), EPERM);
}

TEST_F(BpfDevicesCgroup, UpdateReplacesTheProgram) {
  attach({"deny a *:* rwm", "allow c 1:3 rwm"});
  const auto first = query_device_programs(cg_.get());
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(name_of(first[0]), kDeviceProgramName);

  attach({"deny a *:* rwm", "allow c 1:5 rwm"});
  const auto second = query_device_programs(cg_.get());
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(second[0], first[0]);
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDONLY), EPERM);
  EXPECT_EQ(open_in_cgroup("/dev/zero", O_RDONLY), 0);

  attach({"allow a *:* rwm"});
  EXPECT_EQ(query_device_programs(cg_.get()).size(), 1u);
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDONLY), 0);
}

TEST_F(BpfDevicesCgroup, OtherProgramsAreLeftAloneAndStrayOnesRemoved) {
  // Someone else's program (allows everything) and two berth programs, as a crash between
  // attach and detach on an old kernel could leave.
  UniqueFd foreign = load_raw(compile_device_program(rules({"allow a *:* rwm"})), "foreign");
  ASSERT_TRUE(foreign) << std::strerror(errno);
  ASSERT_TRUE(attach_raw(cg_.get(), foreign.get())) << std::strerror(errno);
  for (const char* allowed : {"allow c 1:3 rwm", "allow c 1:5 rwm"}) {
    UniqueFd p = load_raw(compile_device_program(rules({allowed})), kDeviceProgramName);
    ASSERT_TRUE(p) << std::strerror(errno);
    ASSERT_TRUE(attach_raw(cg_.get(), p.get())) << std::strerror(errno);
  }
  ASSERT_EQ(query_device_programs(cg_.get()).size(), 3u);
  // Both berth programs together allow nothing.
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDONLY), EPERM);

  attach({"deny a *:* rwm", "allow c 1:7 rwm"});
  const auto ids = query_device_programs(cg_.get());
  ASSERT_EQ(ids.size(), 2u);
  std::vector<std::string> names;
  for (uint32_t id : ids) names.push_back(name_of(id));
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{kDeviceProgramName, "foreign"}));
  EXPECT_EQ(open_in_cgroup("/dev/full", O_RDWR), 0);
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDWR), EPERM);
}

TEST_F(BpfDevicesCgroup, TheVerifierAcceptsEveryShape) {
  // Random rule lists (those of the model test) and a large one, loaded by the kernel.
  std::mt19937 gen(7);
  auto pick = [&](size_t n) { return static_cast<size_t>(gen() % n); };
  const char* types[] = {"a", "b", "c"};
  const std::optional<int64_t> numbers[] = {std::nullopt, 1, 3};
  const char* accesses[] = {"", "r", "w", "m", "rw"};
  for (int round = 0; round < 60; ++round) {
    std::vector<oci::DeviceRule> rs(pick(7));
    for (auto& r : rs) {
      r.allow = pick(2);
      r.type = types[pick(3)];
      r.major = numbers[pick(3)];
      r.minor = numbers[pick(3)];
      r.access = accesses[pick(5)];
    }
    ASSERT_NO_THROW(attach_device_program(cg_.get(), rs)) << "round " << round;
  }
  std::vector<oci::DeviceRule> many = rules({"deny a *:* rwm"});
  for (int i = 0; i < 500; ++i) many.push_back(rule("allow c 200:" + std::to_string(i) + " rw"));
  many.push_back(rule("allow c 1:3 rw"));
  ASSERT_NO_THROW(attach_device_program(cg_.get(), many));
  EXPECT_EQ(query_device_programs(cg_.get()).size(), 1u);
  EXPECT_EQ(open_in_cgroup("/dev/null", O_RDWR), 0);
  EXPECT_EQ(open_in_cgroup("/dev/zero", O_RDWR), EPERM);
}

TEST_F(BpfDevicesCgroup, NotACgroupIsAClearError) {
  UniqueFd tmp(::open(tmp_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  try {
    attach_device_program(tmp.get(), rules({"allow a *:* rwm"}));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("eBPF device program"), std::string::npos) << e.what();
    EXPECT_NE(e.code(), 0);
  }
}

}  // namespace
