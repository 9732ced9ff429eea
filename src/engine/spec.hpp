// Image config + `berth run` flags → an OCI runtime spec (config.json), the way Docker builds
// one: the image's Entrypoint/Cmd/Env/WorkingDir/User/StopSignal with the flags on top,
// Docker's default security profile (capabilities, seccomp, masked and read-only paths,
// device rules) unless --privileged or --security-opt say otherwise.
//
// `config` and `host` are the Docker-shaped Config and HostConfig objects the engine keeps for
// every container (what `inspect` shows); see engine.hpp for the fields used.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/container_config.hpp"
#include "oci/image.hpp"

namespace berth::engine {

struct SpecInputs {
  const ContainerConfig* config = nullptr;  // merged with the image's
  const HostConfig* host = nullptr;
  std::string rootfs;                      // the container's mounted root filesystem
  std::string id;
  std::string hostname_file, hosts_file, resolv_file;  // bind-mounted into /etc
  std::vector<nlohmann::json> volume_mounts;  // extra OCI mounts (named and anonymous volumes)
  std::string netns;  // the network namespace to join (a path); "" = a new one (or the host's)
  std::string pidns;  // the PID namespace to join (a path); "" = per HostConfig.PidMode
  std::string ipcns;  // the IPC namespace to join (a path); "" = per HostConfig.IpcMode
  std::string utsns;  // the UTS namespace to join (a path); "" = per HostConfig.UTSMode
  std::string shm_dir;  // a host directory bound as /dev/shm (shareable IPC, or the one joined)
  // Read-only binds of host paths can be recursively read-only (`rro`: the kernel has
  // mount_setattr and the runtime knows the option) — Docker 25's default, binds' `norro` aside.
  bool recursive_ro = false;
  // A network namespace of its own (not the host's, not another container's or a pod's): Docker's
  // default network sysctls go in the spec (the user's own values win) — every port may be bound
  // without CAP_NET_BIND_SERVICE, ICMP echo sockets open to every group (ping without NET_RAW).
  bool default_net_sysctls = false;
  // Docker's legacy links on the default network: the linked containers' variables
  // (ALIAS_PORT_80_TCP_ADDR, ALIAS_ENV_X, …); the container's own variables win.
  std::vector<std::string> link_env;
};

// Docker's default sysctls for a container's own network namespace (moby's WithCommonOptions).
extern const std::vector<std::pair<std::string, std::string>> kDefaultNetSysctls;
// Docker's default masked and read-only paths of a container that is not privileged (its
// HostConfig.MaskedPaths and ReadonlyPaths, given, replace them).
extern const std::vector<std::string> kDefaultMaskedPaths;
extern const std::vector<std::string> kDefaultReadonlyPaths;

// The spec. Throws berth::Error with one line for bad flag values (an unknown user, a bind
// source that does not exist, an unknown capability, …).
nlohmann::json make_spec(const SpecInputs& in);
// linux.resources for HostConfig's Memory, MemorySwap, NanoCpus, CpuShares, CpusetCpus and
// PidsLimit (devices aside); throws berth::Error for values the kernel would refuse.
nlohmann::json resources_of(const HostConfig& host);

// Docker's Config for a new container: the request's Config (the API's body, or what the CLI's
// flags set) over the image's, merged as Docker's daemon does: empty WorkingDir, User and
// StopSignal take the image's; an Entrypoint given (even []) replaces the image's and its Cmd,
// otherwise an empty Cmd takes the image's; Env by variable name, Labels by key, Volumes and
// ExposedPorts united. invalid_argument for a field of the wrong type.
ContainerConfig merge_config(const oci::ImageConfig& image, const nlohmann::json& given);

// Docker's default seccomp profile for a container with capabilities `caps` (see
// docs/engine.md for how it is expressed).
nlohmann::json default_seccomp(const std::vector<std::string>& caps);
// The profile `--security-opt seccomp=V` names: V is its JSON (what create keeps, and what the
// docker CLI sends) or a file holding it (at most 4 MiB). berth::Error (invalid_argument) for
// one that cannot be read or is no JSON object.
nlohmann::json seccomp_profile(const std::string& v);

// Refuses host-config values that would reach the container's files or the runtime wrongly:
// a non-procfs mount on /proc or below (it would hide or fake the kernel's view the runtime
// relies on), NanoCpus below 0.01 CPU, and --add-host/--dns/--dns-search/--dns-option values
// with spaces or line breaks (a newline would inject a line into /etc/hosts or resolv.conf).
// Throws berth::Error with one line. Called at create, before anything is made.
void check_host_config(const HostConfig& host);
// What --privileged hands out (run, and exec --privileged): every capability in this process's
// bounding set (a host may lack some: CAP_SYS_RESOURCE here, which capset would refuse).
std::vector<std::string> privileged_capabilities();
// ExposedPorts keys: "PORT[/tcp|udp|sctp]", PORT 1-65535 (Docker's "invalid port specification").
void check_exposed_ports(const std::vector<std::string>& keys);
// A mount's destination in the container: refused (one line) on /proc or below for anything
// but procfs — a fake /proc/self/… would be read by the runtime and the container's programs —
// and on / (Docker's rule). Image VOLUMEs go through it too.
void check_mount_target(const std::string& dst, const std::string& type);

// HostConfig.Mounts (docker's --mount, compose's long volume syntax) into what the engine
// applies: a bind into Binds (its source must exist, as Docker's --mount requires; ReadOnly
// and BindOptions.Propagation as options), a named volume into Binds (VolumeOptions.NoCopy
// as nocopy), an unnamed one into the anonymous volumes of `config`, a tmpfs into Tmpfs
// (TmpfsOptions.SizeBytes and Mode). Mounts stays as given (inspect shows it). Other types,
// a missing Target or a bind without Source: invalid_argument naming the mount.
void apply_mounts(HostConfig& host, ContainerConfig& config);

// "1g", "512m", "100k", "42" → bytes; throws on nonsense.
int64_t parse_bytes(const std::string& s, const std::string& flag);

// The uid, gid and supplementary groups for Docker's User field ("", "name", "uid",
// "name:group", "uid:gid"), resolved against the rootfs's /etc/passwd and /etc/group.
struct UserIds {
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;
  std::string home = "/";
};
UserIds resolve_user(const std::string& rootfs, const std::string& user,
                     const std::vector<std::string>& group_add = {});

}  // namespace berth::engine
