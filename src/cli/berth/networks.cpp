// Network verbs: network create, ls, inspect, rm, prune, connect, disconnect.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "network/networks.hpp"

namespace berth::cli {

using nlohmann::json;

namespace {

json key_values(const std::vector<std::string>& items, const char* flag) {
  json out = json::object();
  for (auto& kv : items) {
    auto eq = kv.find('=');
    if (eq == 0) throw Error(std::string("invalid ") + flag + " `" + kv + "` (KEY=VALUE)");
    out[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  return out;
}

}  // namespace

int cmd_network_create(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("network create",
         {{"driver", "d", true}, {"subnet", "", true, true}, {"gateway", "", true, true}, {"ip-range", "", true, true},
          {"aux-address", "", true, true}, {"internal", "", false}, {"label", "", true, true}, {"opt", "o", true, true}, {"attachable", "", false}, {"ipv6", "", false}},
         argc, argv, first);
  if (a.positional().size() != 1) throw Error("network create: exactly one network name is required");
  if (a.has("ipv6")) throw Error("network create: --ipv6 is not supported (IPv4 only)");
  network::CreateSpec spec;
  spec.name = a.positional()[0];
  spec.driver = a.get("driver", "bridge");
  // One IPv4 pool per network (Docker's bridge driver: "doesn't support multiple subnets").
  if (a.all("subnet").size() > 1) throw Error("network create: bridge driver doesn't support multiple subnets");
  for (const char* f : {"gateway", "ip-range"})
    if (a.all(f).size() > 1) throw Error(std::string("network create: --") + f + " given more than once");
  spec.subnet = a.get("subnet");
  spec.gateway = a.get("gateway");
  spec.ip_range = a.get("ip-range");
  for (const auto& kv : a.all("aux-address")) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) throw Error("invalid --aux-address `" + kv + "`: NAME=IP");
    spec.aux_addresses[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  spec.internal = a.has("internal");
  spec.attachable = a.has("attachable");
  spec.labels = key_values(a.all("label"), "--label");
  spec.options = key_values(a.all("opt"), "-o/--opt");
  auto eng = make_engine(e);
  auto n = eng.networks().create(spec);
  eng.emit("network", "create", n.id, {{"name", n.name}, {"type", n.driver}});
  std::puts(n.id.c_str());
  return 0;
}

int cmd_network_ls(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("network ls", {{"quiet", "q", false}, {"format", "", true}, {"no-trunc", "", false}, {"filter", "f", true, true}},
         argc, argv, first);
  auto eng = make_engine(e);
  struct Row {
    std::string id, name, driver, scope;
    json labels;
    bool builtin;
  };
  std::vector<Row> rows;
  for (auto& n : eng.networks().list()) rows.push_back({n.id, n.name, n.driver, "local", n.labels, false});
  // Docker's two built-in pseudo networks (no CNI list behind them).
  for (const char* name : {"host", "none"}) {
    const json b = *network::builtin_network(name);
    rows.push_back({b.value("Id", ""), name, b.value("Driver", ""), "local", json::object(), true});
  }
  // Docker's filters: the values of one key are alternatives, labels must all hold.
  const Filters filters("network ls", a.all("filter"), {"name", "id", "driver", "label", "type", "dangling", "scope"});
  filters.check_values("type", {"custom", "builtin"});
  filters.check_values("dangling", {"true", "false", "1", "0"});
  std::vector<Row> kept;
  for (auto& r : rows) {
    if (filters.any("name", [&](const std::string& v) { return r.name.find(v) != std::string::npos; }) &&
        filters.any("driver", [&](const std::string& v) { return r.driver == v; }) &&
        filters.any("id", [&](const std::string& v) { return r.id.rfind(v, 0) == 0; }) &&
        filters.any("scope", [&](const std::string& v) { return r.scope == v; }) &&
        filters.any("type", [&](const std::string& v) { return (v == "builtin") == r.builtin; }) &&
        filters.any("dangling", [&](const std::string& v) {
          const bool unused = !r.builtin && eng.network_users(r.name).empty() && eng.networks().members(r.name).empty();
          return (v == "true" || v == "1") == unused;
        }) &&
        filters.all("label", [&](const std::string& v) { return has_label(r.labels, v); }))
      kept.push_back(r);
  }
  rows = kept;
  const bool trunc = !a.has("no-trunc");
  const std::string format = a.get("format", "table");
  for (auto& r : rows)
    if (trunc) r.id = r.id.substr(0, 12);
  if (a.has("quiet")) {
    for (auto& r : rows) std::puts(r.id.c_str());
    return 0;
  }
  if (format != "table") {
    std::vector<json> views;
    for (auto& r : rows)
      views.push_back({{"ID", r.id}, {"Name", r.name}, {"Driver", r.driver}, {"Scope", r.scope}, {"IPv6", "false"},
                       {"Internal", "false"}});
    static const json headers = {{"ID", "NETWORK ID"}, {"Name", "NAME"}, {"Driver", "DRIVER"}, {"Scope", "SCOPE"},
                                 {"IPv6", "IPV6"}, {"Internal", "INTERNAL"}};
    print_list(format, "", headers, views);
    return 0;
  }
  size_t wi = trunc ? 12 : 64, wn = 4;
  for (auto& r : rows) wn = std::max(wn, r.name.size());
  std::printf("%-*s   %-*s   %-8s   %s\n", static_cast<int>(wi), "NETWORK ID", static_cast<int>(wn), "NAME", "DRIVER", "SCOPE");
  for (auto& r : rows)
    std::printf("%-*s   %-*s   %-8s   %s\n", static_cast<int>(wi), r.id.c_str(), static_cast<int>(wn), r.name.c_str(),
                r.driver.c_str(), r.scope.c_str());
  return 0;
}

int cmd_network_inspect(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("network inspect", {{"format", "f", true}}, argc, argv, first);
  if (a.positional().empty()) throw Error("network inspect: a network is required");
  auto eng = make_engine(e);
  json out = json::array();
  std::string missing;
  for (auto& ref : a.positional()) {
    auto n = eng.networks().find(ref);
    if (!n) {
      if (auto builtin = network::builtin_network(ref)) out.push_back(*builtin);
      else missing = ref;
      continue;
    }
    out.push_back(eng.networks().inspect(*n));
  }
  print_inspect(a.get("format"), out, 0);
  if (!missing.empty()) throw Error("network " + missing + " not found");
  return 0;
}

// CNI CHECK of what is attached to the networks (all of them without arguments): the
// plugins look at the interfaces, addresses and leases they made.
int cmd_network_check(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("network check", {}, argc, argv, first);
  auto eng = make_engine(e);
  std::vector<network::Network> nets;
  if (a.positional().empty()) nets = eng.networks().list();
  for (auto& ref : a.positional()) nets.push_back(eng.networks().get(ref));
  bool ok = true;
  for (auto& n : nets) {
    std::vector<std::string> report;
    ok = eng.networks().check(n, report) && ok;
    for (auto& line : report) std::printf("%s %s\n", n.name.c_str(), line.c_str());
  }
  return ok ? 0 : 1;
}

// Internal (started by a container start, in the background): makes the network's spares.
int cmd_network_fill(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("network fill", {}, argc, argv, first);
  if (a.positional().size() != 1) throw Error("network fill: exactly one network name is required");
  // Behind starts and containers for the CPUs, but not SCHED_IDLE: an idle process holding a
  // lock (host-local's, the networks lock, the kernel's rtnl) on a busy host would hold up
  // the starts that wait for it for seconds.
  ::setpriority(PRIO_PROCESS, 0, 10);
  auto eng = make_engine(e);
  eng.networks().fill(a.positional()[0]);
  return 0;
}

int cmd_network_rm(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("network rm", {{"force", "f", false}}, argc, argv, first);
  if (a.positional().empty()) throw Error("network rm: a network is required");
  auto eng = make_engine(e);
  int rc = 0;
  for (auto& ref : a.positional()) {
    try {
      if (eng.remove_network(ref, a.has("force"))) std::puts(ref.c_str());
    } catch (const Error& ex) {
      std::fprintf(stderr, "berth: %s\n", ex.what());
      rc = 1;
    }
  }
  return rc;
}

int cmd_network_connect(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("network connect", {{"alias", "", true, true}, {"ip", "", true}, {"link", "", true, true}}, argc, argv, first);
  if (a.positional().size() != 2) throw Error("network connect: NETWORK CONTAINER are required");
  json ep = json::object();
  if (!a.all("alias").empty()) ep["Aliases"] = a.all("alias");
  if (a.has("ip")) ep["IPAMConfig"] = {{"IPv4Address", a.get("ip")}};
  auto eng = make_engine(e);
  eng.connect(a.positional()[1], a.positional()[0], ep);
  return 0;
}

int cmd_network_disconnect(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("network disconnect", {{"force", "f", false}}, argc, argv, first);
  if (a.positional().size() != 2) throw Error("network disconnect: NETWORK CONTAINER are required");
  auto eng = make_engine(e);
  eng.disconnect(a.positional()[1], a.positional()[0], a.has("force"));
  return 0;
}

}  // namespace berth::cli
