// POST /build (Docker's classic builder API) and POST /build/prune: the context tar unpacked
// into a private directory, the build run by build/builder.hpp on the shared engine, its
// output streamed as Docker's JSON lines ({"stream"}, {"aux": {"ID"}}, {"errorDetail"}).
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "api/docker/api.hpp"
#include "api/docker/internal.hpp"
#include "build/builder.hpp"
#include "build/cache_mounts.hpp"
#include "build/remote.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "diff/layer.hpp"
#include "distribution/auth.hpp"
#include "engine/spec.hpp"
#include "image/service.hpp"
#include "oci/reference.hpp"

namespace berth::api::docker {

using nlohmann::json;

namespace {

// The context's directory, removed when the request ends.
struct ContextDir {
  std::string path;
  ~ContextDir() {
    if (path.empty()) return;
    try {
      fs::remove_all(path);
    } catch (const std::exception& e) {
      log::warn("build context " + path + ": " + e.what());
    }
  }
};

// X-Registry-Config (base64 of {"registry": {username, password, …}, …}): the entry for the
// registry of `ref`, as an X-Registry-Auth value; "" when there is none.
std::string auth_for(const std::string& registry_config, const std::string& ref) {
  if (registry_config.empty()) return "";
  json all = json::parse(distribution::base64_decode(registry_config), nullptr, false);
  if (!all.is_object()) return "";
  const std::string registry = oci::Reference::parse(ref).registry;
  for (auto& [key, auth] : all.items()) {
    std::string k = key;
    for (const char* p : {"https://", "http://"})
      if (k.rfind(p, 0) == 0) k = k.substr(std::strlen(p));
    if (auto slash = k.find('/'); slash != std::string::npos) k = k.substr(0, slash);
    if (k == "index.docker.io") k = "docker.io";
    if (k == registry) return distribution::base64_encode(auth.dump());
  }
  return "";
}

}  // namespace

void Api::build(Exchange& ex, const Params&) {
  const Request& q = ex.req();
  // remote=: a git repository or a URL (a tar, or a Dockerfile) instead of the body, as
  // Docker's daemon takes it (docker-py and compose send it for such a context).
  const std::string remote = q.param("remote");
  if (!remote.empty() && !build::is_remote_context(remote))
    throw Error(ErrorKind::invalid_argument, "remote " + remote + ": not a git repository or an http(s) URL");
  if (const std::string platform = q.param("platform"); !platform.empty()) {
    const oci::Platform host = oci::host_platform();
    if (platform != host.os + "/" + host.architecture && platform != host.os)
      throw Error(ErrorKind::invalid_argument, "platform " + platform + ": only this machine's (" + host.os + "/" + host.architecture + ") can be built");
  }
  build::BuildOptions o;
  auto [lo, hi] = q.query.equal_range("t");
  for (auto it = lo; it != hi; ++it) {
    image::name_to_give(it->second);  // a bad name: 400 before the context is read
    o.tags.push_back(it->second);
  }
  auto string_map = [&](const std::string& key) {
    std::map<std::string, std::string> out;
    const std::string text = q.param(key);
    if (text.empty()) return out;
    json j = json::parse(text, nullptr, false);
    if (!j.is_object()) throw Error(ErrorKind::invalid_argument, key + ": a JSON object of strings");
    for (auto& [k, v] : j.items()) {
      if (v.is_string()) out[k] = v.get<std::string>();
      else if (!v.is_null()) throw Error(ErrorKind::invalid_argument, key + ": " + k + " is not a string");
    }
    return out;
  };
  o.build_args = string_map("buildargs");
  o.labels = string_map("labels");
  o.target = q.param("target");
  o.no_cache = q.flag("nocache");
  if (const std::string cf = q.param("cachefrom"); !cf.empty()) {  // a JSON array of image names
    const json list = json::parse(cf, nullptr, false);
    if (!list.is_array() && !list.is_null()) throw Error(ErrorKind::invalid_argument, "cachefrom: a JSON array of image names");
    if (list.is_array())
      for (auto& n : list)
        if (n.is_string()) o.cache_from.push_back(n.get<std::string>());
  }
  o.always_pull = q.flag("pull");
  o.force_rm = q.flag("forcerm");
  // q=1 (docker build -q): the output is kept and sent only with an error; on success the
  // client gets the image id alone (Docker's daemon does the same).
  const bool quiet = q.flag("q");
  const std::string net = q.param("networkmode");
  o.network = net.empty() || net == "default" ? "bridge" : net;
  for (auto& h : split(q.param("extrahosts"), ','))
    if (!h.empty()) o.add_hosts.push_back(h);
  o.shm_size = int_param(q, "shmsize", 0);
  if (const std::string u = q.param("ulimits"); !u.empty()) {  // the docker CLI sends "null" for none
    const json given = json::parse(u, nullptr, false);
    if (given.is_array()) o.ulimits = given;
    else if (!given.is_null()) throw Error(ErrorKind::invalid_argument, "ulimits: a JSON array of {Name, Soft, Hard}");
  }
  const std::string dockerfile = q.param("dockerfile", "Dockerfile");

  // The context: the body, a tar (plain, gzip or zstd), unpacked where only root reaches it.
  ContextDir ctx;
  const std::string base = settings_.root + "/build";
  fs::mkdir_p(base, 0700);
  ctx.path = base + "/" + image::unique_name("context-");
  fs::mkdir_p(ctx.path, 0700);
  UniqueFd dir(::open(ctx.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) throw_errno("open " + ctx.path);
  if (!remote.empty()) {
    build::RemoteContext rc = build::make_remote_context(remote, ctx.path, q.param("dockerfile"), settings_.fetch);
    o.context = rc.context;
    o.dockerfile = std::move(rc.dockerfile);
  } else {
    feed_to(ex, [&](int fd) {
      diff::ApplyOptions ao;
      ao.overlay = false;
      ao.whiteouts = false;  // a context's .wh.x is a file (Docker's untar)
      ao.rootless = ::geteuid() != 0;
      try {  // a tar bomb: refused before it fills the disk
        diff::apply_stream(fd, dir.get(), ao, true, "the build context");
      } catch (const Error& e) {
        throw Error(ErrorKind::invalid_argument, std::string("the build context: ") + e.what());
      }
    });
    {
      UniqueFd f = build::open_dockerfile(dir.get(), dockerfile);
      if (!f)
        throw Error(ErrorKind::invalid_argument, "Cannot locate specified Dockerfile: " + dockerfile);
      char buf[65536];
      for (size_t n; (n = fs::read_fd(f.get(), buf, sizeof buf, dockerfile)) > 0;) {
        o.dockerfile.append(buf, n);
        if (o.dockerfile.size() > (16u << 20)) throw Error(ErrorKind::invalid_argument, dockerfile + ": larger than 16 MiB");
      }
    }
    o.context = ctx.path;
  }

  // The stream starts with the first line: an error before it (a Dockerfile that does not
  // parse, a base image that does not exist) is an HTTP error, as Docker's.
  std::mutex mu;
  auto send = [&](const json& j) {
    std::lock_guard<std::mutex> lk(mu);
    if (!ex.replied()) ex.begin_stream(200, "application/json");
    ex.write(j.dump() + "\n");
  };
  std::string held;
  o.out = [&](std::string_view s) {
    if (!quiet) return send(json{{"stream", std::string(s)}});
    std::lock_guard<std::mutex> lk(mu);
    held += s;
  };
  const std::string registry_config = q.header("x-registry-config");
  o.pull = [&](const std::string& ref) {
    image::Transfer t = settings_.transfer(auth_for(registry_config, ref));
    t.cancelled = [&ex] { return ex.client_gone(); };
    t.progress = [&](const image::ProgressEvent& e) {
      json j = {{"status", e.status}};
      if (!e.id.empty()) j["id"] = e.id;
      send(j);
    };
    eng_.images().pull(ref, t);
  };
  o.cancelled = [&ex] { return ex.client_gone(); };
  o.fetch = settings_.fetch;
  build::BuildResult r;
  try {
    r = build::build(eng_, o);
  } catch (const std::exception& e) {
    if (ex.client_gone()) {
      log::info("build stopped: the client went away");
      return;
    }
    {
      std::lock_guard<std::mutex> lk(mu);
      if (!ex.replied() && held.empty()) throw;
    }
    if (!held.empty()) send(json{{"stream", held}});
    json detail = {{"message", e.what()}};
    if (auto* f = dynamic_cast<const build::StepFailed*>(&e)) detail["code"] = f->exit_code;
    send(json{{"errorDetail", detail}, {"error", e.what()}});
    std::lock_guard<std::mutex> lk(mu);
    ex.end_stream();
    return;
  }
  if (!quiet)
    for (auto& n : r.unused_args)
      send(json{{"stream", "[Warning] One or more build-args [" + n + "] were not consumed\n"}});
  // -q: the id alone, as a stream line (what Docker's daemon sends and its CLI prints).
  if (quiet) send(json{{"stream", r.image.id.str() + "\n"}});
  else send(json{{"aux", {{"ID", r.image.id.str()}}}});
  if (!quiet) {
    send(json{{"stream", "Successfully built " + image::short_id(r.image.id) + "\n"}});
    for (auto& t : o.tags) send(json{{"stream", "Successfully tagged " + oci::Reference::parse(t).familiar() + "\n"}});
  }
  std::lock_guard<std::mutex> lk(mu);
  ex.end_stream();
}

void Api::build_prune(Exchange& ex, const Params&) {
  auto& svc = eng_.images();
  const auto deleted = svc.prune_build_cache();
  const auto gc = svc.gc(false);
  const build::CacheMountsPruned mounts = build::prune_cache_mounts(settings_.root, svc.options().ns);
  json ids = json::array();
  for (auto& line : deleted) ids.push_back(line.substr(line.find(' ') + 1));
  ex.reply(200, json{{"CachesDeleted", ids.empty() ? json(nullptr) : ids}, {"SpaceReclaimed", gc.bytes + mounts.bytes}});
}

}  // namespace berth::api::docker
