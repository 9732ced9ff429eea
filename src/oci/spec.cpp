#include "oci/spec.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <set>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace berth::oci {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw Error("config.json: " + field + ": " + why);
}

const json* get(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string str(const json& obj, const char* key, const std::string& field, bool required = false) {
  const json* v = get(obj, key);
  if (!v) {
    if (required) bad(field + "." + key, "is required");
    return {};
  }
  if (!v->is_string()) bad(field + "." + key, "must be a string");
  return v->get<std::string>();
}

bool boolean(const json& obj, const char* key, const std::string& field) {
  const json* v = get(obj, key);
  if (!v) return false;
  if (!v->is_boolean()) bad(field + "." + key, "must be a boolean");
  return v->get<bool>();
}

template <typename T>
T integer(const json& v, const std::string& field) {
  if (!v.is_number_integer()) bad(field, "must be an integer");
  if constexpr (std::is_unsigned_v<T>) {
    if (v.is_number_unsigned()) {
      auto u = v.get<uint64_t>();
      if (u > std::numeric_limits<T>::max()) bad(field, "out of range");
      return static_cast<T>(u);
    }
    auto s = v.get<int64_t>();
    if (s < 0 || static_cast<uint64_t>(s) > std::numeric_limits<T>::max())
      bad(field, "out of range");
    return static_cast<T>(s);
  } else {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max()))
      bad(field, "out of range");
    auto s = v.get<int64_t>();
    if (s < std::numeric_limits<T>::min() || s > std::numeric_limits<T>::max())
      bad(field, "out of range");
    return static_cast<T>(s);
  }
}

std::vector<std::string> strings(const json& obj, const char* key, const std::string& field) {
  std::vector<std::string> out;
  const json* v = get(obj, key);
  if (!v) return out;
  if (!v->is_array()) bad(field + "." + key, "must be an array of strings");
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string())
      bad(field + "." + key + "[" + std::to_string(i) + "]", "must be a string");
    out.push_back((*v)[i].get<std::string>());
  }
  return out;
}

const json& object(const json& v, const std::string& field) {
  if (!v.is_object()) bad(field, "must be an object");
  return v;
}

const json& array(const json& v, const std::string& field) {
  if (!v.is_array()) bad(field, "must be an array");
  return v;
}

constexpr std::array<const char*, 41> kCapNames = {
    "CAP_CHOWN",           "CAP_DAC_OVERRIDE",   "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID",          "CAP_KILL",           "CAP_SETGID",          "CAP_SETUID",
    "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",       "CAP_NET_RAW",        "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",      "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",      "CAP_SYS_BOOT",        "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",       "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
    "CAP_LEASE",           "CAP_AUDIT_WRITE",    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",      "CAP_SYSLOG",          "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",     "CAP_PERFMON",         "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE"};

struct RlimitName {
  const char* name;
  int value;
};
constexpr RlimitName kRlimits[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},       {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},       {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

std::vector<int> cap_set(const json& caps, const char* key, const std::string& field) {
  std::vector<int> out;
  int last = last_capability();
  for (auto& name : strings(caps, key, field)) {
    int c = capability_from_name(name);
    if (c < 0) {
      // Names of capabilities newer than this build are skipped, as runc does; anything
      // else is a typo that must not be silently dropped.
      if (name.rfind("CAP_", 0) != 0)
        bad(field + "." + key, "unknown capability `" + name + "`");
      continue;
    }
    if (c > last) continue;  // newer than this kernel
    out.push_back(c);
  }
  return out;
}

bool scheduler_flag(std::string_view name) {
  for (auto* f : {"SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN",
                  "SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN",
                  "SCHED_FLAG_UTIL_CLAMP_MAX"})
    if (name == f) return true;
  return false;
}

Process parse_process(const json& p) {
  const std::string f = "process";
  object(p, f);
  Process out;
  out.terminal = boolean(p, "terminal", f);
  if (auto* cs = get(p, "consoleSize")) {
    object(*cs, f + ".consoleSize");
    ConsoleSize s;
    if (auto* h = get(*cs, "height")) s.height = integer<unsigned>(*h, f + ".consoleSize.height");
    if (auto* w = get(*cs, "width")) s.width = integer<unsigned>(*w, f + ".consoleSize.width");
    out.consoleSize = s;
  }
  if (auto* u = get(p, "user")) {
    object(*u, f + ".user");
    if (auto* v = get(*u, "uid")) out.user.uid = integer<uint32_t>(*v, f + ".user.uid");
    if (auto* v = get(*u, "gid")) out.user.gid = integer<uint32_t>(*v, f + ".user.gid");
    if (auto* v = get(*u, "umask")) out.user.umask = integer<uint32_t>(*v, f + ".user.umask");
    if (auto* v = get(*u, "additionalGids")) {
      array(*v, f + ".user.additionalGids");
      for (size_t i = 0; i < v->size(); ++i)
        out.user.additionalGids.push_back(
            integer<uint32_t>((*v)[i], f + ".user.additionalGids[" + std::to_string(i) + "]"));
    }
  }
  out.args = strings(p, "args", f);
  if (out.args.empty()) bad(f + ".args", "must contain at least the program to run");
  if (get(p, "commandLine")) bad(f + ".commandLine", "is only valid on Windows");
  out.env = strings(p, "env", f);
  for (size_t i = 0; i < out.env.size(); ++i)
    if (out.env[i].find('=') == std::string::npos)
      bad(f + ".env[" + std::to_string(i) + "]", "must have the form KEY=value");
  out.cwd = str(p, "cwd", f, true);
  if (out.cwd.empty() || out.cwd[0] != '/') bad(f + ".cwd", "must be an absolute path");
  if (auto* c = get(p, "capabilities")) {
    object(*c, f + ".capabilities");
    Capabilities caps;
    const std::string cf = f + ".capabilities";
    caps.bounding = cap_set(*c, "bounding", cf);
    caps.effective = cap_set(*c, "effective", cf);
    caps.inheritable = cap_set(*c, "inheritable", cf);
    caps.permitted = cap_set(*c, "permitted", cf);
    caps.ambient = cap_set(*c, "ambient", cf);
    out.capabilities = std::move(caps);
  }
  if (auto* r = get(p, "rlimits")) {
    array(*r, f + ".rlimits");
    std::set<int> seen;
    for (size_t i = 0; i < r->size(); ++i) {
      const std::string rf = f + ".rlimits[" + std::to_string(i) + "]";
      const json& e = object((*r)[i], rf);
      Rlimit rl;
      rl.type = str(e, "type", rf, true);
      rl.resource = rlimit_from_name(rl.type);
      if (rl.resource < 0) bad(rf + ".type", "unknown rlimit `" + rl.type + "`");
      if (!seen.insert(rl.resource).second) bad(rf + ".type", "duplicate rlimit `" + rl.type + "`");
      auto* soft = get(e, "soft");
      auto* hard = get(e, "hard");
      if (!soft) bad(rf + ".soft", "is required");
      if (!hard) bad(rf + ".hard", "is required");
      rl.soft = integer<uint64_t>(*soft, rf + ".soft");
      rl.hard = integer<uint64_t>(*hard, rf + ".hard");
      if (rl.soft > rl.hard) bad(rf, "soft limit is greater than hard limit");
      out.rlimits.push_back(rl);
    }
  }
  out.noNewPrivileges = boolean(p, "noNewPrivileges", f);
  if (auto* o = get(p, "oomScoreAdj")) {
    int v = integer<int>(*o, f + ".oomScoreAdj");
    if (v < -1000 || v > 1000) bad(f + ".oomScoreAdj", "must be between -1000 and 1000");
    out.oomScoreAdj = v;
  }
  out.apparmorProfile = str(p, "apparmorProfile", f);
  out.selinuxLabel = str(p, "selinuxLabel", f);
  if (auto* sj = get(p, "scheduler")) {
    const std::string sf = f + ".scheduler";
    const json& o = object(*sj, sf);
    Scheduler sc;
    sc.policy = str(o, "policy", sf, true);
    if (!scheduler_policy(sc.policy)) bad(sf + ".policy", "unknown policy `" + sc.policy + "`");
    if (auto* v = get(o, "nice")) sc.nice = integer<int>(*v, sf + ".nice");
    if (sc.nice < -20 || sc.nice > 19) bad(sf + ".nice", "must be between -20 and 19");
    if (auto* v = get(o, "priority")) sc.priority = integer<int>(*v, sf + ".priority");
    sc.flags = strings(o, "flags", sf);
    for (auto& fl : sc.flags)
      if (!scheduler_flag(fl)) bad(sf + ".flags", "unknown flag `" + fl + "`");
    if (auto* v = get(o, "runtime")) sc.runtime = integer<uint64_t>(*v, sf + ".runtime");
    if (auto* v = get(o, "deadline")) sc.deadline = integer<uint64_t>(*v, sf + ".deadline");
    if (auto* v = get(o, "period")) sc.period = integer<uint64_t>(*v, sf + ".period");
    out.scheduler = sc;
  }
  if (auto* ij = get(p, "ioPriority")) {
    const std::string iof = f + ".ioPriority";
    const json& o = object(*ij, iof);
    IoPriority io;
    io.ioclass = str(o, "class", iof, true);
    if (io.ioclass != "IOPRIO_CLASS_RT" && io.ioclass != "IOPRIO_CLASS_BE" &&
        io.ioclass != "IOPRIO_CLASS_IDLE")
      bad(iof + ".class", "unknown class `" + io.ioclass + "`");
    if (auto* v = get(o, "priority")) io.priority = integer<int>(*v, iof + ".priority");
    if (io.priority < 0 || io.priority > 7) bad(iof + ".priority", "must be between 0 and 7");
    out.ioPriority = io;
  }
  if (auto* aj = get(p, "execCPUAffinity")) {
    const std::string af = f + ".execCPUAffinity";
    const json& o = object(*aj, af);
    ExecCpuAffinity a;
    a.initial = str(o, "initial", af);
    a.final = str(o, "final", af);
    for (auto* list : {&a.initial, &a.final})
      if (!list->empty() && parse_cpu_list(*list).empty())
        bad(af, "invalid CPU list `" + *list + "`");
    out.execCPUAffinity = a;
  }
  return out;
}

std::vector<Hook> parse_hooks(const json& hooks, const char* key) {
  std::vector<Hook> out;
  const json* v = get(hooks, key);
  if (!v) return out;
  const std::string f = std::string("hooks.") + key;
  array(*v, f);
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string hf = f + "[" + std::to_string(i) + "]";
    const json& h = object((*v)[i], hf);
    Hook hook;
    hook.path = str(h, "path", hf, true);
    if (hook.path.empty() || hook.path[0] != '/') bad(hf + ".path", "must be an absolute path");
    hook.args = strings(h, "args", hf);
    hook.env = strings(h, "env", hf);
    if (auto* t = get(h, "timeout")) {
      hook.timeout = integer<int>(*t, hf + ".timeout");
      if (*hook.timeout <= 0) bad(hf + ".timeout", "must be greater than zero");
    }
    out.push_back(std::move(hook));
  }
  return out;
}

std::vector<IdMapping> parse_mappings(const json& l, const char* key,
                                      const std::string& parent = "linux") {
  std::vector<IdMapping> out;
  const json* v = get(l, key);
  if (!v) return out;
  const std::string f = parent + "." + key;
  array(*v, f);
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string mf = f + "[" + std::to_string(i) + "]";
    const json& m = object((*v)[i], mf);
    IdMapping im;
    for (auto [k, dst] : {std::pair{"containerID", &im.containerID}, std::pair{"hostID", &im.hostID},
                          std::pair{"size", &im.size}}) {
      auto* x = get(m, k);
      if (!x) bad(mf + "." + k, "is required");
      *dst = integer<uint32_t>(*x, mf + "." + k);
    }
    out.push_back(im);
  }
  return out;
}

Linux parse_linux(const json& l) {
  object(l, "linux");
  Linux out;
  static const std::set<std::string> kTypes = {"pid", "network", "mount", "ipc",
                                               "uts", "user",    "cgroup", "time"};
  if (auto* ns = get(l, "namespaces")) {
    array(*ns, "linux.namespaces");
    std::set<std::string> seen;
    for (size_t i = 0; i < ns->size(); ++i) {
      const std::string f = "linux.namespaces[" + std::to_string(i) + "]";
      const json& n = object((*ns)[i], f);
      Namespace x;
      x.type = str(n, "type", f, true);
      if (!kTypes.count(x.type)) bad(f + ".type", "unknown namespace type `" + x.type + "`");
      if (!seen.insert(x.type).second) bad(f + ".type", "duplicate namespace `" + x.type + "`");
      x.path = str(n, "path", f);
      if (!x.path.empty() && x.path[0] != '/') bad(f + ".path", "must be an absolute path");
      out.namespaces.push_back(x);
    }
  }
  out.uidMappings = parse_mappings(l, "uidMappings");
  out.gidMappings = parse_mappings(l, "gidMappings");
  if (auto* t = get(l, "timeOffsets")) {
    object(*t, "linux.timeOffsets");
    for (auto& [clock, v] : t->items()) {
      const std::string f = "linux.timeOffsets." + clock;
      if (clock != "monotonic" && clock != "boottime") bad(f, "unknown clock (monotonic, boottime)");
      object(v, f);
      TimeOffset off;
      if (auto* s = get(v, "secs")) off.secs = integer<int64_t>(*s, f + ".secs");
      if (auto* n = get(v, "nanosecs")) off.nanosecs = integer<uint32_t>(*n, f + ".nanosecs");
      if (off.nanosecs >= 1000000000u) bad(f + ".nanosecs", "must be below 1000000000");
      out.timeOffsets[clock] = off;
    }
  }
  if (auto* d = get(l, "devices")) {
    array(*d, "linux.devices");
    for (size_t i = 0; i < d->size(); ++i) {
      const std::string f = "linux.devices[" + std::to_string(i) + "]";
      const json& e = object((*d)[i], f);
      Device dev;
      dev.path = str(e, "path", f, true);
      if (dev.path.empty() || dev.path[0] != '/') bad(f + ".path", "must be an absolute path");
      dev.type = str(e, "type", f, true);
      if (dev.type != "c" && dev.type != "b" && dev.type != "u" && dev.type != "p")
        bad(f + ".type", "must be one of c, b, u, p");
      if (dev.type != "p") {
        auto* ma = get(e, "major");
        auto* mi = get(e, "minor");
        if (!ma || !mi) bad(f, "major and minor are required for type `" + dev.type + "`");
        dev.major = integer<int64_t>(*ma, f + ".major");
        dev.minor = integer<int64_t>(*mi, f + ".minor");
      }
      if (auto* m = get(e, "fileMode")) dev.fileMode = integer<uint32_t>(*m, f + ".fileMode");
      if (auto* u = get(e, "uid")) dev.uid = integer<uint32_t>(*u, f + ".uid");
      if (auto* g = get(e, "gid")) dev.gid = integer<uint32_t>(*g, f + ".gid");
      out.devices.push_back(dev);
    }
  }
  out.cgroupsPath = str(l, "cgroupsPath", "linux");
  if (auto* r = get(l, "resources")) out.resources = parse_resources(*r);
  out.rootfsPropagation = str(l, "rootfsPropagation", "linux");
  static const std::set<std::string> kProp = {"",       "shared",   "slave",   "private",
                                              "rshared", "rslave", "rprivate", "unbindable",
                                              "runbindable"};
  if (!kProp.count(out.rootfsPropagation))
    bad("linux.rootfsPropagation", "unknown propagation `" + out.rootfsPropagation + "`");
  out.maskedPaths = strings(l, "maskedPaths", "linux");
  out.readonlyPaths = strings(l, "readonlyPaths", "linux");
  for (auto* list : {&out.maskedPaths, &out.readonlyPaths})
    for (auto& p : *list)
      if (p.empty() || p[0] != '/')
        bad(list == &out.maskedPaths ? "linux.maskedPaths" : "linux.readonlyPaths",
            "`" + p + "` is not an absolute path");
  if (auto* s = get(l, "sysctl")) {
    object(*s, "linux.sysctl");
    for (auto& [k, v] : s->items()) {
      if (!v.is_string()) bad("linux.sysctl." + k, "must be a string");
      if (k.empty() || k.find("..") != std::string::npos || k[0] == '/' || k[0] == '.')
        bad("linux.sysctl." + k, "invalid sysctl name");
      out.sysctl[k] = v.get<std::string>();
    }
  }
  out.mountLabel = str(l, "mountLabel", "linux");
  if (auto* s = get(l, "seccomp")) out.seccomp = object(*s, "linux.seccomp");
  if (auto* s = get(l, "intelRdt")) out.intelRdt = object(*s, "linux.intelRdt");
  if (auto* pj = get(l, "personality")) {
    const json& o = object(*pj, "linux.personality");
    std::string domain = str(o, "domain", "linux.personality", true);
    if (domain != "LINUX" && domain != "LINUX32")
      bad("linux.personality.domain", "must be LINUX or LINUX32, not `" + domain + "`");
    if (!strings(o, "flags", "linux.personality").empty())
      bad("linux.personality.flags", "no flags are defined by the runtime spec");
    out.personality = domain;
  }
  return out;
}

}  // namespace

Process parse_process_json(const json& j) { return parse_process(j); }

bool Mount::idmapped() const {
  for (auto& o : options)
    if (o == "idmap" || o == "ridmap") return true;
  return false;
}

const Namespace* Linux::find_namespace(std::string_view type) const {
  for (auto& n : namespaces)
    if (n.type == type) return &n;
  return nullptr;
}

std::optional<int> scheduler_policy(std::string_view name) {
  static const std::pair<const char*, int> table[] = {
      {"SCHED_OTHER", 0}, {"SCHED_FIFO", 1},  {"SCHED_RR", 2},       {"SCHED_BATCH", 3},
      {"SCHED_ISO", 4},   {"SCHED_IDLE", 5},  {"SCHED_DEADLINE", 6},
  };
  for (auto& [n, v] : table)
    if (name == n) return v;
  return std::nullopt;
}

std::vector<int> parse_cpu_list(std::string_view list) {
  std::vector<int> cpus;
  auto number = [](std::string_view t, int& out) {
    if (t.empty() || t.size() > 5) return false;
    out = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    return true;
  };
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (comma != std::string_view::npos && list.empty()) return {};
    auto dash = item.find('-');
    int lo, hi;
    if (!number(item.substr(0, dash), lo)) return {};
    hi = lo;
    if (dash != std::string_view::npos && !number(item.substr(dash + 1), hi)) return {};
    if (hi < lo || hi >= 8192) return {};
    for (int c = lo; c <= hi; ++c) cpus.push_back(c);
  }
  return cpus;
}

int capability_from_name(std::string_view name) {
  for (size_t i = 0; i < kCapNames.size(); ++i)
    if (name == kCapNames[i]) return static_cast<int>(i);
  return -1;
}

std::string capability_name(int cap) {
  if (cap >= 0 && static_cast<size_t>(cap) < kCapNames.size()) return kCapNames[cap];
  return "CAP_" + std::to_string(cap);
}

int last_capability() {
  static int last = [] {
    std::string s;
    try {
      if (fs::read_file_if_exists("/proc/sys/kernel/cap_last_cap", s)) return std::stoi(s);
    } catch (...) {
    }
    return static_cast<int>(kCapNames.size()) - 1;
  }();
  return last;
}

int rlimit_from_name(std::string_view name) {
  for (auto& r : kRlimits)
    if (name == r.name) return r.value;
  return -1;
}

Spec parse_spec(std::string_view text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range (406) for a number too big
    throw Error(std::string("config.json: invalid JSON: ") + e.what());
  }
  return parse_spec_json(j);
}

Spec parse_spec_json(const json& j) {
  if (!j.is_object()) bad("(top level)", "must be a JSON object");
  Spec s;
  s.ociVersion = str(j, "ociVersion", "(top level)", true);
  if (s.ociVersion.rfind("1.", 0) != 0)
    bad("ociVersion", "unsupported version `" + s.ociVersion + "` (want 1.x)");
  if (auto* p = get(j, "process")) s.process = parse_process(*p);
  auto* root = get(j, "root");
  if (!root) bad("root", "is required");
  object(*root, "root");
  s.root.path = str(*root, "path", "root", true);
  if (s.root.path.empty()) bad("root.path", "must not be empty");
  s.root.readonly = boolean(*root, "readonly", "root");
  s.hostname = str(j, "hostname", "(top level)");
  s.domainname = str(j, "domainname", "(top level)");
  if (auto* m = get(j, "mounts")) {
    array(*m, "mounts");
    for (size_t i = 0; i < m->size(); ++i) {
      const std::string f = "mounts[" + std::to_string(i) + "]";
      const json& e = object((*m)[i], f);
      Mount mt;
      mt.destination = str(e, "destination", f, true);
      if (mt.destination.empty() || mt.destination[0] != '/')
        bad(f + ".destination", "must be an absolute path, got `" + mt.destination + "`");
      mt.type = str(e, "type", f);
      mt.source = str(e, "source", f);
      mt.options = strings(e, "options", f);
      mt.uidMappings = parse_mappings(e, "uidMappings", f);
      mt.gidMappings = parse_mappings(e, "gidMappings", f);
      const bool idmap = mt.idmapped();
      if (!idmap && (!mt.uidMappings.empty() || !mt.gidMappings.empty()))
        bad(f + ".uidMappings", "mappings need the idmap or ridmap option");
      if (idmap && mt.uidMappings.empty() != mt.gidMappings.empty())
        bad(f + ".uidMappings", "give both uidMappings and gidMappings, or neither");
      if (idmap && mt.type != "bind" &&
          std::find(mt.options.begin(), mt.options.end(), "bind") == mt.options.end() &&
          std::find(mt.options.begin(), mt.options.end(), "rbind") == mt.options.end())
        bad(f + ".options", "idmap is supported for bind mounts only");
      s.mounts.push_back(std::move(mt));
    }
  }
  if (auto* h = get(j, "hooks")) {
    object(*h, "hooks");
    s.hooks.prestart = parse_hooks(*h, "prestart");
    s.hooks.createRuntime = parse_hooks(*h, "createRuntime");
    s.hooks.createContainer = parse_hooks(*h, "createContainer");
    s.hooks.startContainer = parse_hooks(*h, "startContainer");
    s.hooks.poststart = parse_hooks(*h, "poststart");
    s.hooks.poststop = parse_hooks(*h, "poststop");
  }
  if (auto* a = get(j, "annotations")) {
    object(*a, "annotations");
    for (auto& [k, v] : a->items()) {
      if (!v.is_string()) bad("annotations." + k, "must be a string");
      s.annotations[k] = v.get<std::string>();
    }
  }
  if (auto* l = get(j, "linux")) s.linux = parse_linux(*l);
  // Cross-field rules of config-linux.md.
  if (s.linux) {
    auto* userns = s.linux->find_namespace("user");
    if (!s.linux->uidMappings.empty() || !s.linux->gidMappings.empty()) {
      if (!userns) bad("linux.uidMappings", "mappings require a user namespace");
    }
    if (userns && userns->path.empty() &&
        (s.linux->uidMappings.empty() || s.linux->gidMappings.empty()))
      bad("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings");
    auto* timens = s.linux->find_namespace("time");
    if (!s.linux->timeOffsets.empty() && (!timens || !timens->path.empty()))
      bad("linux.timeOffsets", "offsets need a new time namespace");
  }
  // Without a uts namespace of its own these would rename the host.
  auto* uts = s.linux ? s.linux->find_namespace("uts") : nullptr;
  if (!s.hostname.empty() && !uts) bad("hostname", "setting the hostname needs a new uts namespace");
  if (!s.domainname.empty() && !uts)
    bad("domainname", "setting the domainname needs a new uts namespace");
  return s;
}

}  // namespace berth::oci
