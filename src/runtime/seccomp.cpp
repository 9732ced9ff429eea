#include "runtime/seccomp.hpp"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cerrno>
#include <map>
#include <vector>

#include "common/error.hpp"
#include "common/strings.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"

namespace berth::runtime {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw Error("config.json: linux.seccomp" + (field.empty() ? "" : "." + field) + ": " + why);
}

std::string str(const json& o, const char* key, const std::string& field) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return {};
  if (!it->is_string()) bad(field.empty() ? key : field + "." + key, "must be a string");
  return it->get<std::string>();
}

// An errno: any JSON integer from 0 to 65535 (JSON has no unsigned type; 1 parses as signed).
uint32_t errno_value(const json& v, const std::string& field) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 0xffff)
    bad(field, "must be an integer from 0 to 65535");
  return static_cast<uint32_t>(v.get<int64_t>());
}

// An action name (+ errno/trace return value) → libseccomp action.
uint32_t action(const std::string& name, const json& o, const std::string& field, uint32_t def_errno,
                bool& notify) {
  uint32_t ret = def_errno;
  if (auto it = o.find("errnoRet"); it != o.end() && !it->is_null()) {
    ret = errno_value(*it, field + ".errnoRet");
  }
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(ret);
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(ret);
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_NOTIFY") {
    notify = true;
    return SCMP_ACT_NOTIFY;
  }
  bad(field + ".action", "unknown action `" + name + "`");
}

scmp_compare op(const std::string& name, const std::string& field) {
  static const std::map<std::string, scmp_compare> ops = {
      {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
      {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
  auto it = ops.find(name);
  if (it == ops.end()) bad(field, "unknown operator `" + name + "`");
  return it->second;
}

// Syscalls newer than libseccomp 2.5.4 (Debian 12), by their number on the architectures
// that share the unified table from 424 on (x86_64, i386, aarch64, arm) — uretprobe is
// x86_64's alone.
struct NewSyscall {
  const char* name;
  int nr;
  bool x86_64_only = false;
};
constexpr NewSyscall kNewSyscalls[] = {
    {"statmount", 457},       {"listmount", 458},     {"lsm_get_self_attr", 459},
    {"lsm_set_self_attr", 460}, {"lsm_list_modules", 461}, {"mseal", 462},
    {"setxattrat", 463},      {"getxattrat", 464},    {"listxattrat", 465},
    {"removexattrat", 466},   {"open_tree_attr", 467}, {"file_getattr", 468},
    {"file_setattr", 469},    {"uretprobe", 335, true},
};

const NewSyscall* new_syscall(const std::string& name) {
  for (auto& n : kNewSyscalls)
    if (name == n.name) return &n;
  return nullptr;
}

// The architectures the stub knows: libseccomp's token and the kernel's AUDIT_ARCH value.
struct StubArch {
  uint32_t scmp, audit;
  bool unified;  // shares the new-syscall numbers above
};
constexpr StubArch kStubArches[] = {
    {SCMP_ARCH_X86_64, AUDIT_ARCH_X86_64, true},
    {SCMP_ARCH_X86, AUDIT_ARCH_I386, true},
    {SCMP_ARCH_AARCH64, AUDIT_ARCH_AARCH64, true},
    {SCMP_ARCH_ARM, AUDIT_ARCH_ARM, true},
};

void emit(std::string& out, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k) {
  sock_filter f{code, jt, jf, k};
  out.append(reinterpret_cast<const char*>(&f), sizeof f);
}

struct OwnRule {
  int nr;
  uint32_t action;
  bool x86_64_only;
};

// For each architecture: its own-table rules first, then ENOSYS above `max`; everything else
// falls through to libseccomp's program, which starts by loading the architecture itself.
// x32 (x86_64 numbers with bit 30 set) is left to libseccomp.
std::string stub(const std::map<uint32_t, int>& max_nr, const std::vector<OwnRule>& own, bool enosys) {
  std::string out;
  for (auto& a : kStubArches) {
    auto it = max_nr.find(a.scmp);
    if (it == max_nr.end()) continue;
    std::string body;
    emit(body, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(seccomp_data, nr));
    std::vector<const OwnRule*> mine;
    for (auto& r : own)
      if (a.unified && (!r.x86_64_only || a.scmp == SCMP_ARCH_X86_64)) mine.push_back(&r);
    // Instructions after the x32 check: 2 per rule, then 2 for ENOSYS (if asked), then `ja`.
    const size_t after = mine.size() * 2 + (enosys ? 2 : 0);
    if (a.scmp == SCMP_ARCH_X86_64)
      emit(body, BPF_JMP | BPF_JGE | BPF_K, static_cast<uint8_t>(after), 0, 0x40000000);
    for (auto* r : mine) {
      emit(body, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, static_cast<uint32_t>(r->nr));
      emit(body, BPF_RET | BPF_K, 0, 0, r->action);
    }
    if (enosys) {
      emit(body, BPF_JMP | BPF_JGT | BPF_K, 0, 1, static_cast<uint32_t>(it->second));
      emit(body, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS);
    }
    // Check the architecture, then the body, then on to the next architecture's block.
    const size_t body_len = body.size() / sizeof(sock_filter);
    if (body_len + 1 > 255) throw Error("linux.seccomp: too many rules for new syscalls");
    emit(out, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(seccomp_data, arch));
    emit(out, BPF_JMP | BPF_JEQ | BPF_K, 0, static_cast<uint8_t>(body_len + 1), a.audit);
    out += body;
    emit(out, BPF_JMP | BPF_JA, 0, 0, 0);  // patched below: to the end of the stub
  }
  // Every `ja` (and nothing else in the stub has k = 0 with that code) jumps to the end.
  const size_t n = out.size() / sizeof(sock_filter);
  auto* f = reinterpret_cast<sock_filter*>(out.data());
  for (size_t i = 0; i < n; ++i)
    if (f[i].code == (BPF_JMP | BPF_JA)) f[i].k = static_cast<uint32_t>(n - i - 1);
  return out;
}

}  // namespace

namespace {

// What a cached program depends on: the profile, libseccomp and what it found the kernel can do.
std::string cache_key(const json& s) {
  const scmp_version* v = seccomp_version();
  return "berth-seccomp-v3 libseccomp " + std::to_string(v->major) + "." + std::to_string(v->minor) +
         "." + std::to_string(v->micro) + " api " + std::to_string(seccomp_api_get()) + "\n" + s.dump();
}

std::string cache_file(const std::string& dir, const std::string& key) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.bpf", static_cast<unsigned long long>(fnv1a64(key)));
  return dir + "/" + name;
}

// The file holds the key, a NUL, then the program: a hash collision cannot pick a wrong one.
bool cache_read(const std::string& path, const std::string& key, std::string& bpf) {
  std::string text;
  try {
    if (!fs::read_file_if_exists(path, text)) return false;
  } catch (const Error&) {
    return false;
  }
  if (text.size() <= key.size() || text.compare(0, key.size(), key) != 0 || text[key.size()] != '\0')
    return false;
  bpf = text.substr(key.size() + 1);
  return !bpf.empty() && bpf.size() % sizeof(sock_filter) == 0;
}

unsigned parse_flags(const json& s) {
  unsigned flags = 0;
  if (auto it = s.find("flags"); it != s.end() && it->is_array())
    for (auto& fl : *it) {
      std::string name = fl.is_string() ? fl.get<std::string>() : "";
      if (name == "SECCOMP_FILTER_FLAG_TSYNC") flags |= SECCOMP_FILTER_FLAG_TSYNC;
      else if (name == "SECCOMP_FILTER_FLAG_LOG") flags |= SECCOMP_FILTER_FLAG_LOG;
      else if (name == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    }
  return flags;
}

}  // namespace

std::unique_ptr<SeccompFilter> SeccompFilter::compile(const json& s, const std::string& cache_dir) {
  if (s.is_null()) return nullptr;
  if (!s.is_object()) bad("", "must be an object");
  std::string key, path;
  if (!cache_dir.empty()) {
    key = cache_key(s);
    path = cache_file(cache_dir, key);
    std::string bpf;
    if (cache_read(path, key, bpf)) {
      std::unique_ptr<SeccompFilter> f(new SeccompFilter());
      f->bpf_ = std::move(bpf);
      f->flags_ = parse_flags(s);
      f->listener_path_ = str(s, "listenerPath", "");
      f->listener_metadata_ = str(s, "listenerMetadata", "");
      // Only valid profiles are ever cached; notify is known from the actions.
      if (auto it = s.find("syscalls"); it != s.end() && it->is_array())
        for (const auto& sc : *it)
          if (sc.is_object() && sc.value("action", "") == "SCMP_ACT_NOTIFY") f->notify_ = true;
      return f;
    }
  }
  std::unique_ptr<SeccompFilter> f = compile_profile(s);
  // Export the program: it is loaded with seccomp(2) like a cached one, and cached.
  UniqueFd mem(static_cast<int>(::syscall(SYS_memfd_create, "seccomp-bpf", MFD_CLOEXEC)));
  if (!mem) throw_errno("memfd_create");
  if (int rc = seccomp_export_bpf(static_cast<scmp_filter_ctx>(f->ctx_), mem.get()); rc < 0)
    throw_errno("linux.seccomp: export the filter", -rc);
  off_t size = ::lseek(mem.get(), 0, SEEK_END);
  f->bpf_.resize(static_cast<size_t>(size));
  if (::pread(mem.get(), f->bpf_.data(), f->bpf_.size(), 0) != size) throw_errno("read the seccomp filter");
  f->bpf_.insert(0, f->prefix_);
  if (f->bpf_.size() / sizeof(sock_filter) > BPF_MAXINSNS)
    throw Error("linux.seccomp: the filter has more than " + std::to_string(BPF_MAXINSNS) + " instructions");
  f->flags_ = parse_flags(s);
  if (!cache_dir.empty()) {
    try {
      fs::mkdir_p(cache_dir, 0700);
      std::string text = key;
      text.push_back('\0');
      text += f->bpf_;
      fs::write_file_atomic(path, text, 0600);
    } catch (const Error&) {
      // a read-only or full state dir: no cache, no failure
    }
  }
  return f;
}

std::unique_ptr<SeccompFilter> SeccompFilter::compile_profile(const json& s) {
  std::unique_ptr<SeccompFilter> f(new SeccompFilter());
  uint32_t def_errno = EPERM;
  if (auto it = s.find("defaultErrnoRet"); it != s.end() && !it->is_null()) {
    def_errno = errno_value(*it, "defaultErrnoRet");
  }
  std::string def_name = str(s, "defaultAction", "");
  if (def_name.empty()) bad("defaultAction", "is required");
  uint32_t def = action(def_name, json::object({{"errnoRet", def_errno}}), "defaultAction", def_errno,
                        f->notify_);
  if (f->notify_) bad("defaultAction", "SCMP_ACT_NOTIFY cannot be the default action");
  f->ctx_ = seccomp_init(def);
  if (!f->ctx_) throw Error("linux.seccomp: seccomp_init failed");
  auto ctx = static_cast<scmp_filter_ctx>(f->ctx_);
  // libseccomp sets no_new_privs on load by default; only process.noNewPrivileges may.
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); rc < 0)
    throw_errno("linux.seccomp: clear the no_new_privs attribute", -rc);
  // A binary tree of syscall numbers, not libseccomp's default linear list: Docker's profile
  // is ~1000 instructions, and at load the kernel runs the filter for every syscall number of
  // every architecture to build its allow-cache — O(n) each in a list, O(log n) in a tree
  // (the seccomp(2) call itself went from ~1.2 ms to ~0.2 ms). Each filtered syscall gains the
  // same.
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2); rc < 0)
    throw_errno("linux.seccomp: ask for a binary-tree filter", -rc);

  std::vector<uint32_t> archs;  // the filter's architectures, the native one included
  archs.push_back(seccomp_arch_native());
  std::map<uint32_t, int> max_nr;  // per architecture: the newest syscall a rule names
  std::vector<OwnRule> own;
  if (auto it = s.find("architectures"); it != s.end() && !it->is_null()) {
    if (!it->is_array()) bad("architectures", "must be an array");
    for (auto& a : *it) {
      if (!a.is_string()) bad("architectures", "must be an array of strings");
      std::string name = a.get<std::string>();
      if (name.rfind("SCMP_ARCH_", 0) != 0) bad("architectures", "unknown architecture `" + name + "`");
      std::string lower = name.substr(10);
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      uint32_t arch = seccomp_arch_resolve_name(lower.c_str());
      if (arch == 0) bad("architectures", "unknown architecture `" + name + "`");
      int rc = seccomp_arch_add(ctx, arch);
      if (rc < 0 && rc != -EEXIST) throw_errno("linux.seccomp: add architecture " + name, -rc);
      archs.push_back(arch);
    }
  }
  if (auto it = s.find("flags"); it != s.end() && !it->is_null()) {
    if (!it->is_array()) bad("flags", "must be an array");
    for (auto& fl : *it) {
      std::string name = fl.is_string() ? fl.get<std::string>() : "";
      int rc;
      if (name == "SECCOMP_FILTER_FLAG_TSYNC") rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
      else if (name == "SECCOMP_FILTER_FLAG_LOG") rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
      else if (name == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1);
      else bad("flags", "unsupported flag `" + name + "`");
      if (rc < 0) throw_errno("linux.seccomp.flags: " + name, -rc);
    }
  }
  f->listener_path_ = str(s, "listenerPath", "");
  f->listener_metadata_ = str(s, "listenerMetadata", "");

  if (auto it = s.find("syscalls"); it != s.end() && !it->is_null()) {
    if (!it->is_array()) bad("syscalls", "must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string field = "syscalls[" + std::to_string(i) + "]";
      const json& sc = (*it)[i];
      if (!sc.is_object()) bad(field, "must be an object");
      uint32_t act = action(str(sc, "action", field), sc, field, EPERM, f->notify_);
      std::vector<scmp_arg_cmp> args;
      if (auto a = sc.find("args"); a != sc.end() && !a->is_null()) {
        if (!a->is_array()) bad(field + ".args", "must be an array");
        for (size_t k = 0; k < a->size(); ++k) {
          const std::string af = field + ".args[" + std::to_string(k) + "]";
          const json& arg = (*a)[k];
          if (!arg.is_object()) bad(af, "must be an object");
          auto idx = arg.value("index", json());
          if (!idx.is_number_unsigned() || idx.get<unsigned>() > 5) bad(af + ".index", "must be 0..5");
          auto num = [&](const char* key) -> uint64_t {
            auto v = arg.find(key);
            if (v == arg.end() || v->is_null()) return 0;
            if (!v->is_number_integer()) bad(af + "." + key, "must be an integer");
            return v->is_number_unsigned() ? v->get<uint64_t>() : static_cast<uint64_t>(v->get<int64_t>());
          };
          args.push_back({idx.get<unsigned>(), op(str(arg, "op", af), af + ".op"), num("value"), num("valueTwo")});
        }
      }
      auto names = sc.find("names");
      if (names == sc.end() || !names->is_array()) bad(field + ".names", "must be an array of syscall names");
      if (act == def) continue;  // libseccomp refuses rules equal to the default action
      for (auto& n : *names) {
        if (!n.is_string()) bad(field + ".names", "must be an array of strings");
        const std::string name = n.get<std::string>();
        int nr = seccomp_syscall_resolve_name(name.c_str());
        if (nr == __NR_SCMP_ERROR) {
          // Newer than this libseccomp: our table (unconditional rules only), else skipped
          // as runc does.
          const NewSyscall* ns = new_syscall(name);
          if (ns && args.empty()) {
            own.push_back({ns->nr, act, ns->x86_64_only});
            for (uint32_t a : archs)
              if (!ns->x86_64_only || a == SCMP_ARCH_X86_64) max_nr[a] = std::max(max_nr[a], ns->nr);
          }
          continue;
        }
        for (uint32_t a : archs) {
          int anr = seccomp_syscall_resolve_name_arch(a, name.c_str());
          if (anr >= 0) max_nr[a] = std::max(max_nr[a], anr);  // negative: not on this arch
        }
        int rc = seccomp_rule_add_array(ctx, act, nr, static_cast<unsigned>(args.size()), args.data());
        if (rc == -EINVAL && args.size() > 1) {
          // Several conditions on one argument cannot be one rule: add one rule per
          // condition (runc's behaviour).
          rc = 0;
          for (auto& c : args)
            if ((rc = seccomp_rule_add_array(ctx, act, nr, 1, &c)) < 0) break;
        }
        if (rc < 0) throw_errno("linux.seccomp: add rule for `" + n.get<std::string>() + "`", -rc);
      }
    }
  }
  if (f->notify_ && f->listener_path_.empty())
    bad("listenerPath", "is required when an action is SCMP_ACT_NOTIFY");
  // ENOSYS for what is newer than the profile: only when the default refuses (a deny list's
  // ALLOW or LOG default lets new syscalls through anyway).
  const bool enosys = def != SCMP_ACT_ALLOW && def != SCMP_ACT_LOG;
  if (enosys || !own.empty()) {
    std::sort(archs.begin(), archs.end());
    archs.erase(std::unique(archs.begin(), archs.end()), archs.end());
    for (uint32_t a : archs) max_nr.try_emplace(a, -1);
    if (enosys)
      for (auto& [a, m] : max_nr)
        if (m < 0) m = 0x7fffffff;  // names nothing on it: no ENOSYS rule to derive
    f->prefix_ = stub(max_nr, own, enosys);
  }
  return f;
}

SeccompFilter::~SeccompFilter() {
  if (ctx_) seccomp_release(static_cast<scmp_filter_ctx>(ctx_));
}

int SeccompFilter::load() {
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(bpf_.size() / sizeof(sock_filter));
  prog.filter = reinterpret_cast<sock_filter*>(bpf_.data());
  unsigned flags = flags_ | (notify_ ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0);
  long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (rc < 0) throw_errno("load seccomp filter");
  return notify_ ? static_cast<int>(rc) : -1;
}

}  // namespace berth::runtime
