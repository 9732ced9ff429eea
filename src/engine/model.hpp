// The engine's typed view of a container. The record stays Docker's JSON — Config, HostConfig,
// NetworkingConfig, State, NetworkSettings: what inspect shows, what the Docker API takes and
// what older records hold — and these are its parsed forms, one parser each, so that no field
// is parsed in two places (Config and HostConfig themselves: container_config.hpp). Docker's
// JSON shapes are rendered from them (inspect, ps).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/container_config.hpp"
#include "network/networks.hpp"
#include "shim/files.hpp"

namespace berth::image {
struct Image;
}

namespace berth::engine {

// Docker's container states.
enum class Status { created, running, paused, restarting, removing, exited, dead };
std::string_view status_name(Status s);
// Docker's name ("running"); an unknown one is `created` (a record from the future).
Status parse_status(std::string_view name);
// A full container id: 64 lowercase hex digits (a directory of the state that is a container's).
bool is_container_id(std::string_view s);

// The container's command line: Config.Entrypoint then Config.Cmd (non-strings skipped).
std::vector<std::string> command_line(const nlohmann::json& config);
std::vector<std::string> command_line(const ContainerConfig& config);
// The COMMAND column of `ps` (and the API's Command) as Docker's daemon writes it: the
// command line joined by spaces, an argument holding a space in single quotes.
std::string command_text(const nlohmann::json& config);

// One HostConfig.Binds entry (-v SRC:DST[:OPTS]): SRC is an absolute host path (a bind
// mount) or a volume name; DST absolute; OPTS comma-separated (ro, rw, z, Z, nocopy, and the
// propagations private, rprivate, shared, rshared, slave, rslave).
struct Bind {
  std::string source;
  std::string destination;           // cleaned
  std::vector<std::string> options;  // as given, in order
  bool host_path() const { return !source.empty() && source[0] == '/'; }
  bool read_only() const;            // the last of ro/readonly/rro/rw wins
  // Whether the bind takes the mounts below its source (`rbind`, the default; `bind`: not).
  bool recursive() const;
  // How a read-only bind treats the mounts below it: read-only too when the kernel and the
  // runtime can (Docker 25's default), always (`rro`: an error where they cannot), or only its
  // top mount (`norro`: Docker's BindOptions.ReadOnlyNonRecursive).
  enum class RecursiveRo { if_possible, required, off };
  RecursiveRo recursive_ro() const;
  std::string propagation() const;   // "rprivate" unless given
  std::string options_text() const;  // "ro,rshared" (as given)
};
// invalid_argument, naming the spec, when it is not SRC:DST[:OPTS] with an absolute DST other
// than "/", or an option is unknown.
Bind parse_bind(const std::string& spec);
// Every HostConfig.Binds entry, parsed.
std::vector<Bind> binds_of(const HostConfig& host);
// A record's Volumes entry ({"Name", "Destination", "Options"}) as a Bind: one reading of its
// options (read-only or not) for the container's mounts, inspect and cp.
Bind volume_bind(const nlohmann::json& entry);
// The same from a record's HostConfig, to show it (inspect, ps): an entry that does not parse
// is left out instead of failing.
std::vector<Bind> shown_binds(const nlohmann::json& host);

// One network attachment as asked for (NetworkingConfig.EndpointsConfig[NET], from --ip,
// --network-alias, --mac-address, or `network connect --ip --alias`).
struct EndpointConfig {
  std::vector<std::string> aliases;
  std::string ipv4;  // "" = from the network's pool
  std::string mac;   // "" = generated
};
// invalid_argument when an alias is not a string, the address not an IPv4 address or the MAC
// not a unicast MAC.
EndpointConfig endpoint_config(const nlohmann::json& endpoint);

// A container's ports as Docker's lists show them (/containers/json's Ports, ps' PORTS and its
// publish/expose filters): one per published binding (NetworkSettings.Ports), then each exposed
// port not published (Config.ExposedPorts; public 0, no IP). None while it does not run.
struct PortSummary {
  std::string ip;
  int private_port = 0, public_port = 0;
  std::string type;  // tcp, udp, sctp
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PortSummary, ip, private_port, public_port, type)
std::vector<PortSummary> port_summary(const nlohmann::json& data, bool running);
// Docker's PORTS text: "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 443/tcp".
std::string ports_text(const std::vector<PortSummary>& ports);
// Docker's ps filters publish=PORT[-PORT][/PROTO] (a public port among `ports`) and
// expose=… (a private one), tcp unless named; invalid_argument for any other value.
bool port_filter_matches(const std::vector<PortSummary>& ports, const std::string& filter, const std::string& value);

// Docker's label filter on a Labels object: "k" (present) or "k=v" (that value).
bool has_label(const nlohmann::json& labels, const std::string& spec);

// What the prune operations keep or take (Docker's --filter of container/volume/network
// prune): made before `until` (unix seconds; 0: any time), with every label of `labels`, none
// of `not_labels` (label!=).
struct PruneFilter {
  std::vector<std::string> labels, not_labels;
  int64_t until = 0;
  bool empty() const { return labels.empty() && not_labels.empty() && !until; }
  bool matches(const nlohmann::json& labels_of, int64_t created) const;
  // For an image: its config's labels, and the time its config says it was made (Docker's
  // rule), else the time it was stored here.
  bool matches(const image::Image& img) const;
  // image::Service::prune's selector: none when the filter is empty (nothing to read).
  std::function<bool(const image::Image&)> image_selector() const;
};
// What a prune removed, and the disk space it gave back (containers: their own layers;
// volumes: their data).
struct PruneResult {
  std::vector<std::string> deleted;
  int64_t reclaimed = 0;
};

// Docker's --detach-keys: "ctrl-p,ctrl-q", ctrl-a … ctrl-z, ctrl-@ [ \\ ] ^ _, or single
// characters, comma-separated; the bytes of the sequence. invalid_argument otherwise.
std::string parse_detach_keys(const std::string& spec);

// Docker's commit merge: `user` (a commit's Config) keeps what it sets; what it leaves
// unset comes from `container` (the container's Config). invalid_argument when `user` is
// not an object (or a field has the wrong type).
nlohmann::json merge_commit_config(nlohmann::json user, const nlohmann::json& container);

// HostConfig.RestartPolicy (no policy: "no").
shim::RestartPolicy restart_policy(const HostConfig& host);

// The container's published ports: HostConfig.PortBindings ({"80/tcp": [{"HostIp",
// "HostPort"}]}), and with PublishAllPorts (-P) every Config.ExposedPorts entry not bound
// otherwise, on a free host port (host_port 0).
std::vector<network::PortMapping> port_mappings(const ContainerConfig& config, const HostConfig& host);

}  // namespace berth::engine
