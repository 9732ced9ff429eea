// A container's configuration as typed structs: Docker's Config (what the image and the
// command line say the process is) and HostConfig (what the host gives it). The record keeps
// them as Docker's JSON — inspect shows it, the Docker API takes and returns it, older records
// hold it — and each has one parser here: `parse_*` checks every field the engine knows for
// its type (a wrong one is invalid_argument naming the field: "HostConfig.Memory: want an
// integer", the API's 400), reads null as "not set" (Docker's clients send null for empty
// lists), and keeps the fields berth does not interpret (Healthcheck, Shell, …)
// in `extra`, so that `to_json` gives back what came in: labels and unknown fields round-trip.
//
// Room for the CRI's pod sandbox: a sandbox is a container whose namespaces its members
// join — NetworkMode, PidMode and IpcMode "container:ID" (the sandbox made with IpcMode
// shareable), UTSMode host for host-network pods — under one CgroupParent; what it still
// needs of its own (a log directory per pod) comes with the CRI server.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::engine {

// Docker's Config.
// Docker's Config.Healthcheck. Test: [] or absent inherits the image's, ["NONE"] turns it off,
// ["CMD", ARGS…] runs ARGS, ["CMD-SHELL", COMMAND] runs the shell with COMMAND. Times in ns,
// 0 for Docker's default (30s, 30s, 0, 5s; retries 3).
struct HealthConfig {
  std::vector<std::string> test;
  int64_t interval = 0, timeout = 0, start_period = 0, start_interval = 0;
  int retries = 0;
};

struct ContainerConfig {
  std::string hostname, domainname, user, working_dir, stop_signal, image, mac_address;
  bool tty = false, open_stdin = false, stdin_once = false;
  bool attach_stdin = false, attach_stdout = false, attach_stderr = false;
  std::vector<std::string> env, cmd, entrypoint, on_build;
  std::map<std::string, std::string> labels;
  std::vector<std::string> exposed_ports;  // "80/tcp" (Docker: an object of empty objects)
  std::vector<std::string> volumes;        // anonymous volume targets (same shape)
  std::optional<int> stop_timeout;         // seconds; unset: 10
  bool hostname_from_flag = false;         // berth's: --hostname was given (kept with host networking)
  std::optional<HealthConfig> healthcheck;
  std::vector<std::string> shell;  // SHELL: what a shell form runs with (empty: /bin/sh -c)
  nlohmann::json extra = nlohmann::json::object();
};

struct RestartPolicyConfig {
  std::string name;  // "", no, always, on-failure, unless-stopped
  int maximum_retry_count = 0;
};

struct PortBinding {
  std::string host_ip, host_port;  // Docker's strings ("" = any / a free port)
};

struct Ulimit {
  std::string name;
  int64_t soft = 0, hard = 0;
};

// Docker's BlkioWeightDevice entries ({"Path", "Weight"}) and BlkioDevice{Read,Write}{Bps,IOps}
// entries ({"Path", "Rate"}): a block device of the host by its path.
struct WeightDevice {
  std::string path;
  int64_t weight = 0;
};
struct ThrottleDevice {
  std::string path;
  int64_t rate = 0;
};

struct LogConfig {
  std::string type;
  std::map<std::string, std::string> config;
};

// Docker's HostConfig.
struct HostConfig {
  std::vector<std::string> binds;  // -v SRC:DST[:OPTS] (see model.hpp's Bind)
  std::string network_mode, pid_mode, runtime;
  // IPC: private (""), shareable (others may join it), host, none (no /dev/shm), container:ID.
  // UTS: "" (its own) or host. CgroupParent: the cgroup the container's goes under ("/berth").
  std::string ipc_mode, uts_mode, cgroup_parent;
  std::map<std::string, std::vector<PortBinding>> port_bindings;  // "80/tcp" → bindings
  RestartPolicyConfig restart_policy;
  bool auto_remove = false, privileged = false, publish_all_ports = false, readonly_rootfs = false;
  bool init = false;
  std::vector<std::string> cap_add, cap_drop, dns, dns_options, dns_search, extra_hosts,
      group_add, security_opt, devices;
  std::vector<std::string> volumes_from;  // CONTAINER[:ro|:rw], turned into binds at create
  // --link CONTAINER[:ALIAS]: at create, CONTAINER is resolved to its name ("NAME:ALIAS"); the
  // alias names it in this container's /etc/hosts (network/networks.hpp's Member::links).
  std::vector<std::string> links;
  std::vector<std::string> device_cgroup_rules;  // "c 42:* rmw" (Docker's --device-cgroup-rule)
  std::string cgroupns_mode;                      // "", private or host
  std::optional<int64_t> oom_score_adj;           // -1000..1000
  std::map<std::string, std::string> tmpfs, sysctls;
  int64_t shm_size = 0;  // bytes; 0: Docker's 64 MiB
  // Resources (update can change them on a running container, but the device lists).
  int64_t memory = 0, memory_swap = 0, nano_cpus = 0, cpu_shares = 0;
  std::optional<int64_t> pids_limit;  // unset, 0 or -1: no limit
  std::string cpuset_cpus, cpuset_mems;
  int64_t cpu_period = 0, cpu_quota = 0;             // µs (CFS); quota -1: none
  int64_t cpu_realtime_period = 0, cpu_realtime_runtime = 0;  // µs
  int64_t memory_reservation = 0, kernel_memory = 0;  // bytes (kernel memory: refused, as the kernel dropped it)
  std::optional<int64_t> memory_swappiness;          // unset or -1: the host's
  std::optional<bool> oom_kill_disable;
  int64_t blkio_weight = 0;                          // 10..1000; 0: unset
  std::vector<WeightDevice> blkio_weight_device;
  std::vector<ThrottleDevice> blkio_device_read_bps, blkio_device_write_bps, blkio_device_read_iops,
      blkio_device_write_iops;
  std::vector<Ulimit> ulimits;
  LogConfig log_config;
  nlohmann::json mounts = nlohmann::json::array();  // --mount, as Docker's Mounts objects
  nlohmann::json extra = nlohmann::json::object();
};

// Throw invalid_argument naming the field for a value of the wrong type. A non-object is
// an empty config.
ContainerConfig parse_container_config(const nlohmann::json& j);
HostConfig parse_host_config(const nlohmann::json& j);
nlohmann::json to_json(const ContainerConfig& c);
nlohmann::json to_json(const HostConfig& h);

// A namespace mode that joins a namespace by its file ("ns:/run/…/net", Podman's form for
// --network, --ipc and --uts): the path; nullopt for any other mode. The path must be absolute.
std::optional<std::string> namespace_path(const std::string& mode);

// The shm size a container gets (ShmSize, or Docker's default of 64 MiB).
int64_t shm_size(const HostConfig& h);

}  // namespace berth::engine
