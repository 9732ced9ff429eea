// Operations on a container's cgroup that read or flip kernel state without creating
// anything: freeze/thaw and statistics. They go through Cgroup::host_dir, so one
// implementation serves v1, hybrid (v1 controllers) and v2.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "runtime/cgroup.hpp"
#include "runtime/cgroup_impl.hpp"

namespace berth::runtime {
namespace {

bool v2() { return host_cgroup_mode() == CgroupMode::v2; }

std::string read_trim(const std::string& path) {
  std::string s;
  if (!fs::read_file_if_exists(path, s)) return {};
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A number, "max" as the given default, "" as 0.
uint64_t num(const std::string& s, uint64_t max_value = 0) {
  if (s.empty()) return 0;
  if (s == "max") return max_value;
  return std::strtoull(s.c_str(), nullptr, 10);
}

// "key value" lines (memory.stat, cpu.stat) into an object.
nlohmann::json flat_keyed(const std::string& path) {
  nlohmann::json j = nlohmann::json::object();
  std::istringstream is(read_trim(path));
  std::string k;
  uint64_t v;
  while (is >> k >> v) j[k] = v;
  return j;
}

std::string dir_for(const Cgroup& cg, const char* v1_controller) {
  std::string d = cg.host_dir(v2() ? "" : v1_controller);
  if (d.empty()) throw Error(std::string("cgroup controller `") + v1_controller + "` is not available");
  return d;
}

// runc's blkio.ioServiceBytesRecursive entries: {major, minor, op: Read|Write, value}.
nlohmann::json io_entry(const std::string& dev, const char* op, uint64_t value) {
  unsigned major = 0, minor = 0;
  if (std::sscanf(dev.c_str(), "%u:%u", &major, &minor) != 2) return nullptr;
  return {{"major", major}, {"minor", minor}, {"op", op}, {"value", value}};
}

// v2 io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" per device.
nlohmann::json io_stat_v2(const std::string& path) {
  nlohmann::json out = nlohmann::json::array();
  std::istringstream lines(read_trim(path));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream is(line);
    std::string dev, kv;
    is >> dev;
    while (is >> kv) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos) continue;
      const std::string k = kv.substr(0, eq);
      const char* op = k == "rbytes" ? "Read" : k == "wbytes" ? "Write" : nullptr;
      if (!op) continue;
      if (auto e = io_entry(dev, op, num(kv.substr(eq + 1))); !e.is_null()) out.push_back(e);
    }
  }
  return out;
}

// v1 blkio.throttle.io_service_bytes: "MAJ:MIN Read N" lines (and Sync, Async, Total).
nlohmann::json io_service_bytes_v1(const std::string& path) {
  nlohmann::json out = nlohmann::json::array();
  std::istringstream lines(read_trim(path));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream is(line);
    std::string dev, op;
    uint64_t v = 0;
    if (!(is >> dev >> op >> v) || (op != "Read" && op != "Write")) continue;
    if (auto e = io_entry(dev, op == "Read" ? "Read" : "Write", v); !e.is_null()) out.push_back(e);
  }
  return out;
}

}  // namespace

void freeze_cgroup(const Cgroup& cg, bool frozen) {
  const std::string d = dir_for(cg, "freezer");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  if (v2()) {
    cgroup_detail::write_knob(d, "cgroup.freeze", frozen ? "1" : "0");
    while (cgroup_frozen(cg) != frozen) {
      if (std::chrono::steady_clock::now() > deadline)
        throw Error("cgroup " + d + " did not " + (frozen ? "freeze" : "thaw") + " within 5 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return;
  }
  // v1: FREEZING may take a few rounds while tasks reach the refrigerator.
  const std::string want = frozen ? "FROZEN" : "THAWED";
  for (;;) {
    cgroup_detail::write_knob(d, "freezer.state", want);
    if (read_trim(d + "/freezer.state") == want) return;
    if (std::chrono::steady_clock::now() > deadline)
      throw Error("cgroup " + d + " did not reach " + want + " within 5 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

bool cgroup_frozen(const Cgroup& cg) {
  std::string d = cg.host_dir(v2() ? "" : "freezer");
  if (d.empty()) return false;
  if (v2()) {
    std::istringstream is(read_trim(d + "/cgroup.events"));
    std::string k, v;
    while (is >> k >> v)
      if (k == "frozen") return v == "1";
    return false;
  }
  return read_trim(d + "/freezer.state") == "FROZEN";
}

nlohmann::json cgroup_stats(const Cgroup& cg) {
  nlohmann::json cpu, memory, pids, io;
  if (v2()) {
    const std::string d = cg.host_dir("");
    auto st = flat_keyed(d + "/cpu.stat");
    cpu = {{"usage",
            {{"total", st.value("usage_usec", 0ull) * 1000},
             {"kernel", st.value("system_usec", 0ull) * 1000},
             {"user", st.value("user_usec", 0ull) * 1000}}},
           {"throttling",
            {{"periods", st.value("nr_periods", 0ull)},
             {"throttled_periods", st.value("nr_throttled", 0ull)},
             {"throttled_time", st.value("throttled_usec", 0ull) * 1000}}}};
    memory = {{"usage",
               {{"usage", num(read_trim(d + "/memory.current"))},
                {"max", num(read_trim(d + "/memory.peak"))},
                {"limit", num(read_trim(d + "/memory.max"), UINT64_MAX)}}},
              {"swap", {{"usage", num(read_trim(d + "/memory.swap.current"))}}},
              {"raw", flat_keyed(d + "/memory.stat")},
              {"oom_kill", flat_keyed(d + "/memory.events").value("oom_kill", 0ull)}};
    pids = {{"current", num(read_trim(d + "/pids.current"))},
            {"limit", num(read_trim(d + "/pids.max"))}};
    io = io_stat_v2(d + "/io.stat");
  } else {
    const std::string ca = cg.host_dir("cpuacct");
    std::vector<uint64_t> percpu;
    {
      std::istringstream is(read_trim(ca + "/cpuacct.usage_percpu"));
      uint64_t v;
      while (is >> v) percpu.push_back(v);
    }
    auto st = flat_keyed(ca + "/cpuacct.stat");  // USER_HZ ticks
    const uint64_t ns_per_tick = 1000000000ull / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
    auto thr = flat_keyed(cg.host_dir("cpu") + "/cpu.stat");
    cpu = {{"usage",
            {{"total", num(read_trim(ca + "/cpuacct.usage"))},
             {"percpu", percpu},
             {"kernel", st.value("system", 0ull) * ns_per_tick},
             {"user", st.value("user", 0ull) * ns_per_tick}}},
           {"throttling",
            {{"periods", thr.value("nr_periods", 0ull)},
             {"throttled_periods", thr.value("nr_throttled", 0ull)},
             {"throttled_time", thr.value("throttled_time", 0ull)}}}};
    const std::string m = cg.host_dir("memory");
    memory = {{"usage",
               {{"usage", num(read_trim(m + "/memory.usage_in_bytes"))},
                {"max", num(read_trim(m + "/memory.max_usage_in_bytes"))},
                {"failcnt", num(read_trim(m + "/memory.failcnt"))},
                {"limit", num(read_trim(m + "/memory.limit_in_bytes"))}}},
              {"raw", flat_keyed(m + "/memory.stat")},
              {"oom_kill", flat_keyed(m + "/memory.oom_control").value("oom_kill", 0ull)}};
    const std::string p = cg.host_dir("pids");
    pids = {{"current", num(read_trim(p + "/pids.current"))},
            {"limit", num(read_trim(p + "/pids.max"))}};
    const std::string b = cg.host_dir("blkio");
    io = b.empty() ? nlohmann::json::array() : io_service_bytes_v1(b + "/blkio.throttle.io_service_bytes");
  }
  return {{"cpu", cpu}, {"memory", memory}, {"pids", pids}, {"blkio", {{"ioServiceBytesRecursive", io}}}};
}

}  // namespace berth::runtime
