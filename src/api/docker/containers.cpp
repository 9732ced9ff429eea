// Containers: create, list, inspect, start/stop/restart/kill/pause, rename, wait, rm, logs,
// top, stats, changes, export, update, prune, resize, archive (docker cp).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <regex>
#include <set>
#include <thread>

#include "api/docker/api.hpp"
#include "api/docker/internal.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"
#include "distribution/auth.hpp"
#include "engine/container_filter.hpp"
#include "engine/model.hpp"
#include "shim/frames.hpp"

namespace berth::api::docker {

using nlohmann::json;

// --- shared helpers ----------------------------------------------------------------------

std::string mux_frame(int stream, std::string_view data) {
  std::string f(8, '\0');
  f[0] = static_cast<char>(stream);
  const uint32_t n = static_cast<uint32_t>(data.size());
  f[4] = static_cast<char>(n >> 24);
  f[5] = static_cast<char>(n >> 16);
  f[6] = static_cast<char>(n >> 8);
  f[7] = static_cast<char>(n);
  f.append(data);
  return f;
}

void stream_from(Exchange& ex, std::string_view content_type, const std::function<void(int fd)>& produce,
                 const Exchange::Headers& headers) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd r(p[0]), w(p[1]);
  std::exception_ptr failure;
  std::thread producer([&, wfd = w.release()] {
    UniqueFd out(wfd);
    try {
      produce(out.get());
    } catch (...) {
      failure = std::current_exception();
    }
  });
  std::vector<char> buf(64 * 1024);
  bool started = false;
  for (;;) {
    ssize_t n = ::read(r.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!started) {
      ex.begin_stream(200, content_type, headers);
      started = true;
    }
    if (!ex.write(std::string_view(buf.data(), static_cast<size_t>(n)))) break;
  }
  r.reset();  // a producer still writing gets EPIPE
  producer.join();
  if (!started) {
    if (failure) std::rethrow_exception(failure);
    ex.begin_stream(200, content_type, headers);
  } else if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      log::warn(ex.req().path + ": " + e.what());
    }
    return;  // the body is cut short: the client sees an incomplete stream
  }
  ex.end_stream();
}

void feed_to(Exchange& ex, const std::function<void(int fd)>& consume) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd r(p[0]), w(p[1]);
  std::exception_ptr failure;
  std::thread consumer([&, rfd = r.release()] {
    UniqueFd in(rfd);
    try {
      consume(in.get());
    } catch (...) {
      failure = std::current_exception();
    }
    // Whatever it left unread: drained, so that the feeder never blocks on a full pipe.
    char sink[4096];
    while (::read(in.get(), sink, sizeof sink) > 0) {
    }
  });
  std::exception_ptr feed_failure;
  try {
    ex.body_stream([&](std::string_view d) { return fs::write_all(w.get(), d); });
  } catch (...) {
    feed_failure = std::current_exception();
  }
  w.reset();
  consumer.join();
  if (feed_failure) std::rethrow_exception(feed_failure);
  if (failure) std::rethrow_exception(failure);
}

uint32_t go_file_mode(uint32_t m) {
  uint32_t out = m & 0777;
  if (S_ISDIR(m)) out |= 1u << 31;
  if (S_ISLNK(m)) out |= 1u << 27;
  if (S_ISFIFO(m)) out |= 1u << 25;
  if (S_ISSOCK(m)) out |= 1u << 24;
  if (S_ISBLK(m)) out |= 1u << 26;
  if (S_ISCHR(m)) out |= (1u << 26) | (1u << 21);
  if (m & S_ISUID) out |= 1u << 23;
  if (m & S_ISGID) out |= 1u << 22;
  if (m & S_ISVTX) out |= 1u << 20;
  return out;
}

std::string rfc3339(int64_t ns) { return ns > 0 ? rfc3339_nano(ns) : "0001-01-01T00:00:00Z"; }

int64_t int_param(const Request& req, const std::string& key, int64_t def) {
  const std::string v = req.param(key);
  if (v.empty()) return def;
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (*end || errno) throw Error(ErrorKind::invalid_argument, "invalid " + key + " `" + v + "`: want an integer");
  return n;
}

namespace {

// POST /containers/{id}/stop|restart?t=N: seconds before SIGKILL (-1: never); absent: the
// container's own StopTimeout.
std::optional<int> stop_timeout_param(const Request& req) {
  if (req.param("t").empty()) return std::nullopt;
  return static_cast<int>(std::clamp<int64_t>(int_param(req, "t", -1), -1, 1 << 30));
}

// Docker's clients send Devices as objects; the engine takes -v style strings.
json device_strings(const json& devices) {
  if (!devices.is_array()) return devices;
  json out = json::array();
  for (auto& d : devices) {
    if (!d.is_object()) {
      out.push_back(d);
      continue;
    }
    std::string s = d.value("PathOnHost", "");
    const std::string in = d.value("PathInContainer", "");
    const std::string perms = d.value("CgroupPermissions", "");
    if (!in.empty() || !perms.empty()) s += ":" + (in.empty() ? s : in);
    if (!perms.empty()) s += ":" + perms;
    out.push_back(s);
  }
  return out;
}

// Docker's port list of /containers/json (engine::port_summary).
json port_list(const std::vector<engine::PortSummary>& ports) {
  json out = json::array();
  for (auto& p : ports) {
    json e = {{"PrivatePort", p.private_port}, {"Type", p.type}};
    if (p.public_port) {
      e["IP"] = p.ip;
      e["PublicPort"] = p.public_port;
    }
    out.push_back(e);
  }
  return out;
}

}  // namespace

// --- handlers ----------------------------------------------------------------------------

void Api::container_create(Exchange& ex, const Params&) {
  json body = ex.json_body();
  if (!body.is_object()) throw Error(ErrorKind::invalid_argument, "config cannot be empty in order to create a container");
  engine::CreateRequest r;
  r.name = ex.req().param("name");
  r.platform = ex.req().param("platform");
  if (!r.name.empty() && r.name[0] == '/') r.name.erase(0, 1);
  const json image = body.value("Image", json());
  if (!image.is_string() || image.get<std::string>().empty())
    throw Error(ErrorKind::invalid_argument, "no image given (Config.Image)");
  r.image = image.get<std::string>();
  if (body.contains("HostConfig") && !body["HostConfig"].is_null()) {
    r.host = body["HostConfig"];
    if (!r.host.is_object()) throw Error(ErrorKind::invalid_argument, "HostConfig: want an object");
    if (r.host.contains("Devices")) r.host["Devices"] = device_strings(r.host["Devices"]);
    // A runtime is one the daemon's configuration names (Docker's rule): a client of the API
    // cannot have the daemon run a binary of its choosing (the CLI, Podman's way, may).
    if (const auto rt = r.host.find("Runtime"); rt != r.host.end() && rt->is_string()) {
      const std::string name = rt->get<std::string>();
      if (!name.empty() && !eng_.runtimes()->all().count(name))
        throw Error(ErrorKind::invalid_argument, "unknown or invalid runtime name: " + name);
    }
  } else {
    r.host = json::object();
  }
  if (!r.host.contains("NetworkMode") || r.host["NetworkMode"] == "") r.host["NetworkMode"] = "default";
  // The daemon's log driver for a container that names none, and its options for a container
  // of that driver, each one the container does not give itself (Docker's merge).
  {
    json& lc = r.host["LogConfig"];
    if (!lc.is_object()) lc = json::object();
    const std::string type = lc.value("Type", json("")).is_string() ? lc.value("Type", "") : "";
    if (type.empty()) lc["Type"] = settings_.log_driver;
    if (lc["Type"] == settings_.log_driver && !settings_.log_opts.empty()) {
      if (!lc.contains("Config") || !lc["Config"].is_object()) lc["Config"] = json::object();
      for (const auto& [k, v] : settings_.log_opts)
        if (!lc["Config"].contains(k)) lc["Config"][k] = v;
    }
  }
  const json net = body.value("NetworkingConfig", json::object());
  if (net.is_object() && net.contains("EndpointsConfig") && net["EndpointsConfig"].is_object())
    r.endpoints = net["EndpointsConfig"];
  // API 1.41 carries --mac-address in Config (1.44 moved it to the endpoint): the address of
  // the container's interface on the network it is made on.
  if (const json mac = body.value("MacAddress", json("")); mac.is_string() && !mac.get<std::string>().empty()) {
    const std::string mode = r.host.value("NetworkMode", json("")).is_string() ? r.host.value("NetworkMode", "") : "";
    if (mode == "none" || mode == "host" || mode.rfind("container:", 0) == 0)
      throw Error(ErrorKind::invalid_argument, "conflicting options: mac-address and the network mode");
    if (!r.endpoints.is_object()) r.endpoints = json::object();
    json& ep = r.endpoints.size() == 1 ? r.endpoints.begin().value() : r.endpoints[mode];
    if (!ep.is_object()) ep = json::object();
    if (!ep.contains("MacAddress") || ep["MacAddress"] == "") ep["MacAddress"] = mac;
  }
  body.erase("HostConfig");
  body.erase("NetworkingConfig");
  // A hostname the client gave (the docker CLI sends "" without --hostname): the engine's
  // rules for one given (host and container: networks).
  if (const json h = body.value("Hostname", json("")); h.is_string() && !h.get<std::string>().empty()) body["HostnameFromFlag"] = true;
  r.config = body;
  log::WarningCapture warnings;  // the engine's (discarded ports, a kernel memory limit, …): the client prints them
  engine::Container c = eng_.create(r);
  ex.reply(201, json{{"Id", c.id()}, {"Warnings", warnings.warnings()}});
}

void Api::container_list(Exchange& ex, const Params&) {
  const auto& q = ex.req();
  const bool all = q.flag("all");
  const int64_t limit = int_param(q, "limit", -1);
  const bool size = q.flag("size");
  const engine::ContainerFilter filter(eng_, parse_filters(q.param("filters")));
  auto list = eng_.list();
  std::sort(list.begin(), list.end(), [](auto& a, auto& b) { return a.rec.created > b.rec.created; });
  json out = json::array();
  for (auto& c : list) {
    if (limit > 0 && static_cast<int64_t>(out.size()) >= limit) break;
    engine::State s = eng_.state(c);
    if (s.removed) continue;
    const std::string status(engine::status_name(s.status));
    if (!all && !filter.wants_all() && limit <= 0 && !s.running() && s.status != engine::Status::restarting) continue;
    if (!filter.match(eng_, c, s)) continue;
    const json& config = c.data["Config"];
    const json labels = config.value("Labels", json::object());
    const json endpoints = c.endpoints();
    const auto ports = engine::port_summary(c.data, s.running());
    json mounts = eng_.mounts(c);
    json networks = json::object();
    const json settings = c.data.value("NetworkSettings", json::object()).value("Networks", json::object());
    for (auto& [name, _] : endpoints.items()) networks[docker_network_name(name)] = settings.value(name, json::object());
    // Docker's Image: the name it was made from while that still names its image; the
    // image's id once the name was removed or moved (compose and scripts read it).
    std::string image = config.value("Image", "");
    if (auto now = eng_.images().find(image); !now || now->id.str() != c.rec.image) image = c.rec.image;
    json row = {{"Id", c.id()},
                {"Names", {"/" + c.rec.name}},
                {"Image", image},
                {"ImageID", c.rec.image},
                {"Command", engine::command_text(config)},
                {"Created", c.rec.created / 1000000000},
                {"Ports", port_list(ports)},
                {"Labels", labels},
                {"State", status},
                {"Status", engine::status_text(s)},
                {"HostConfig", {{"NetworkMode", docker_network_mode(c.data["HostConfig"].value("NetworkMode", "default"))}}},
                {"NetworkSettings", {{"Networks", networks}}},
                {"Mounts", mounts}};
    if (size) {
      const auto z = eng_.sizes(c);
      row["SizeRw"] = z.rw;
      row["SizeRootFs"] = z.root_fs;
    }
    out.push_back(std::move(row));
  }
  ex.reply(200, out);
}

void Api::container_inspect(Exchange& ex, const Params& p) {
  engine::Container c = eng_.lookup(p["id"]);
  json j = eng_.inspect(c);
  if (auto n = j.find("NetworkSettings"); n != j.end() && n->is_object() && n->contains("Networks"))
    (*n)["Networks"] = docker_network_keys((*n)["Networks"]);
  if (auto h = j.find("HostConfig"); h != j.end() && h->is_object() && h->contains("NetworkMode") && (*h)["NetworkMode"].is_string())
    (*h)["NetworkMode"] = docker_network_mode((*h)["NetworkMode"].get<std::string>());
  if (ex.req().flag("size")) {
    const auto z = eng_.sizes(c);
    j["SizeRw"] = z.rw;
    j["SizeRootFs"] = z.root_fs;
  }
  ex.reply(200, j);
}

void Api::mark_started(const std::string& id, int64_t started_ns) {
  std::lock_guard<std::mutex> l(mu_);
  // Marks past the window are never used again: dropped here, so the map holds only the
  // starts of the last seconds, not one entry per container ever started.
  const int64_t now = now_ns();
  for (auto it = runs_.begin(); it != runs_.end();)
    it = now - it->second.started_ns >= kRunMarkWindowNs ? runs_.erase(it) : std::next(it);
  auto early = early_waits_.find(id);
  runs_[id] = {started_ns, early != early_waits_.end() && early->second > 0};
}

// Docker removes an AutoRemove container whose start failed (its client waits for the removal).
void Api::start_failed(const engine::Container& c) {
  try {
    if (!c.host_config().auto_remove) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      removed_exits_[c.id()] = 127;
    }
    eng_.cleanup(c.id(), true);
  } catch (const std::exception& e) {
    log::warn("removing " + c.rec.name + " after its failed start: " + e.what());
  }
}

void Api::container_start(Exchange& ex, const Params& p) {
  engine::Container c = eng_.lookup(p["id"]);
  if (eng_.state(c).running()) {
    ex.reply_empty(304);
    return;
  }
  std::shared_ptr<PendingAttach> pa;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = pending_.find(c.id());
    if (it != pending_.end()) {
      pa = it->second;
      pending_.erase(it);
    }
  }
  const int64_t t0 = now_ns();
  log::debug("start " + c.id().substr(0, 12) + (pa ? ": an attachment waits" : ": none attached"));
  if (pa) {
    // An attachment is waiting: it gets the output from the first byte, and cleans up after
    // the exit (or, if its client is gone by then, the shim does).
    UniqueFd fd;
    try {
      fd = eng_.start(c.id(), true);
    } catch (const std::exception& e) {
      {
        std::lock_guard<std::mutex> l(pa->mu);
        pa->gone = true;
        pa->cv.notify_all();
      }
      // Started meanwhile (another request's start had its lock first): Docker's 304.
      if (dynamic_cast<const engine::AlreadyRunning*>(&e)) {
        ex.reply_empty(304);
        return;
      }
      start_failed(c);
      throw;
    }
    std::lock_guard<std::mutex> l(pa->mu);
    if (!pa->gone) {
      pa->shim = std::move(fd);
      pa->given = true;
    }
    pa->cv.notify_all();
  } else {
    try {
      eng_.start(c.id());
    } catch (const engine::AlreadyRunning&) {
      ex.reply_empty(304);
      return;
    } catch (...) {
      start_failed(c);
      throw;
    }
  }
  mark_started(c.id(), t0);
  ex.reply_empty(204);
}

void Api::container_stop(Exchange& ex, const Params& p) {
  engine::Container c = eng_.lookup(p["id"]);
  // Docker's: a container between two runs of its restart policy is running as far as stop
  // goes (it ends the restarts).
  if (const engine::State s = eng_.state(c); !s.running() && s.status != engine::Status::restarting) {
    ex.reply_empty(304);
    return;
  }
  eng_.stop(c.id(), stop_timeout_param(ex.req()));
  ex.reply_empty(204);
}

void Api::container_restart(Exchange& ex, const Params& p) {
  engine::Container c = eng_.lookup(p["id"]);
  int64_t t0 = 0;
  eng_.restart(c.id(), stop_timeout_param(ex.req()), [&t0] { t0 = now_ns(); });
  mark_started(c.id(), t0);
  ex.reply_empty(204);
}

void Api::container_kill(Exchange& ex, const Params& p) {
  const std::string sig = ex.req().param("signal", "KILL");
  engine::Container c = eng_.lookup(p["id"]);
  if (const engine::State s = eng_.state(c); !s.running() && s.status != engine::Status::restarting)
    throw Error(ErrorKind::conflict, "Cannot kill container: " + p["id"] + ": Container " + c.id() + " is not running");
  eng_.kill(c.id(), engine::parse_signal(sig.empty() ? "KILL" : sig));
  ex.reply_empty(204);
}

void Api::container_pause(Exchange& ex, const Params& p) {
  eng_.pause(p["id"], true);
  ex.reply_empty(204);
}

void Api::container_unpause(Exchange& ex, const Params& p) {
  eng_.pause(p["id"], false);
  ex.reply_empty(204);
}

void Api::container_rename(Exchange& ex, const Params& p) {
  std::string name = ex.req().param("name");
  if (!name.empty() && name[0] == '/') name.erase(0, 1);
  if (name.empty()) throw Error(ErrorKind::invalid_argument, "rename: a new name is required (name=)");
  eng_.rename(p["id"], name);
  ex.reply_empty(204);
}

void Api::container_wait(Exchange& ex, const Params& p) {
  const std::string cond = ex.req().param("condition", "not-running");
  engine::WaitOptions o;
  // API 1.41's: next-exit, removed, and anything else is not-running (dockerd 20.10 refuses
  // nothing here).
  if (cond == "next-exit") o.condition = engine::WaitCondition::next_exit;
  else if (cond == "removed") o.condition = engine::WaitCondition::removed;
  else o.condition = engine::WaitCondition::not_running;
  engine::Container c;
  try {
    c = eng_.lookup(p["id"]);
  } catch (const Error& e) {
    // A --rm container this daemon removed after its exit: that exit.
    std::lock_guard<std::mutex> l(mu_);
    if (e.kind() == ErrorKind::not_found && o.condition != engine::WaitCondition::not_running)
      for (auto& [id, code] : removed_exits_)
        if (id == p["id"] || (p["id"].size() >= 12 && id.rfind(p["id"], 0) == 0)) {
          ex.reply(200, json{{"StatusCode", code}, {"Error", nullptr}});
          return;
        }
    throw;
  }
  // The docker CLI sends its wait and its start at once: a next-exit (or removed) wait that
  // comes after the start it goes with waits from that start, not from now.
  // A wait that found no mark counts as early until it ends (see early_waits_).
  bool early = false;
  if (o.condition != engine::WaitCondition::not_running) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = runs_.find(c.id());
    if (it != runs_.end() && !it->second.waited && now_ns() - it->second.started_ns < kRunMarkWindowNs) {
      it->second.waited = true;
      o.since = it->second.started_ns;
    } else {
      early = true;
      ++early_waits_[c.id()];
    }
  }
  struct EarlyDone {
    Api* api;
    std::string id;
    bool on;
    ~EarlyDone() {
      if (!on) return;
      std::lock_guard<std::mutex> l(api->mu_);
      if (--api->early_waits_[id] <= 0) api->early_waits_.erase(id);
    }
  } early_done{this, c.id(), early};
  // The headers go out now (Docker's clients read them before the exit comes).
  ex.begin_stream(200, "application/json");
  o.cancel_fd = ex.client_fd();
  json result;
  try {
    const int code = eng_.wait(c.id(), o);
    result = {{"StatusCode", code}, {"Error", nullptr}};
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::unavailable) return;  // the client went away
    result = {{"StatusCode", -1}, {"Error", {{"Message", e.what()}}}};
    // Removed between our lookup and the engine's (a --rm container this daemon cleaned up
    // meanwhile): its recorded exit.
    if (e.kind() == ErrorKind::not_found) {
      std::lock_guard<std::mutex> l(mu_);
      if (auto it = removed_exits_.find(c.id()); it != removed_exits_.end())
        result = {{"StatusCode", it->second}, {"Error", nullptr}};
    }
  }
  ex.write(result.dump() + "\n");
  ex.end_stream();
}

void Api::container_delete(Exchange& ex, const Params& p) {
  eng_.remove(p["id"], ex.req().flag("force"), ex.req().flag("v"));
  ex.reply_empty(204);
}

void Api::container_logs(Exchange& ex, const Params& p) {
  const auto& q = ex.req();
  const bool out = q.flag("stdout"), err = q.flag("stderr");
  if (!out && !err) throw Error(ErrorKind::invalid_argument, "Bad parameters: you must choose at least one stream");
  engine::Container c = eng_.lookup(p["id"]);
  // Docker's answer before any stream starts (the CLI prints its message).
  if (eng_.log_path(c).empty()) {  // none, syslog: nothing kept to read
    ex.reply(501, json{{"message", "configured logging driver does not support reading"}});
    return;
  }
  const bool tty = c.config().tty;
  engine::LogOptions o;
  const std::string tail = q.param("tail", "all");
  if (tail != "all" && !tail.empty()) {
    char* end = nullptr;
    o.tail = std::strtol(tail.c_str(), &end, 10);
    if (*end || o.tail < 0) o.tail = -1;  // Docker: anything else is all
  }
  // Unix seconds with their nanoseconds ("1700000000.000123456": the docker CLI's form), to
  // the nanosecond.
  auto ns = [&](const char* k) -> int64_t {
    const std::string v = q.param(k);
    if (v.empty() || v == "0") return 0;
    const size_t dot = v.find('.');
    const std::string whole = v.substr(0, dot), frac = dot == std::string::npos ? "" : v.substr(dot + 1);
    if (whole.empty() || whole.size() > 12 || whole.find_first_not_of("0123456789") != std::string::npos ||
        frac.find_first_not_of("0123456789") != std::string::npos)
      throw Error(ErrorKind::invalid_argument, std::string("invalid ") + k + " `" + v + "`");
    std::string digits = frac.substr(0, 9);
    digits.append(9 - digits.size(), '0');
    return std::stoll(whole) * 1000000000 + std::stoll(digits);
  };
  o.since = ns("since");
  o.until = ns("until");
  o.follow = q.flag("follow");
  o.cancel_fd = ex.client_fd();
  const bool ts = q.flag("timestamps"), details = q.flag("details");
  ex.begin_stream(200, "application/vnd.docker.raw-stream");
  eng_.logs(c.id(), o, [&](const logs::Entry& l) {
    const bool is_err = l.stream == "stderr";
    if ((is_err && !err) || (!is_err && !out)) return true;
    const std::string text = l.text(ts, details);
    return ex.write(tty ? text : mux_frame(is_err ? 2 : 1, text));
  });
  ex.end_stream();
}

void Api::container_top(Exchange& ex, const Params& p) {
  std::vector<std::string> args = {"-ef"};
  if (const std::string a = ex.req().param("ps_args"); !a.empty()) {
    args.clear();
    for (auto& w : split(a, ' '))
      if (!w.empty()) args.push_back(w);
  }
  const auto procs = eng_.top(p["id"], args);
  ex.reply(200, json{{"Titles", procs.titles}, {"Processes", procs.rows}});
}

namespace {

// The host's CPU time (ns) as Docker's system_cpu_usage: the sum of /proc/stat's cpu line.
uint64_t system_cpu_ns() {
  std::string text;
  if (!fs::read_file_if_exists("/proc/stat", text)) return 0;
  const auto line = text.substr(0, text.find('\n'));
  uint64_t ticks = 0;
  for (auto& w : split(line, ' '))
    if (!w.empty() && w != "cpu") ticks += std::strtoull(w.c_str(), nullptr, 10);
  return ticks * (1000000000ULL / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK)));
}

// Docker shows the host's memory as the limit of a container without one.
uint64_t host_memory() {
  struct sysinfo si {};
  if (::sysinfo(&si) < 0) return 0;
  return static_cast<uint64_t>(si.totalram) * si.mem_unit;
}

json cpu_stats(const engine::Stats& s, uint64_t system) {
  const long ncpu = ::sysconf(_SC_NPROCESSORS_ONLN);
  const json& raw = s.raw;
  json usage = {{"total_usage", s.cpu_ns},
                {"usage_in_kernelmode", s.raw_number({"cpu", "usage", "kernel"})},
                {"usage_in_usermode", s.raw_number({"cpu", "usage", "user"})}};
  // Per CPU: cgroup v1's cpuacct has it (Docker shows it there; v2 has none).
  if (raw.contains("cpu") && raw["cpu"].contains("usage") && raw["cpu"]["usage"].value("percpu", json()).is_array() &&
      !raw["cpu"]["usage"]["percpu"].empty())
    usage["percpu_usage"] = raw["cpu"]["usage"]["percpu"];
  return {{"cpu_usage", usage},
          {"system_cpu_usage", system},
          {"online_cpus", ncpu},
          {"throttling_data",
           {{"periods", s.raw_number({"cpu", "throttling", "periods"})},
            {"throttled_periods", s.raw_number({"cpu", "throttling", "throttled_periods"})},
            {"throttled_time", s.raw_number({"cpu", "throttling", "throttled_time"})}}}};
}

// Docker's memory_stats: the cgroup's usage and its memory.stat (the docker CLI subtracts the
// inactive page cache itself: total_inactive_file on v1, inactive_file on v2).
json memory_stats(const engine::Stats& s, uint64_t host_mem) {
  const json& raw = s.raw;
  const json stat = raw.contains("memory") && raw["memory"].value("raw", json()).is_object() ? raw["memory"]["raw"] : json::object();
  json m = {{"usage", stat.empty() ? s.mem_usage : s.raw_number({"memory", "usage", "usage"})},
            {"limit", s.mem_limit && s.mem_limit < host_mem ? s.mem_limit : host_mem},
            {"stats", stat}};
  if (const uint64_t max = s.raw_number({"memory", "usage", "max"})) m["max_usage"] = max;
  if (raw.contains("memory") && raw["memory"].contains("usage") && raw["memory"]["usage"].contains("failcnt"))
    m["failcnt"] = s.raw_number({"memory", "usage", "failcnt"});
  return m;
}

// Per device, as the cgroup counts it: {"major", "minor", "op" (Read/Write), "value"}.
json blkio_entries(const engine::Stats& s) {
  json out = json::array();
  const json& raw = s.raw;
  if (raw.contains("blkio") && raw["blkio"].value("ioServiceBytesRecursive", json()).is_array())
    for (auto& e : raw["blkio"]["ioServiceBytesRecursive"])
      if (e.is_object())
        out.push_back({{"major", e.value("major", 0)}, {"minor", e.value("minor", 0)}, {"op", e.value("op", "")}, {"value", e.value("value", 0ull)}});
  if (out.empty() && (s.blk_read || s.blk_write)) {
    out.push_back({{"major", 0}, {"minor", 0}, {"op", "Read"}, {"value", s.blk_read}});
    out.push_back({{"major", 0}, {"minor", 0}, {"op", "Write"}, {"value", s.blk_write}});
  }
  return out;
}

}  // namespace

void Api::container_stats(Exchange& ex, const Params& p) {
  engine::Container c = eng_.lookup(p["id"]);
  const bool stream = ex.req().flag("stream", true);
  const bool one_shot = ex.req().flag("one-shot");
  const std::string name = "/" + c.rec.name;
  auto document = [&](const engine::Stats& now, uint64_t sys_now, const engine::Stats* before, uint64_t sys_before) {
    // Per interface, as Docker (the CLI sums them for NET I/O).
    json networks = json::object();
    for (const auto& i : now.interfaces)
      networks[i.name] = {{"rx_bytes", i.rx_bytes},     {"rx_packets", i.rx_packets}, {"rx_errors", i.rx_errors},
                          {"rx_dropped", i.rx_dropped}, {"tx_bytes", i.tx_bytes},     {"tx_packets", i.tx_packets},
                          {"tx_errors", i.tx_errors},   {"tx_dropped", i.tx_dropped}};
    json pids = {{"current", now.pids}};
    if (const uint64_t limit = now.raw_number({"pids", "limit"}); limit && limit < (1ull << 62)) pids["limit"] = limit;
    return json{{"read", rfc3339_nano(now_ns())},
                {"preread", before ? rfc3339_nano(now_ns()) : "0001-01-01T00:00:00Z"},
                {"pids_stats", pids},
                {"blkio_stats", {{"io_service_bytes_recursive", blkio_entries(now)}}},
                {"num_procs", 0},
                {"storage_stats", json::object()},
                {"cpu_stats", cpu_stats(now, sys_now)},
                {"precpu_stats", before ? cpu_stats(*before, sys_before) : json{{"cpu_usage", {{"total_usage", 0}}}, {"throttling_data", json::object()}}},
                {"memory_stats", memory_stats(now, host_memory())},
                {"name", name},
                {"id", c.id()},
                {"networks", networks}};
  };
  if (!eng_.state(c).running()) {
    // Docker: its StatsJSON with only the name and id — zero times, empty memory (the CLI
    // shows "0B / 0B", not the host's memory as a limit), no networks.
    engine::Stats zero;
    if (!stream) {
      json doc = document(zero, 0, nullptr, 0);
      doc["read"] = doc["preread"] = "0001-01-01T00:00:00Z";
      doc["memory_stats"] = json::object();
      doc["pids_stats"] = json::object();
      doc.erase("networks");
      ex.reply(200, doc);
      return;
    }
  }
  engine::Stats prev = eng_.stats(c.id());
  uint64_t sys_prev = system_cpu_ns();
  if (!stream) {
    if (!one_shot) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      engine::Stats now = eng_.stats(c.id());
      const uint64_t sys_now = system_cpu_ns();
      ex.reply(200, document(now, sys_now, &prev, sys_prev));
    } else {
      ex.reply(200, document(prev, sys_prev, nullptr, 0));
    }
    return;
  }
  ex.begin_stream(200, "application/json");
  if (!ex.write(document(prev, sys_prev, nullptr, 0).dump() + "\n")) return;
  for (;;) {
    // A second between readings, or the client's hang-up.
    pollfd pf{ex.client_fd(), POLLIN, 0};
    if (::poll(&pf, 1, 1000) > 0) break;
    engine::Stats now;
    try {
      now = eng_.stats(c.id());
    } catch (const Error&) {
      break;  // it stopped
    }
    const uint64_t sys_now = system_cpu_ns();
    if (!ex.write(document(now, sys_now, &prev, sys_prev).dump() + "\n")) return;
    prev = now;
    sys_prev = sys_now;
  }
  ex.end_stream();
}

void Api::container_changes(Exchange& ex, const Params& p) {
  json out = json::array();
  for (auto& ch : eng_.changes(p["id"]))
    out.push_back({{"Path", ch.path}, {"Kind", ch.kind == 'C' ? 0 : ch.kind == 'A' ? 1 : 2}});
  ex.reply(200, out.empty() ? json(nullptr) : out);
}

void Api::container_export(Exchange& ex, const Params& p) {
  const std::string id = eng_.lookup(p["id"]).id();
  stream_from(ex, "application/x-tar", [&](int fd) { eng_.export_rootfs(id, fd); });
}

void Api::container_update(Exchange& ex, const Params& p) {
  const json body = ex.json_body();
  if (!body.is_object()) throw Error(ErrorKind::invalid_argument, "update: a JSON object is required");
  // Docker's clients send every field, zero meaning "unchanged".
  json changes = json::object();
  for (const char* k : {"Memory", "MemorySwap", "MemoryReservation", "KernelMemory", "NanoCpus", "CpuShares", "CpuPeriod",
                        "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime", "PidsLimit", "BlkioWeight"})
    if (body.contains(k) && !body[k].is_null() && !(body[k].is_number() && body[k].get<double>() == 0)) changes[k] = body[k];
  for (const char* k : {"CpusetCpus", "CpusetMems"})
    if (body.contains(k) && !body[k].is_null() && !(body[k].is_string() && body[k].get<std::string>().empty()))
      changes[k] = body[k];
  if (body.contains("RestartPolicy") && body["RestartPolicy"].is_object() &&
      !body["RestartPolicy"].value("Name", "").empty())
    changes["RestartPolicy"] = body["RestartPolicy"];
  log::WarningCapture warnings;
  if (!changes.empty()) eng_.update(p["id"], changes);
  ex.reply(200, json{{"Warnings", warnings.warnings()}});
}

void Api::container_prune(Exchange& ex, const Params&) {
  const engine::PruneFilter f = prune_filter(ex.req().param("filters"));
  const auto r = eng_.prune_containers(f);
  ex.reply(200, json{{"ContainersDeleted", r.deleted.empty() ? json(nullptr) : json(r.deleted)},
                     {"SpaceReclaimed", r.reclaimed}});
}

void Api::container_resize(Exchange& ex, const Params& p) {
  const int64_t h = int_param(ex.req(), "h", 0), w = int_param(ex.req(), "w", 0);
  engine::Container c = eng_.lookup(p["id"]);
  if (!eng_.state(c).running()) throw Error(ErrorKind::conflict, "Container " + c.id() + " is not running");
  if (c.config().tty && h > 0 && w > 0) {
    UniqueFd conn = eng_.shim_connect(c, "attach\n");
    shim::send_frame(conn.get(), shim::kResize, std::to_string(h) + " " + std::to_string(w));
  }
  ex.reply_empty(200);
}

namespace {

std::string path_stat_header(const engine::Engine::PathStat& st) {
  const json j = {{"name", st.name}, {"size", st.size}, {"mode", go_file_mode(st.mode)},
                  {"mtime", rfc3339(st.mtime_ns)}, {"linkTarget", st.link_target}};
  return distribution::base64_encode(j.dump());
}

}  // namespace

void Api::archive_head(Exchange& ex, const Params& p) {
  const std::string path = ex.req().param("path");
  if (path.empty()) throw Error(ErrorKind::invalid_argument, "path is required");
  const auto st = eng_.stat_path(p["id"], path);
  ex.reply_empty(200, {{"X-Docker-Container-Path-Stat", path_stat_header(st)}});
}

void Api::archive_get(Exchange& ex, const Params& p) {
  const std::string path = ex.req().param("path");
  if (path.empty()) throw Error(ErrorKind::invalid_argument, "path is required");
  const std::string id = eng_.lookup(p["id"]).id();
  const auto st = eng_.stat_path(id, path);
  stream_from(ex, "application/x-tar", [&](int fd) { eng_.copy_out_tar(id, path, fd, false); },
              {{"X-Docker-Container-Path-Stat", path_stat_header(st)}});
}

void Api::archive_put(Exchange& ex, const Params& p) {
  const std::string path = ex.req().param("path");
  if (path.empty()) throw Error(ErrorKind::invalid_argument, "path is required");
  const std::string id = eng_.lookup(p["id"]).id();
  feed_to(ex, [&](int fd) { eng_.copy_in_tar(id, fd, path); });
  ex.reply_empty(200);
}

}  // namespace berth::api::docker
