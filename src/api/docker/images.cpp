// Images: list, inspect, history, pull and import (create), push, tag, rmi, prune, save
// (get), load, and commit.
#include <fnmatch.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>

#include "api/docker/api.hpp"
#include "api/docker/internal.hpp"
#include "common/fs.hpp"
#include "common/download.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"
#include "engine/instructions.hpp"
#include "image/search.hpp"
#include "engine/model.hpp"
#include "image/archive.hpp"
#include "oci/reference.hpp"

namespace berth::api::docker {

using nlohmann::json;

namespace {

// Docker's progress bar text: "[=====>      ]  1.2MB/3.4MB".
std::string progress_bar(int64_t done, int64_t total) {
  if (total <= 0) return image::human_size(done);
  const int width = 50;
  const int filled = static_cast<int>(std::min<int64_t>(width, done * width / total));
  std::string bar = "[" + std::string(static_cast<size_t>(filled > 0 ? filled - 1 : 0), '=') + (filled > 0 ? ">" : "") +
                    std::string(static_cast<size_t>(width - filled), ' ') + "] ";
  return bar + image::human_size(done) + "/" + image::human_size(total);
}

// Progress lines of a pull or push (Docker's JSON messages), written as they come from the
// transfer's threads; the response starts with the first one.
class ProgressStream {
 public:
  explicit ProgressStream(Exchange& ex) : ex_(ex) {}
  bool send(const json& j) {
    std::lock_guard<std::mutex> l(mu_);
    if (!ex_.replied()) ex_.begin_stream(200, "application/json");
    return ex_.write(j.dump() + "\n");
  }
  image::ProgressFn fn() {
    return [this](const image::ProgressEvent& e) {
      json j = {{"status", e.status}};
      if (!e.id.empty()) j["id"] = e.id;
      if (e.done >= 0) {
        j["progressDetail"] = {{"current", e.done}};
        if (e.total > 0) j["progressDetail"]["total"] = e.total;
        j["progress"] = progress_bar(e.done, e.total);
      } else if (!e.id.empty()) {
        j["progressDetail"] = json::object();
      }
      if (e.status.find(": digest: ") != std::string::npos) last_digest_line = e.status;
      send(j);
    };
  }
  // A failure: an error response before the first line, an error line after it.
  void fail(const std::exception& err) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!ex_.replied()) throw;
    }
    send(json{{"errorDetail", {{"message", err.what()}}}, {"error", err.what()}});
  }
  void end() {
    std::lock_guard<std::mutex> l(mu_);
    if (!ex_.replied()) ex_.begin_stream(200, "application/json");
    ex_.end_stream();
  }
  std::string last_digest_line;

 private:
  Exchange& ex_;
  std::mutex mu_;
};

json labels_of(const image::Image& img) {
  const json& c = img.config.config;
  json l = c.is_object() ? c.value("Labels", json::object()) : json::object();
  return l.is_object() ? l : json::object();
}

}  // namespace

void Api::image_list(Exchange& ex, const Params&) {
  const auto filters = parse_filters(ex.req().param("filters"));
  for (auto& [k, _] : filters)
    if (k != "dangling" && k != "label" && k != "reference" && k != "before" && k != "since")
      throw Error(ErrorKind::invalid_argument, "invalid filter '" + k + "'");
  auto vals = [&](const char* k) {
    auto it = filters.find(k);
    return it == filters.end() ? std::vector<std::string>{} : it->second;
  };
  int64_t before = 0, since = 0;
  for (auto& v : vals("before")) before = parse_rfc3339_ns(eng_.images().resolve(v).config.created);
  for (auto& v : vals("since")) since = parse_rfc3339_ns(eng_.images().resolve(v).config.created);
  // One entry per image id, with all its names.
  std::map<std::string, json> by_id;
  std::vector<std::string> order;
  std::map<std::string, int64_t> made_ns;  // the list's order: newest first, to the nanosecond
  std::map<std::string, int> containers;
  for (auto& c : eng_.images().db().list_containers(eng_.images().options().ns)) ++containers[c.image];
  // all=1: Docker's intermediate images too (the build's steps: untagged, not dangling).
  for (auto& [img, intermediate] : eng_.images().list_with_steps(ex.req().flag("all"))) {
    const bool unnamed = intermediate || image::is_dangling_name(img.record.name);
    const oci::Reference ref = unnamed ? oci::Reference{} : oci::Reference::parse(img.record.name);
    oci::Reference bare = ref;
    bare.tag.clear();
    bare.digest.clear();
    const std::string repo = unnamed ? "<none>" : bare.familiar();
    const bool dangling = !intermediate && (unnamed || (ref.tag.empty() && ref.digest.empty()));
    bool keep = true;
    for (auto& v : vals("dangling")) keep = keep && ((v == "true" || v == "1") == dangling);
    auto refs = vals("reference");
    if (!refs.empty() && (unnamed || std::none_of(refs.begin(), refs.end(), [&](const std::string& v) {
          const std::string full = repo + (ref.tag.empty() ? "" : ":" + ref.tag);
          return ::fnmatch(v.c_str(), full.c_str(), 0) == 0 || ::fnmatch(v.c_str(), repo.c_str(), 0) == 0;
        })))
      keep = false;
    const json labels = labels_of(img);
    for (auto& v : vals("label")) keep = keep && engine::has_label(labels, v);
    const int64_t made = parse_rfc3339_ns(img.config.created);
    if ((before && made >= before) || (since && made <= since)) keep = false;
    if (!keep) continue;
    const std::string id = img.id.str();
    auto [it, fresh] = by_id.try_emplace(id);
    json& row = it->second;
    if (fresh) {
      order.push_back(id);
      made_ns[id] = made;
      const int64_t size = eng_.images().unpacked_size(img);
      // Created in Unix seconds, as Docker's list has it (the CLI's "2 hours ago").
      row = {{"Id", id}, {"ParentId", ""}, {"RepoTags", json::array()}, {"RepoDigests", json::array()},
             {"Created", made / 1000000000}, {"Size", size}, {"SharedSize", -1}, {"VirtualSize", size},
             {"Labels", labels.empty() ? json(nullptr) : labels}, {"Containers", containers.count(id) ? containers[id] : 0}};
    }
    if (!ref.tag.empty()) row["RepoTags"].push_back(repo + ":" + ref.tag);
    if (!unnamed && !img.record.target.digest.empty() && image::from_registry(img.record)) {
      const std::string d = repo + "@" + img.record.target.digest;
      if (std::find(row["RepoDigests"].begin(), row["RepoDigests"].end(), d) == row["RepoDigests"].end())
        row["RepoDigests"].push_back(d);
    }
  }
  // Newest first, as Docker's daemon lists them.
  std::stable_sort(order.begin(), order.end(),
                   [&](const std::string& x, const std::string& y) { return made_ns[x] > made_ns[y]; });
  json out = json::array();
  for (auto& id : order) {
    json& row = by_id[id];
    // A dangling image, as Docker 20.10's daemon shows it to API 1.41 clients.
    if (row["RepoTags"].empty() && row["RepoDigests"].empty()) {
      row["RepoTags"] = {"<none>:<none>"};
      row["RepoDigests"] = {"<none>@<none>"};
    }
    out.push_back(row);
  }
  ex.reply(200, out);
}

void Api::image_inspect(Exchange& ex, const Params& p) {
  ex.reply(200, eng_.images().inspect(eng_.images().resolve(p["name"])));
}

void Api::image_history(Exchange& ex, const Params& p) {
  auto& svc = eng_.images();
  json out = json::array();
  for (auto& h : svc.history(svc.resolve(p["name"])))
    out.push_back({{"Id", h.id}, {"Created", h.created}, {"CreatedBy", h.created_by},
                   {"Tags", h.tags.empty() ? json(nullptr) : json(h.tags)}, {"Size", h.size}, {"Comment", h.comment}});
  ex.reply(200, out);
}

// GET /images/search: Docker Hub's index or REGISTRY/TERM's (image/search.hpp), through the
// registry module's fetch.
void Api::image_search(Exchange& ex, const Params&) {
  const auto& q = ex.req();
  image::SearchOptions o;
  o.limit = static_cast<int>(int_param(q, "limit", 25));
  for (const auto& [key, values] : parse_filters(q.param("filters")))
    for (const auto& v : values) o.filters.push_back(key + "=" + v);
  json out = json::array();
  for (const auto& r : image::search(q.param("term"), o, settings_.fetch))
    out.push_back({{"name", r.name}, {"description", r.description}, {"star_count", r.stars},
                   {"is_official", r.official}, {"is_automated", r.automated}});
  ex.reply(200, out);
}

void Api::image_create(Exchange& ex, const Params&) {
  const auto& q = ex.req();
  const std::string from_image = q.param("fromImage"), from_src = q.param("fromSrc");
  std::string tag = q.param("tag");
  if (!from_src.empty()) {
    // docker import: the body is the rootfs tar (fromSrc=-), or berthd downloads it (a URL:
    // `docker import URL` sends it so).
    const bool url = from_src.rfind("http://", 0) == 0 || from_src.rfind("https://", 0) == 0;
    if (from_src != "-" && !url) throw Error(ErrorKind::invalid_argument, "fromSrc " + from_src + ": - (the body) or an http(s) URL");
    std::string repo = q.param("repo");
    if (!repo.empty() && !tag.empty()) repo += ":" + tag;
    if (!repo.empty()) oci::Reference::parse(repo);
    image::ImportOptions opt;
    opt.message = q.param("message");
    opt.source = from_src;
    std::vector<std::string> changes;
    for (auto [lo, hi] = q.query.equal_range("changes"); lo != hi; ++lo)
      for (const auto& line : split(lo->second, '\n'))
        if (!line.empty()) changes.push_back(line);
    opt.edit_config = engine::import_changes(std::move(changes));
    image::Image img;
    if (url) {
      const UniqueFd tmp = download(settings_.fetch, from_src, settings_.root + "/build", "import");
      const int fd = tmp.get();
      diff::Reader reader = [fd, &from_src](void* buf, size_t n) { return fs::read_fd(fd, buf, n, from_src); };
      img = eng_.images().import(reader, repo, opt);
    } else {
      feed_to(ex, [&](int fd) {
        diff::Reader reader = [fd](void* buf, size_t n) { return fs::read_fd(fd, buf, n, "the request body"); };
        img = eng_.images().import(reader, repo, opt);
      });
    }
    ex.begin_stream(200, "application/json");
    ex.write(json{{"status", img.id.str()}}.dump() + "\n");
    ex.end_stream();
    return;
  }
  if (from_image.empty()) throw Error(ErrorKind::invalid_argument, "fromImage or fromSrc is required");
  std::string ref = from_image;
  if (!tag.empty()) ref += (tag.rfind("sha256:", 0) == 0 ? "@" : ":") + tag;
  const oci::Reference parsed = oci::Reference::parse(ref);
  image::Transfer t = settings_.transfer(q.header("x-registry-auth"));
  ProgressStream progress(ex);
  t.progress = progress.fn();
  // A client that hangs up (docker pull interrupted) stops the pull, as Docker's does.
  t.cancelled = [&ex] { return ex.client_gone(); };
  try {
    // ?platform= (docker pull --platform, and run's pull of a platform that did not match).
    if (const std::string platform = q.param("platform"); !platform.empty()) {
      image::Options o = eng_.images().options();
      o.platform = oci::Platform::parse(platform);
      image::Service(o).pull(ref, t);
    } else {
      eng_.images().pull(ref, t);
    }
  } catch (const std::exception& e) {
    if (ex.client_gone()) {
      log::info("pull of " + ref + " stopped: the client went away");
      return;
    }
    progress.fail(e);
    progress.end();
    return;
  }
  progress.send(json{{"status", "Status: Downloaded newer image for " + parsed.familiar()}});
  progress.end();
}

void Api::image_push(Exchange& ex, const Params& p) {
  std::string ref = p["name"];
  if (const std::string tag = ex.req().param("tag"); !tag.empty()) ref += ":" + tag;
  image::Transfer t = settings_.transfer(ex.req().header("x-registry-auth"));
  ProgressStream progress(ex);
  t.progress = progress.fn();
  Digest d;
  try {
    d = eng_.images().push(ref, "", t);
  } catch (const std::exception& e) {
    progress.fail(e);
    progress.end();
    return;
  }
  // "TAG: digest: sha256:… size: N" → the aux record Docker's clients read.
  const std::string& line = progress.last_digest_line;
  const size_t sz = line.rfind("size: ");
  const oci::Reference r = oci::Reference::parse(ref);
  progress.send(json{{"progressDetail", json::object()},
                     {"aux", {{"Tag", r.tag.empty() ? "latest" : r.tag}, {"Digest", d.str()},
                              {"Size", sz == std::string::npos ? 0 : std::atoll(line.c_str() + sz + 6)}}}});
  progress.end();
}

void Api::image_tag(Exchange& ex, const Params& p) {
  std::string target = ex.req().param("repo");
  if (target.empty()) throw Error(ErrorKind::invalid_argument, "repository name must have at least one component (repo=)");
  if (const std::string tag = ex.req().param("tag"); !tag.empty()) target += ":" + tag;
  eng_.images().tag(p["name"], target);
  ex.reply_empty(201);
}

void Api::image_delete(Exchange& ex, const Params& p) {
  json out = json::array();
  for (auto& line : eng_.remove_image(p["name"], ex.req().flag("force"))) {
    if (line.rfind("Untagged: ", 0) == 0) out.push_back({{"Untagged", line.substr(10)}});
    else if (line.rfind("Deleted: ", 0) == 0) out.push_back({{"Deleted", line.substr(9)}});
  }
  ex.reply(200, out);
}

void Api::image_prune(Exchange& ex, const Params&) {
  // dangling=false: every unused image (docker image prune -a); the rest as the other prunes.
  bool all = false;
  Filters filters = parse_filters(ex.req().param("filters"));
  if (auto it = filters.find("dangling"); it != filters.end()) {
    for (auto& v : it->second) {
      if (v != "true" && v != "false" && v != "1" && v != "0")
        throw Error(ErrorKind::invalid_argument, "invalid filter 'dangling=" + v + "'");
      all = v == "false" || v == "0";
    }
    filters.erase(it);
  }
  const engine::PruneFilter f = prune_filter(json(filters).dump());
  auto& svc = eng_.images();
  json deleted = json::array();
  for (auto& line : svc.prune(all, f.image_selector())) {
    if (line.rfind("untagged: ", 0) == 0) deleted.push_back({{"Untagged", line.substr(10)}});
    else if (line.rfind("deleted: ", 0) == 0) deleted.push_back({{"Deleted", line.substr(9)}});
  }
  const auto gc = svc.gc(true);
  ex.reply(200, json{{"ImagesDeleted", deleted.empty() ? json(nullptr) : deleted}, {"SpaceReclaimed", gc.bytes}});
}

void Api::image_get(Exchange& ex, const Params& p) {
  const std::vector<std::string> refs = {p["name"]};
  eng_.images().resolve(p["name"]);  // 404 before the stream
  stream_from(ex, "application/x-tar", [&](int fd) { image::save_archive(eng_.images(), refs, fd); });
}

void Api::image_get_all(Exchange& ex, const Params&) {
  std::vector<std::string> refs;
  auto [lo, hi] = ex.req().query.equal_range("names");
  for (auto it = lo; it != hi; ++it) {
    eng_.images().resolve(it->second);
    refs.push_back(it->second);
  }
  if (refs.empty()) throw Error(ErrorKind::invalid_argument, "names= is required");
  stream_from(ex, "application/x-tar", [&](int fd) { image::save_archive(eng_.images(), refs, fd); });
}

void Api::image_load(Exchange& ex, const Params&) {
  std::vector<std::string> names;
  feed_to(ex, [&](int fd) { names = image::load_archive(eng_.images(), fd); });
  ex.begin_stream(200, "application/json");
  for (auto& n : names) {
    if (n.rfind("sha256:", 0) == 0) {  // an image without a name
      ex.write(json{{"stream", "Loaded image ID: " + n + "\n"}}.dump() + "\n");
      continue;
    }
    std::string shown = n;
    try {
      shown = oci::Reference::parse(n).familiar();
    } catch (const Error&) {
    }
    ex.write(json{{"stream", "Loaded image: " + shown + "\n"}}.dump() + "\n");
  }
  ex.end_stream();
}

void Api::commit(Exchange& ex, const Params&) {
  const auto& q = ex.req();
  const std::string container = q.param("container");
  if (container.empty()) throw Error(ErrorKind::invalid_argument, "container= is required");
  std::string ref = q.param("repo");
  if (!ref.empty() && !q.param("tag").empty()) ref += ":" + q.param("tag");
  std::vector<std::string> changes;
  auto [lo, hi] = q.query.equal_range("changes");
  for (auto it = lo; it != hi; ++it)
    for (auto& line : split(it->second, '\n'))
      if (!line.empty()) changes.push_back(line);
  // The body: a Config for the image (merged with the container's, Docker's rule), or null.
  const json body = ex.json_body();
  const image::Image img =
      eng_.commit(container, ref, q.param("comment"), q.param("author"), q.flag("pause", true), changes, body);
  ex.reply(201, json{{"Id", img.id.str()}});
}

}  // namespace berth::api::docker
