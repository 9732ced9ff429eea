#include "runtime/seccomp.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <map>
#include <vector>

#include "common/error.hpp"
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

// An action name (+ errno/trace return value) → libseccomp action.
uint32_t action(const std::string& name, const json& o, const std::string& field, uint32_t def_errno,
                bool& notify) {
  uint32_t ret = def_errno;
  if (auto it = o.find("errnoRet"); it != o.end() && !it->is_null()) {
    if (!it->is_number_unsigned()) bad(field + ".errnoRet", "must be a non-negative integer");
    ret = it->get<uint32_t>();
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

}  // namespace

namespace {

// What a cached program depends on: the profile, libseccomp and what it found the kernel can do.
std::string cache_key(const json& s) {
  const scmp_version* v = seccomp_version();
  return "berth-seccomp-v1 libseccomp " + std::to_string(v->major) + "." + std::to_string(v->minor) +
         "." + std::to_string(v->micro) + " api " + std::to_string(seccomp_api_get()) + "\n" + s.dump();
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

std::string cache_file(const std::string& dir, const std::string& key) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.bpf", static_cast<unsigned long long>(fnv1a(key)));
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
      for (auto& sc : s.value("syscalls", json::array()))
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
    if (!it->is_number_unsigned()) bad("defaultErrnoRet", "must be a non-negative integer");
    def_errno = it->get<uint32_t>();
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
        int nr = seccomp_syscall_resolve_name(n.get<std::string>().c_str());
        if (nr == __NR_SCMP_ERROR) continue;  // unknown to this libseccomp/arch: skipped, as runc does
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
