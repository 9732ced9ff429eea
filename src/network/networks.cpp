#include "network/networks.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <set>
#include <string_view>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/process.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "network/conntrack.hpp"
#include "network/netns.hpp"

extern char** environ;

namespace berth::network {

using nlohmann::json;

// ---- addresses ---------------------------------------------------------------------------

uint32_t parse_ipv4(const std::string& s) {
  in_addr a{};
  if (::inet_pton(AF_INET, s.c_str(), &a) != 1) throw Error(ErrorKind::invalid_argument, "invalid IPv4 address `" + s + "`");
  return ntohl(a.s_addr);
}

bool is_ipv6(const std::string& s) {
  in6_addr a{};
  return ::inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

void check_mac(const std::string& s) {
  bool ok = s.size() == 17;
  for (size_t i = 0; ok && i < s.size(); ++i)
    ok = i % 3 == 2 ? s[i] == ':' : std::isxdigit(static_cast<unsigned char>(s[i])) != 0;
  if (!ok) throw Error(ErrorKind::invalid_argument, "invalid MAC address `" + s + "` (xx:xx:xx:xx:xx:xx)");
  if (std::stoi(s.substr(0, 2), nullptr, 16) & 1)
    throw Error(ErrorKind::invalid_argument, "invalid MAC address `" + s + "`: a multicast address cannot be an interface's");
}

std::string ipv4_str(uint32_t ip) {
  in_addr a{htonl(ip)};
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

namespace {
uint32_t mask_of(int prefix) { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
}  // namespace

Subnet Subnet::parse(const std::string& cidr, const char* what, int max_prefix, bool host_bits_ok) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos || cidr.find(':') != std::string::npos)
    throw Error(ErrorKind::invalid_argument, std::string("invalid ") + what + " `" + cidr + "`: want an IPv4 prefix such as 10.1.0.0/24");
  Subnet s;
  try {
    s.addr = parse_ipv4(cidr.substr(0, slash));
  } catch (const Error&) {
    throw Error(ErrorKind::invalid_argument, std::string("invalid ") + what + " `" + cidr + "`");
  }
  const std::string p = cidr.substr(slash + 1);
  if (p.empty() || p.size() > 2 || p.find_first_not_of("0123456789") != std::string::npos || std::stoi(p) > 32)
    throw Error(ErrorKind::invalid_argument, std::string("invalid ") + what + " `" + cidr + "`");
  s.prefix = std::stoi(p);
  if (s.prefix > max_prefix)
    throw Error(ErrorKind::invalid_argument, std::string(what) + " `" + cidr + "` is too small (at most /" + std::to_string(max_prefix) + ")");
  if (host_bits_ok) s.addr &= mask_of(s.prefix);
  if ((s.addr & ~mask_of(s.prefix)) != 0)
    throw Error(ErrorKind::invalid_argument, std::string("invalid ") + what + " `" + cidr + "`: host bits set (did you mean " +
                ipv4_str(s.addr & mask_of(s.prefix)) + "/" + p + "?)");
  return s;
}

std::string Subnet::str() const { return ipv4_str(addr) + "/" + std::to_string(prefix); }

namespace {

// Addresses a bridge cannot route: a subnet over them would give the host's bridge a loopback
// or multicast address (127.0.0.1 on a bridge: host routes at the mercy of a network's rm).
void refuse_unroutable(const Subnet& s, const std::string& what) {
  static const struct {
    Subnet block;
    const char* name;
  } special[] = {{{0x00000000, 8}, "\"this network\" block 0.0.0.0/8"},
                 {{0x7f000000, 8}, "loopback block 127.0.0.0/8"},
                 {{0xe0000000, 4}, "multicast block 224.0.0.0/4"},
                 {{0xf0000000, 4}, "reserved block 240.0.0.0/4"}};
  for (auto& r : special)
    if (s.overlaps(r.block))
      throw Error(ErrorKind::invalid_argument, what + " " + s.str() + " overlaps the " + r.name + ": no bridge can route it");
}

// -o mtu=N / com.docker.network.driver.mtu=N: a number an interface takes (IPv4's minimum).
int parse_mtu(const json& v) {
  const std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos || std::stoi(s) < 68 ||
      std::stoi(s) > 65535)
    throw Error(ErrorKind::invalid_argument, "invalid MTU `" + s + "`: a number from 68 to 65535");
  return std::stoi(s);
}

}  // namespace
bool Subnet::contains(uint32_t ip) const { return (ip & mask_of(prefix)) == addr; }
bool Subnet::has_host(uint32_t ip) const { return contains(ip) && ip != addr && ip != (addr | ~mask_of(prefix)); }
bool Subnet::overlaps(const Subnet& o) const {
  int p = std::min(prefix, o.prefix);
  return (addr & mask_of(p)) == (o.addr & mask_of(p));
}

// ---- ports ---------------------------------------------------------------------------------

json PortMapping::to_json() const {
  json j = {{"hostPort", host_port}, {"containerPort", container_port}, {"protocol", protocol}};
  if (!host_ip.empty()) j["hostIP"] = host_ip;
  return j;
}

PortMapping PortMapping::from_json(const json& j) {
  PortMapping p;
  p.host_ip = j.value("hostIP", "");
  p.host_port = j.value("hostPort", 0);
  p.container_port = j.value("containerPort", 0);
  p.protocol = j.value("protocol", "tcp");
  return p;
}

namespace {

std::pair<int, int> port_range(const std::string& s, const std::string& spec) {
  auto bad = [&] { return Error("invalid port specification `" + spec + "`"); };
  auto num = [&](const std::string& t) {
    if (t.empty() || t.size() > 5 || t.find_first_not_of("0123456789") != std::string::npos) throw bad();
    int v = std::stoi(t);
    if (v < 1 || v > 65535) throw Error(ErrorKind::invalid_argument, "invalid port `" + t + "` in `" + spec + "`: must be 1-65535");
    return v;
  };
  auto dash = s.find('-');
  if (dash == std::string::npos) {
    int v = num(s);
    return {v, v};
  }
  int a = num(s.substr(0, dash)), b = num(s.substr(dash + 1));
  if (b < a) throw bad();
  return {a, b};
}

}  // namespace

std::vector<PortMapping> parse_publish(const std::string& spec) {
  std::string s = spec, proto = "tcp";
  if (auto slash = s.rfind('/'); slash != std::string::npos) {
    proto = s.substr(slash + 1);
    s = s.substr(0, slash);
    if (proto != "tcp" && proto != "udp" && proto != "sctp")
      throw Error(ErrorKind::invalid_argument, "invalid protocol `" + proto + "` in `" + spec + "` (tcp, udp, sctp)");
  }
  std::string ip, host, ctr;
  auto parts = split(s, ':');
  if (parts.size() == 1) {
    ctr = parts[0];
  } else if (parts.size() == 2) {
    host = parts[0], ctr = parts[1];
  } else {
    // Docker's split: the last two parts are the ports, everything before them the address
    // ("[::1]" or "::1" for IPv6, which berth does not publish on: said so, not "invalid").
    host = parts[parts.size() - 2], ctr = parts.back();
    for (size_t i = 0; i + 2 < parts.size(); ++i) ip += (i ? ":" : "") + parts[i];
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    if (is_ipv6(ip))
      throw Error(ErrorKind::invalid_argument, "`" + spec + "`: berth publishes ports on IPv4 addresses only, not on " + ip);
    if (parts.size() > 3) throw Error(ErrorKind::invalid_argument, "invalid port specification `" + spec + "`");
    if (!ip.empty()) parse_ipv4(ip);
  }
  auto [c0, c1] = port_range(ctr, spec);
  int h0 = 0, h1 = 0;
  if (!host.empty()) std::tie(h0, h1) = port_range(host, spec);
  const bool pick = c0 == c1 && h1 > h0;  // one container port, a host range: one free port of it
  if (!host.empty() && !pick && h1 - h0 != c1 - c0)
    throw Error(ErrorKind::invalid_argument, "invalid port specification `" + spec + "`: the ranges differ in size");
  std::vector<PortMapping> out;
  for (int i = 0; i <= c1 - c0; ++i) {
    PortMapping m;
    m.host_ip = ip == "0.0.0.0" ? "" : ip;
    m.host_port = h0 ? h0 + i : 0;
    m.host_port_end = pick ? h1 : 0;
    m.container_port = c0 + i;
    m.protocol = proto;
    out.push_back(m);
  }
  return out;
}

// ---- members -------------------------------------------------------------------------------

json Member::to_json() const {
  json ports_j = json::array();
  for (auto& p : ports) ports_j.push_back(p.to_json());
  return {{"container_id", container_id}, {"container_name", container_name}, {"hostname", hostname},
          {"domainname", domainname}, {"namespace", ns}, {"aliases", aliases}, {"ifname", ifname}, {"netns", netns}, {"ip", ip},
          {"cidr", cidr}, {"gateway", gateway}, {"mac", mac}, {"ports", ports_j}, {"result", result},
          {"hosts_file", hosts_file}, {"hosts_base", hosts_base}, {"cni_id", cni_id},
          {"ports_pending", ports_pending}, {"native_ports", native_ports}, {"releasing", releasing}, {"links", links}};
}

Member Member::from_json(const json& j) {
  Member m;
  m.container_id = j.value("container_id", "");
  m.container_name = j.value("container_name", "");
  m.hostname = j.value("hostname", "");
  m.domainname = j.value("domainname", "");
  m.ns = j.value("namespace", "");
  if (j.contains("aliases") && j["aliases"].is_array()) m.aliases = j["aliases"].get<std::vector<std::string>>();
  m.ifname = j.value("ifname", "eth0");
  m.netns = j.value("netns", "");
  m.ip = j.value("ip", "");
  m.cidr = j.value("cidr", "");
  m.gateway = j.value("gateway", "");
  m.mac = j.value("mac", "");
  for (auto& p : j.value("ports", json::array())) m.ports.push_back(PortMapping::from_json(p));
  m.result = j.value("result", json());
  m.hosts_file = j.value("hosts_file", "");
  m.hosts_base = j.value("hosts_base", "");
  m.cni_id = j.value("cni_id", "");
  m.ports_pending = j.value("ports_pending", false);
  m.native_ports = j.value("native_ports", false);
  m.releasing = j.value("releasing", false);
  if (auto it = j.find("links"); it != j.end() && it->is_array())
    for (auto& l : *it)
      if (l.is_array() && l.size() == 2 && l[0].is_string() && l[1].is_string())
        m.links.emplace_back(l[0].get<std::string>(), l[1].get<std::string>());
  return m;
}

std::optional<nlohmann::json> builtin_network(const std::string& ref) {
  static const std::pair<const char*, const char*> kBuiltins[] = {
      {"host", "c5846eaaa23c10ab57a097cdb96786844a6c1e9f6c369f6225c99435f95e6a63"},
      {"none", "38561348ceb3063fd9f5b493b7b977c1b7a9053d3b247603c466229b6815ed46"}};
  if (ref.empty()) return std::nullopt;
  std::string name, id;
  for (const auto& [n, i] : kBuiltins)
    if (ref == n || std::string_view(i).substr(0, ref.size()) == ref) name = n, id = i;
  if (name.empty()) return std::nullopt;
  return nlohmann::json{{"Name", name}, {"Id", id},
                        {"Created", "0001-01-01T00:00:00Z"}, {"Scope", "local"}, {"Driver", name == "host" ? "host" : "null"},
                        {"EnableIPv6", false}, {"IPAM", {{"Driver", "default"}, {"Options", nullptr}, {"Config", nlohmann::json::array()}}},
                        {"Internal", false}, {"Attachable", false}, {"Ingress", false}, {"ConfigFrom", {{"Network", ""}}},
                        {"ConfigOnly", false}, {"Containers", nlohmann::json::object()}, {"Options", nlohmann::json::object()},
                        {"Labels", nlohmann::json::object()}};
}

bool valid_network_name(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  if (!std::isalnum(static_cast<unsigned char>(n[0]))) return false;
  for (char c : n)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  return n != "none" && n != "host" && n != "default" && n != Networks::kDockerDefault;
}

// ---- the store -----------------------------------------------------------------------------

namespace {

std::string random_hex64() {
  unsigned char b[32];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = ::getrandom(b + got, sizeof b - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("getrandom");
    got += static_cast<size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) out += hex[c >> 4], out += hex[c & 15];
  return out;
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The host's IPv4 routes (but the default route) as prefixes, with their device.
std::vector<std::pair<Subnet, std::string>> host_routes() {
  std::vector<std::pair<Subnet, std::string>> out;
  std::string text;
  if (!fs::read_file_if_exists("/proc/net/route", text)) return out;
  for (auto& line : split(text, '\n')) {
    char dev[64];
    unsigned dst = 0, gw = 0, flags = 0, refcnt = 0, use = 0, metric = 0, mask = 0;
    if (std::sscanf(line.c_str(), "%63s %x %x %x %u %u %u %x", dev, &dst, &gw, &flags, &refcnt, &use, &metric,
                    &mask) != 8)
      continue;
    if (mask == 0) continue;
    Subnet s;
    s.addr = ntohl(dst) & ntohl(mask);
    s.prefix = __builtin_popcount(mask);
    out.push_back({s, dev});
  }
  return out;
}

int run(const std::vector<std::string>& argv, const std::string& input, std::string& err) {
  return run_command(argv, input, err, "is iptables installed?");
}

constexpr const char* kNatChain = "BERTH-POSTROUTING";
constexpr const char* kFilterChain = "BERTH-FORWARD";
// Docker's isolation of bridge networks from each other (its DOCKER-ISOLATION-STAGE-1/2):
// what enters from one bridge and leaves by another is dropped. Stage 1, ahead of every
// other rule of FORWARD: a packet from a berth bridge to elsewhere goes to stage 2, which
// drops it when elsewhere is another berth bridge (the host's own links pass).
constexpr const char* kIsolation1 = "BERTH-ISOLATION-1";
constexpr const char* kIsolation2 = "BERTH-ISOLATION-2";
// What the rules of a network are: a mark written with another version is made again (the
// rules missing then added), without waiting for the next boot.
constexpr const char* kRulesVersion = "2";

struct Rule {
  const char* table;
  std::string chain, spec;  // spec: the rule's arguments after the chain
};

// The rules of one bridge network (comment "berth:NAME").
std::vector<Rule> network_rules(const Network& n) {
  const std::string c = " -m comment --comment berth:" + n.name;
  const std::string br = n.bridge;
  std::vector<Rule> isolation = {{"filter", kIsolation1, "-i " + br + " ! -o " + br + c + " -j " + kIsolation2},
                                 {"filter", kIsolation2, "-o " + br + c + " -j DROP"}};
  std::vector<Rule> own;
  if (!n.internal)
    own = {{"nat", kNatChain, "-s " + n.subnet + " ! -o " + br + c + " -j MASQUERADE"},
           {"filter", kFilterChain, "-i " + br + c + " -j ACCEPT"},
           {"filter", kFilterChain, "-o " + br + " -m conntrack --ctstate RELATED,ESTABLISHED" + c + " -j ACCEPT"}};
  else
    own = {{"filter", kFilterChain, "-i " + br + " -o " + br + c + " -j ACCEPT"},
           {"filter", kFilterChain, "-i " + br + c + " -j DROP"},
           {"filter", kFilterChain, "-o " + br + c + " -j DROP"}};
  own.insert(own.end(), isolation.begin(), isolation.end());
  return own;
}

// ---- published ports -----------------------------------------------------------------------
//
// On berth's own bridge networks berth writes the DNAT rules itself. The portmap plugin runs
// iptables once per rule, each run reading the whole table back: 29 iptables processes and
// ~50–150 ms for one published port (its ADD and DEL), 56 s for a range of 1000. berth writes
// a container's rules in one iptables-restore (and removes them in one):
//   nat PREROUTING, OUTPUT  -m addrtype --dst-type LOCAL -j BERTH-HOSTPORTS
//   BERTH-HOSTPORTS         one rule per run of consecutive host ports → the container's chain
//   BERTH-DN-<hash>         per run: packets from the network itself (hairpin) or the host's
//                           loopback are marked, then DNAT to the container's address — a run
//                           whose host and container ports are the same is one rule, the
//                           port kept; others one rule per port
//   nat POSTROUTING         -j BERTH-HOSTPORTS-MASQ: marked packets masqueraded
// and route_localnet on the bridge, so that 127.0.0.1 can be forwarded to it. (portmap's own
// chains and mark bit are the same design, CNI-HOSTPORT-*.)
constexpr const char* kHostPorts = "BERTH-HOSTPORTS";
constexpr const char* kHostPortsMasq = "BERTH-HOSTPORTS-MASQ";
constexpr const char* kMasqMark = "0x2000/0x2000";

// The chain of one attachment's ports (iptables allows 28 characters).
std::string ports_chain(const std::string& network, const std::string& container_id) {
  char b[32];
  std::snprintf(b, sizeof b, "BERTH-DN-%016llx", static_cast<unsigned long long>(fnv1a64(network + "/" + container_id)));
  return b;
}

bool native_publish(const Network& net) { return net.berth_made && net.driver == "bridge" && !net.internal; }

// This boot's id, read once per process (every attachment asks): the marks of rules made once
// per boot hold it.
const std::string& boot_id() {
  static const std::string boot = [] {
    std::string id;
    fs::read_file_if_exists("/proc/sys/kernel/random/boot_id", id);
    return id.substr(0, id.find('\n'));
  }();
  return boot;
}

}  // namespace

// The rules of one attachment's ports: its chain's, and the jumps to it (iptables arguments).
PortRules port_rules(const std::string& chain, const std::string& subnet, const std::string& ip,
                     const std::vector<PortMapping>& ports) {
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<int, int>>> groups;
  for (auto& p : ports)
    groups[{p.protocol, p.host_ip == "0.0.0.0" ? "" : p.host_ip}].push_back({p.host_port, p.container_port});
  PortRules r;
  auto range = [](int a, int b) { return a == b ? std::to_string(a) : std::to_string(a) + ":" + std::to_string(b); };
  for (auto& [key, v] : groups) {
    const std::string& proto = key.first;  // (not a structured binding: lambdas capture it)
    const std::string& host_ip = key.second;
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    const std::string dst = host_ip.empty() ? "" : "-d " + host_ip + " ";
    auto match = [&](int a, int b) { return dst + "-p " + proto + " -m " + proto + " --dport " + range(a, b); };
    auto rules = [&](int a, int b, const std::string& to) {
      if (!subnet.empty()) r.chain.push_back("-s " + subnet + " " + match(a, b) + " -j MARK --set-xmark " + kMasqMark);
      r.chain.push_back("-s 127.0.0.0/8 " + match(a, b) + " -j MARK --set-xmark " + kMasqMark);
      r.chain.push_back(match(a, b) + " -j DNAT --to-destination " + to);
    };
    for (size_t i = 0; i < v.size();) {
      const int offset = v[i].second - v[i].first;
      size_t j = i + 1;
      while (j < v.size() && v[j].first == v[j - 1].first + 1 && v[j].second - v[j].first == offset) ++j;
      r.jumps.push_back(match(v[i].first, v[j - 1].first) + " -j " + chain);
      if (offset == 0) {
        rules(v[i].first, v[j - 1].first, ip);
      } else {
        for (size_t k = i; k < j; ++k) rules(v[k].first, v[k].first, ip + ":" + std::to_string(v[k].second));
      }
      i = j;
    }
  }
  return r;
}

namespace {

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  for (auto& w : split(s, ' '))
    if (!w.empty()) out.push_back(w);
  return out;
}

}  // namespace

AddressPool AddressPool::parse(const nlohmann::json& j) {
  if (!j.is_object() || !j.value("base", nlohmann::json()).is_string() || !j.value("size", nlohmann::json()).is_number_integer())
    throw Error(ErrorKind::invalid_argument, "an address pool is {\"base\": \"A.B.C.D/N\", \"size\": M}, not " + j.dump());
  AddressPool p;
  p.base = Subnet::parse(j["base"].get<std::string>());
  refuse_unroutable(p.base, "address pool");
  p.size = j["size"].get<int>();
  if (p.size < p.base.prefix || p.size > 30)
    throw Error(ErrorKind::invalid_argument, "address pool " + p.base.str() + ": size " + std::to_string(p.size) +
                                                 " must be between its prefix and 30");
  return p;
}

Networks::Networks(std::string root, std::string state, std::vector<std::string> plugin_dirs, int timeout_ms)
    : root_(std::move(root)), state_(std::move(state)), cni_(std::move(plugin_dirs), timeout_ms) {}

UniqueFd Networks::lock() {
  fs::mkdir_p(state_ + "/networks", 0700);
  UniqueFd fd(::open((state_ + "/networks/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) throw_errno("lock networks");
  while (::flock(fd.get(), LOCK_EX) < 0)
    if (errno != EINTR) throw_errno("lock networks");
  return fd;
}

Network Networks::load(const std::string& path) {
  json j = json::parse(fs::read_file(path), nullptr, false);
  if (j.is_discarded()) throw Error("network file `" + path + "` is not JSON");
  Cni::validate(j);
  Network n;
  n.conflist = j;
  n.name = j["name"];
  // The name becomes part of paths (leases, attachment records): Docker's rules, nothing else.
  if (!valid_network_name(n.name)) throw Error(ErrorKind::invalid_argument, "invalid network name `" + n.name + "`");
  const json b = j.value("berth", json::object());
  n.berth_made = j.contains("berth");
  n.id = b.value("id", "");
  if (n.id.empty()) {
    // A list dropped in by hand: an id derived from its name, stable across calls.
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a64(n.name)));
    n.id = std::string(buf) + std::string(buf) + std::string(buf) + std::string(buf);
  }
  n.driver = b.value("driver", j["plugins"][0].value("type", ""));
  n.internal = b.value("internal", false);
  n.attachable = b.value("attachable", false);
  n.created = b.value("created", int64_t{0});
  n.labels = b.value("labels", json::object());
  n.options = b.value("options", json::object());
  n.bridge = b.value("bridge", j["plugins"][0].value("bridge", ""));
  n.bridge_given = b.value("bridge_given", false);
  n.ip_range = b.value("ip_range", "");
  n.aux_addresses = b.value("aux_addresses", json::object());
  if (n.berth_made) {
    n.warm = n.name == kDefault ? 2 : 0;
    if (n.options.contains("warm") && n.options["warm"].is_string()) n.warm = std::atoi(n.options["warm"].get<std::string>().c_str());
  }
  const json ipam = j["plugins"][0].value("ipam", json::object());
  if (ipam.contains("ranges") && ipam["ranges"].is_array() && !ipam["ranges"].empty() &&
      ipam["ranges"][0].is_array() && !ipam["ranges"][0].empty()) {
    n.subnet = ipam["ranges"][0][0].value("subnet", "");
    n.gateway = ipam["ranges"][0][0].value("gateway", "");
  } else {
    n.subnet = ipam.value("subnet", "");
    n.gateway = ipam.value("gateway", "");
  }
  return n;
}

std::vector<Network> Networks::list() {
  std::vector<Network> out;
  for (auto& f : dir_entries(dir())) {
    if (!ends_with(f, ".conflist")) continue;
    try {
      out.push_back(load(dir() + "/" + f));
    } catch (const Error& e) {
      log::warn("network " + f + ": " + e.what());
    }
  }
  return out;
}

std::optional<Network> Networks::find(const std::string& ref) {
  if (ref.empty()) return std::nullopt;
  // `network inspect bridge`, connect/disconnect bridge: Docker's name for the default network.
  if (ref == kDockerDefault) return find(kDefault);
  auto all = list();
  for (auto& n : all)
    if (n.name == ref || n.id == ref) return n;
  std::optional<Network> hit;
  for (auto& n : all)
    if (n.id.rfind(ref, 0) == 0) {
      if (hit) throw Error(ErrorKind::invalid_argument, "network `" + ref + "` is ambiguous: use more of the id");
      hit = n;
    }
  return hit;
}

Network Networks::get(const std::string& ref) {
  auto n = find(ref);
  if (!n) throw Error(ErrorKind::not_found, "network " + ref + " not found");
  return *n;
}

Subnet Networks::pick_subnet(bool is_default, const std::vector<Network>& existing) {
  auto routes = host_routes();
  auto free = [&](const Subnet& s) {
    for (auto& n : existing)
      if (!n.subnet.empty() && s.overlaps(Subnet::parse(n.subnet))) return false;
    for (auto& [r, dev] : routes)
      if (s.overlaps(r)) return false;
    return true;
  };
  if (!pools_.empty()) {
    for (const AddressPool& p : pools_) {
      const uint64_t step = uint64_t{1} << (32 - p.size), end = uint64_t{p.base.addr} + (uint64_t{1} << (32 - p.base.prefix));
      for (uint64_t a = p.base.addr; a < end; a += step) {
        Subnet s{static_cast<uint32_t>(a), p.size};
        if (free(s)) return s;
      }
    }
    throw Error(ErrorKind::unavailable, "no free subnet left in the default address pools: give one with --subnet");
  }
  if (is_default)
    for (uint32_t b : {77u, 76u, 75u, 74u}) {
      Subnet s{(10u << 24) | (b << 16), 16};
      if (free(s)) return s;
    }
  for (uint32_t b : {78u, 79u, 80u})
    for (uint32_t c = 0; c < 256; ++c) {
      Subnet s{(10u << 24) | (b << 16) | (c << 8), 24};
      if (free(s)) return s;
    }
  throw Error(ErrorKind::unavailable, "no free subnet left in berth's pools (10.74-10.80.x.x): give one with --subnet");
}

Network Networks::create(const CreateSpec& spec) {
  if (!valid_network_name(spec.name))
    throw Error(ErrorKind::invalid_argument, "invalid network name `" + spec.name + "`: [a-zA-Z0-9][a-zA-Z0-9_.-]*, not none/host/bridge/default");
  if (spec.driver != "bridge" && spec.driver != "macvlan" && spec.driver != "ipvlan")
    throw Error(ErrorKind::invalid_argument, "unknown network driver `" + spec.driver + "` (bridge, macvlan, ipvlan)");
  UniqueFd lk = lock();
  auto existing = list();
  for (auto& n : existing)
    if (n.name == spec.name) throw Error(ErrorKind::already_exists, "network with name " + spec.name + " already exists");
  Subnet subnet;
  if (spec.subnet.empty()) {
    subnet = pick_subnet(spec.name == kDefault, existing);
  } else {
    // Docker takes a subnet written with host bits (172.30.14.5/24): the prefix it names.
    subnet = Subnet::parse(spec.subnet, "subnet", 30, true);
    refuse_unroutable(subnet, "subnet");
    for (auto& n : existing)
      if (!n.subnet.empty() && subnet.overlaps(Subnet::parse(n.subnet)))
        throw Error(ErrorKind::invalid_argument, "subnet " + subnet.str() + " overlaps with network " + n.name + " (" + n.subnet + ")");
    for (auto& [r, dev] : host_routes())
      if (subnet.overlaps(r))
        throw Error(ErrorKind::invalid_argument, "subnet " + subnet.str() + " overlaps with a route of the host (" + r.str() + " dev " + dev + ")");
  }
  uint32_t gw = subnet.first_host();
  if (!spec.gateway.empty()) {
    gw = parse_ipv4(spec.gateway);
    if (!subnet.has_host(gw))
      throw Error(ErrorKind::invalid_argument, "gateway " + spec.gateway + " is not a host address of subnet " + subnet.str());
  }
  // Docker's --ip-range: inside the subnet (its CLI: "no matching subnet for range"); the range
  // host-local picks from leaves out the subnet's own address and its broadcast.
  uint32_t range_start = 0, range_end = 0;
  if (!spec.ip_range.empty()) {
    if (spec.subnet.empty())
      throw Error(ErrorKind::invalid_argument, "--ip-range " + spec.ip_range + " needs the --subnet it is part of");
    const Subnet r = Subnet::parse(spec.ip_range, "--ip-range", 32);
    const uint32_t r_last = r.addr | ~mask_of(r.prefix), s_last = subnet.addr | ~mask_of(subnet.prefix);
    if (r.prefix < subnet.prefix || !subnet.contains(r.addr))
      throw Error(ErrorKind::invalid_argument, "no matching subnet for range " + r.str() + " (the subnet is " + subnet.str() + ")");
    range_start = std::max(r.addr, subnet.first_host());
    range_end = std::min(r_last, s_last - 1);
    // Docker's: without --gateway, the gateway is the range's first address (its IPAM gives
    // the gateway from the pool the containers' come from).
    if (spec.gateway.empty() && range_start <= range_end) gw = range_start;
    if (range_start > range_end || (range_start == range_end && range_start == gw))
      throw Error(ErrorKind::invalid_argument, "--ip-range " + r.str() + " has no address to give");
  }
  // Docker's --aux-address: in the subnet, a host address, not the gateway, each once.
  std::set<uint32_t> aux;
  for (const auto& [name, ip] : spec.aux_addresses) {
    const std::string given = "--aux-address " + name + "=" + ip;
    if (name.empty()) throw Error(ErrorKind::invalid_argument, given + ": NAME=IP");
    if (spec.subnet.empty()) throw Error(ErrorKind::invalid_argument, "no matching subnet for aux-address " + ip + " (give --subnet)");
    const uint32_t a = parse_ipv4(ip);
    if (!subnet.has_host(a))
      throw Error(ErrorKind::invalid_argument, "no matching subnet for aux-address " + ip + " (the subnet is " + subnet.str() + ")");
    if (a == gw) throw Error(ErrorKind::invalid_argument, given + ": that is the gateway's address");
    if (!aux.insert(a).second) throw Error(ErrorKind::invalid_argument, given + ": that address is reserved twice");
  }
  for (auto& [k, v] : spec.options.items()) {
    static const std::set<std::string> known = {"parent", "mode", "mtu", "com.docker.network.driver.mtu",
                                                "com.docker.network.bridge.name", "warm"};
    if (!known.count(k)) throw Error(ErrorKind::invalid_argument, "unknown network option `" + k + "` (parent, mode, mtu, warm)");
  }
  if (spec.options.contains("warm")) {
    const std::string w = spec.options["warm"].is_string() ? spec.options["warm"].get<std::string>() : "";
    if (w.empty() || w.size() > 2 || w.find_first_not_of("0123456789") != std::string::npos || std::stoi(w) > 16)
      throw Error(ErrorKind::invalid_argument, "-o warm=" + w + ": the number of spares to keep, 0 to 16");
  }
  Network n;
  n.name = spec.name;
  n.id = random_hex64();
  n.driver = spec.driver;
  n.subnet = subnet.str();
  n.gateway = ipv4_str(gw);
  n.internal = spec.internal;
  n.attachable = spec.attachable;
  n.labels = spec.labels;
  n.options = spec.options;
  n.created = static_cast<int64_t>(std::time(nullptr)) * 1000000000;
  n.berth_made = true;
  const std::string ipam_dir = state_ + "/networks/ipam";
  json range = {{"subnet", n.subnet}, {"gateway", n.gateway}};
  if (!spec.ip_range.empty()) {
    n.ip_range = Subnet::parse(spec.ip_range, "--ip-range", 32).str();
    range["rangeStart"] = ipv4_str(range_start);
    range["rangeEnd"] = ipv4_str(range_end);
  }
  json ipam = {{"type", "host-local"}, {"ranges", json::array({json::array({range})})}, {"dataDir", ipam_dir}};
  if (!spec.internal) ipam["routes"] = json::array({{{"dst", "0.0.0.0/0"}}});
  int mtu = 0;
  for (const char* k : {"mtu", "com.docker.network.driver.mtu"})
    if (spec.options.contains(k)) mtu = parse_mtu(spec.options[k]);
  json plugins = json::array();
  if (spec.driver == "bridge") {
    n.bridge = "br-" + n.id.substr(0, 12);
    if (spec.name == kDefault) {
      // berth0, unless another berth (another --root) has it already.
      std::set<std::string> taken;
      for (auto& o : existing) taken.insert(o.bridge);
      for (int i = 0; i < 100; ++i) {
        n.bridge = "berth" + std::to_string(i);
        if (!taken.count(n.bridge) && !link_exists(n.bridge)) break;
      }
    }
    if (spec.options.contains("com.docker.network.bridge.name")) {
      n.bridge = spec.options["com.docker.network.bridge.name"].get<std::string>();
      if (n.bridge.empty() || n.bridge == "." || n.bridge == ".." ||
          std::any_of(n.bridge.begin(), n.bridge.end(), [](unsigned char ch) { return ch <= ' ' || ch == '/' || ch == ':' || ch == 0x7f; }))
        throw Error(ErrorKind::invalid_argument, "invalid bridge name " + json(n.bridge).dump());
      for (auto& o : existing)
        if (o.bridge == n.bridge) throw Error(ErrorKind::conflict, "bridge " + n.bridge + " is network " + o.name + "'s");
      // An existing link is used only if it is a bridge (Docker's rule), and stays when the
      // network goes: `network rm` deletes only a bridge that berth made (a host's eth0 or
      // veth named here went with it).
      if (link_exists(n.bridge)) {
        if (!fs::exists("/sys/class/net/" + n.bridge + "/bridge"))
          throw Error(ErrorKind::invalid_argument, "existing interface " + n.bridge + " is not a bridge");
        n.bridge_given = true;
      }
    }
    if (n.bridge.size() > 15) throw Error(ErrorKind::invalid_argument, "bridge name `" + n.bridge + "` is longer than 15 characters");
    // Masquerading and forwarding are rules of the network (apply_rules), not of every
    // container: the bridge plugin's ipMasq and the firewall plugin cost ~55 and ~90 ms per
    // container here (docs/network.md).
    json bridge = {{"type", "bridge"}, {"bridge", n.bridge}, {"isGateway", !spec.internal},
                   {"ipMasq", false}, {"hairpinMode", true}, {"capabilities", {{"ips", true}, {"mac", true}}},
                   {"ipam", ipam}};
    if (mtu) bridge["mtu"] = mtu;
    plugins.push_back(bridge);
    if (!spec.internal) plugins.push_back({{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}});
  } else {
    std::string parent = spec.options.value("parent", "");
    if (parent.empty()) throw Error(ErrorKind::invalid_argument, spec.driver + " networks need a parent interface: -o parent=IFNAME");
    if (!link_exists(parent)) throw Error(ErrorKind::invalid_argument, "parent interface " + parent + " does not exist");
    json p = {{"type", spec.driver}, {"master", parent}, {"ipam", ipam}, {"capabilities", {{"ips", true}}}};
    std::string mode = spec.options.value("mode", spec.driver == "macvlan" ? "bridge" : "l2");
    p["mode"] = mode;
    if (mtu) p["mtu"] = mtu;
    plugins.push_back(p);
  }
  n.conflist = {{"cniVersion", "1.0.0"}, {"name", n.name}, {"plugins", plugins},
                {"berth", {{"id", n.id}, {"driver", n.driver}, {"internal", n.internal}, {"created", n.created},
                           {"labels", n.labels}, {"options", n.options}, {"bridge", n.bridge}}}};
  if (n.bridge_given) n.conflist["berth"]["bridge_given"] = true;
  if (n.attachable) n.conflist["berth"]["attachable"] = true;
  if (!n.ip_range.empty()) n.conflist["berth"]["ip_range"] = n.ip_range;
  if (!spec.aux_addresses.empty()) n.conflist["berth"]["aux_addresses"] = n.aux_addresses = json(spec.aux_addresses);
  // The reserved addresses: leases host-local finds taken (a file per address, named by it,
  // holding an owner no container has), gone with the network's leases at rm.
  const std::string leases = ipam_dir + "/" + n.name;
  fs::remove_all(leases);  // a network of this name before, whose rm did not finish
  for (const auto& [name, ip] : spec.aux_addresses) {
    fs::mkdir_p(leases, 0755);
    fs::write_file_atomic(leases + "/" + ipv4_str(parse_ipv4(ip)), "berth-aux-address:" + name + "\r\neth0", 0644);
  }
  fs::mkdir_p(dir(), 0755);
  const std::string path = dir() + "/" + n.name + ".conflist";
  fs::write_file_atomic(path, n.conflist.dump(2) + "\n", 0644);
  try {
    if (n.driver == "bridge") ensure_rules_locked(n);  // (the lock is held since the top)
  } catch (...) {
    ::unlink(path.c_str());
    fs::remove_all(leases);
    throw;
  }
  return n;
}

Network Networks::ensure_default() {
  if (auto n = find(kDefault)) return *n;
  CreateSpec s;
  s.name = kDefault;
  try {
    return create(s);
  } catch (const Error&) {
    if (auto n = find(kDefault)) return *n;  // made by a concurrent berth
    throw;
  }
}

void Networks::apply_rules(const Network& net, bool add) {
  std::string err;
  const auto rules = network_rules(net);
  // Each chain and where it is jumped to from: stage 1 first in FORWARD (before anything that
  // accepts), stage 2 from stage 1 only. In this order they are removed once empty.
  struct Chain {
    const char *table, *name, *parent;
    bool first;
  };
  const Chain chains[] = {{"nat", kNatChain, "POSTROUTING", false},
                          {"filter", kFilterChain, "FORWARD", false},
                          {"filter", kIsolation1, "FORWARD", true},
                          {"filter", kIsolation2, nullptr, false}};
  if (add) {
    std::set<std::string> present;  // the chains' rules as `iptables -S` prints them, unquoted
    for (auto [table, chain, parent, first] : chains) {
      err.clear();
      if (run({"iptables", "-w", "-t", table, "-S", chain}, "", err) == 0) {
        for (auto line : split(err, '\n')) {
          line.erase(std::remove(line.begin(), line.end(), '"'), line.end());
          present.insert(line);
        }
        continue;
      }
      err.clear();
      if (run({"iptables", "-w", "-t", table, "-N", chain}, "", err) != 0 ||
          (parent && run({"iptables", "-w", "-t", table, first ? "-I" : "-A", parent, "-j", chain}, "", err) != 0))
        throw Error("iptables: " + err);
    }
    // All of the network's rules that are not there yet in one process (and one transaction):
    // made again after a reboot, never twice (`network rm` deletes one copy of each).
    std::string nat = "*nat\n", filter = "*filter\n";
    bool any = false;
    for (auto& r : rules) {
      const std::string line = "-A " + r.chain + " " + r.spec;
      if (present.count(line)) continue;
      (std::string(r.table) == "nat" ? nat : filter) += line + "\n";
      any = true;
    }
    err.clear();
    if (any && run({"iptables-restore", "-w", "--noflush"}, nat + "COMMIT\n" + filter + "COMMIT\n", err) != 0)
      throw Error("iptables-restore: " + err);
    return;
  }
  // One by one: a rule someone removed already must not keep the others.
  for (auto& r : rules) {
    std::vector<std::string> argv = {"iptables", "-w", "-t", r.table, "-D", r.chain};
    for (auto& w : words(r.spec)) argv.push_back(w);
    err.clear();
    run(argv, "", err);
  }
  // A chain goes when no rule of any network (of any berth root) is left in it.
  for (auto [table, chain, parent, first] : chains) {
    err.clear();
    if (run({"iptables", "-w", "-t", table, "-S", chain}, "", err) != 0) continue;
    if (err.find("-A " + std::string(chain)) != std::string::npos) continue;
    if (parent) run({"iptables", "-w", "-t", table, "-D", parent, "-j", chain}, "", err);
    run({"iptables", "-w", "-t", table, "-X", chain}, "", err);
  }
}

std::string Networks::rules_mark(const std::string& name) const { return state_ + "/networks/rules/" + name; }

void Networks::ensure_rules_locked(const Network& net) {
  if (!net.berth_made || net.driver != "bridge") return;
  const std::string& boot = boot_id();
  std::string have;
  const std::string want = boot + " " + net.id + " " + kRulesVersion + "\n";
  if (fs::read_file_if_exists(rules_mark(net.name), have) && have == want) return;
  apply_rules(net, true);
  fs::mkdir_p(state_ + "/networks/rules", 0700);
  fs::write_file_atomic(rules_mark(net.name), want, 0600);
}

namespace {

// The kernel's tracked UDP flows to these host ports (conntrack.hpp): a client already sending
// to one would miss the DNAT just made, or keep reaching a container that has gone.
void forget_udp_flows(const std::vector<PortMapping>& ports) {
  std::map<std::string, std::vector<uint16_t>> udp;
  for (auto& p : ports)
    if (p.protocol == "udp") udp[p.host_ip].push_back(static_cast<uint16_t>(p.host_port));
  for (auto& [ip, list] : udp) {
    try {
      delete_udp_conntrack(ip, list);
    } catch (const Error& e) {
      log::warn(e.what());
    }
  }
}

}  // namespace

void Networks::ensure_hostports_locked(bool force) {
  const std::string& boot = boot_id();
  const std::string mark = rules_mark("@hostports");
  std::string have;
  if (!force && fs::read_file_if_exists(mark, have) && have == boot + "\n") return;
  std::string out;
  if (run({"iptables", "-w", "-t", "nat", "-S"}, "", out) != 0) throw Error("iptables: " + out);
  std::set<std::string> present;
  for (auto& line : split(out, '\n')) present.insert(line);
  const std::string local = " -m addrtype --dst-type LOCAL -j " + std::string(kHostPorts);
  std::string in = "*nat\n";
  for (const char* chain : {kHostPorts, kHostPortsMasq})
    if (!present.count(std::string("-N ") + chain)) in += std::string("-N ") + chain + "\n";
  for (const std::string& rule : {"-A PREROUTING" + local, "-A OUTPUT" + local,
                                  std::string("-A POSTROUTING -j ") + kHostPortsMasq,
                                  std::string("-A ") + kHostPortsMasq + " -m mark --mark " + kMasqMark + " -j MASQUERADE"})
    if (!present.count(rule)) in += rule + "\n";
  out.clear();
  if (in != "*nat\n" && run({"iptables-restore", "-w", "--noflush"}, in + "COMMIT\n", out) != 0)
    throw Error("iptables-restore: " + out);
  fs::mkdir_p(state_ + "/networks/rules", 0700);
  fs::write_file_atomic(mark, boot + "\n", 0600);
}

void Networks::install_ports(const Network& net, const Member& m) {
  if (m.ports.empty()) return;
  if (m.ip.empty()) throw Error("network " + net.name + ": no address to publish ports on");
  const std::string chain = ports_chain(net.name, m.container_id);
  const PortRules r = port_rules(chain, net.subnet, m.ip, m.ports);
  // Declaring the chain makes it, or empties what a cut-short attempt left in it.
  std::string in = "*nat\n:" + chain + " - [0:0]\n";
  for (auto& l : r.chain) in += "-A " + chain + " " + l + "\n";
  for (auto& l : r.jumps) in += std::string("-A ") + kHostPorts + " " + l + "\n";
  std::string out;
  if (run({"iptables-restore", "-w", "--noflush"}, in + "COMMIT\n", out) != 0) {
    // The shared chains taken since this boot's mark (a firewall reload, an iptables-restore
    // of an older table): made again, and once more.
    ensure_hostports_locked(true);
    out.clear();
    if (run({"iptables-restore", "-w", "--noflush"}, in + "COMMIT\n", out) != 0)
      throw Error("network " + net.name + ": publish ports: iptables-restore: " + out);
  }
  forget_udp_flows(m.ports);
  // 127.0.0.1 forwarded to the bridge (the kernel drops such packets elsewhere).
  bool loopback = false;
  for (auto& p : m.ports) loopback = loopback || p.host_ip.empty() || p.host_ip == "0.0.0.0" || p.host_ip.rfind("127.", 0) == 0;
  if (loopback && !net.bridge.empty()) {
    const std::string knob = "/proc/sys/net/ipv4/conf/" + net.bridge + "/route_localnet";
    UniqueFd fd(::open(knob.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), "1", 1) != 1) {
      const int e = errno;
      remove_ports(net.name, m.container_id);
      throw_errno("network " + net.name + ": set " + knob, e);
    }
  }
}

void Networks::remove_ports(const std::string& network, const std::string& container_id) {
  const std::string chain = ports_chain(network, container_id);
  std::string out;
  if (run({"iptables", "-w", "-t", "nat", "-S"}, "", out) != 0) throw Error("iptables: " + out);
  const std::string jump = " -j " + chain, head = std::string("-A ") + kHostPorts + " ";
  std::string in = "*nat\n";
  bool have_chain = false;
  for (auto& line : split(out, '\n')) {
    if (line == "-N " + chain) have_chain = true;
    if (line.rfind(head, 0) == 0 && line.size() > jump.size() && line.compare(line.size() - jump.size(), jump.size(), jump) == 0)
      in += "-D" + line.substr(2) + "\n";
  }
  if (have_chain) in += "-F " + chain + "\n-X " + chain + "\n";
  out.clear();
  if (in != "*nat\n" && run({"iptables-restore", "-w", "--noflush"}, in + "COMMIT\n", out) != 0)
    throw Error("unpublish ports: iptables-restore: " + out);
}

void Networks::remove(const Network& net) {
  // Spares first need the spares lock: a maker at work finishes its one ADD.
  UniqueFd pool = spares_lock(true);
  // Attachments whose DEL is under way (a container that just ended: its shim releases the
  // network after `run --rm` has returned) go within moments: wait for them a little.
  UniqueFd lk = lock();
  auto ms = members(net.name);
  for (int i = 0; i < 50 && !ms.empty(); ++i) {
    lk.reset();
    ::usleep(100000);
    lk = lock();
    ms = members(net.name);
  }
  if (!ms.empty()) {
    std::string names;
    for (auto& m : ms) names += (names.empty() ? "" : ", ") + m.container_name;
    throw Error(ErrorKind::permission, "network " + net.name + " has active endpoints (" + names + ")");
  }
  reap_spares_locked(net, true);
  const std::string path = dir() + "/" + net.name + ".conflist";
  if (::unlink(path.c_str()) < 0 && errno != ENOENT) throw_errno("remove `" + path + "`");
  ::unlink(rules_mark(net.name).c_str());
  if (net.berth_made && net.driver == "bridge") {
    apply_rules(net, false);
    if (!net.bridge.empty() && !net.bridge_given) delete_link(net.bridge);
  }
  fs::remove_all(state_ + "/networks/ipam/" + net.name);
  fs::remove_all(state_ + "/networks/members/" + net.name);
}

std::string Networks::member_path(const std::string& network, const std::string& id) const {
  return state_ + "/networks/members/" + network + "/" + id + ".json";
}

// Every writer of a member record holds the lock: one temp name per record is enough, and a
// writer killed before its rename (a berth killed in a start) leaves that name for forget().
void Networks::save_member_locked(const std::string& network, const Member& m) {
  const std::string path = member_path(network, m.container_id);
  fs::write_file_atomic_via(path + ".tmp", path, m.to_json().dump(), 0600);
}

void Networks::forget(const std::string& container_id) {
  UniqueFd lk = lock();
  for (auto& net : dir_entries(state_ + "/networks/members"))
    ::unlink((member_path(net, container_id) + ".tmp").c_str());
}

std::vector<Member> Networks::members(const std::string& network) {
  std::vector<Member> out;
  const std::string d = state_ + "/networks/members/" + network;
  for (auto& f : dir_entries(d)) {
    if (!ends_with(f, ".json")) continue;
    std::string text;
    if (!fs::read_file_if_exists(d + "/" + f, text)) continue;
    json j = json::parse(text, nullptr, false);
    if (j.is_object()) out.push_back(Member::from_json(j));
  }
  return out;
}

std::optional<Member> Networks::member(const std::string& network, const std::string& container_id) {
  std::string text;
  if (!fs::read_file_if_exists(member_path(network, container_id), text)) return std::nullopt;
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  return Member::from_json(j);
}

std::vector<std::string> Networks::networks_of(const std::string& container_id) {
  std::vector<std::string> out;
  for (auto& net : dir_entries(state_ + "/networks/members"))
    if (fs::exists(member_path(net, container_id))) out.push_back(net);
  return out;
}

std::vector<Member> Networks::all_members() {
  std::vector<Member> out;
  for (auto& net : dir_entries(state_ + "/networks/members"))
    for (auto& m : members(net)) out.push_back(std::move(m));
  return out;
}

void Networks::wait_released_ports(const Member& m) {
  if (m.ports.empty()) return;
  for (int i = 0; i < 500; ++i) {
    bool held = false;
    for (auto& o : all_members()) {
      if (!o.releasing || o.container_id == m.container_id) continue;
      for (auto& q : o.ports)
        for (auto& p : m.ports)
          held = held || (q.host_port == p.host_port && q.protocol == p.protocol);
    }
    if (!held) return;
    ::usleep(10000);
  }
}

void Networks::mark_releasing(const std::string& container_id) {
  UniqueFd lk = lock();
  for (auto& net : networks_of(container_id))
    if (auto m = member(net, container_id); m && !m->releasing) {
      m->releasing = true;
      save_member_locked(net, *m);
    }
}

void Networks::check_ports(const std::vector<PortMapping>& ports, const std::string& except) {
  auto used = all_members();
  for (auto& p : ports) {
    if (p.host_port == 0) continue;
    const std::string where = (p.host_ip.empty() ? "0.0.0.0" : p.host_ip) + ":" + std::to_string(p.host_port);
    for (auto& m : used) {
      if (m.container_id == except) continue;
      for (auto& q : m.ports)
        if (q.host_port == p.host_port && q.protocol == p.protocol &&
            (q.host_ip.empty() || p.host_ip.empty() || q.host_ip == p.host_ip))
          throw Error(ErrorKind::conflict, "Bind for " + where + " failed: port is already allocated (by container " + m.container_name + ")");
    }
    // A listener of the host: the DNAT rule would hide it (or it would hide us).
    UniqueFd s(::socket(AF_INET, (p.protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
    if (!s) throw_errno("socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(p.host_port));
    a.sin_addr.s_addr = htonl(p.host_ip.empty() ? INADDR_ANY : parse_ipv4(p.host_ip));
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
      if (errno == EADDRINUSE) throw Error(ErrorKind::conflict, "Bind for " + where + " failed: port is already allocated");
      if (errno == EADDRNOTAVAIL) throw Error(ErrorKind::invalid_argument, "Bind for " + where + " failed: no such address on this host");
      throw_errno("Bind for " + where);
    }
  }
}

namespace {

// A free host port for `p` (what binding port 0 gives), not one published already.
int free_port(const PortMapping& p, const std::set<int>& taken) {
  for (int tries = 0; tries < 64; ++tries) {
    UniqueFd s(::socket(AF_INET, (p.protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
    if (!s) throw_errno("socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(p.host_ip.empty() ? INADDR_ANY : parse_ipv4(p.host_ip));
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) throw_errno("pick a host port");
    socklen_t len = sizeof a;
    ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
    int port = ntohs(a.sin_port);
    if (!taken.count(port)) return port;
  }
  throw Error(ErrorKind::unavailable, "no free host port found");
}

}  // namespace

namespace {

// A container's hosts file rewritten in place (it is bind-mounted into the running container:
// a rename would not show there): written over from the start, then cut to its length —
// never truncated first, which let a lookup in the container (`hostname -i` as it starts)
// read an empty file. False when the file is gone (the container with it), or when a process
// in the container holds a lease on it: a blocking open would wait out the lease break (45 s)
// under the networks lock, every networked start on the host with it; with O_NONBLOCK the
// open fails at once, and only that container's own file goes without the update.
bool write_hosts_in_place(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) {
    if (errno == EWOULDBLOCK) log::warn(path + ": leased by a process in its container, not updated");
    return false;
  }
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::pwrite(fd.get(), text.data() + off, text.size() - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw_errno("write " + path);
    off += static_cast<size_t>(n);
  }
  if (::ftruncate(fd.get(), static_cast<off_t>(text.size())) < 0) throw_errno("truncate " + path);
  return true;
}

// The hosts file of a container that left its last network: its fixed lines only.
void reset_hosts(const Member& m) {
  std::string text;
  if (m.hosts_file.empty() || !fs::read_file_if_exists(m.hosts_base, text)) return;
  write_hosts_in_place(m.hosts_file, text);
}

}  // namespace

namespace {

// The address, gateway and MAC of an attachment: its result's.
void take_addresses(Member& m) {
  auto a = first_ipv4(m.result);
  m.cidr = a.cidr;
  m.ip = a.ip;
  m.gateway = a.gateway;
  m.mac = a.mac;
}

// What the plugins are told about one attachment (the same for its ADD and its DEL).
Attachment attachment(const Member& m) {
  Attachment at;
  at.container_id = m.cni_id.empty() ? m.container_id : m.cni_id;
  at.netns = m.netns;
  at.ifname = m.ifname;
  at.args = "IgnoreUnknown=1";
  // Without the capability argument the chain's portmap is not run at all (Cni::skipped).
  if (!m.ports.empty() && !m.native_ports) {
    json pm = json::array();
    for (auto& p : m.ports) pm.push_back(p.to_json());
    at.capability_args["portMappings"] = pm;
  }
  return at;
}

}  // namespace

void Networks::pick_ports_locked(const Network& net, Member& m) {
  std::set<int> taken;
  for (auto& o : all_members())
    if (o.container_id != m.container_id)
      for (auto& q : o.ports) taken.insert(q.host_port);
  for (auto& p : m.ports) {
    if (p.host_port == 0) {
      p.host_port = free_port(p, taken);
    } else if (p.host_port_end > p.host_port) {
      // The first port of the range that no container publishes and no listener holds.
      const int first = p.host_port, last = p.host_port_end;
      p.host_port_end = 0;
      int got = 0;
      for (int port = first; port <= last && !got; ++port) {
        if (taken.count(port)) continue;
        p.host_port = port;
        try {
          check_ports({p}, m.container_id);
          got = port;
        } catch (const Error& e) {
          if (e.kind() != ErrorKind::conflict) throw;
        }
      }
      if (!got)
        throw Error(ErrorKind::conflict, "Bind for " + (p.host_ip.empty() ? std::string("0.0.0.0") : p.host_ip) + ":" +
                                             std::to_string(first) + "-" + std::to_string(last) +
                                             " failed: every port of the range is allocated");
    }
    taken.insert(p.host_port);
  }
  check_ports(m.ports, m.container_id);
  if (!m.ports.empty()) {
    bool can = false;
    for (auto& p : net.conflist["plugins"])
      can = can || p.value("capabilities", json::object()).value("portMappings", false);
    if (!can)
      throw Error(ErrorKind::invalid_argument, "network " + net.name + " cannot publish ports (" +
                  (net.internal ? "it is internal" : "no plugin of it takes portMappings") + ")");
  }
}

void Networks::check_static_ip(const Network& net, const std::string& ip) {
  if (net.subnet.empty()) throw Error(ErrorKind::invalid_argument, "--ip: network " + net.name + " has no subnet to take it from");
  if (!Subnet::parse(net.subnet).contains(parse_ipv4(ip)))
    throw Error(ErrorKind::invalid_argument, "--ip " + ip + " is not in network " + net.name + "'s subnet " + net.subnet);
}

namespace {

// A bridge whose only port went away before the bridge plugin pinned its MAC (an ADD that
// failed or was killed after adding the veth: its first use) is left with the all-zero MAC,
// and the plugin's next ADD fails ("could not set bridge's mac: invalid argument"). So a bridge
// found with that address gets a fixed random one (locally administered) before an ADD.
void pin_bridge_mac(const Network& net) {
  if (net.driver != "bridge" || net.bridge.empty() || net.bridge.size() >= IFNAMSIZ) return;
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, net.bridge.data(), net.bridge.size());
  if (::ioctl(s.get(), SIOCGIFHWADDR, &ifr) != 0) return;  // not made yet: the plugin makes it
  auto* mac = reinterpret_cast<unsigned char*>(ifr.ifr_hwaddr.sa_data);
  if (std::any_of(mac, mac + 6, [](unsigned char b) { return b != 0; })) return;
  if (::getrandom(mac, 6, 0) != 6) return;
  mac[0] = static_cast<unsigned char>((mac[0] & 0xfe) | 0x02);
  if (::ioctl(s.get(), SIOCSIFHWADDR, &ifr) != 0)
    log::warn("network " + net.name + ": cannot give bridge " + net.bridge + " a MAC address: " + std::strerror(errno));
}

}  // namespace

Member Networks::attach(const Network& net, Member m) {
  wait_released_ports(m);
  UniqueFd lk = lock();
  ensure_rules_locked(net);
  pin_bridge_mac(net);
  if (member(net.name, m.container_id)) throw Error(ErrorKind::conflict, "container " + m.container_name + " is already attached to network " + net.name);
  pick_ports_locked(net, m);
  m.native_ports = native_publish(net);
  if (m.native_ports && !m.ports.empty()) ensure_hostports_locked();
  Attachment at = attachment(m);
  // The list the plugins are given: an address asked for outside the network's --ip-range is
  // Docker's right (the range is only where addresses are picked), and host-local refuses one
  // outside its rangeStart..rangeEnd: this ADD gets the whole subnet. Its leases are the same
  // files, and DEL releases by container, whatever the range.
  json conflist = net.conflist;
  if (!m.ip.empty()) {
    check_static_ip(net, m.ip);
    at.capability_args["ips"] = json::array({m.ip + "/" + std::to_string(Subnet::parse(net.subnet).prefix)});
    if (!net.ip_range.empty() && !Subnet::parse(net.ip_range, "--ip-range", 32).contains(parse_ipv4(m.ip)))
      for (auto& p : conflist["plugins"])
        if (p.contains("ipam") && p["ipam"].contains("ranges"))
          for (auto& set : p["ipam"]["ranges"])
            for (auto& r : set) {
              r.erase("rangeStart");
              r.erase("rangeEnd");
            }
  }
  if (!m.mac.empty()) {
    bool can = false;
    for (auto& p : net.conflist["plugins"]) can = can || p.value("capabilities", json::object()).value("mac", false);
    if (!can) throw Error(ErrorKind::invalid_argument, "--mac-address: network " + net.name + " cannot set a MAC address (no plugin of it takes `mac`)");
    at.capability_args["mac"] = m.mac;
  }
  // Recorded before the plugins run: if this process dies meanwhile, a later release still
  // finds the attachment and runs DEL (without a result, which the plugins must accept).
  fs::mkdir_p(state_ + "/networks/members/" + net.name, 0700);
  save_member_locked(net.name, m);
  // The plugins run unlocked (starts in parallel do not wait for each other's ~35 ms): the
  // record holds this attachment's ports and name meanwhile, host-local locks its leases.
  lk.reset();
  try {
    m.result = cni_.add(conflist, at);
  } catch (const PluginError& e) {
    ::unlink(member_path(net.name, m.container_id).c_str());
    throw PluginError("network " + net.name + ": " + e.what(), e.cni_code());
  } catch (const Error& e) {
    ::unlink(member_path(net.name, m.container_id).c_str());
    throw Error("network " + net.name + ": " + e.what());
  }
  lk = lock();
  take_addresses(m);
  try {
    if (m.native_ports) install_ports(net, m);
    save_member_locked(net.name, m);
    std::vector<std::string> ids = {m.container_id};
    if (net.name != kDefault)
      for (auto& o : members(net.name)) ids.push_back(o.container_id);
    rewrite_hosts_locked(ids, &m);
  } catch (...) {
    ::unlink(member_path(net.name, m.container_id).c_str());
    try {
      if (m.native_ports && !m.ports.empty()) remove_ports(net.name, m.container_id);
      cni_.del(net.conflist, at, m.result);
    } catch (const Error&) {
    }
    throw;
  }
  return m;
}

void Networks::detach(const std::string& network, const std::string& container_id) {
  auto m = member(network, container_id);
  if (!m) return;
  // DEL first, unlocked (a second DEL of the same attachment is harmless: plugins must
  // accept it), and the record last: if this process dies in between, the next release
  // still finds it.
  std::string failure;
  // No result: its ADD was cut short (or is still running, for a berth that died): the
  // plugins still at it are stopped first, or what they make after the DEL would stay.
  if (m->result.is_null()) Cni::stop_adds(attachment(*m).container_id);
  if (m->native_ports && !m->ports.empty()) {
    try {
      remove_ports(network, container_id);
      forget_udp_flows(m->ports);
    } catch (const Error& e) {
      failure = e.what();
    }
  }
  if (auto net = find(network)) {
    try {
      cni_.del(net->conflist, attachment(*m), m->result);
    } catch (const Error& e) {
      failure = e.what();
    }
  }
  UniqueFd lk = lock();
  ::unlink(member_path(network, container_id).c_str());
  std::vector<std::string> peers;
  if (network != kDefault)
    for (auto& o : members(network)) peers.push_back(o.container_id);
  peers.push_back(container_id);  // its own file loses the network's lines too
  try {
    rewrite_hosts_locked(peers, &*m);
    if (networks_of(container_id).empty()) reset_hosts(*m);
  } catch (const Error& e) {
    log::debug(e.what());
  }
  if (!failure.empty()) throw Error("network " + network + ": " + failure);
}

void Networks::rename(const std::string& container_id, const std::string& name) {
  UniqueFd lk = lock();
  std::vector<std::string> ids = {container_id};
  for (auto& net : networks_of(container_id)) {
    auto m = member(net, container_id);
    if (!m) continue;
    m->container_name = name;
    save_member_locked(net, *m);
    if (net != kDefault)
      for (auto& o : members(net)) ids.push_back(o.container_id);
  }
  rewrite_hosts_locked(ids);
}

void Networks::rewrite_hosts_locked(std::vector<std::string> ids, const Member* changed) {
  // Every attachment, by network and by container.
  std::map<std::string, std::vector<Member>> by_net;
  std::map<std::string, std::vector<std::pair<std::string, Member>>> by_ctr;
  for (auto& net : dir_entries(state_ + "/networks/members"))
    for (auto& m : members(net)) {
      by_net[net].push_back(m);
      by_ctr[m.container_id].push_back({net, m});
    }
  // The containers that link to the one that came or went: their files name it.
  if (changed)
    for (auto& [cid, entries] : by_ctr) {
      const Member& o = entries.front().second;
      if (o.ns == changed->ns &&
          std::any_of(o.links.begin(), o.links.end(), [&](const auto& l) { return l.first == changed->container_name; }))
        ids.push_back(cid);
    }
  std::set<std::string> done;
  for (auto& id : ids) {
    if (!done.insert(id).second) continue;
    auto it = by_ctr.find(id);
    if (it == by_ctr.end()) continue;
    const Member& self = it->second.front().second;
    const std::string hosts_file = self.hosts_file;
    if (hosts_file.empty()) continue;
    std::string text;
    fs::read_file_if_exists(self.hosts_base, text);
    std::set<std::string> seen_lines;
    auto line = [&](const std::string& ip, std::vector<std::string> names) {
      std::string l = ip;
      std::set<std::string> uniq;
      for (auto& n : names)
        if (!n.empty() && uniq.insert(n).second) l += "\t" + n;
      l += "\n";
      if (seen_lines.insert(l).second) text += l;
    };
    // On a user network a name is also NAME.NETWORK, as Docker's resolver answers it.
    auto qualified = [](std::vector<std::string>& names, const Member& m, const std::string& net) {
      if (net == kDefault) return;
      for (const std::string* n : {&m.container_name})
        if (!n->empty()) names.push_back(*n + "." + net);
      for (auto& a : m.aliases) names.push_back(a + "." + net);
    };
    for (auto& [net, m] : it->second) {
      // With --domainname, the full name first (Docker's "IP HOST.DOMAIN HOST").
      std::vector<std::string> names = {m.domainname.empty() || m.hostname.empty() ? "" : m.hostname + "." + m.domainname,
                                        m.hostname, m.container_name};
      names.insert(names.end(), m.aliases.begin(), m.aliases.end());
      qualified(names, m, net);
      if (!m.ip.empty()) line(m.ip, names);
    }
    // Peers by name on user networks only: Docker's default bridge has no names either (and
    // with many containers on it, every join would rewrite every file).
    for (auto& [net, m] : it->second)
      for (auto& peer : net == kDefault ? std::vector<Member>{} : by_net[net]) {
        if (peer.container_id == id || peer.ip.empty()) continue;
        std::vector<std::string> names = {peer.container_name};
        names.insert(names.end(), peer.aliases.begin(), peer.aliases.end());
        names.push_back(peer.hostname);
        qualified(names, peer, net);
        line(peer.ip, names);
      }
    // Its links: the linked container's address on the first network both are on (the
    // default one included, as Docker's legacy links there).
    for (const auto& link : self.links)
      for (auto& entry : it->second) {
        auto& peers = by_net[entry.first];
        auto peer = std::find_if(peers.begin(), peers.end(), [&](const Member& p) {
          return p.container_name == link.first && p.ns == self.ns && p.container_id != id && !p.ip.empty();
        });
        if (peer == peers.end()) continue;
        line(peer->ip, {link.second, peer->container_name});
        break;
      }
    write_hosts_in_place(hosts_file, text);  // false: the container is gone meanwhile
  }
}



// ---- warm spares ---------------------------------------------------------------------------
//
// A spare is an attachment made ahead (netns + ADD with CNI_CONTAINERID <sid>) so that a
// start skips the plugins: the bridge plugin and host-local are two Go programs, ~40 ms here,
// against ~1 ms to take a spare. Its files: <sid>.new while the plugins run (a maker that
// dies leaves it: the next maker runs its DEL), <sid>.json when ready, <sid>.claimed while a
// start takes it (the member record then names it as cni_id), <sid>.ns its namespace.

namespace {

// Whether a ready spare can still be given to a container: its record is of this network,
// its namespace is one (a reboot with --state on disk leaves a plain file), and on a bridge
// network its host-side veth is still a port of the bridge (a bridge deleted by hand and made
// again by the next ADD has lost it).
bool spare_usable(const json& sp, const Network& net, const std::string& ns) {
  if (!sp.is_object() || sp.value("network_id", "") != net.id || !is_netns(ns)) return false;
  if (net.driver != "bridge" || net.bridge.empty()) return true;
  const json result = sp.value("result", json::object());
  for (auto& i : result.value("interfaces", json::array())) {
    if (i.contains("sandbox")) continue;
    const std::string name = i.value("name", "");
    if (name.empty() || name == net.bridge) continue;
    char buf[256];
    ssize_t n = ::readlink(("/sys/class/net/" + name + "/master").c_str(), buf, sizeof buf - 1);
    if (n <= 0) return false;
    std::string master(buf, static_cast<size_t>(n));
    return master.substr(master.rfind('/') + 1) == net.bridge;
  }
  return false;
}

}  // namespace

std::string Networks::spares_dir(const std::string& network) const { return state_ + "/networks/spares/" + network; }

UniqueFd Networks::spares_lock(bool wait) {
  // No mkdir: a maker started for a state directory removed meanwhile makes nothing there.
  UniqueFd fd(::open((state_ + "/networks/spares.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) {
    if (errno == ENOENT) return fd;
    throw_errno("lock spares");
  }
  while (::flock(fd.get(), LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
    if (errno == EWOULDBLOCK && !wait) return UniqueFd();
    if (errno != EINTR) throw_errno("lock spares");
  }
  return fd;
}

int Networks::spares_ready(const std::string& network) {
  int n = 0;
  for (auto& f : dir_entries(spares_dir(network)))
    if (ends_with(f, ".json")) ++n;
  return n;
}

std::optional<Member> Networks::take_spare(const Network& net, Member m) {
  if (!net.berth_made || net.warm <= 0 || !m.ip.empty() || !m.mac.empty() || m.ifname != "eth0") return std::nullopt;
  const size_t tail = Cni::port_tail(net.conflist);
  if (!m.ports.empty() && tail == net.conflist["plugins"].size() && !native_publish(net)) return std::nullopt;  // attach says why
  if (spares_ready(net.name) == 0) return std::nullopt;
  const std::string dir = spares_dir(net.name);
  wait_released_ports(m);
  UniqueFd lk = lock();
  ensure_rules_locked(net);
  m.native_ports = native_publish(net);
  if (m.native_ports && !m.ports.empty()) ensure_hostports_locked();
  if (member(net.name, m.container_id)) throw Error(ErrorKind::conflict, "container " + m.container_name + " is already attached to network " + net.name);
  for (auto& f : dir_entries(dir)) {
    if (!ends_with(f, ".json")) continue;
    const std::string sid = f.substr(0, f.size() - 5), ns = dir + "/" + sid + ".ns";
    const std::string ready = dir + "/" + f, claimed = dir + "/" + sid + ".claimed";
    std::string text;
    if (!fs::read_file_if_exists(ready, text)) continue;
    json sp = json::parse(text, nullptr, false);
    // Not usable (spare_usable): the next maker removes it.
    if (!spare_usable(sp, net, ns)) continue;
    if (::rename(ready.c_str(), claimed.c_str()) < 0) continue;
    try {
      pick_ports_locked(net, m);
      bind_netns(ns, m.netns);
    } catch (...) {
      ::rename(claimed.c_str(), ready.c_str());  // back to the pool
      throw;
    }
    m.cni_id = sid;
    m.result = sp.value("result", json());
    take_addresses(m);
    m.ports_pending = !m.ports.empty();
    fs::mkdir_p(state_ + "/networks/members/" + net.name, 0700);
    save_member_locked(net.name, m);
    // The member owns it now (a crash before these two lines: the maker sees the claim is
    // the member's and only removes the files).
    try {
      remove_netns(ns);
    } catch (const Error& e) {
      log::warn(e.what());
    }
    ::unlink(claimed.c_str());
    std::vector<std::string> ids = {m.container_id};
    if (net.name != kDefault)
      for (auto& o : members(net.name)) ids.push_back(o.container_id);
    rewrite_hosts_locked(ids, &m);
    return m;
  }
  return std::nullopt;
}

Member Networks::publish(const Network& net, Member m) {
  if (!m.ports_pending) return m;
  if (m.native_ports) {
    install_ports(net, m);  // its errors name the network
  } else {
    try {
      m.result = cni_.add_from(net.conflist, attachment(m), m.result, Cni::port_tail(net.conflist));
    } catch (const PluginError& e) {
      throw PluginError("network " + net.name + ": " + e.what(), e.cni_code());
    } catch (const Error& e) {
      throw Error("network " + net.name + ": " + e.what());
    }
  }
  m.ports_pending = false;
  UniqueFd lk = lock();
  if (fs::exists(member_path(net.name, m.container_id)))
    save_member_locked(net.name, m);
  return m;
}

bool Networks::check(const Network& net, std::vector<std::string>& report) {
  bool ok = true;
  auto one = [&](const std::string& who, const Member& m) {
    try {
      cni_.check(net.conflist, attachment(m), m.result);
      if (m.native_ports && !m.ports.empty() && !m.ports_pending) {
        const std::string chain = ports_chain(net.name, m.container_id);
        std::string out;
        if (run({"iptables", "-w", "-t", "nat", "-S", chain}, "", out) != 0 || out.find(" -j DNAT ") == std::string::npos)
          throw Error("published ports: the DNAT rules (chain " + chain + ") are missing");
      }
      report.push_back(who + " ok");
    } catch (const Error& e) {
      report.push_back(who + ": " + e.what());
      ok = false;
    }
  };
  for (auto& m : members(net.name)) one(m.container_name.empty() ? m.container_id.substr(0, 12) : m.container_name, m);
  const std::string dir = spares_dir(net.name);
  for (auto& f : dir_entries(dir)) {
    if (!ends_with(f, ".json")) continue;
    std::string text;
    if (!fs::read_file_if_exists(dir + "/" + f, text)) continue;
    json sp = json::parse(text, nullptr, false);
    if (!sp.is_object()) continue;
    Member m;
    m.container_id = f.substr(0, f.size() - 5);
    m.netns = dir + "/" + m.container_id + ".ns";
    m.result = sp.value("result", json());
    one("spare " + m.container_id.substr(0, 12), m);
  }
  return ok;
}

void Networks::reap_spares_locked(const Network& net, bool everything) {
  const std::string dir = spares_dir(net.name);
  const auto files = dir_entries(dir);
  const std::set<std::string> present(files.begin(), files.end());
  std::set<std::string> owned;  // spares that members took
  for (auto& f : files)
    if (ends_with(f, ".claimed")) {
      for (auto& m : members(net.name)) owned.insert(m.cni_id);
      break;
    }
  for (auto& f : files) {
    const size_t dot = f.rfind('.');
    if (dot == std::string::npos) continue;
    const std::string sid = f.substr(0, dot), ext = f.substr(dot + 1), ns = dir + "/" + sid + ".ns";
    if (ext == "ns") {
      if (!present.count(sid + ".json") && !present.count(sid + ".new") && !present.count(sid + ".claimed")) {
        try {
          remove_netns(ns);
        } catch (const Error& e) {
          log::warn(e.what());
        }
      }
      continue;
    }
    if (ext != "json" && ext != "new" && ext != "claimed") continue;
    std::string text;
    if (!fs::read_file_if_exists(dir + "/" + f, text)) continue;
    json sp = json::parse(text, nullptr, false);
    if (!sp.is_object()) sp = json::object();
    const bool ns_ok = is_netns(ns);
    if (ext == "json" && !everything && spare_usable(sp, net, ns)) continue;
    if (ext == "new") Cni::stop_adds(sid);  // a killed maker's plugins may still run
    if (ext != "claimed" || !owned.count(sid)) {
      Member probe;
      probe.container_id = sid;
      probe.netns = ns_ok ? ns : "";  // a lost namespace: DEL releases the lease only
      try {
        cni_.del(net.conflist, attachment(probe), sp.value("result", json()));
      } catch (const Error& e) {
        log::debug("network " + net.name + ": DEL of spare " + sid.substr(0, 12) + ": " + e.what());
      }
    }
    try {
      remove_netns(ns);
    } catch (const Error& e) {
      log::warn(e.what());
    }
    ::unlink((dir + "/" + f).c_str());
  }
  if (everything) ::rmdir(dir.c_str());
}

void Networks::fill(const std::string& name) {
  for (int made = 0; made <= 16; ++made) {
    // Locked one spare at a time: `network rm` waits for one ADD at most.
    UniqueFd pool = spares_lock(false);
    if (!pool) return;  // another maker is at work (or the state is gone)
    auto net = find(name);
    if (!net || !net->berth_made) return;
    {
      UniqueFd lk = lock();
      reap_spares_locked(*net, false);
    }
    if (spares_ready(name) >= net->warm) return;
    const std::string dir = spares_dir(name);
    fs::mkdir_p(dir, 0700);
    const std::string sid = random_hex64(), ns = dir + "/" + sid + ".ns", pending = dir + "/" + sid + ".new";
    json sp = {{"cni_id", sid}, {"network_id", net->id}, {"netns", ns}, {"ifname", "eth0"}, {"result", nullptr}};
    fs::write_file_atomic(pending, sp.dump(), 0600);
    Member probe;
    probe.container_id = sid;
    probe.netns = ns;
    try {
      create_netns(ns);
      pin_bridge_mac(*net);
      sp["result"] = cni_.add(net->conflist, attachment(probe));  // undoes itself on failure
      fs::write_file_atomic(pending, sp.dump(), 0600);
      if (::rename(pending.c_str(), (dir + "/" + sid + ".json").c_str()) < 0) throw_errno("rename `" + pending + "`");
    } catch (const Error& e) {
      log::warn("network " + name + ": cannot make a spare: " + e.what());
      UniqueFd lk = lock();
      reap_spares_locked(*net, false);  // this one among them
      return;
    }
  }
}

json Networks::inspect(const Network& n) {
  json containers = json::object();
  for (auto& m : members(n.name))
    containers[m.container_id] = {{"Name", m.container_name}, {"EndpointID", m.container_id.substr(0, 12) + "-" + n.id.substr(0, 12)},
                                  {"MacAddress", m.mac}, {"IPv4Address", m.cidr}, {"IPv6Address", ""}};
  json config = json::array();
  if (!n.subnet.empty()) {
    config.push_back({{"Subnet", n.subnet}, {"Gateway", n.gateway}});
    if (!n.ip_range.empty()) config[0]["IPRange"] = n.ip_range;
    if (!n.aux_addresses.empty()) config[0]["AuxiliaryAddresses"] = n.aux_addresses;
  }
  char created[64] = "0001-01-01T00:00:00Z";
  if (n.created > 0) {
    time_t t = static_cast<time_t>(n.created / 1000000000);
    tm tmv{};
    ::gmtime_r(&t, &tmv);
    std::strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  }
  // The bridge's name is an option only where Docker shows one: the default network (its
  // docker0) or a network created with it. A user network's shows in its CNI plugins (compose
  // compares Options with its file and would recreate the network over it).
  json options = n.options;
  if (!n.bridge.empty() && n.name == kDefault) options["com.docker.network.bridge.name"] = n.bridge;
  return {{"Name", n.name},
          {"Id", n.id},
          {"Created", created},
          {"Scope", "local"},
          {"Driver", n.driver},
          {"EnableIPv6", false},
          {"IPAM", {{"Driver", "default"}, {"Options", json::object()}, {"Config", config}}},
          {"Internal", n.internal},
          {"Attachable", n.attachable},
          {"Ingress", false},
          {"Containers", containers},
          {"Options", options},
          {"Labels", n.labels},
          {"CNI", {{"Plugins", n.conflist["plugins"]}, {"PluginDirs", cni_.dirs()}}}};
}

}  // namespace berth::network
