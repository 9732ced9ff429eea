#include "engine/container_config.hpp"

#include <cmath>
#include <set>

#include "common/error.hpp"

namespace berth::engine {

using json = nlohmann::json;

namespace {

// Docker's ExposedPorts and Volumes: the keys of an object of empty objects.
struct Keys {
  std::vector<std::string>& out;
};
// Cmd and Entrypoint: Docker's strslice takes a list or one string.
struct StrSlice {
  std::vector<std::string>& out;
};

// Reads the fields of one Docker object strictly, naming `what.Key` in errors; what it was
// not asked for is rest().
class Reader {
 public:
  Reader(const json& j, std::string what) : j_(j.is_object() ? j : empty()), what_(std::move(what)) {
    if (!j.is_object() && !j.is_null())
      throw Error(ErrorKind::invalid_argument, what_ + ": want an object");
  }

  template <class T>
  void operator()(const char* key, T&& out) {
    seen_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return;
    read(*it, out, what_ + "." + key);
  }

  json rest() const {
    json r = json::object();
    for (auto& [k, v] : j_.items())
      if (!seen_.count(k)) r[k] = v;
    return r;
  }

 private:
  static const json& empty() {
    static const json e = json::object();
    return e;
  }
  [[noreturn]] static void want(const std::string& field, const char* type) {
    throw Error(ErrorKind::invalid_argument, field + ": want " + type);
  }
  static void read(const json& v, std::string& out, const std::string& f) {
    if (!v.is_string()) want(f, "a string");
    out = v.get<std::string>();
  }
  static void read(const json& v, bool& out, const std::string& f) {
    if (!v.is_boolean()) want(f, "true or false");
    out = v.get<bool>();
  }
  static void read(const json& v, int64_t& out, const std::string& f) {
    if (v.is_number_integer()) {
      out = v.get<int64_t>();
      return;
    }
    // Some clients send 1e9 for NanoCpus: a float with an integral value is an integer.
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18) {
        out = static_cast<int64_t>(d);
        return;
      }
    }
    want(f, "an integer");
  }
  static void read(const json& v, int& out, const std::string& f) {
    int64_t x = 0;
    read(v, x, f);
    if (x < INT32_MIN || x > INT32_MAX) want(f, "a 32-bit integer");
    out = static_cast<int>(x);
  }
  template <class T>
  static void read(const json& v, std::optional<T>& out, const std::string& f) {
    T x{};
    read(v, x, f);
    out = x;
  }
  static void read(const json& v, std::vector<std::string>& out, const std::string& f) {
    if (!v.is_array()) want(f, "a list of strings");
    out.clear();
    for (auto& e : v) {
      if (!e.is_string()) want(f, "a list of strings");
      out.push_back(e.get<std::string>());
    }
  }
  static void read(const json& v, std::map<std::string, std::string>& out, const std::string& f) {
    if (!v.is_object()) want(f, "an object of strings");
    out.clear();
    for (auto& [k, e] : v.items()) {
      if (!e.is_string()) want(f + "." + k, "a string");
      out[k] = e.get<std::string>();
    }
  }
  static void read(const json& v, Keys out, const std::string& f) {
    if (!v.is_object()) want(f, "an object");
    out.out.clear();
    for (auto& [k, e] : v.items()) out.out.push_back(k);
  }
  static void read(const json& v, StrSlice out, const std::string& f) {
    if (v.is_string()) {
      out.out = {v.get<std::string>()};
      return;
    }
    read(v, out.out, f);
  }
  static void read(const json& v, RestartPolicyConfig& out, const std::string& f) {
    Reader r(v, f);
    r("Name", out.name);
    r("MaximumRetryCount", out.maximum_retry_count);
  }
  static void read(const json& v, LogConfig& out, const std::string& f) {
    Reader r(v, f);
    r("Type", out.type);
    r("Config", out.config);
  }
  static void read(const json& v, std::vector<Ulimit>& out, const std::string& f) {
    if (!v.is_array()) want(f, "a list");
    out.clear();
    for (auto& e : v) {
      Ulimit u;
      Reader r(e, f + "[]");
      r("Name", u.name);
      r("Soft", u.soft);
      r("Hard", u.hard);
      out.push_back(u);
    }
  }
  static void read(const json& v, std::vector<WeightDevice>& out, const std::string& f) {
    if (!v.is_array()) want(f, "a list");
    out.clear();
    for (auto& e : v) {
      WeightDevice d;
      Reader r(e, f + "[]");
      r("Path", d.path);
      r("Weight", d.weight);
      out.push_back(d);
    }
  }
  static void read(const json& v, std::vector<ThrottleDevice>& out, const std::string& f) {
    if (!v.is_array()) want(f, "a list");
    out.clear();
    for (auto& e : v) {
      ThrottleDevice d;
      Reader r(e, f + "[]");
      r("Path", d.path);
      r("Rate", d.rate);
      out.push_back(d);
    }
  }
  static void read(const json& v, std::map<std::string, std::vector<PortBinding>>& out, const std::string& f) {
    if (!v.is_object()) want(f, "an object");
    out.clear();
    for (auto& [port, list] : v.items()) {
      auto& bindings = out[port];
      if (list.is_null()) continue;
      if (!list.is_array()) want(f + "." + port, "a list");
      for (auto& e : list) {
        PortBinding b;
        Reader r(e, f + "." + port + "[]");
        r("HostIp", b.host_ip);
        r("HostPort", b.host_port);
        bindings.push_back(b);
      }
    }
  }
  static void read(const json& v, HealthConfig& out, const std::string& f) {
    Reader r(v, f);
    r("Test", out.test);
    r("Interval", out.interval);
    r("Timeout", out.timeout);
    r("StartPeriod", out.start_period);
    r("StartInterval", out.start_interval);
    r("Retries", out.retries);
  }
  // (Mounts.) Go's decoder takes a null for the field's zero value (compose sends
  // `"Source": null` for a tmpfs, `"ReadOnly": null`): null members are dropped, at any depth.
  static void read(const json& v, json& out, const std::string& f) {
    if (!v.is_array()) want(f, "a list");
    out = json::array();
    for (auto& e : v) {
      if (!e.is_object()) want(f, "a list of objects");
      out.push_back(without_nulls(e));
    }
  }
  static json without_nulls(const json& o) {
    json out = json::object();
    for (auto& [k, x] : o.items())
      if (!x.is_null()) out[k] = x.is_object() ? without_nulls(x) : x;
    return out;
  }

  const json& j_;
  std::string what_;
  std::set<std::string> seen_;
};

json keys_object(const std::vector<std::string>& keys) {
  json o = json::object();
  for (auto& k : keys) o[k] = json::object();
  return o;
}

}  // namespace

ContainerConfig parse_container_config(const json& j) {
  ContainerConfig c;
  Reader r(j, "Config");
  r("Hostname", c.hostname);
  r("Domainname", c.domainname);
  r("User", c.user);
  r("WorkingDir", c.working_dir);
  r("StopSignal", c.stop_signal);
  r("Image", c.image);
  r("MacAddress", c.mac_address);
  r("Tty", c.tty);
  r("OpenStdin", c.open_stdin);
  r("StdinOnce", c.stdin_once);
  r("AttachStdin", c.attach_stdin);
  r("AttachStdout", c.attach_stdout);
  r("AttachStderr", c.attach_stderr);
  r("Env", c.env);
  r("Cmd", StrSlice{c.cmd});
  r("Entrypoint", StrSlice{c.entrypoint});
  r("OnBuild", c.on_build);
  r("Labels", c.labels);
  r("ExposedPorts", Keys{c.exposed_ports});
  r("Volumes", Keys{c.volumes});
  r("StopTimeout", c.stop_timeout);
  r("HostnameFromFlag", c.hostname_from_flag);
  r("Healthcheck", c.healthcheck);
  r("Shell", c.shell);
  c.extra = r.rest();
  return c;
}

json to_json(const ContainerConfig& c) {
  json j = c.extra;
  j["Hostname"] = c.hostname;
  j["Domainname"] = c.domainname;
  j["User"] = c.user;
  j["AttachStdin"] = c.attach_stdin;
  j["AttachStdout"] = c.attach_stdout;
  j["AttachStderr"] = c.attach_stderr;
  j["ExposedPorts"] = keys_object(c.exposed_ports);
  j["Tty"] = c.tty;
  j["OpenStdin"] = c.open_stdin;
  j["StdinOnce"] = c.stdin_once;
  j["Env"] = c.env;
  j["Cmd"] = c.cmd;
  j["Image"] = c.image;
  j["Volumes"] = keys_object(c.volumes);
  j["WorkingDir"] = c.working_dir;
  j["Entrypoint"] = c.entrypoint;
  j["OnBuild"] = c.on_build;
  j["Labels"] = c.labels;
  j["StopSignal"] = c.stop_signal;
  if (c.stop_timeout) j["StopTimeout"] = *c.stop_timeout;
  if (!c.mac_address.empty()) j["MacAddress"] = c.mac_address;
  if (c.hostname_from_flag) j["HostnameFromFlag"] = true;
  if (const auto& h = c.healthcheck) {
    // Docker's omitempty: only what was set.
    json hc = json::object();
    if (!h->test.empty()) hc["Test"] = h->test;
    if (h->interval) hc["Interval"] = h->interval;
    if (h->timeout) hc["Timeout"] = h->timeout;
    if (h->start_period) hc["StartPeriod"] = h->start_period;
    if (h->start_interval) hc["StartInterval"] = h->start_interval;
    if (h->retries) hc["Retries"] = h->retries;
    j["Healthcheck"] = hc;
  }
  if (!c.shell.empty()) j["Shell"] = c.shell;
  return j;
}

HostConfig parse_host_config(const json& j) {
  HostConfig h;
  Reader r(j, "HostConfig");
  r("Binds", h.binds);
  r("NetworkMode", h.network_mode);
  r("PidMode", h.pid_mode);
  r("IpcMode", h.ipc_mode);
  r("UTSMode", h.uts_mode);
  r("CgroupParent", h.cgroup_parent);
  r("Runtime", h.runtime);
  r("PortBindings", h.port_bindings);
  r("RestartPolicy", h.restart_policy);
  r("AutoRemove", h.auto_remove);
  r("Privileged", h.privileged);
  r("PublishAllPorts", h.publish_all_ports);
  r("ReadonlyRootfs", h.readonly_rootfs);
  r("Init", h.init);
  r("CapAdd", h.cap_add);
  r("CapDrop", h.cap_drop);
  r("Dns", h.dns);
  r("DnsOptions", h.dns_options);
  r("DnsSearch", h.dns_search);
  r("ExtraHosts", h.extra_hosts);
  r("GroupAdd", h.group_add);
  r("SecurityOpt", h.security_opt);
  r("Devices", h.devices);
  r("VolumesFrom", h.volumes_from);
  r("Links", h.links);
  r("DeviceCgroupRules", h.device_cgroup_rules);
  r("CgroupnsMode", h.cgroupns_mode);
  r("OomScoreAdj", h.oom_score_adj);
  r("Tmpfs", h.tmpfs);
  r("Sysctls", h.sysctls);
  r("ShmSize", h.shm_size);
  r("Memory", h.memory);
  r("MemorySwap", h.memory_swap);
  r("NanoCpus", h.nano_cpus);
  r("CpuShares", h.cpu_shares);
  r("PidsLimit", h.pids_limit);
  r("CpusetCpus", h.cpuset_cpus);
  r("CpusetMems", h.cpuset_mems);
  r("CpuPeriod", h.cpu_period);
  r("CpuQuota", h.cpu_quota);
  r("CpuRealtimePeriod", h.cpu_realtime_period);
  r("CpuRealtimeRuntime", h.cpu_realtime_runtime);
  r("MemoryReservation", h.memory_reservation);
  r("KernelMemory", h.kernel_memory);
  r("MemorySwappiness", h.memory_swappiness);
  r("OomKillDisable", h.oom_kill_disable);
  r("BlkioWeight", h.blkio_weight);
  r("BlkioWeightDevice", h.blkio_weight_device);
  r("BlkioDeviceReadBps", h.blkio_device_read_bps);
  r("BlkioDeviceWriteBps", h.blkio_device_write_bps);
  r("BlkioDeviceReadIOps", h.blkio_device_read_iops);
  r("BlkioDeviceWriteIOps", h.blkio_device_write_iops);
  r("Ulimits", h.ulimits);
  r("LogConfig", h.log_config);
  r("Mounts", h.mounts);
  h.extra = r.rest();
  return h;
}

json to_json(const HostConfig& h) {
  json j = h.extra;
  j["Binds"] = h.binds;
  j["NetworkMode"] = h.network_mode;
  json ports = json::object();
  for (auto& [port, list] : h.port_bindings) {
    json l = json::array();
    for (auto& b : list) l.push_back({{"HostIp", b.host_ip}, {"HostPort", b.host_port}});
    ports[port] = l;
  }
  j["PortBindings"] = ports;
  j["RestartPolicy"] = {{"Name", h.restart_policy.name},
                        {"MaximumRetryCount", h.restart_policy.maximum_retry_count}};
  j["AutoRemove"] = h.auto_remove;
  j["CapAdd"] = h.cap_add;
  j["CapDrop"] = h.cap_drop;
  j["Dns"] = h.dns;
  j["DnsOptions"] = h.dns_options;
  j["DnsSearch"] = h.dns_search;
  j["ExtraHosts"] = h.extra_hosts;
  j["GroupAdd"] = h.group_add;
  j["PidMode"] = h.pid_mode;
  j["IpcMode"] = h.ipc_mode;
  j["UTSMode"] = h.uts_mode;
  j["CgroupParent"] = h.cgroup_parent;
  j["Privileged"] = h.privileged;
  j["PublishAllPorts"] = h.publish_all_ports;
  j["ReadonlyRootfs"] = h.readonly_rootfs;
  j["SecurityOpt"] = h.security_opt;
  j["Tmpfs"] = h.tmpfs;
  j["ShmSize"] = shm_size(h);
  j["Sysctls"] = h.sysctls;
  j["Runtime"] = h.runtime;
  j["Memory"] = h.memory;
  j["MemorySwap"] = h.memory_swap;
  j["NanoCpus"] = h.nano_cpus;
  j["CpuShares"] = h.cpu_shares;
  j["CpusetCpus"] = h.cpuset_cpus;
  j["PidsLimit"] = h.pids_limit ? json(*h.pids_limit) : json();
  j["CpusetMems"] = h.cpuset_mems;
  j["CpuPeriod"] = h.cpu_period;
  j["CpuQuota"] = h.cpu_quota;
  j["CpuRealtimePeriod"] = h.cpu_realtime_period;
  j["CpuRealtimeRuntime"] = h.cpu_realtime_runtime;
  j["MemoryReservation"] = h.memory_reservation;
  j["KernelMemory"] = h.kernel_memory;
  j["MemorySwappiness"] = h.memory_swappiness ? json(*h.memory_swappiness) : json();
  j["OomKillDisable"] = h.oom_kill_disable ? json(*h.oom_kill_disable) : json(false);
  j["BlkioWeight"] = h.blkio_weight;
  json weights = json::array();
  for (auto& d : h.blkio_weight_device) weights.push_back({{"Path", d.path}, {"Weight", d.weight}});
  j["BlkioWeightDevice"] = weights;
  auto rates = [](const std::vector<ThrottleDevice>& list) {
    json a = json::array();
    for (auto& d : list) a.push_back({{"Path", d.path}, {"Rate", d.rate}});
    return a;
  };
  j["BlkioDeviceReadBps"] = rates(h.blkio_device_read_bps);
  j["BlkioDeviceWriteBps"] = rates(h.blkio_device_write_bps);
  j["BlkioDeviceReadIOps"] = rates(h.blkio_device_read_iops);
  j["BlkioDeviceWriteIOps"] = rates(h.blkio_device_write_iops);
  json ulimits = json::array();
  for (auto& u : h.ulimits) ulimits.push_back({{"Name", u.name}, {"Soft", u.soft}, {"Hard", u.hard}});
  j["Ulimits"] = ulimits;
  j["Devices"] = h.devices;
  j["VolumesFrom"] = h.volumes_from;
  j["Links"] = h.links.empty() ? json(nullptr) : json(h.links);
  j["DeviceCgroupRules"] = h.device_cgroup_rules;
  j["CgroupnsMode"] = h.cgroupns_mode;
  j["OomScoreAdj"] = h.oom_score_adj.value_or(0);
  j["LogConfig"] = {{"Type", h.log_config.type}, {"Config", h.log_config.config}};
  j["Init"] = h.init;
  j["Mounts"] = h.mounts;
  return j;
}

int64_t shm_size(const HostConfig& h) { return h.shm_size > 0 ? h.shm_size : int64_t{64} << 20; }

std::optional<std::string> namespace_path(const std::string& mode) {
  if (mode.rfind("ns:", 0) != 0 || mode.size() < 5 || mode[3] != '/') return std::nullopt;
  return mode.substr(3);
}

}  // namespace berth::engine
