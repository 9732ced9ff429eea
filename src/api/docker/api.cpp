// Routing, versions and errors of the Docker API.
#include "api/docker/api.hpp"

#include <malloc.h>

#include <algorithm>
#include <ctime>

#include "api/docker/internal.hpp"
#include "common/duration.hpp"
#include "common/time.hpp"

#include <cstdlib>
#include <string_view>

#include "common/log.hpp"
#include "common/strings.hpp"

namespace berth::api::docker {

using nlohmann::json;

int status_of(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument: return 400;
    case ErrorKind::not_found: return 404;
    case ErrorKind::already_exists: return 409;
    case ErrorKind::conflict: return 409;
    case ErrorKind::not_running: return 409;
    case ErrorKind::unavailable: return 503;
    case ErrorKind::permission: return 403;
    // Docker answers a start whose command cannot run with 400 and a runtime's message; its
    // CLI picks the exit code (127, 126) from that message's words (see command_message).
    case ErrorKind::command_not_found: return 400;
    case ErrorKind::command_not_executable: return 400;
    case ErrorKind::internal: return 500;
  }
  return 500;
}

namespace {

// The words the docker CLI looks for to choose its exit code: "executable file not found"
// (127), "permission denied" (126).
std::string command_message(const Error& e) {
  std::string m = e.what();
  if (e.kind() == ErrorKind::command_not_found && m.find("executable file not found") == std::string::npos &&
      m.find("no such file or directory") == std::string::npos)
    m += ": executable file not found in $PATH";
  if (e.kind() == ErrorKind::command_not_executable && m.find("permission denied") == std::string::npos)
    m += ": permission denied";
  return m;
}

// "1.41" → 141; -1 if not a version.
int version_number(std::string_view v) {
  const size_t dot = v.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= v.size()) return -1;
  int major = 0, minor = 0;
  for (size_t i = 0; i < dot; ++i) {
    if (v[i] < '0' || v[i] > '9') return -1;
    major = major * 10 + (v[i] - '0');
  }
  for (size_t i = dot + 1; i < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9' || minor > 1000) return -1;
    minor = minor * 10 + (v[i] - '0');
  }
  return major * 100 + minor;
}

std::vector<std::string> segments(std::string_view path) {
  std::vector<std::string> out;
  for (auto& s : split(std::string(path), '/'))
    if (!s.empty()) out.push_back(s);
  return out;
}

// Matches `parts` (from index pi) against `segs` (from si); a "{x*}" part takes one or more
// segments (an image name with slashes), the fewest that let the rest match.
bool match(const std::vector<std::string>& parts, size_t pi, const std::vector<std::string>& segs, size_t si,
           Api::Params& out) {
  if (pi == parts.size()) return si == segs.size();
  if (si == segs.size()) return false;
  const std::string& p = parts[pi];
  if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
    if (p[p.size() - 2] == '*') {
      const std::string key = p.substr(1, p.size() - 3);
      // The longest name first: "/images/a/json/json" is the image "a/json".
      for (size_t end = segs.size(); end > si; --end) {
        std::string joined;
        for (size_t k = si; k < end; ++k) joined += (k > si ? "/" : "") + segs[k];
        Api::Params sub = out;
        sub.v[key] = joined;
        if (match(parts, pi + 1, segs, end, sub)) {
          out = std::move(sub);
          return true;
        }
      }
      return false;
    }
    out.v[p.substr(1, p.size() - 2)] = segs[si];
    return match(parts, pi + 1, segs, si + 1, out);
  }
  return p == segs[si] && match(parts, pi + 1, segs, si + 1, out);
}

}  // namespace

std::map<std::string, std::vector<std::string>> parse_filters(const std::string& text) {
  std::map<std::string, std::vector<std::string>> out;
  if (text.empty()) return out;
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error&) {
    throw Error(ErrorKind::invalid_argument, "invalid filters: not JSON: " + text);
  }
  if (!j.is_object()) throw Error(ErrorKind::invalid_argument, "invalid filters: not an object");
  for (auto& [key, v] : j.items()) {
    auto& vals = out[key];
    if (v.is_object()) {
      for (auto& [val, on] : v.items())
        if (!on.is_boolean() || on.get<bool>()) vals.push_back(val);
    } else if (v.is_array()) {
      for (auto& x : v) {
        if (!x.is_string()) throw Error(ErrorKind::invalid_argument, "invalid filter `" + key + "`: values must be strings");
        vals.push_back(x.get<std::string>());
      }
    } else {
      throw Error(ErrorKind::invalid_argument, "invalid filter `" + key + "`");
    }
  }
  return out;
}

bool filter_any(const Filters& f, const std::string& key, const std::function<bool(const std::string&)>& ok) {
  auto it = f.find(key);
  if (it == f.end() || it->second.empty()) return true;
  return std::any_of(it->second.begin(), it->second.end(), ok);
}

bool filter_all(const Filters& f, const std::string& key, const std::function<bool(const std::string&)>& ok) {
  auto it = f.find(key);
  if (it == f.end()) return true;
  return std::all_of(it->second.begin(), it->second.end(), ok);
}

void check_filters(const Filters& f, std::initializer_list<const char*> keys) {
  for (const auto& [k, vals] : f) {
    const std::string& key = k;  // (clang 14 captures no structured binding)
    if (std::none_of(keys.begin(), keys.end(), [&key](const char* known) { return key == known; }))
      throw Error(ErrorKind::invalid_argument, "invalid filter '" + k + "'");
    if (k == "dangling")
      for (const auto& v : vals)
        if (v != "true" && v != "1" && v != "false" && v != "0")
          throw Error(ErrorKind::invalid_argument, "invalid filter 'dangling=" + v + "': true, false, 1 or 0");
  }
}

engine::PruneFilter prune_filter(const std::string& filters_json, bool* all) {
  engine::PruneFilter f;
  for (auto& [k, vals] : parse_filters(filters_json)) {
    if (k == "label") {
      f.labels = vals;
    } else if (k == "label!") {
      f.not_labels = vals;
    } else if (k == "until") {
      for (auto& v : vals) {
        char* end = nullptr;
        const long long n = std::strtoll(v.c_str(), &end, 10);
        if (!v.empty() && !*end) f.until = n;
        else if (auto ns = parse_go_duration(v)) f.until = static_cast<int64_t>(std::time(nullptr)) - *ns / 1000000000;
        else if (const int64_t t = parse_rfc3339(v)) f.until = t;
        else throw Error(ErrorKind::invalid_argument, "invalid filter 'until=" + v + "': a timestamp or a duration");
      }
    } else if (k == "all" && all) {
      for (auto& v : vals) *all = v == "true" || v == "1";
    } else {
      throw Error(ErrorKind::invalid_argument, "invalid filter '" + k + "'");
    }
  }
  return f;
}

Api::Api(engine::Engine& eng, Settings settings) : eng_(eng), settings_(std::move(settings)) {}

CommonHeaders Api::common_headers(const std::string& berth_version) {
  return {{"Api-Version", kApiVersion},
          {"Docker-Experimental", "false"},
          {"Ostype", "linux"},
          {"Server", "berth/" + berth_version + " (linux)"}};
}

std::vector<Api::Route> Api::routes() {
  auto r = [](const char* m, const char* p, Fn fn) { return Route{m, segments(p), fn}; };
  // Routes that move a whole image or tree through buffers of a MiB or more (layers being
  // decompressed, tars being written): their memory is handed back to the system after them.
  auto big = [](const char* m, const char* p, Fn fn) { return Route{m, segments(p), fn, true}; };
  return {
      r("GET", "/_ping", &Api::ping),
      r("HEAD", "/_ping", &Api::ping),
      r("GET", "/version", &Api::version),
      r("GET", "/info", &Api::info),
      r("GET", "/events", &Api::events),
      r("GET", "/system/df", &Api::system_df),
      r("POST", "/auth", &Api::auth),
      big("POST", "/build", &Api::build),
      r("POST", "/build/prune", &Api::build_prune),
      r("POST", "/containers/create", &Api::container_create),
      r("GET", "/containers/json", &Api::container_list),
      r("POST", "/containers/prune", &Api::container_prune),
      r("GET", "/containers/{id}/json", &Api::container_inspect),
      r("POST", "/containers/{id}/start", &Api::container_start),
      r("POST", "/containers/{id}/stop", &Api::container_stop),
      r("POST", "/containers/{id}/restart", &Api::container_restart),
      r("POST", "/containers/{id}/kill", &Api::container_kill),
      r("POST", "/containers/{id}/pause", &Api::container_pause),
      r("POST", "/containers/{id}/unpause", &Api::container_unpause),
      r("POST", "/containers/{id}/rename", &Api::container_rename),
      r("POST", "/containers/{id}/wait", &Api::container_wait),
      r("POST", "/containers/{id}/attach", &Api::container_attach),
      r("POST", "/containers/{id}/resize", &Api::container_resize),
      r("POST", "/containers/{id}/update", &Api::container_update),
      r("POST", "/containers/{id}/exec", &Api::exec_create),
      r("GET", "/containers/{id}/logs", &Api::container_logs),
      r("GET", "/containers/{id}/top", &Api::container_top),
      r("GET", "/containers/{id}/stats", &Api::container_stats),
      r("GET", "/containers/{id}/changes", &Api::container_changes),
      big("GET", "/containers/{id}/export", &Api::container_export),
      big("GET", "/containers/{id}/archive", &Api::archive_get),
      r("HEAD", "/containers/{id}/archive", &Api::archive_head),
      big("PUT", "/containers/{id}/archive", &Api::archive_put),
      r("DELETE", "/containers/{id}", &Api::container_delete),
      r("POST", "/exec/{id}/start", &Api::exec_start),
      r("POST", "/exec/{id}/resize", &Api::exec_resize),
      r("GET", "/exec/{id}/json", &Api::exec_inspect),
      r("GET", "/images/json", &Api::image_list),
      r("GET", "/images/search", &Api::image_search),
      r("GET", "/plugins", &Api::plugin_list),
      // Swarm's objects: this engine is no swarm node (Docker's answer on one that is not).
      r("GET", "/swarm", &Api::swarm_only),
      r("GET", "/services", &Api::swarm_only),
      r("GET", "/nodes", &Api::swarm_only),
      r("GET", "/tasks", &Api::swarm_only),
      r("GET", "/secrets", &Api::swarm_only),
      r("GET", "/configs", &Api::swarm_only),
      big("POST", "/images/create", &Api::image_create),
      r("POST", "/images/prune", &Api::image_prune),
      big("POST", "/images/load", &Api::image_load),
      big("GET", "/images/get", &Api::image_get_all),
      r("GET", "/images/{name*}/json", &Api::image_inspect),
      r("GET", "/images/{name*}/history", &Api::image_history),
      big("GET", "/images/{name*}/get", &Api::image_get),
      big("POST", "/images/{name*}/push", &Api::image_push),
      r("POST", "/images/{name*}/tag", &Api::image_tag),
      r("DELETE", "/images/{name*}", &Api::image_delete),
      big("POST", "/commit", &Api::commit),
      r("GET", "/networks", &Api::network_list),
      r("POST", "/networks/create", &Api::network_create),
      r("POST", "/networks/prune", &Api::network_prune),
      r("GET", "/networks/{id}", &Api::network_inspect),
      r("DELETE", "/networks/{id}", &Api::network_delete),
      r("POST", "/networks/{id}/connect", &Api::network_connect),
      r("POST", "/networks/{id}/disconnect", &Api::network_disconnect),
      r("GET", "/volumes", &Api::volume_list),
      r("POST", "/volumes/create", &Api::volume_create),
      r("POST", "/volumes/prune", &Api::volume_prune),
      r("GET", "/volumes/{name}", &Api::volume_inspect),
      r("DELETE", "/volumes/{name}", &Api::volume_delete),
  };
}

void Api::handle(Exchange& ex) {
  std::string path = ex.req().path;
  log::debug(ex.req().method + " " + ex.req().target);
  // "/v1.41/containers/json": the version the client speaks. Older than ours down to 1.24
  // is served as ours; newer is refused, as Docker does.
  if (path.size() > 2 && path[0] == '/' && path[1] == 'v') {
    const size_t slash = path.find('/', 2);
    const std::string v = path.substr(2, slash == std::string::npos ? std::string::npos : slash - 2);
    const int n = version_number(v);
    if (n >= 0) {
      if (n > version_number(kApiVersion)) {
        ex.reply(400, json{{"message", "client version " + v + " is too new. Maximum supported API version is " +
                                           std::string(kApiVersion)}});
        return;
      }
      if (n < version_number(kMinApiVersion)) {
        ex.reply(400, json{{"message", "client version " + v + " is too old. Minimum supported API version is " +
                                           std::string(kMinApiVersion) + ", please upgrade your client to a newer version"}});
        return;
      }
      path = slash == std::string::npos ? "/" : path.substr(slash);
    }
  }
  dispatch(ex, path);
}

void Api::dispatch(Exchange& ex, const std::string& path) {
  static const std::vector<Route> table = routes();
  const auto segs = segments(path);
  bool path_known = false;
  for (const Route& r : table) {
    Params p;
    if (!match(r.parts, 0, segs, 0, p)) continue;
    path_known = true;
    if (r.method != ex.req().method) continue;
    // glibc keeps freed memory in its arenas (a pull's 1 MiB buffers, in each thread's):
    // ~13 MiB stayed in berthd after one pull. Trimmed after such a request, answered or not.
    struct Trim {
      bool on;
      ~Trim() {
        if (on) ::malloc_trim(0);
      }
    } trim{r.big};
    try {
      (this->*r.fn)(ex, p);
    } catch (const Error& e) {
      if (ex.replied()) throw;
      const int status = status_of(e.kind());
      if (status >= 500) log::warn(ex.req().method + " " + ex.req().path + ": " + e.what());
      ex.reply(status, json{{"message", command_message(e)}});
    } catch (const json::exception& e) {
      // A field of the wrong type that a handler read without the typed parsers.
      if (ex.replied()) throw;
      ex.reply(400, json{{"message", std::string("invalid request: ") + e.what()}});
    } catch (const std::exception& e) {
      if (ex.replied()) throw;
      log::warn(ex.req().method + " " + ex.req().path + ": " + e.what());
      ex.reply(500, json{{"message", e.what()}});
    }
    return;
  }
  if (path_known) {
    ex.reply(405, json{{"message", "method " + ex.req().method + " not allowed for " + path}});
    return;
  }
  ex.reply(404, json{{"message", "page not found"}});
}

}  // namespace berth::api::docker
