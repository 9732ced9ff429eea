#include "engine/info.hpp"

#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <set>

#include "common/fs.hpp"
#include "common/strings.hpp"
#include "engine/engine.hpp"
#include "engine/runtimes.hpp"

namespace berth::engine {

using nlohmann::json;

std::string go_arch() {
  utsname u{};
  ::uname(&u);
  const std::string m = u.machine;
  return m == "x86_64" ? "amd64" : m == "aarch64" ? "arm64" : m;
}

std::string kernel_release() {
  utsname u{};
  ::uname(&u);
  return u.release;
}

std::string os_name() {
  std::string text;
  if (fs::read_file_if_exists("/etc/os-release", text))
    for (auto& line : split(text, '\n'))
      if (line.rfind("PRETTY_NAME=", 0) == 0) {
        std::string v = line.substr(12);
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
        return v;
      }
  return "linux";
}

json docker_info(Engine& eng, const InfoExtras& extras) {
  int running = 0, paused = 0, stopped = 0;
  auto list = eng.list();
  for (auto& c : list) {
    auto s = eng.state(c);
    if (s.removed) continue;
    if (s.status == engine::Status::running) ++running;
    else if (s.status == engine::Status::paused) ++paused;
    else ++stopped;
  }
  struct sysinfo si {};
  ::sysinfo(&si);
  char host[256] = "";
  ::gethostname(host, sizeof host - 1);
  const bool v2 = fs::exists("/sys/fs/cgroup/cgroup.controllers");
  const auto& o = eng.options();
  std::set<std::string> ids;
  for (auto& img : eng.images().list()) ids.insert(img.id.str());
  // Docker's shape: {"NAME": {"path", "runtimeArgs"}}; berth's own runs in-process.
  json runtimes = json::object();
  const auto rts = eng.runtimes();
  for (const auto& [name, r] : rts->all()) {
    runtimes[name] = {{"path", r.external() ? r.path : "berth-runtime"}};
    if (!r.args.empty()) runtimes[name]["runtimeArgs"] = r.args;
  }
    return json{
      {"ID", host},
      {"Containers", running + paused + stopped},
      {"ContainersRunning", running},
      {"ContainersPaused", paused},
      {"ContainersStopped", stopped},
      {"Images", ids.size()},
      {"Driver", o.images.driver == snapshot::Driver::native ? "vfs" : "overlay2"},
      {"DriverStatus", json::array({json::array({"Backing Filesystem", "extfs"}), json::array({"Supports d_type", "true"})})},
      {"Plugins", {{"Volume", {"local"}}, {"Network", {"bridge", "host", "macvlan", "ipvlan", "null"}},
                   {"Authorization", nullptr}, {"Log", {"json-file", "local", "k8s-file", "syslog", "none"}}}},
      {"MemoryLimit", true},
      {"SwapLimit", true},
      {"CpuCfsPeriod", true},
      {"CpuCfsQuota", true},
      {"CPUShares", true},
      {"CPUSet", true},
      {"PidsLimit", true},
      {"IPv4Forwarding", fs::exists("/proc/sys/net/ipv4/ip_forward")},
      {"Debug", o.debug},
      {"NFd", 0},
      {"OomKillDisable", false},
      {"NGoroutines", 0},
      {"SystemTime", ""},
      {"LoggingDriver", extras.log_driver},
      {"CgroupDriver", "cgroupfs"},
      {"CgroupVersion", v2 ? "2" : "1"},
      {"NEventsListener", 0},
      {"KernelVersion", kernel_release()},
      {"OperatingSystem", os_name()},
      {"OSVersion", ""},
      {"OSType", "linux"},
      {"Architecture", go_arch() == "amd64" ? "x86_64" : go_arch()},
      {"IndexServerAddress", "https://index.docker.io/v1/"},
      {"RegistryConfig", {{"InsecureRegistryCIDRs", {"127.0.0.0/8"}}, {"IndexConfigs", json::object()}, {"Mirrors", extras.mirrors}}},
      {"NCPU", ::sysconf(_SC_NPROCESSORS_ONLN)},
      {"MemTotal", static_cast<int64_t>(si.totalram) * si.mem_unit},
      {"GenericResources", nullptr},
      {"DockerRootDir", o.images.root},
      {"HttpProxy", ""},
      {"HttpsProxy", ""},
      {"NoProxy", ""},
      {"Name", host},
      {"Labels", json::array()},
      {"ExperimentalBuild", false},
      {"ServerVersion", extras.server_version},
      {"Runtimes", runtimes},
      {"DefaultRuntime", rts->default_name()},
      {"Swarm", {{"NodeID", ""}, {"NodeAddr", ""}, {"LocalNodeState", "inactive"}, {"ControlAvailable", false},
                 {"Error", ""}, {"RemoteManagers", nullptr}}},
      {"LiveRestoreEnabled", true},
      {"Isolation", ""},
      {"InitBinary", "tini"},
      {"ContainerdCommit", {{"ID", ""}, {"Expected", ""}}},
      {"RuncCommit", {{"ID", ""}, {"Expected", ""}}},
      {"InitCommit", {{"ID", ""}, {"Expected", ""}}},
      {"SecurityOptions", [&] {
         json opts = {"name=seccomp,profile=default", "name=cgroupns"};
         if (o.userns_remap.on()) opts.push_back("name=userns");  // Docker's word for userns-remap
         return opts;
       }()},
      {"Warnings", json::array()},
  };
}

std::string info_text(const json& i) {
  std::string out = "Server:\n";
  auto line = [&](const std::string& indent, const std::string& k, const json& v) {
    out += indent + k + ": " + (v.is_string() ? v.get<std::string>() : v.dump()) + "\n";
  };
  line(" ", "Containers", i["Containers"]);
  line("  ", "Running", i["ContainersRunning"]);
  line("  ", "Paused", i["ContainersPaused"]);
  line("  ", "Stopped", i["ContainersStopped"]);
  line(" ", "Images", i["Images"]);
  line(" ", "Server Version", i["ServerVersion"]);
  line(" ", "Storage Driver", i["Driver"]);
  for (const auto& kv : i["DriverStatus"])
    if (kv.is_array() && kv.size() == 2) line("  ", kv[0].get<std::string>(), kv[1]);
  line(" ", "Logging Driver", i["LoggingDriver"]);
  line(" ", "Cgroup Driver", i["CgroupDriver"]);
  line(" ", "Cgroup Version", i["CgroupVersion"]);
  out += " Plugins:\n";
  for (const char* kind : {"Volume", "Network", "Log"}) {
    std::string names;
    for (const auto& n : i["Plugins"].value(kind, json::array())) names += (names.empty() ? "" : " ") + n.get<std::string>();
    line("  ", kind, names);
  }
  line(" ", "Swarm", i["Swarm"].value("LocalNodeState", "inactive"));
  std::string rts;
  for (const auto& [name, r] : i["Runtimes"].items()) rts += (rts.empty() ? "" : " ") + name;
  line(" ", "Runtimes", rts);
  line(" ", "Default Runtime", i["DefaultRuntime"]);
  line(" ", "Init Binary", i["InitBinary"]);
  out += " Security Options:\n";
  for (const auto& o : i["SecurityOptions"]) {
    const std::string s = o.get<std::string>();  // name=seccomp,profile=default
    std::string name = s, rest;
    if (s.rfind("name=", 0) == 0) {
      const size_t comma = s.find(',');
      name = s.substr(5, comma == std::string::npos ? std::string::npos : comma - 5);
      rest = comma == std::string::npos ? "" : s.substr(comma + 1);
    }
    out += "  " + name + "\n";
    for (const auto& kv : split(rest, ','))
      if (const size_t eq = kv.find('='); eq != std::string::npos && !kv.empty()) {
        std::string k = kv.substr(0, eq);
        if (!k.empty()) k[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(k[0])));
        out += "   " + k + ": " + kv.substr(eq + 1) + "\n";
      }
  }
  line(" ", "Kernel Version", i["KernelVersion"]);
  line(" ", "Operating System", i["OperatingSystem"]);
  line(" ", "OSType", i["OSType"]);
  line(" ", "Architecture", i["Architecture"]);
  line(" ", "CPUs", i["NCPU"]);
  char mem[32];
  std::snprintf(mem, sizeof mem, "%.4gGiB", static_cast<double>(i.value("MemTotal", int64_t{0})) / (1024.0 * 1024 * 1024));
  line(" ", "Total Memory", std::string(mem));
  line(" ", "Name", i["Name"]);
  line(" ", "ID", i["ID"]);
  line(" ", "Docker Root Dir", i["DockerRootDir"]);
  line(" ", "Debug Mode", i["Debug"]);
  line(" ", "Registry", i["IndexServerAddress"]);
  out += " Labels:\n";
  line(" ", "Experimental", i["ExperimentalBuild"]);
  out += " Insecure Registries:\n";
  for (const auto& r : i["RegistryConfig"].value("InsecureRegistryCIDRs", json::array())) out += "  " + r.get<std::string>() + "\n";
  if (const json m = i["RegistryConfig"].value("Mirrors", json::array()); m.is_array() && !m.empty()) {
    out += " Registry Mirrors:\n";
    for (const auto& r : m) out += "  " + r.get<std::string>() + "\n";
  }
  line(" ", "Live Restore Enabled", i["LiveRestoreEnabled"]);
  return out;
}

}  // namespace berth::engine
