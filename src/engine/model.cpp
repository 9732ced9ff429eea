#include "engine/model.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"
#include "image/service.hpp"

namespace berth::engine {

using nlohmann::json;

namespace {

constexpr std::string_view kStatusNames[] = {"created", "running", "paused", "restarting", "removing", "exited", "dead"};

}  // namespace

std::string_view status_name(Status s) { return kStatusNames[static_cast<int>(s)]; }

Status parse_status(std::string_view name) {
  for (size_t i = 0; i < std::size(kStatusNames); ++i)
    if (kStatusNames[i] == name) return static_cast<Status>(i);
  return Status::created;
}

std::vector<std::string> command_line(const json& config) {
  std::vector<std::string> out;
  if (!config.is_object()) return out;
  for (const char* k : {"Entrypoint", "Cmd"})
    if (auto it = config.find(k); it != config.end() && it->is_array())
      for (auto& x : *it)
        if (x.is_string()) out.push_back(x.get<std::string>());
  return out;
}

std::string command_text(const json& config) {
  std::string out;
  const std::vector<std::string> args = command_line(config);
  for (size_t i = 0; i < args.size(); ++i) {
    if (i) out += ' ';
    out += i && args[i].find(' ') != std::string::npos ? "'" + args[i] + "'" : args[i];
  }
  return out;
}

std::vector<std::string> command_line(const ContainerConfig& config) {
  std::vector<std::string> out = config.entrypoint;
  out.insert(out.end(), config.cmd.begin(), config.cmd.end());
  return out;
}

Bind volume_bind(const json& entry) {
  const std::string opts = entry.value("Options", "");
  return {entry.value("Name", ""), entry.value("Destination", ""), opts.empty() ? std::vector<std::string>{} : split(opts, ',')};
}

bool Bind::read_only() const {
  bool ro = false;
  for (auto& o : options) {
    if (o == "ro" || o == "readonly" || o == "rro") ro = true;
    else if (o == "rw") ro = false;
  }
  return ro;
}

bool Bind::recursive() const {
  bool r = true;
  for (auto& o : options) {
    if (o == "bind") r = false;
    else if (o == "rbind") r = true;
  }
  return r;
}

Bind::RecursiveRo Bind::recursive_ro() const {
  RecursiveRo m = RecursiveRo::if_possible;
  for (auto& o : options) {
    if (o == "rro") m = RecursiveRo::required;
    else if (o == "norro") m = RecursiveRo::off;
  }
  return m;
}

std::string Bind::propagation() const {
  std::string p = "rprivate";
  for (auto& o : options)
    if (o == "private" || o == "rprivate" || o == "shared" || o == "rshared" || o == "slave" || o == "rslave") p = o;
  return p;
}

std::string Bind::options_text() const { return join(options, ","); }

Bind parse_bind(const std::string& spec) {
  // Docker's, and: rro (nerdctl's: recursively read-only, or an error), bind/rbind (Podman's:
  // without/with the mounts below the source), norro (what --mount's bind-recursive=writable
  // becomes: read-only on the top mount only).
  static const std::set<std::string> known = {"ro", "readonly", "rw", "z", "Z", "nocopy", "private",
                                              "rprivate", "shared", "rshared", "slave", "rslave",
                                              "rro", "norro", "bind", "rbind"};
  const size_t c1 = spec.find(':');
  if (c1 == std::string::npos || c1 == 0)
    throw Error(ErrorKind::invalid_argument, "invalid volume specification `" + spec + "`: want SRC:DST[:OPTIONS]");
  Bind b;
  b.source = spec.substr(0, c1);
  std::string rest = spec.substr(c1 + 1);
  if (const size_t c2 = rest.find(':'); c2 != std::string::npos) {
    // Docker Desktop's consistency modes are accepted and mean nothing on Linux (Docker's too).
    for (auto& o : split(rest.substr(c2 + 1), ','))
      if (!o.empty() && o != "cached" && o != "delegated" && o != "consistent") b.options.push_back(o);
    rest = rest.substr(0, c2);
  }
  if (rest.empty() || rest[0] != '/')
    throw Error(ErrorKind::invalid_argument, "invalid volume specification `" + spec + "`: the target path must be absolute");
  b.destination = fs::clean_path(rest);
  if (b.destination == "/") throw Error(ErrorKind::invalid_argument, "invalid volume specification `" + spec + "`: the target cannot be `/`");
  for (auto& o : b.options)
    if (!known.count(o)) throw Error(ErrorKind::invalid_argument, "invalid mount option `" + o + "` in `" + spec + "`");
  return b;
}

std::vector<Bind> binds_of(const HostConfig& host) {
  std::vector<Bind> out;
  for (auto& b : host.binds) out.push_back(parse_bind(b));
  return out;
}

std::vector<Bind> shown_binds(const json& host) {
  std::vector<Bind> out;
  auto it = host.find("Binds");
  if (it == host.end() || !it->is_array()) return out;
  for (auto& b : *it) {
    if (!b.is_string()) continue;
    try {
      out.push_back(parse_bind(b.get<std::string>()));
    } catch (const Error&) {
    }
  }
  return out;
}

EndpointConfig endpoint_config(const json& endpoint) {
  EndpointConfig e;
  if (!endpoint.is_object()) return e;
  if (auto a = endpoint.find("Aliases"); a != endpoint.end() && a->is_array())
    for (auto& x : *a) {
      if (!x.is_string()) throw Error(ErrorKind::invalid_argument, "network alias: want a string, got " + x.dump());
      // An alias is a line's name in its peers' hosts files and a DNS answer: one word.
      const std::string alias = x.get<std::string>();
      if (alias.empty() || std::any_of(alias.begin(), alias.end(), [](unsigned char ch) { return ch <= ' ' || ch == 0x7f; }))
        throw Error(ErrorKind::invalid_argument, "invalid network alias " + x.dump() + ": no spaces or line breaks");
      e.aliases.push_back(alias);
    }
  // Docker's clients send null for what is not set (IPAMConfig, Aliases).
  auto text = [](const json& j, const char* key, const char* what) {
    if (!j.is_object()) return std::string();
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::string();
    if (!it->is_string()) throw Error(ErrorKind::invalid_argument, std::string(what) + ": want a string, got " + it->dump());
    return it->get<std::string>();
  };
  e.ipv4 = text(endpoint.value("IPAMConfig", json::object()), "IPv4Address", "IPAMConfig.IPv4Address");
  if (!e.ipv4.empty()) network::parse_ipv4(e.ipv4);
  e.mac = text(endpoint, "MacAddress", "MacAddress");
  if (!e.mac.empty()) network::check_mac(e.mac);
  return e;
}

std::string parse_detach_keys(const std::string& spec) {
  std::string out;
  for (const auto& k : split(spec, ',')) {
    if (k.size() == 1) {
      out += k;
    } else if (k.size() == 6 && k.rfind("ctrl-", 0) == 0) {
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(k[5])));
      if (c >= 'a' && c <= 'z') out += static_cast<char>(c - 'a' + 1);
      else if (c == '@') out += '\0';
      else if (c >= '[' && c <= '_') out += static_cast<char>(c - '[' + 27);
      else throw Error(ErrorKind::invalid_argument, "invalid --detach-keys `" + spec + "`: unknown key `" + k + "`");
    } else {
      throw Error(ErrorKind::invalid_argument,
                  "invalid --detach-keys `" + spec + "`: keys are ctrl-<a-z@[\\]^_> or single characters");
    }
  }
  if (out.empty()) throw Error(ErrorKind::invalid_argument, "invalid --detach-keys `" + spec + "`");
  return out;
}

std::vector<PortSummary> port_summary(const json& data, bool running) {
  std::vector<PortSummary> out;
  if (!running) return out;
  auto type_of = [](const std::string& key) {
    const size_t slash = key.find('/');
    return slash == std::string::npos ? std::string("tcp") : key.substr(slash + 1);
  };
  std::set<std::string> published;
  const json ports = data.value("NetworkSettings", json::object()).value("Ports", json::object());
  for (auto& [key, binds] : ports.items()) {
    if (!binds.is_array()) continue;
    for (auto& b : binds) {
      if (!b.is_object()) continue;
      published.insert(key);
      out.push_back({b.value("HostIp", ""), std::atoi(key.c_str()), std::atoi(b.value("HostPort", "0").c_str()), type_of(key)});
    }
  }
  const json exposed = data.value("Config", json::object()).value("ExposedPorts", json::object());
  if (exposed.is_object())
    for (auto& [key, _] : exposed.items())
      if (!published.count(key)) out.push_back({"", std::atoi(key.c_str()), 0, type_of(key)});
  return out;
}

std::string ports_text(const std::vector<PortSummary>& ports) {
  std::string out;
  for (auto& p : ports) {
    if (!out.empty()) out += ", ";
    if (p.public_port)
      out += (p.ip.find(':') != std::string::npos ? "[" + p.ip + "]" : p.ip) + ":" + std::to_string(p.public_port) + "->";
    out += std::to_string(p.private_port) + "/" + p.type;
  }
  return out;
}

bool port_filter_matches(const std::vector<PortSummary>& ports, const std::string& filter, const std::string& value) {
  const size_t slash = value.find('/');
  const std::string range = value.substr(0, slash), type = slash == std::string::npos ? "tcp" : value.substr(slash + 1);
  const size_t dash = range.find('-');
  auto port = [&](const std::string& s) {
    if (s.empty() || s.size() > 5 || !std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      throw Error(ErrorKind::invalid_argument, "invalid filter '" + filter + "=" + value + "': not PORT[-PORT][/PROTO]");
    const int n = std::atoi(s.c_str());
    if (n < 1 || n > 65535) throw Error(ErrorKind::invalid_argument, "invalid filter '" + filter + "=" + value + "': a port is 1-65535");
    return n;
  };
  const int lo = port(range.substr(0, dash)), hi = dash == std::string::npos ? lo : port(range.substr(dash + 1));
  if (type != "tcp" && type != "udp" && type != "sctp")
    throw Error(ErrorKind::invalid_argument, "invalid filter '" + filter + "=" + value + "': unknown protocol `" + type + "`");
  const bool publish = filter == "publish";
  return std::any_of(ports.begin(), ports.end(), [&](const PortSummary& p) {
    const int n = publish ? p.public_port : p.private_port;
    return p.type == type && n >= lo && n <= hi;
  });
}

bool has_label(const json& labels, const std::string& spec) {
  const auto eq = spec.find('=');
  if (!labels.is_object()) return false;
  auto it = labels.find(spec.substr(0, eq));
  if (it == labels.end()) return false;
  if (eq == std::string::npos) return true;
  return (it->is_string() ? it->get<std::string>() : it->dump()) == spec.substr(eq + 1);
}

bool PruneFilter::matches(const json& labels_of, int64_t created) const {
  if (until && created >= until) return false;
  for (const auto& l : labels)
    if (!has_label(labels_of, l)) return false;
  for (const auto& l : not_labels)
    if (has_label(labels_of, l)) return false;
  return true;
}

bool PruneFilter::matches(const image::Image& img) const {
  const json& conf = img.config.config;
  const json labels_of = conf.is_object() && conf.contains("Labels") ? conf["Labels"] : json::object();
  int64_t created = parse_rfc3339(img.config.created);
  if (!created) created = img.record.created / 1000000000;
  return matches(labels_of, created);
}

std::function<bool(const image::Image&)> PruneFilter::image_selector() const {
  if (empty()) return {};
  return [f = *this](const image::Image& img) { return f.matches(img); };
}

json merge_commit_config(json user, const json& container) {
  if (!user.is_object()) throw Error(ErrorKind::invalid_argument, "commit: the config must be a JSON object");
  const json& image = container.is_object() ? container : json::object();
  auto unset = [&](const char* key) {
    auto it = user.find(key);
    return it == user.end() || it->is_null() || (it->is_string() && it->get_ref<const std::string&>().empty()) ||
           ((it->is_array() || it->is_object()) && it->empty());
  };
  auto need = [&](const char* key, json::value_t type) {
    auto it = user.find(key);
    if (it != user.end() && !it->is_null() && it->type() != type)
      throw Error(ErrorKind::invalid_argument, std::string("commit: config field ") + key + " has the wrong type");
  };
  for (const char* k : {"User", "WorkingDir", "StopSignal"}) need(k, json::value_t::string);
  for (const char* k : {"ExposedPorts", "Labels", "Volumes"}) need(k, json::value_t::object);
  for (const char* k : {"Env", "Entrypoint", "Cmd"})
    if (user.contains(k) && user[k].is_string()) user[k] = json::array({user[k]});  // Docker's strslice
  for (const char* k : {"Env", "Entrypoint", "Cmd"}) need(k, json::value_t::array);
  for (const char* k : {"User", "WorkingDir", "StopSignal"})
    if (unset(k) && image.contains(k)) user[k] = image[k];
  // By key, the user's value winning.
  for (const char* k : {"ExposedPorts", "Labels", "Volumes"}) {
    if (!image.contains(k) || !image[k].is_object()) continue;
    if (unset(k)) user[k] = json::object();
    for (auto& [name, v] : image[k].items())
      if (!user[k].contains(name)) user[k][name] = v;
  }
  if (image.contains("Env") && image["Env"].is_array()) {
    if (unset("Env")) user["Env"] = json::array();
    auto key_of = [](const json& e) {
      const std::string s = e.is_string() ? e.get<std::string>() : "";
      return s.substr(0, s.find('='));
    };
    std::set<std::string> have;
    for (auto& e : user["Env"]) have.insert(key_of(e));
    for (auto& e : image["Env"])
      if (!have.count(key_of(e))) user["Env"].push_back(e);
  }
  // An entrypoint of the user's own comes with its own cmd (or none); else both are taken.
  if (unset("Entrypoint")) {
    if (unset("Cmd") && image.contains("Cmd")) user["Cmd"] = image["Cmd"];
    if (!user.contains("Entrypoint") || user["Entrypoint"].is_null()) {
      if (image.contains("Entrypoint")) user["Entrypoint"] = image["Entrypoint"];
    }
  }
  if (image.contains("Healthcheck") && image["Healthcheck"].is_object()) {
    if (unset("Healthcheck")) {
      user["Healthcheck"] = image["Healthcheck"];
    } else if (user["Healthcheck"].is_object()) {
      json& h = user["Healthcheck"];
      for (auto& [k, v] : image["Healthcheck"].items()) {
        auto it = h.find(k);
        if (it == h.end() || it->is_null() || (it->is_number() && it->get<int64_t>() == 0) ||
            (it->is_array() && it->empty()))
          h[k] = v;
      }
    }
  }
  return user;
}

shim::RestartPolicy restart_policy(const HostConfig& host) {
  const auto& p = host.restart_policy;
  return {p.name.empty() ? "no" : p.name, p.maximum_retry_count};
}

std::vector<network::PortMapping> port_mappings(const ContainerConfig& config, const HostConfig& host) {
  std::vector<network::PortMapping> out;
  auto port_of = [](const std::string& key, network::PortMapping& m) {
    m.container_port = std::atoi(key.c_str());
    m.protocol = key.find('/') == std::string::npos ? "tcp" : key.substr(key.find('/') + 1);
  };
  for (auto& [key, binds] : host.port_bindings) {
    network::PortMapping m;
    port_of(key, m);
    for (auto& b : binds.empty() ? std::vector<PortBinding>{PortBinding{}} : binds) {
      m.host_ip = b.host_ip == "0.0.0.0" ? "" : b.host_ip;
      m.host_port = std::atoi(b.host_port.empty() ? "0" : b.host_port.c_str());
      // "8000-8010": one free port of the range, picked at each start (Docker's).
      const size_t dash = b.host_port.find('-');
      m.host_port_end = dash == std::string::npos ? 0 : std::atoi(b.host_port.c_str() + dash + 1);
      if (m.host_port_end <= m.host_port) m.host_port_end = 0;
      out.push_back(m);
    }
  }
  if (host.publish_all_ports)
    for (auto& key : config.exposed_ports) {
      if (host.port_bindings.count(key)) continue;
      network::PortMapping m;
      port_of(key, m);
      if (m.container_port > 0) out.push_back(m);
    }
  return out;
}

bool is_container_id(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace berth::engine
