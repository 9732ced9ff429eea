// _ping, version, info, events, system df, auth.
#include <algorithm>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <set>

#include "api/docker/api.hpp"
#include "api/docker/internal.hpp"
#include "common/fs.hpp"
#include "distribution/auth.hpp"
#include "distribution/auth_file.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"
#include "oci/reference.hpp"
#include "image/service.hpp"
#include "engine/info.hpp"
#include "engine/model.hpp"
#include "events/events.hpp"
#include "network/networks.hpp"

namespace berth::api::docker {

using nlohmann::json;

namespace {




// Docker's since/until: unix seconds, possibly with a fraction ("1700000000.5"); unix ns.
int64_t event_time(const std::string& v, const char* what) {
  char* end = nullptr;
  const double secs = std::strtod(v.c_str(), &end);
  if (v.empty() || *end || !std::isfinite(secs) || secs < 0 || secs > 1e11)
    throw Error(ErrorKind::invalid_argument, std::string("invalid ") + what + " `" + v + "`: unix seconds");
  return static_cast<int64_t>(secs * 1e9);
}

}  // namespace

void Api::ping(Exchange& ex, const Params&) {
  const Exchange::Headers h = {{"Builder-Version", "1"}, {"Cache-Control", "no-cache, no-store, must-revalidate"},
                               {"Pragma", "no-cache"}};
  ex.reply(200, "text/plain; charset=utf-8", "OK", h);
}

void Api::version(Exchange& ex, const Params&) {
  const std::string v = settings_.berth_version;
  json components = json::array({{{"Name", "Engine"},
                                  {"Version", v},
                                  {"Details", {{"ApiVersion", kApiVersion}, {"MinAPIVersion", kMinApiVersion},
                                               {"Os", "linux"}, {"Arch", engine::go_arch()}, {"KernelVersion", engine::kernel_release()},
                                               {"Experimental", "false"}, {"GitCommit", ""}, {"GoVersion", "n/a (C++)"}}}},
                                 {{"Name", "berth-runtime"}, {"Version", v}, {"Details", {{"GitCommit", ""}}}}});
  ex.reply(200, json{{"Platform", {{"Name", "berth"}}},
                     {"Components", components},
                     {"Version", v},
                     {"ApiVersion", kApiVersion},
                     {"MinAPIVersion", kMinApiVersion},
                     {"GitCommit", ""},
                     {"GoVersion", "n/a (C++)"},
                     {"Os", "linux"},
                     {"Arch", engine::go_arch()},
                     {"KernelVersion", engine::kernel_release()},
                     {"BuildTime", ""}});
}

void Api::info(Exchange& ex, const Params&) {
  engine::InfoExtras x;
  x.server_version = settings_.berth_version;
  x.mirrors = settings_.registry_mirrors;
  x.log_driver = settings_.log_driver;
  ex.reply(200, engine::docker_info(eng_, x));
}

void Api::events(Exchange& ex, const Params&) {
  const auto& q = ex.req();
  engine::EventOptions o;
  // since=0 is the epoch: every recorded event (o.since 0 would be "only new ones").
  if (q.has_param("since") && !q.param("since").empty()) o.since = std::max<int64_t>(event_time(q.param("since"), "since"), 1);
  if (q.has_param("until") && !q.param("until").empty()) o.until = event_time(q.param("until"), "until");
  const auto filters = parse_filters(q.param("filters"));
  static const std::set<std::string> known = {"type", "event", "container", "image", "label", "network", "volume",
                                              "daemon", "plugin", "scope", "node", "service", "secret", "config"};
  for (auto& [k, _] : filters)
    if (!known.count(k)) throw Error(ErrorKind::invalid_argument, "invalid filter '" + k + "'");
  auto any = [&](const std::string& key, const std::function<bool(const std::string&)>& ok) {
    return filter_any(filters, key, ok);
  };
  auto attr = [](const events::Event& e, const char* k) {
    auto it = e.attributes.find(k);
    return it == e.attributes.end() ? std::string() : it->second;
  };
  auto matches = [&](const events::Event& e) {
    if (!any("type", [&](const std::string& v) { return v == e.type; })) return false;
    if (!any("event", [&](const std::string& v) { return events::action_matches(v, e.action); }))
      return false;
    if (filters.count("container") &&
        (e.type != "container" || !any("container", [&](const std::string& v) {
           // Docker's FuzzyMatch: the id or the name, whole or by a prefix.
           return !v.empty() && (e.id.rfind(v, 0) == 0 || attr(e, "name").rfind(v, 0) == 0);
         })))
      return false;
    if (filters.count("image") && !any("image", [&](const std::string& v) {
          return (e.type == "image" && (v == e.id || v == attr(e, "name"))) || v == attr(e, "image");
        }))
      return false;
    if (filters.count("network") &&
        (e.type != "network" || !any("network", [&](const std::string& v) {
           return v == e.id || v == attr(e, "name") || v == docker_network_name(attr(e, "name"));
         })))
      return false;
    if (filters.count("volume") && (e.type != "volume" || !any("volume", [&](const std::string& v) { return v == e.id; })))
      return false;
    if (!any("label", [&](const std::string& v) {
          const size_t eq = v.find('=');
          auto it = e.attributes.find(v.substr(0, eq));
          return it != e.attributes.end() && (eq == std::string::npos || it->second == v.substr(eq + 1));
        }))
      return false;
    return true;
  };
  ex.begin_stream(200, "application/json");
  o.cancel_fd = ex.client_fd();
  eng_.events(o, [&](const events::Event& e) {
    if (!matches(e)) return true;
    if (e.type == "network" && attr(e, "name") == network::Networks::kDefault) {
      events::Event docker = e;  // Docker's name for the default network
      docker.attributes["name"] = docker_network_name(attr(e, "name"));
      return ex.write(docker.docker().dump() + "\n");
    }
    return ex.write(e.docker().dump() + "\n");
  });
  ex.end_stream();
}

// GET /plugins: Docker's managed plugins; berth has none.
void Api::plugin_list(Exchange& ex, const Params&) { ex.reply(200, json::array()); }

void Api::swarm_only(Exchange& ex, const Params&) {
  ex.reply(503, json{{"message", "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."}});
}

void Api::system_df(Exchange& ex, const Params&) {
  const auto u = eng_.disk_usage();
  json images = json::array(), containers = json::array(), volumes = json::array();
  std::map<std::string, int64_t> image_size;
  for (auto& row : u.images) {
    // As GET /images/json shows them: familiar NAME:TAG (<none>:<none> without one), the
    // config's time and labels.
    json tags = json::array();
    for (auto& n : row.names) {
      if (!image::is_user_name(n)) continue;
      const oci::Reference ref = oci::Reference::parse(n);
      if (ref.tag.empty()) continue;
      oci::Reference bare = ref;
      bare.tag.clear();
      bare.digest.clear();
      tags.push_back(bare.familiar() + ":" + ref.tag);
    }
    // A dangling image, as in the image list (Docker 20.10's daemon to API 1.41 clients): with
    // its tags only, the CLI's df -v left its row out.
    json digests = json::array();
    if (tags.empty()) {
      tags.push_back("<none>:<none>");
      digests.push_back("<none>@<none>");
    }
    const json cfg = row.image.config.config.is_object() ? row.image.config.config : json::object();
    const json labels = cfg.value("Labels", json());
    image_size[row.image.id.str()] = row.size;
    images.push_back({{"Id", row.image.id.str()}, {"ParentId", ""}, {"RepoTags", tags}, {"RepoDigests", digests},
                      {"Created", parse_rfc3339(row.image.config.created)}, {"Size", row.size}, {"SharedSize", row.shared},
                      {"VirtualSize", row.size}, {"Labels", labels.is_object() && !labels.empty() ? labels : json(nullptr)},
                      {"Containers", row.containers}});
  }
  for (auto& cu : u.containers) {
    const json& config = cu.container.data["Config"];
    const auto base = image_size.find(cu.container.rec.image);
    containers.push_back({{"Id", cu.container.id()}, {"Names", {"/" + cu.container.rec.name}},
                          {"Image", config.value("Image", "")}, {"ImageID", cu.container.rec.image},
                          {"Command", engine::command_text(config)},
                          {"Created", cu.container.rec.created / 1000000000}, {"SizeRw", cu.size_rw},
                          {"SizeRootFs", cu.size_rw + (base == image_size.end() ? 0 : base->second)},
                          {"State", std::string(engine::status_name(cu.state.status))},
                          {"Status", engine::status_text(cu.state)}, {"Mounts", json::array()},
                          {"Labels", config.value("Labels", json::object())}});
  }
  for (auto& v : u.volumes) {
    json j = eng_.volumes().inspect(v.volume);
    j["UsageData"] = {{"Size", v.size}, {"RefCount", v.links}};
    volumes.push_back(j);
  }
  // The build cache as BuildKit's records would show it: one per layer only the cache holds.
  json cache = json::array();
  int64_t builder_size = 0;
  for (auto& [chain, bytes] : u.build_cache_layers) {
    cache.push_back({{"ID", chain.substr(7, 25)}, {"Parent", ""}, {"Type", "regular"}, {"Description", ""},
                     {"InUse", false}, {"Shared", false}, {"Size", bytes}, {"UsageCount", 0}});
    builder_size += bytes;
  }
  ex.reply(200, json{{"LayersSize", u.layers_size}, {"Images", images}, {"Containers", containers},
                     {"Volumes", volumes}, {"BuildCache", cache}, {"BuilderSize", builder_size}});
}

void Api::auth(Exchange& ex, const Params&) {
  const json body = ex.json_body();
  if (!body.is_object()) throw Error(ErrorKind::invalid_argument, "auth: a JSON object is required");
  // Docker's check: the registry accepts these credentials (a token, or its /v2/ answering).
  const std::string server = body.value("serveraddress", "");
  if (server.empty()) throw Error(ErrorKind::invalid_argument, "auth: serveraddress is required");
  const image::Transfer t = settings_.transfer(distribution::base64_encode(body.dump()));
  auto repo = t.open(distribution::normalize_registry(server), "");
  try {
    repo->ping();
  } catch (const Error& e) {
    // Docker: 401 with the registry's word.
    ex.reply(401, json{{"message", std::string("login attempt to ") + server + " failed: " + e.what()}});
    return;
  }
  ex.reply(200, json{{"Status", "Login Succeeded"}, {"IdentityToken", ""}});
}

}  // namespace berth::api::docker
