#include "shim/files.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace berth::shim {

bool RestartPolicy::due(int code, int restarts) const {
  if (name == "always" || name == "unless-stopped") return true;
  if (name == "on-failure") return code != 0 && (max == 0 || restarts < max);
  return false;
}

void write_orders(const std::string& dir, const Orders& o) {
  nlohmann::json j = {{"id", o.id},
                      {"bundle", o.bundle},
                      {"runtime_root", o.runtime_root},
                      {"log", o.log_path},
                      {"log_cri", o.log_cri},
                      {"log_max_size", o.log_max_size},
                      {"log_max_files", o.log_max_files},
                      {"terminal", o.terminal},
                      {"stdin", o.stdin_open},
                      {"stdin_once", o.stdin_once},
                      {"winsize", o.winsize},
                      {"restart", o.restart.name},
                      {"restart_max", o.restart.max},
                      {"cleanup", o.cleanup}};
  if (!o.log_attrs.empty()) j["log_attrs"] = o.log_attrs;
  if (o.log_compress) j["log_compress"] = true;
  if (o.syslog)
    j["syslog"] = {{"network", o.syslog->network}, {"address", o.syslog->address}, {"facility", o.syslog->facility},
                   {"format", o.syslog->format},   {"tag", o.syslog->tag},         {"hostname", o.syslog->hostname}};
  if (!o.runtime.empty()) j["runtime"] = o.runtime;
  if (!o.runtime_args.empty()) j["runtime_args"] = o.runtime_args;
  if (!o.runtime.empty()) j["runtime_timeout_ms"] = o.runtime_timeout_ms;
  if (!o.events.empty()) j["events"] = {{"path", o.events}, {"attributes", o.event_attributes}};
  if (o.health) {
    const auto& h = *o.health;
    j["health"] = {{"exec", h.exec},         {"interval", h.interval},       {"timeout", h.timeout},
                   {"start_period", h.start_period}, {"start_interval", h.start_interval}, {"retries", h.retries}};
  }
  if (o.dns) j["dns"] = {{"netns", o.dns->netns}, {"hosts", o.dns->hosts_file}, {"servers", o.dns->servers}};
  fs::write_file_atomic(dir + "/shim.json", j.dump(), 0600);
}

Orders read_orders(const std::string& dir) {
  const std::string path = dir + "/shim.json";
  auto j = nlohmann::json::parse(fs::read_file(path), nullptr, false);
  if (!j.is_object()) throw Error(path + ": not a JSON object");
  try {
    Orders o;
    o.id = j.at("id").get<std::string>();
    o.bundle = j.at("bundle").get<std::string>();
    o.runtime_root = j.at("runtime_root").get<std::string>();
    o.runtime = j.value("runtime", "");
    if (j.contains("runtime_args")) o.runtime_args = j["runtime_args"].get<std::vector<std::string>>();
    o.runtime_timeout_ms = j.value("runtime_timeout_ms", 60000);
    o.log_path = j.value("log", "");
    o.log_cri = j.value("log_cri", false);
    o.log_max_size = j.value("log_max_size", int64_t{0});
    o.log_max_files = std::max(1, j.value("log_max_files", 1));
    o.log_attrs = j.value("log_attrs", std::map<std::string, std::string>{});
    o.log_compress = j.value("log_compress", false);
    if (j.contains("syslog")) {
      const auto& s = j.at("syslog");
      o.syslog = logs::SyslogTarget{s.value("network", ""), s.value("address", ""), s.value("facility", 3),
                                    s.value("format", ""),  s.value("tag", ""),     s.value("hostname", "")};
    }
    o.terminal = j.value("terminal", false);
    o.stdin_open = j.value("stdin", false);
    o.stdin_once = j.value("stdin_once", false);
    o.winsize = j.value("winsize", "");
    o.restart.name = j.value("restart", "no");
    o.restart.max = j.value("restart_max", 0);
    if (j.contains("cleanup")) o.cleanup = j["cleanup"].get<std::vector<std::string>>();
    if (j.contains("events")) {
      o.events = j["events"].at("path").get<std::string>();
      o.event_attributes = j["events"].value("attributes", std::map<std::string, std::string>{});
    }
    if (j.contains("health")) {
      const auto& jh = j["health"];
      HealthCheck h;
      h.exec = jh.at("exec").get<std::string>();
      h.interval = jh.at("interval").get<int64_t>();
      h.timeout = jh.at("timeout").get<int64_t>();
      h.start_period = jh.at("start_period").get<int64_t>();
      h.start_interval = jh.at("start_interval").get<int64_t>();
      h.retries = jh.at("retries").get<int>();
      if (h.interval <= 0 || h.timeout <= 0 || h.start_interval <= 0 || h.start_period < 0 || h.retries < 1)
        throw Error(path + ": health: a time or retries out of range");
      o.health = std::move(h);
    }
    if (j.contains("dns")) {
      const auto& jd = j["dns"];
      o.dns = Orders::Dns{jd.at("netns").get<std::string>(), jd.at("hosts").get<std::string>(),
                          jd.value("servers", std::vector<std::string>{})};
    }
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": " + e.what());
  }
}

namespace {
// A namespace's inode (what `stat` of its /proc/…/ns link gives); 0 if unknown.
unsigned long long ns_inode(const char* path) {
  struct stat st;
  return ::stat(path, &st) == 0 ? static_cast<unsigned long long>(st.st_ino) : 0;
}
}  // namespace

void write_shim_record(const std::string& dir, pid_t shim_pid) {
  fs::write_file_atomic(dir + "/shim.pid",
                        std::to_string(shim_pid) + " " + std::to_string(fs::process_start_time(shim_pid)) + " " +
                            std::to_string(ns_inode("/proc/self/ns/pid")) + "\n",
                        0644);
}

pid_t live_shim(const std::string& dir) {
  std::string text;
  if (!fs::read_file_if_exists(dir + "/shim.pid", text)) return 0;
  pid_t pid = 0;
  unsigned long long start = 0, pid_ns = 0;
  const int n = std::sscanf(text.c_str(), "%d %llu %llu", &pid, &start, &pid_ns);
  if (n < 2 || pid <= 0) return 0;
  // The pid means that process only in the shim's PID namespace: a /proc of another (berth run
  // in a container with the store mounted in) would show some other process, or none — never
  // take that for the shim's death (the container would be killed for it).
  static const unsigned long long here = ns_inode("/proc/1/ns/pid");  // the namespace of this /proc
  if (n == 3 && pid_ns && here && pid_ns != here)
    throw Error(ErrorKind::unavailable, "the container's monitor runs in another PID namespace than this one's /proc: "
                                        "berth must run in the PID namespace its containers were started from");
  return fs::process_start_time(pid) == start ? pid : 0;
}

void write_run_record(const std::string& dir, const RunRecord& r) {
  fs::write_file_atomic(dir + "/pid",
                        std::to_string(r.pid) + " " + std::to_string(r.restarts) + " " + std::to_string(r.started) + "\n",
                        0644);
}

std::optional<RunRecord> read_run_record(const std::string& dir) {
  std::string text;
  if (!fs::read_file_if_exists(dir + "/pid", text)) return std::nullopt;
  RunRecord r;
  long long started = 0;
  if (std::sscanf(text.c_str(), "%d %d %lld", &r.pid, &r.restarts, &started) != 3 || r.pid <= 0) return std::nullopt;
  r.started = started;
  return r;
}

void write_exit_record(const std::string& dir, const ExitRecord& r) {
  nlohmann::json j = {{"code", r.code}, {"finished", r.finished}, {"restarts", r.restarts}, {"oom_killed", r.oom_killed}};
  if (!r.error.empty()) j["error"] = r.error;
  fs::write_file_atomic(dir + "/exit", j.dump() + "\n", 0644);
}

std::optional<ExitRecord> read_exit_record(const std::string& dir) {
  std::string text;
  if (!fs::read_file_if_exists(dir + "/exit", text)) return std::nullopt;
  const ExitRecord unreadable{255, 0, 0, false, "the exit record cannot be read"};
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return unreadable;
  try {
    ExitRecord r;
    r.code = j.value("code", 255);
    r.finished = j.value("finished", int64_t{0});
    r.restarts = j.value("restarts", 0);
    r.oom_killed = j.value("oom_killed", false);
    r.error = j.value("error", "");
    return r;
  } catch (const nlohmann::json::exception&) {  // a field of the wrong type
    return unreadable;
  }
}

void write_health(const std::string& dir, const Health& h) {
  nlohmann::json log = nlohmann::json::array();
  for (const auto& r : h.log)
    log.push_back({{"start", r.start}, {"end", r.end}, {"exit_code", r.exit_code}, {"output", r.output}});
  const nlohmann::json j = {{"status", h.status}, {"failing_streak", h.failing_streak}, {"log", log}};
  // The output is the probe's bytes: invalid UTF-8 becomes U+FFFD rather than a failed write.
  fs::write_file_atomic(dir + "/health", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", 0644);
}

std::optional<Health> read_health(const std::string& dir) {
  std::string text;
  if (!fs::read_file_if_exists(dir + "/health", text)) return std::nullopt;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    Health h;
    h.status = j.at("status").get<std::string>();
    h.failing_streak = j.value("failing_streak", 0);
    for (const auto& r : j.value("log", nlohmann::json::array()))
      h.log.push_back({r.value("start", int64_t{0}), r.value("end", int64_t{0}), r.value("exit_code", 0), r.value("output", "")});
    return h;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace berth::shim
