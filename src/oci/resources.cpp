#include "oci/resources.hpp"

#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <utility>

#include "common/error.hpp"

namespace berth::oci {

using nlohmann::json;

namespace {

const std::string kBase = "linux.resources";

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw Error("config.json: " + kBase + "." + field + ": " + why);
}

const json* get(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& object(const json& v, const std::string& field) {
  if (!v.is_object()) bad(field, "must be an object");
  return v;
}

template <typename T>
std::optional<T> num(const json& o, const char* key, const std::string& field) {
  const json* v = get(o, key);
  if (!v) return std::nullopt;
  const std::string f = field + "." + key;
  if (!v->is_number_integer()) bad(f, "must be an integer");
  if constexpr (std::is_unsigned_v<T>) {
    if (!v->is_number_unsigned() && v->get<int64_t>() < 0) bad(f, "must not be negative");
    uint64_t u = v->get<uint64_t>();
    if (u > std::numeric_limits<T>::max()) bad(f, "out of range");
    return static_cast<T>(u);
  } else {
    if (v->is_number_unsigned() &&
        v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max()))
      bad(f, "out of range");
    return static_cast<T>(v->get<int64_t>());
  }
}

std::optional<bool> boolean(const json& o, const char* key, const std::string& field) {
  const json* v = get(o, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) bad(field + "." + key, "must be a boolean");
  return v->get<bool>();
}

std::string str(const json& o, const char* key, const std::string& field) {
  const json* v = get(o, key);
  if (!v) return {};
  if (!v->is_string()) bad(field + "." + key, "must be a string");
  return v->get<std::string>();
}

std::vector<BlockIODevice> devices(const json& o, const char* key, bool weight) {
  std::vector<BlockIODevice> out;
  const json* v = get(o, key);
  if (!v) return out;
  const std::string f = std::string("blockIO.") + key;
  if (!v->is_array()) bad(f, "must be an array");
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string ef = f + "[" + std::to_string(i) + "]";
    const json& e = object((*v)[i], ef);
    BlockIODevice d;
    auto ma = num<int64_t>(e, "major", ef);
    auto mi = num<int64_t>(e, "minor", ef);
    if (!ma || !mi) bad(ef, "major and minor are required");
    d.major = *ma;
    d.minor = *mi;
    if (weight) {
      d.weight = num<uint16_t>(e, "weight", ef);
      d.leafWeight = num<uint16_t>(e, "leafWeight", ef);
    } else {
      auto rate = num<uint64_t>(e, "rate", ef);
      if (!rate) bad(ef + ".rate", "is required");
      d.rate = *rate;
    }
    out.push_back(d);
  }
  return out;
}

}  // namespace

LinuxResources parse_resources(const json& j) {
  if (!j.is_object()) throw Error("config.json: linux.resources: must be an object");
  LinuxResources r;
  if (auto* d = get(j, "devices")) {
    if (!d->is_array()) bad("devices", "must be an array");
    for (size_t i = 0; i < d->size(); ++i) {
      const std::string f = "devices[" + std::to_string(i) + "]";
      const json& e = object((*d)[i], f);
      DeviceRule rule;
      auto allow = boolean(e, "allow", f);
      if (!allow) bad(f + ".allow", "is required");
      rule.allow = *allow;
      rule.type = str(e, "type", f);
      if (rule.type.empty()) rule.type = "a";
      if (rule.type != "a" && rule.type != "b" && rule.type != "c")
        bad(f + ".type", "must be a, b or c");
      rule.major = num<int64_t>(e, "major", f);
      rule.minor = num<int64_t>(e, "minor", f);
      rule.access = str(e, "access", f);
      for (char c : rule.access)
        if (c != 'r' && c != 'w' && c != 'm') bad(f + ".access", "must be a subset of \"rwm\"");
      r.devices.push_back(rule);
    }
  }
  if (auto* m = get(j, "memory")) {
    object(*m, "memory");
    MemoryResources mem;
    mem.limit = num<int64_t>(*m, "limit", "memory");
    mem.reservation = num<int64_t>(*m, "reservation", "memory");
    mem.swap = num<int64_t>(*m, "swap", "memory");
    mem.kernel = num<int64_t>(*m, "kernel", "memory");
    mem.kernelTCP = num<int64_t>(*m, "kernelTCP", "memory");
    // Docker has sent swappiness -1 (and, through Go's uint64, 2^64-1) for "not set"; runc
    // treats both as unset, and so does this.
    const json* sw = get(*m, "swappiness");
    const bool sw_unset =
        sw && ((sw->is_number_unsigned() &&
                sw->get<uint64_t>() == std::numeric_limits<uint64_t>::max()) ||
               (sw->is_number_integer() && !sw->is_number_unsigned() && sw->get<int64_t>() == -1));
    if (!sw_unset) mem.swappiness = num<uint64_t>(*m, "swappiness", "memory");
    if (mem.swappiness && *mem.swappiness > 100)
      bad("memory.swappiness", "must be between 0 and 100");
    mem.disableOOMKiller = boolean(*m, "disableOOMKiller", "memory");
    mem.useHierarchy = boolean(*m, "useHierarchy", "memory");
    mem.checkBeforeUpdate = boolean(*m, "checkBeforeUpdate", "memory");
    // Byte counts: -1 is "unlimited", anything else below 0 is a mistake.
    using Field = std::pair<std::optional<int64_t>*, const char*>;
    for (auto [v, name] :
         {Field{&mem.limit, "memory.limit"}, Field{&mem.reservation, "memory.reservation"},
          Field{&mem.swap, "memory.swap"}, Field{&mem.kernel, "memory.kernel"},
          Field{&mem.kernelTCP, "memory.kernelTCP"}})
      if (*v && **v < -1) bad(name, "must be -1 or a byte count");
    if (mem.limit && mem.swap && *mem.limit > 0 && *mem.swap > 0 && *mem.swap < *mem.limit)
      bad("memory.swap", "must be at least memory.limit (it counts memory + swap)");
    r.memory = mem;
  }
  if (auto* c = get(j, "cpu")) {
    object(*c, "cpu");
    CpuResources cpu;
    cpu.shares = num<uint64_t>(*c, "shares", "cpu");
    cpu.quota = num<int64_t>(*c, "quota", "cpu");
    cpu.burst = num<uint64_t>(*c, "burst", "cpu");
    cpu.period = num<uint64_t>(*c, "period", "cpu");
    cpu.realtimeRuntime = num<int64_t>(*c, "realtimeRuntime", "cpu");
    cpu.realtimePeriod = num<uint64_t>(*c, "realtimePeriod", "cpu");
    cpu.idle = num<int64_t>(*c, "idle", "cpu");
    cpu.cpus = str(*c, "cpus", "cpu");
    cpu.mems = str(*c, "mems", "cpu");
    r.cpu = cpu;
  }
  if (auto* p = get(j, "pids")) {
    object(*p, "pids");
    auto limit = num<int64_t>(*p, "limit", "pids");
    if (!limit) bad("pids.limit", "is required");
    r.pidsLimit = limit;
  }
  if (auto* b = get(j, "blockIO")) {
    object(*b, "blockIO");
    BlockIOResources bio;
    bio.weight = num<uint16_t>(*b, "weight", "blockIO");
    bio.leafWeight = num<uint16_t>(*b, "leafWeight", "blockIO");
    bio.weightDevice = devices(*b, "weightDevice", true);
    bio.throttleReadBpsDevice = devices(*b, "throttleReadBpsDevice", false);
    bio.throttleWriteBpsDevice = devices(*b, "throttleWriteBpsDevice", false);
    bio.throttleReadIOPSDevice = devices(*b, "throttleReadIOPSDevice", false);
    bio.throttleWriteIOPSDevice = devices(*b, "throttleWriteIOPSDevice", false);
    r.blockIO = bio;
  }
  if (auto* h = get(j, "hugepageLimits")) {
    if (!h->is_array()) bad("hugepageLimits", "must be an array");
    for (size_t i = 0; i < h->size(); ++i) {
      const std::string f = "hugepageLimits[" + std::to_string(i) + "]";
      const json& e = object((*h)[i], f);
      HugepageLimit l;
      l.pageSize = str(e, "pageSize", f);
      if (l.pageSize.empty() || l.pageSize.find('/') != std::string::npos)
        bad(f + ".pageSize", "is required (e.g. \"2MB\")");
      auto limit = num<uint64_t>(e, "limit", f);
      if (!limit) bad(f + ".limit", "is required");
      l.limit = *limit;
      r.hugepageLimits.push_back(l);
    }
  }
  if (auto* u = get(j, "unified")) {
    object(*u, "unified");
    for (auto& [k, v] : u->items()) {
      // Keys are file names in the container's cgroup directory: nothing that leaves it.
      if (k.empty() || k.find('/') != std::string::npos || k.find("..") != std::string::npos)
        bad("unified", "`" + k + "` is not a cgroup file name");
      if (!v.is_string()) bad("unified." + k, "must be a string");
      r.unified[k] = v.get<std::string>();
    }
  }
  return r;
}

bool has_limits(const LinuxResources& r) {
  const bool memory = r.memory && (r.memory->limit || r.memory->reservation || r.memory->swap ||
                                   r.memory->kernel || r.memory->kernelTCP ||
                                   r.memory->swappiness || r.memory->disableOOMKiller);
  const bool cpu = r.cpu && (r.cpu->shares || r.cpu->period || r.cpu->realtimePeriod ||
                             r.cpu->burst || r.cpu->quota || r.cpu->realtimeRuntime ||
                             r.cpu->idle || !r.cpu->cpus.empty() || !r.cpu->mems.empty());
  const bool blkio = r.blockIO && (r.blockIO->weight || r.blockIO->leafWeight ||
                                   !r.blockIO->weightDevice.empty() ||
                                   !r.blockIO->throttleReadBpsDevice.empty() ||
                                   !r.blockIO->throttleWriteBpsDevice.empty() ||
                                   !r.blockIO->throttleReadIOPSDevice.empty() ||
                                   !r.blockIO->throttleWriteIOPSDevice.empty());
  return memory || cpu || blkio || r.pidsLimit || !r.hugepageLimits.empty() || !r.unified.empty();
}

}  // namespace berth::oci
