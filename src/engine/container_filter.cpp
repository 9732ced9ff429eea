#include "engine/container_filter.hpp"

#include <algorithm>
#include <cstdlib>

#include "common/error.hpp"
#include "engine/model.hpp"
#include "network/networks.hpp"

namespace berth::engine {

using nlohmann::json;

namespace {

bool one_of(const std::string& v, std::initializer_list<const char*> allowed) {
  return std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return v == a; });
}

Error bad(const std::string& key, const std::string& value, const std::string& why) {
  return Error(ErrorKind::invalid_argument, "invalid filter '" + key + "=" + value + "': " + why);
}

}  // namespace

const std::vector<std::string>& ContainerFilter::keys() {
  static const std::vector<std::string> k = {"status", "name",    "id",     "label",  "exited",  "ancestor", "before",   "since",
                                             "network", "volume", "health", "publish", "expose", "isolation", "is-task"};
  return k;
}

const std::vector<std::string>& ContainerFilter::values(const std::string& key) const {
  static const std::vector<std::string> none;
  auto it = f_.find(key);
  return it == f_.end() ? none : it->second;
}

ContainerFilter::ContainerFilter(Engine& eng, const std::map<std::string, std::vector<std::string>>& filters) : f_(filters) {
  for (auto& [k, _] : f_)
    if (std::find(keys().begin(), keys().end(), k) == keys().end())
      throw Error(ErrorKind::invalid_argument, "invalid filter '" + k + "'");
  for (auto& v : values("status"))
    if (!one_of(v, {"created", "restarting", "running", "removing", "paused", "exited", "dead"}))
      throw bad("status", v, "one of created, restarting, running, removing, paused, exited, dead");
  for (auto& v : values("health"))
    if (!one_of(v, {"starting", "healthy", "unhealthy", "none"})) throw bad("health", v, "one of starting, healthy, unhealthy, none");
  for (auto& v : values("is-task"))
    if (!one_of(v, {"true", "false", "1", "0"})) throw bad("is-task", v, "true or false");
  for (auto& v : values("exited")) {
    char* end = nullptr;
    std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end) throw bad("exited", v, "an exit code");
  }
  // name: regular expressions searched in the name, with and without its slash (Docker 20.10's
  // daemon does both: `^web` and `^/web` both find /web). Docker's lists nothing for one that
  // does not compile; berth says so.
  for (auto& v : values("name")) {
    try {
      names_.emplace_back(v, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      throw bad("name", v, "not a regular expression");
    }
  }
  for (const char* k : {"publish", "expose"})
    for (auto& v : values(k)) port_filter_matches({}, k, v);  // throws for a bad value
  for (auto& v : values("before")) {
    const int64_t t = eng.lookup(v).rec.created;
    before_ = before_ ? std::min(before_, t) : t;
  }
  for (auto& v : values("since")) since_ = std::max(since_, eng.lookup(v).rec.created);
  for (auto& v : values("ancestor")) {
    try {
      if (auto img = eng.images().find(v)) ancestor_ids_.push_back(img->id.str());
    } catch (const Error&) {
      // not an image here (or not a reference): matched by the name the container was made with
    }
  }
}

bool ContainerFilter::match(Engine& eng, const Container& c, const State& s) const {
  if (f_.empty()) return true;
  auto any = [&](const char* key, const auto& ok) {
    const auto& v = values(key);
    return v.empty() || std::any_of(v.begin(), v.end(), ok);
  };
  const std::string status(status_name(s.status));
  if (!any("status", [&](const std::string& v) { return v == status; })) return false;
  if (!names_.empty() && std::none_of(names_.begin(), names_.end(), [&](const std::regex& r) {
        return std::regex_search(c.rec.name, r) || std::regex_search("/" + c.rec.name, r);
      }))
    return false;
  // id: a prefix of the full id, taken literally (Docker's daemon: no pattern, no anchor).
  if (!any("id", [&](const std::string& v) { return c.id().rfind(v, 0) == 0; })) return false;
  const json config = c.data.value("Config", json::object());
  const json labels = config.is_object() ? config.value("Labels", json::object()) : json::object();
  const auto& label_specs = values("label");
  if (!std::all_of(label_specs.begin(), label_specs.end(), [&](const std::string& v) { return has_label(labels, v); }))
    return false;
  if (!any("exited", [&](const std::string& v) { return s.status == Status::exited && s.exit_code == std::atoi(v.c_str()); }))
    return false;
  if (!any("health", [&](const std::string& v) { return v == (s.health.empty() ? "none" : s.health); })) return false;
  if (!any("is-task", [&](const std::string& v) { return v == "false" || v == "0"; })) return false;
  if (!any("isolation", [&](const std::string& v) { return v == "default"; })) return false;
  // The image: as the container was made with it (a bare name means :latest), or its id.
  const std::string image = config.is_object() ? config.value("Image", "") : "";
  if (!any("ancestor", [&](const std::string& v) {
        return (!image.empty() && (image == v || image == v + ":latest" || v == image + ":latest")) ||
               std::find(ancestor_ids_.begin(), ancestor_ids_.end(), c.rec.image) != ancestor_ids_.end();
      }))
    return false;
  if (before_ && c.rec.created >= before_) return false;
  if (since_ && c.rec.created <= since_) return false;
  if (has("network")) {
    // Its networks by name or id; none and host as Docker lists them for those modes.
    const json endpoints = c.endpoints();
    const json settings = c.data.value("NetworkSettings", json::object()).value("Networks", json::object());
    const json host = c.data.value("HostConfig", json::object());
    const std::string mode = host.is_object() ? host.value("NetworkMode", "") : "";
    if (!any("network", [&](const std::string& v) {
          if ((mode == "none" || mode == "host") && v == mode) return true;
          for (auto& [name, _] : endpoints.items()) {
            // Docker's name for the default network too (what its ps --filter takes).
            if (name == network::Networks::canonical(v)) return true;
            const json n = settings.value(name, json::object());
            if (n.is_object() && !v.empty() && n.value("NetworkID", "") == v) return true;
          }
          return false;
        }))
      return false;
  }
  if (has("publish") || has("expose")) {
    const auto ports = port_summary(c.data, s.running());
    for (const char* k : {"publish", "expose"})
      if (!any(k, [&](const std::string& v) { return port_filter_matches(ports, k, v); })) return false;
  }
  if (has("volume")) {
    // A volume's name, a bind's host path, or where either is mounted in the container.
    const json mounts = eng.mounts(c);
    if (!any("volume", [&](const std::string& v) {
          for (auto& m : mounts)
            if (m.value("Name", "") == v || m.value("Source", "") == v || m.value("Destination", "") == v) return true;
          return false;
        }))
      return false;
  }
  return true;
}

}  // namespace berth::engine
