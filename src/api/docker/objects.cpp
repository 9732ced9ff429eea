// Networks and volumes.
#include <algorithm>
#include <set>

#include "api/docker/api.hpp"
#include "api/docker/internal.hpp"
#include "engine/model.hpp"
#include "network/networks.hpp"

namespace berth::api::docker {

using nlohmann::json;

namespace {

// A network a request names (NetworkMode, EndpointsConfig): Docker's `default` and `bridge`
// are berth's default network.
std::string network_ref(const std::string& ref) {
  return ref == "default" ? network::Networks::kDefault : network::Networks::canonical(ref);
}

std::map<std::string, std::string> string_map(const json& j, const char* what) {
  std::map<std::string, std::string> out;
  if (j.is_null()) return out;
  if (!j.is_object()) throw Error(ErrorKind::invalid_argument, std::string(what) + ": want an object of strings");
  for (auto& [k, v] : j.items()) {
    if (!v.is_string()) throw Error(ErrorKind::invalid_argument, std::string(what) + "." + k + ": want a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

}  // namespace

std::string docker_network_name(const std::string& name) {
  return name == network::Networks::kDefault ? network::Networks::kDockerDefault : name;
}

std::string docker_network_mode(const std::string& mode) {
  return mode == network::Networks::kDefault ? "default" : mode;
}

json docker_network_keys(const json& networks) {
  if (!networks.is_object() || !networks.contains(network::Networks::kDefault)) return networks;
  json out = json::object();
  for (const auto& [name, value] : networks.items()) out[docker_network_name(name)] = value;
  return out;
}

void Api::network_list(Exchange& ex, const Params&) {
  const auto filters = parse_filters(ex.req().param("filters"));
  check_filters(filters, {"name", "id", "driver", "type", "scope", "label", "dangling"});
  for (const auto& t : filters.count("type") ? filters.at("type") : std::vector<std::string>{})
    if (t != "custom" && t != "builtin")
      throw Error(ErrorKind::invalid_argument, "invalid filter: 'type' must be one of [builtin custom], not `" + t + "`");
  auto any = [&](const char* k, const std::function<bool(const std::string&)>& ok) { return filter_any(filters, k, ok); };
  json out = json::array();
  std::vector<json> all;
  for (auto& n : eng_.networks().list()) all.push_back(eng_.networks().inspect(n));
  all.push_back(*network::builtin_network("host"));
  all.push_back(*network::builtin_network("none"));
  for (auto& n : all) {
    const std::string id = n.value("Id", ""), driver = n.value("Driver", "");
    const std::string own_name = n.value("Name", ""), name = docker_network_name(own_name);
    n["Name"] = name;
    const bool builtin = name == "host" || name == "none" || own_name == network::Networks::kDefault;
    const json labels = n.value("Labels", json::object());
    if (!any("name", [&](const std::string& v) { return name.find(v) != std::string::npos; })) continue;
    if (!any("id", [&](const std::string& v) { return id.rfind(v, 0) == 0; })) continue;
    if (!any("driver", [&](const std::string& v) { return v == driver; })) continue;
    if (!any("type", [&](const std::string& v) { return (v == "builtin") == builtin; })) continue;
    if (!any("scope", [&](const std::string& v) { return v == "local"; })) continue;
    if (!filter_all(filters, "label", [&](const std::string& v) { return engine::has_label(labels, v); })) continue;
    if (!any("dangling", [&](const std::string& v) {
          return (v == "true" || v == "1") == (!builtin && eng_.network_users(own_name).empty());
        }))
      continue;
    out.push_back(n);
  }
  ex.reply(200, out);
}

void Api::network_inspect(Exchange& ex, const Params& p) {
  const std::string ref = p["id"];
  auto n = eng_.networks().find(network_ref(ref));
  if (!n) {
    if (auto builtin = network::builtin_network(ref)) return ex.reply(200, *builtin);
    throw Error(ErrorKind::not_found, "network " + ref + " not found");
  }
  json j = eng_.networks().inspect(*n);
  j["Name"] = docker_network_name(n->name);
  ex.reply(200, j);
}

void Api::network_create(Exchange& ex, const Params&) {
  const json body = ex.json_body();
  if (!body.is_object()) throw Error(ErrorKind::invalid_argument, "network create: a JSON object is required");
  network::CreateSpec spec;
  const json name = body.value("Name", json());
  if (!name.is_string() || name.get<std::string>().empty()) throw Error(ErrorKind::invalid_argument, "network create: Name is required");
  spec.name = name.get<std::string>();
  const json driver = body.value("Driver", json("bridge"));
  spec.driver = driver.is_string() && !driver.get<std::string>().empty() ? driver.get<std::string>() : "bridge";
  if (body.value("EnableIPv6", json(false)) == true)
    throw Error(ErrorKind::invalid_argument, "network create: IPv6 is not supported (IPv4 only)");
  spec.internal = body.value("Internal", json(false)) == true;
  spec.attachable = body.value("Attachable", json(false)) == true;
  spec.labels = json(string_map(body.value("Labels", json()), "Labels"));
  spec.options = json(string_map(body.value("Options", json()), "Options"));
  const json ipam = body.value("IPAM", json::object());
  if (ipam.is_object() && ipam.contains("Config") && ipam["Config"].is_array() && ipam["Config"].size() > 1)
    throw Error(ErrorKind::invalid_argument, spec.driver + " driver doesn't support multiple subnets");
  if (ipam.is_object() && ipam.contains("Config") && ipam["Config"].is_array() && !ipam["Config"].empty()) {
    const json& c = ipam["Config"][0];
    if (c.is_object()) {
      // The SDK's IPAMPool sends null for what it does not set (Gateway, IPRange).
      auto text = [&](const char* key) {
        auto it = c.find(key);
        if (it == c.end() || it->is_null()) return std::string();
        if (!it->is_string()) throw Error(ErrorKind::invalid_argument, std::string("IPAM.Config.") + key + ": want a string");
        return it->get<std::string>();
      };
      spec.subnet = text("Subnet");
      spec.gateway = text("Gateway");
      spec.ip_range = text("IPRange");
      if (auto aux = c.find("AuxiliaryAddresses"); aux != c.end() && !aux->is_null())
        spec.aux_addresses = string_map(*aux, "IPAM.Config.AuxiliaryAddresses");
    }
  }
  // Docker's CheckDuplicate: a name taken is a conflict (compose relies on it).
  if (eng_.networks().find(spec.name)) throw Error(ErrorKind::conflict, "network with name " + spec.name + " already exists");
  auto n = eng_.networks().create(spec);
  eng_.emit("network", "create", n.id, {{"name", n.name}, {"type", n.driver}});
  ex.reply(201, json{{"Id", n.id}, {"Warning", ""}});
}

void Api::network_delete(Exchange& ex, const Params& p) {
  const std::string& ref = p["id"];
  // Docker's pre-defined networks are never removed through its API, whatever names them: the
  // default one (berth's own name for Docker's bridge) by `bridge`, its id or its name alike
  // (`docker network rm $(docker network ls -q)` must leave it). `default` names none (404).
  if (ref == "default") throw Error(ErrorKind::not_found, "network default not found");
  if (auto n = eng_.networks().find(network_ref(ref)); n && n->name == network::Networks::kDefault)
    throw Error(ErrorKind::permission, "bridge is a pre-defined network and cannot be removed");
  eng_.remove_network(ref);
  ex.reply_empty(204);
}

void Api::network_connect(Exchange& ex, const Params& p) {
  const json body = ex.json_body();
  if (!body.is_object() || !body.value("Container", json()).is_string())
    throw Error(ErrorKind::invalid_argument, "network connect: Container is required");
  json endpoint = body.value("EndpointConfig", json::object());
  if (endpoint.is_null()) endpoint = json::object();
  eng_.connect(body["Container"].get<std::string>(), network_ref(p["id"]), endpoint);
  ex.reply_empty(200);
}

void Api::network_disconnect(Exchange& ex, const Params& p) {
  const json body = ex.json_body();
  if (!body.is_object() || !body.value("Container", json()).is_string())
    throw Error(ErrorKind::invalid_argument, "network disconnect: Container is required");
  eng_.disconnect(body["Container"].get<std::string>(), network_ref(p["id"]), body.value("Force", json(false)) == true);
  ex.reply_empty(200);
}

void Api::network_prune(Exchange& ex, const Params&) {
  const engine::PruneFilter f = prune_filter(ex.req().param("filters"));
  const auto r = eng_.prune_networks(f);
  ex.reply(200, json{{"NetworksDeleted", r.deleted.empty() ? json(nullptr) : json(r.deleted)}});
}

void Api::volume_list(Exchange& ex, const Params&) {
  const auto filters = parse_filters(ex.req().param("filters"));
  check_filters(filters, {"name", "driver", "dangling", "label"});
  auto any = [&](const char* k, const std::function<bool(const std::string&)>& ok) { return filter_any(filters, k, ok); };
  json out = json::array();
  for (auto& v : eng_.volumes().list()) {
    const json labels(v.labels);
    if (!any("name", [&](const std::string& x) { return v.name.find(x) != std::string::npos; })) continue;
    if (!any("driver", [&](const std::string& x) { return x == "local"; })) continue;
    if (!any("dangling", [&](const std::string& x) { return (x == "true" || x == "1") == eng_.volume_users(v.name).empty(); }))
      continue;
    if (!filter_all(filters, "label", [&](const std::string& x) { return engine::has_label(labels, x); })) continue;
    out.push_back(eng_.volumes().inspect(v));
  }
  ex.reply(200, json{{"Volumes", out}, {"Warnings", nullptr}});
}

void Api::volume_inspect(Exchange& ex, const Params& p) {
  auto v = eng_.volumes().get(p["name"]);
  if (!v) throw Error(ErrorKind::not_found, "get " + p["name"] + ": no such volume");
  ex.reply(200, eng_.volumes().inspect(*v));
}

void Api::volume_create(Exchange& ex, const Params&) {
  json body = ex.json_body();
  if (body.is_null()) body = json::object();
  if (!body.is_object()) throw Error(ErrorKind::invalid_argument, "volume create: a JSON object is required");
  const json driver = body.value("Driver", json(""));
  if (!driver.is_string() || (driver != "" && driver != "local"))
    throw Error(ErrorKind::invalid_argument, "volume create: only the local driver exists");
  const auto opts = string_map(body.value("DriverOpts", json()), "DriverOpts");
  const json name = body.value("Name", json(""));
  if (!name.is_string()) throw Error(ErrorKind::invalid_argument, "Name: want a string");
  auto v = eng_.volumes().create(name.get<std::string>(), string_map(body.value("Labels", json()), "Labels"), false, false, opts);
  eng_.emit("volume", "create", v.name, {{"driver", "local"}});
  ex.reply(201, eng_.volumes().inspect(v));
}

void Api::volume_delete(Exchange& ex, const Params& p) {
  eng_.remove_volume(p["name"], ex.req().flag("force"));
  ex.reply_empty(204);
}

void Api::volume_prune(Exchange& ex, const Params&) {
  bool all = true;  // API 1.41: every unused volume (1.42 made anonymous ones the default)
  const engine::PruneFilter f = prune_filter(ex.req().param("filters"), &all);
  const auto r = eng_.prune_volumes(f, all);
  ex.reply(200, json{{"VolumesDeleted", r.deleted.empty() ? json(nullptr) : json(r.deleted)}, {"SpaceReclaimed", r.reclaimed}});
}

}  // namespace berth::api::docker
