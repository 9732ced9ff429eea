// berth's networks: CNI configuration lists under --root, containers attached to them through
// the plugins, their /etc/hosts kept in step, and the per-network firewall rules.
//
// On disk:
//   <root>/networks/<name>.conflist     one CNI configuration list per network; berth's own
//                                       fields under "berth" (id, driver, subnet, …). A
//                                       .conflist dropped here by hand is a network too.
//   <state>/networks/ipam/<name>/       host-local's leases (dataDir; host-local adds the
//                                       network's name): gone with a reboot, as are the
//                                       namespaces that held them
//   <state>/networks/members/<name>/<id>.json
//                                       one file per attached container: the CNI result (DEL
//                                       gets it back after any restart), names, ports, paths
//   <state>/networks/lock               flock: membership changes and /etc/hosts rewrites
//   <state>/networks/spares/<name>/     warm spares: <sid>.json (the CNI result of an ADD made
//                                       ahead, CNI_CONTAINERID <sid>) and <sid>.ns (its network
//                                       namespace); <sid>.claimed while a start takes one
//   <state>/networks/spares.lock        flock: held by whoever makes or removes spares
//   <state>/networks/rules/<name>       "BOOT_ID NETWORK_ID": its firewall rules are there this
//                                       boot (made again at an attachment otherwise)
//
// Names resolve through /etc/hosts: every container's hosts file lists itself and every
// container that shares a network with it, rewritten in place (it is bind-mounted) whenever a
// container joins or leaves (docs/network.md says why this and not a DNS server).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fd.hpp"
#include "network/cni.hpp"

namespace berth::network {

// An IPv4 prefix.
struct Subnet {
  uint32_t addr = 0;  // host byte order, host bits zero
  int prefix = 0;
  // Throws "invalid subnet `x`" (`what` names it), or "too small" past max_prefix. Host bits
  // set are an error, or with `host_bits_ok` the prefix they are in (Docker's --subnet).
  static Subnet parse(const std::string& cidr, const char* what = "subnet", int max_prefix = 30, bool host_bits_ok = false);
  std::string str() const;
  bool contains(uint32_t ip) const;
  // In it, and neither its own address nor its broadcast.
  bool has_host(uint32_t ip) const;
  bool overlaps(const Subnet& o) const;
  uint32_t first_host() const { return addr + 1; }
};
uint32_t parse_ipv4(const std::string& s);  // throws "invalid IPv4 address `x`"
bool is_ipv6(const std::string& s);  // an IPv6 address ("::1", "fe80::1"): none that berth publishes on

// Where networks without --subnet get theirs (Docker's default-address-pools): subnets of
// prefix `size` carved from `base`, in order.
struct AddressPool {
  Subnet base;
  int size = 24;
  // {"base": "10.10.0.0/16", "size": 24}; invalid_argument naming what is wrong.
  static AddressPool parse(const nlohmann::json& j);
};
// A unicast Ethernet address "xx:xx:xx:xx:xx:xx"; throws "invalid MAC address `x`…".
void check_mac(const std::string& s);
std::string ipv4_str(uint32_t ip);

// A published port (Docker's -p): CNI's portMappings entry.
struct PortMapping {
  std::string host_ip;  // "" = every address
  int host_port = 0;    // 0 = pick a free one
  int host_port_end = 0;  // above host_port: pick a free one of host_port..host_port_end (Docker's -p 8000-8010:80)
  int container_port = 0;
  std::string protocol = "tcp";
  nlohmann::json to_json() const;
  static PortMapping from_json(const nlohmann::json& j);
};
// "[HOSTIP:][HOSTPORT:]CTRPORT[/PROTO]" (ranges "8000-8001:80-81" too, and a host range for
// one port, "8000-8010:80": one mapping with a host_port_end) → mappings.
std::vector<PortMapping> parse_publish(const std::string& spec);
// berth's own DNAT rules for the published ports of an attachment at `ip` on a network of
// `subnet` (networks.cpp says how they work): those of its chain, and the jumps to that chain
// from BERTH-HOSTPORTS, as iptables arguments after `-A CHAIN`.
struct PortRules {
  std::vector<std::string> chain, jumps;
};
PortRules port_rules(const std::string& chain, const std::string& subnet, const std::string& ip,
                     const std::vector<PortMapping>& ports);

struct Network {
  std::string name, id, driver;  // driver: bridge, macvlan, ipvlan, or the first plugin's type
  std::string subnet, gateway;   // the first IPAM range ("" for a foreign list without one)
  std::string ip_range;          // --ip-range: where addresses are picked from ("" = the subnet)
  nlohmann::json aux_addresses = nlohmann::json::object();  // --aux-address NAME=IP: reserved
  std::string bridge;            // the bridge link (driver bridge)
  bool bridge_given = false;     // a bridge that existed at create (-o …bridge.name): never deleted
  bool internal = false;
  bool attachable = false;       // Docker's --attachable: recorded and shown (every berth network takes containers)
  int64_t created = 0;           // unix ns
  nlohmann::json labels = nlohmann::json::object();
  nlohmann::json options = nlohmann::json::object();
  nlohmann::json conflist;       // what the plugins are given
  bool berth_made = false;       // made by `network create` (firewall rules are berth's)
  // Spares kept ready (-o warm=N): namespaces attached ahead, so that a start takes one
  // instead of waiting for the plugins. 2 for the default network, 0 for others unless set.
  int warm = 0;
};

struct CreateSpec {
  std::string name;
  std::string driver = "bridge";
  std::string subnet, gateway;  // "" = pick
  // Docker's --ip-range: a CIDR inside the subnet that containers' addresses are picked from;
  // an address asked for (--ip) may be anywhere in the subnet. Needs the subnet given.
  std::string ip_range;
  // Docker's --aux-address NAME=IP: addresses of the subnet no container is given (leases of
  // host-local's, written at create).
  std::map<std::string, std::string> aux_addresses;
  bool internal = false;
  bool attachable = false;
  nlohmann::json labels = nlohmann::json::object();
  nlohmann::json options = nlohmann::json::object();  // -o parent=eth0, -o mode=…, -o mtu=…
  std::string bridge;           // "" = br-<id>
};

// One container on one network.
struct Member {
  std::string container_id, container_name, hostname, domainname, ns;
  std::vector<std::string> aliases;
  std::string ifname = "eth0", netns;
  std::string ip;                 // requested (--ip) before attach, assigned after
  std::string cidr, gateway, mac; // assigned
  std::vector<PortMapping> ports;
  nlohmann::json result;          // the CNI result of ADD
  std::string cni_id;             // CNI_CONTAINERID when not the container's (a taken spare's)
  bool ports_pending = false;     // a taken spare: its ports are published by publish()
  // Its ports are berth's own DNAT rules (berth's bridge networks), not the portmap plugin's
  // (other lists, and attachments an older berth made: their DEL still goes to portmap).
  bool native_ports = false;
  // Its container has ended and its release is under way elsewhere (a foreground `run --rm`
  // leaves the plugins' DEL to the container's shim): a start that wants one of its host ports
  // waits for it to go instead of being refused.
  bool releasing = false;
  std::string hosts_file, hosts_base;  // the container's /etc/hosts and its fixed lines
  // Docker's links (--link NAME:ALIAS): ALIAS names container NAME (of the same namespace) in
  // this one's /etc/hosts, on the first network the two share.
  std::vector<std::pair<std::string, std::string>> links;
  nlohmann::json to_json() const;
  static Member from_json(const nlohmann::json& j);
};

class Networks {
 public:
  Networks(std::string root, std::string state, std::vector<std::string> plugin_dirs, int timeout_ms);

  static constexpr const char* kDefault = "berth";
  // Docker's name for its default network: berth's default network by its other name (no
  // network can be made with it). Requests take both; the Docker API shows this one.
  static constexpr const char* kDockerDefault = "bridge";
  // A network reference as berth names it: `bridge` is the default network.
  static std::string canonical(const std::string& ref) { return ref == kDockerDefault ? kDefault : ref; }

  std::vector<Network> list();
  // By name, full id or unique id prefix.
  std::optional<Network> find(const std::string& ref);
  Network get(const std::string& ref);  // throws "network X not found"
  Network create(const CreateSpec& spec);
  // The default bridge network (`berth`, bridge berth0), made on first use.
  Network ensure_default();
  // Refuses while containers are attached (after waiting up to 5 s for attachments being
  // released). Deletes the bridge, the firewall rules, the leases.
  void remove(const Network& net);

  std::vector<Member> members(const std::string& network);
  std::optional<Member> member(const std::string& network, const std::string& container_id);
  // The networks a container is attached to (by its records here).
  std::vector<std::string> networks_of(const std::string& container_id);
  // ADD through the plugins (ports picked and checked first), recorded, hosts files updated.
  // On failure nothing is left (the plugins' DEL ran).
  Member attach(const Network& net, Member m);
  // Refuses (invalid_argument, one line) a static address `ip` (--ip) the network cannot give:
  // it has no subnet, or the address is outside it. Checked before an endpoint is recorded.
  static void check_static_ip(const Network& net, const std::string& ip);
  // DEL with the stored result; the record goes and the other members' hosts files lose the
  // container. Nothing happens if it is not attached. Throws the plugins' failure after the
  // record is gone (a DEL that fails once would fail forever).
  void detach(const std::string& network, const std::string& container_id);
  // Marks the container's attachments as being released (Member::releasing).
  void mark_releasing(const std::string& container_id);
  // What a berth killed while writing the container's attachment records left (their temp
  // files); for the container's release, after detach().
  void forget(const std::string& container_id);
  // A container's new name in its attachments, and in the hosts files of its peers.
  void rename(const std::string& container_id, const std::string& name);

  // Warm spares. take_spare: for a member about to attach as eth0 with no fixed address, a
  // spare made ahead becomes its attachment — the spare's namespace is bind-mounted at
  // m.netns (which must not exist yet), the record written, hosts files updated; nullopt when
  // the network keeps none or none is ready. Ports are picked and recorded, but published by
  // publish() (the portmap plugin, chained on the spare's result), which on failure detaches.
  std::optional<Member> take_spare(const Network& net, Member m);
  Member publish(const Network& net, Member m);
  // CNI CHECK of every attachment to the network, and of its ready spares: one line each,
  // "CONTAINER-NAME ok" / "spare SID ok" or the plugin's error; false if any failed.
  bool check(const Network& net, std::vector<std::string>& report);
  // Ready spares of a network (a directory listing, no lock).
  int spares_ready(const std::string& network);
  // Makes spares until `network` has its warm count, after removing what a killed maker or a
  // reboot left; returns at once if another maker holds the spares lock.
  void fill(const std::string& network);

  // Host ports in use by published ports of attached containers, or by a listener.
  // Throws "Bind for IP:PORT failed: port is already allocated".
  void check_ports(const std::vector<PortMapping>& ports, const std::string& except_container = "");

  nlohmann::json inspect(const Network& net);
  Cni& cni() { return cni_; }
  // Replaces berth's own pools (10.74–10.80.x.x) for networks made from now on.
  void set_address_pools(std::vector<AddressPool> pools) { pools_ = std::move(pools); }
  std::string dir() const { return root_ + "/networks"; }

 private:
  UniqueFd lock();
  Network load(const std::string& path);
  std::string member_path(const std::string& network, const std::string& id) const;
  void save_member_locked(const std::string& network, const Member& m);
  std::vector<Member> all_members();
  // Writes the /etc/hosts of these containers — and, given the member that came or went, of
  // the containers that link to it.
  void rewrite_hosts_locked(std::vector<std::string> container_ids, const Member* changed = nullptr);
  void apply_rules(const Network& net, bool add);
  // A berth bridge network's rules, once per boot (under the lock): a reboot takes them while
  // the network's list (under --root) stays — its containers lost masquerading and, with a
  // FORWARD policy of DROP (Docker's), all forwarding. Checked at each attachment through a
  // mark, <state>/networks/rules/<name>: the boot's id and the network's.
  void ensure_rules_locked(const Network& net);
  std::string rules_mark(const std::string& name) const;
  Subnet pick_subnet(bool is_default, const std::vector<Network>& existing);
  UniqueFd spares_lock(bool wait);  // invalid fd: busy (wait=false) or no state dir
  std::string spares_dir(const std::string& network) const;
  void pick_ports_locked(const Network& net, Member& m);
  // Waits (unlocked, up to 5 s) until no attachment being released holds one of m's host ports.
  void wait_released_ports(const Member& m);
  // berth's own port publishing (see "published ports" in networks.cpp): the shared chains
  // once per boot (under the lock), a member's rules in one iptables-restore, and their removal.
  void ensure_hostports_locked(bool force = false);
  void install_ports(const Network& net, const Member& m);
  static void remove_ports(const std::string& network, const std::string& container_id);
  // With both locks held: removes spares that are no longer usable (all of them with
  // `everything`), running their DEL.
  void reap_spares_locked(const Network& net, bool everything);

  std::vector<AddressPool> pools_;
  std::string root_, state_;
  Cni cni_;
};

// Whether a name is acceptable for a network (Docker's rules).
bool valid_network_name(const std::string& name);

// Docker's built-in pseudo networks `host` and `none` (no CNI list behind them) as Docker's
// network inspect shows them, by name, id or id prefix; nullopt for anything else. (Their ids
// are fixed hex, as random-looking as Docker's per-daemon ones. Callers look for a network of
// the store first: a prefix that names one of those is that one.)
std::optional<nlohmann::json> builtin_network(const std::string& ref);

}  // namespace berth::network
