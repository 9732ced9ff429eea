// The cgroup v2 device filter: a tiny assembler, the rule compiler and the bpf(2) calls that
// load, attach and replace the program. Written from linux/bpf.h and the kernel's BPF docs.
#include "runtime/bpf_devices.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace berth::runtime {
namespace {

// ---- Assembler -------------------------------------------------------------------------------

enum Reg : uint8_t { R0 = 0, R1, R2, R3, R4, R5 };

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i;
  std::memset(&i, 0, sizeof i);
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

// Straight-line code with forward jumps to labels, resolved when the program is finished.
class Assembler {
 public:
  using Label = size_t;

  Label label() {
    targets_.push_back(kUnbound);
    return targets_.size() - 1;
  }
  void bind(Label l) { targets_[l] = code_.size(); }
  bool used(Label l) const {
    for (auto& f : fixups_)
      if (f.second == l) return true;
    return false;
  }

  // dst = *(u32*)(src + off)
  void load_u32(Reg dst, Reg src, int16_t off) {
    code_.push_back(insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0));
  }
  void alu64_imm(uint8_t op, Reg dst, int32_t imm) {
    code_.push_back(insn(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm));
  }
  void mov64_reg(Reg dst, Reg src) {
    code_.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0));
  }
  // if (dst <op> imm) goto l   (op: BPF_JNE, BPF_JEQ, BPF_JSET, ...; 64-bit compare)
  void jump_if(uint8_t op, Reg dst, int32_t imm, Label l) {
    fixups_.emplace_back(code_.size(), l);
    code_.push_back(insn(BPF_JMP | op | BPF_K, dst, 0, 0, imm));
  }
  // if (dst <op> imm) skip the next `n` instructions
  void skip_if(uint8_t op, Reg dst, int32_t imm, int16_t n) {
    code_.push_back(insn(BPF_JMP | op | BPF_K, dst, 0, n, imm));
  }
  void jump(Label l) {
    fixups_.emplace_back(code_.size(), l);
    code_.push_back(insn(BPF_JMP | BPF_JA, 0, 0, 0, 0));
  }
  void ret(int32_t value) {
    code_.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, value));
    code_.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  }

  std::vector<bpf_insn> finish() {
    for (auto& [at, l] : fixups_) {
      if (targets_[l] == kUnbound) throw Error("device program: jump to an unbound label");
      const long off = static_cast<long>(targets_[l]) - static_cast<long>(at) - 1;
      if (off < 0 || off > std::numeric_limits<int16_t>::max())
        throw Error("linux.resources.devices: too many rules for one eBPF program");
      code_[at].off = static_cast<int16_t>(off);
    }
    return std::move(code_);
  }

 private:
  static constexpr size_t kUnbound = static_cast<size_t>(-1);
  std::vector<bpf_insn> code_;
  std::vector<size_t> targets_;
  std::vector<std::pair<size_t, Label>> fixups_;
};

// ---- Compiler --------------------------------------------------------------------------------

// Registers of the compiled program.
constexpr Reg kType = R2, kAccess = R3, kMajor = R4, kMinor = R5;

uint32_t access_mask(const std::string& access) {
  if (access.empty()) return BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;
  uint32_t m = 0;
  for (char c : access) {
    if (c == 'm')
      m |= BPF_DEVCG_ACC_MKNOD;
    else if (c == 'r')
      m |= BPF_DEVCG_ACC_READ;
    else if (c == 'w')
      m |= BPF_DEVCG_ACC_WRITE;
  }
  return m;
}

// Emits the decision for one access bit (0 = a request without bits): the rules that cover it,
// last first; the first that matches the device jumps to `allowed` or `denied`; no match falls
// through to `denied`.
void emit_rules(Assembler& a, const std::vector<oci::DeviceRule>& rules, uint32_t bit,
                Assembler::Label allowed, Assembler::Label denied) {
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
    const oci::DeviceRule& r = *it;
    if (bit != 0 && !(access_mask(r.access) & bit)) continue;
    // Absent or negative (runc's -1) is any; beyond an imm32 no device has that number.
    auto fixed = [](const std::optional<int64_t>& v) { return v && *v >= 0; };
    auto representable = [](int64_t v) { return v <= std::numeric_limits<int32_t>::max(); };
    if ((fixed(r.major) && !representable(*r.major)) ||
        (fixed(r.minor) && !representable(*r.minor)))
      continue;
    const Assembler::Label next = a.label();
    bool conditional = false;
    if (r.type == "c" || r.type == "b") {
      a.jump_if(BPF_JNE, kType, r.type == "c" ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK, next);
      conditional = true;
    }
    if (fixed(r.major)) {
      a.jump_if(BPF_JNE, kMajor, static_cast<int32_t>(*r.major), next);
      conditional = true;
    }
    if (fixed(r.minor)) {
      a.jump_if(BPF_JNE, kMinor, static_cast<int32_t>(*r.minor), next);
      conditional = true;
    }
    a.jump(r.allow ? allowed : denied);
    a.bind(next);
    // A rule for every device decides for all earlier ones: code after it would be
    // unreachable, which the verifier rejects.
    if (!conditional) return;
  }
  a.jump(denied);
}

// ---- bpf(2) ----------------------------------------------------------------------------------

uint64_t ptr(const void* p) {
  return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p));
}

union bpf_attr zeroed_attr() {
  union bpf_attr a;
  std::memset(&a, 0, sizeof a);
  return a;
}

int sys_bpf(int cmd, union bpf_attr& attr) {
  return static_cast<int>(::syscall(SYS_bpf, cmd, &attr, sizeof attr));
}

// The verifier's last words: the final line of its log that is not a statistic.
std::string verifier_reason(const std::string& log) {
  std::string_view rest(log.c_str()), reason;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    if (!line.empty() && !line.starts_with("processed ") && !line.starts_with("verification time"))
      reason = line;
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  return std::string(reason.substr(0, 300));
}

UniqueFd load_program(const std::vector<bpf_insn>& code) {
  static const char kLicense[] = "GPL";
  auto attempt = [&](std::string* log) {
    union bpf_attr a = zeroed_attr();
    a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    a.insns = ptr(code.data());
    a.insn_cnt = static_cast<uint32_t>(code.size());
    a.license = ptr(kLicense);
    std::strncpy(a.prog_name, kDeviceProgramName, sizeof a.prog_name - 1);
    if (log) {
      a.log_level = 1;
      a.log_buf = ptr(log->data());
      a.log_size = static_cast<uint32_t>(log->size());
    }
    return sys_bpf(BPF_PROG_LOAD, a);
  };
  int fd = attempt(nullptr);
  if (fd >= 0) return UniqueFd(fd);
  const int err = errno;
  // Again with a log, which only a failed load is worth the time of.
  std::string log(256 * 1024, '\0');
  fd = attempt(&log);
  if (fd >= 0) return UniqueFd(fd);
  std::string msg = std::string("load the eBPF device program: ") + std::strerror(err);
  const std::string reason = verifier_reason(log);
  if (!reason.empty())
    msg += " (verifier: " + reason + ")";
  else if (err == EPERM)
    msg += " (needs CAP_SYS_ADMIN or CAP_BPF)";
  throw Error(msg, err);
}

UniqueFd program_by_id(uint32_t id) {
  union bpf_attr a = zeroed_attr();
  a.prog_id = id;
  return UniqueFd(sys_bpf(BPF_PROG_GET_FD_BY_ID, a));
}

std::string program_name(int prog_fd) {
  struct bpf_prog_info info;
  std::memset(&info, 0, sizeof info);
  union bpf_attr a = zeroed_attr();
  a.info.bpf_fd = static_cast<uint32_t>(prog_fd);
  a.info.info_len = sizeof info;
  a.info.info = ptr(&info);
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, a) < 0) throw_errno("read an eBPF device program's info");
  return std::string(info.name, strnlen(info.name, sizeof info.name));
}

// The berth programs attached to the cgroup now, as fds (which keep them identifiable even if
// their ids are reused).
std::vector<UniqueFd> berth_programs(int cgroup_fd) {
  std::vector<UniqueFd> out;
  for (uint32_t id : query_device_programs(cgroup_fd)) {
    UniqueFd fd = program_by_id(id);
    if (!fd) {
      if (errno == ENOENT) continue;  // detached and freed meanwhile
      throw_errno("open the cgroup's eBPF device program " + std::to_string(id));
    }
    if (program_name(fd.get()) == kDeviceProgramName) out.push_back(std::move(fd));
  }
  return out;
}

int attach(int cgroup_fd, int prog_fd, int replace_fd) {
  union bpf_attr a = zeroed_attr();
  a.target_fd = static_cast<uint32_t>(cgroup_fd);
  a.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
  a.attach_type = BPF_CGROUP_DEVICE;
  a.attach_flags = BPF_F_ALLOW_MULTI;
  if (replace_fd >= 0) {
    a.attach_flags |= BPF_F_REPLACE;
    a.replace_bpf_fd = static_cast<uint32_t>(replace_fd);
  }
  return sys_bpf(BPF_PROG_ATTACH, a);
}

void detach(int cgroup_fd, int prog_fd) {
  union bpf_attr a = zeroed_attr();
  a.target_fd = static_cast<uint32_t>(cgroup_fd);
  a.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
  a.attach_type = BPF_CGROUP_DEVICE;
  if (sys_bpf(BPF_PROG_DETACH, a) < 0 && errno != ENOENT)
    throw_errno("detach the previous eBPF device program");
}

}  // namespace

std::vector<bpf_insn> compile_device_program(const std::vector<oci::DeviceRule>& rules) {
  Assembler a;
  // r1 = struct bpf_cgroup_dev_ctx *: access_type = (access << 16) | type, major, minor.
  a.load_u32(kType, R1, offsetof(bpf_cgroup_dev_ctx, access_type));
  a.mov64_reg(kAccess, kType);
  a.alu64_imm(BPF_AND, kType, 0xffff);
  a.alu64_imm(BPF_RSH, kAccess, 16);
  a.load_u32(kMajor, R1, offsetof(bpf_cgroup_dev_ctx, major));
  a.load_u32(kMinor, R1, offsetof(bpf_cgroup_dev_ctx, minor));

  const Assembler::Label denied = a.label();
  // No access bits: whichever rule names the device last decides.
  Assembler::Label next = a.label();
  a.jump_if(BPF_JNE, kAccess, 0, next);
  emit_rules(a, rules, 0, next, denied);
  a.bind(next);
  // Then each bit asked for must be allowed on its own.
  for (uint32_t bit : {BPF_DEVCG_ACC_MKNOD, BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE}) {
    next = a.label();
    a.skip_if(BPF_JSET, kAccess, static_cast<int32_t>(bit), 1);
    a.jump(next);  // not asked for
    emit_rules(a, rules, bit, next, denied);
    a.bind(next);
  }
  a.ret(1);
  // Only if some path denies: the verifier rejects unreachable code.
  if (a.used(denied)) {
    a.bind(denied);
    a.ret(0);
  }
  return a.finish();
}

std::vector<uint32_t> query_device_programs(int cgroup_dir_fd) {
  std::vector<uint32_t> ids(64);  // BPF_CGROUP_MAX_PROGS per attach type
  for (;;) {
    union bpf_attr a = zeroed_attr();
    a.query.target_fd = static_cast<uint32_t>(cgroup_dir_fd);
    a.query.attach_type = BPF_CGROUP_DEVICE;
    a.query.prog_ids = ptr(ids.data());
    a.query.prog_cnt = static_cast<uint32_t>(ids.size());
    if (sys_bpf(BPF_PROG_QUERY, a) == 0) {
      ids.resize(a.query.prog_cnt);
      return ids;
    }
    if (errno == EBADF)  // what the kernel says for a directory outside cgroup2
      throw_errno("query the eBPF device programs (not a cgroup v2 directory?)");
    if (errno != ENOSPC || a.query.prog_cnt <= ids.size())
      throw_errno("query the cgroup's eBPF device programs");
    ids.resize(a.query.prog_cnt);
  }
}

void attach_device_program(int cgroup_dir_fd, const std::vector<oci::DeviceRule>& rules) {
  UniqueFd prog = load_program(compile_device_program(rules));
  std::vector<UniqueFd> old = berth_programs(cgroup_dir_fd);
  // Swap in place when there is one to swap: no moment with two programs or none.
  bool replaced = false;
  if (!old.empty()) {
    if (attach(cgroup_dir_fd, prog.get(), old[0].get()) == 0) replaced = true;
    // No BPF_F_REPLACE before Linux 5.6 (EINVAL), or the old one went away (ENOENT).
    else if (errno != EINVAL && errno != ENOENT)
      throw_errno("replace the cgroup's eBPF device program");
  }
  // Otherwise next to the old ones, which filter together with it until detached below.
  if (!replaced && attach(cgroup_dir_fd, prog.get(), -1) < 0) {
    const int err = errno;
    std::string msg =
        std::string("attach the eBPF device program to the cgroup: ") + std::strerror(err);
    if (err == EPERM) msg += " (is a program attached without BPF_F_ALLOW_MULTI?)";
    throw Error(msg, err);
  }
  for (size_t i = replaced ? 1 : 0; i < old.size(); ++i) detach(cgroup_dir_fd, old[i].get());
}

}  // namespace berth::runtime
