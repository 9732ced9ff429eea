// The files berth and a container's shim share in the container's state directory
// (protocol.hpp lists them), one definition for both sides: the orders (shim.json, berth →
// shim), the run record (pid) and the exit record (exit, shim → berth).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "logs/syslog.hpp"

namespace berth::shim {

// Docker's restart policies: no | always | on-failure[:max] | unless-stopped.
struct RestartPolicy {
  std::string name = "no";
  int max = 0;  // on-failure:N (0: unlimited)

  // After an exit with `code`, `restarts` restarts into the container's life, and no manual
  // stop: does the policy start it again? (The shim acts on it; the engine shows "restarting".)
  bool due(int code, int restarts) const;
};

// Docker's health check, as the shim runs it: the probe is an exec session of its own
// (`exec`: the spec an exec request sends — args, env, user, additional_gids, cwd), every
// `interval` (`start_interval` while starting within `start_period`), cut at `timeout`;
// `retries` failures in a row make the container unhealthy. Times in ns, defaults applied.
struct HealthCheck {
  std::string exec;  // JSON object
  int64_t interval = 30'000'000'000, timeout = 30'000'000'000, start_period = 0, start_interval = 5'000'000'000;
  int retries = 3;
};

struct Orders {
  std::string id, bundle, runtime_root;
  std::string runtime;  // an external OCI runtime binary; empty: the runtime library
  std::vector<std::string> runtime_args;  // its global flags (daemon.json's runtimeArgs)
  int runtime_timeout_ms = 60000;  // what each of its commands may take
  std::string log_path;
  bool log_cri = false;      // the kubelet's CRI format (logs/json_file.hpp), not json-file
  int64_t log_max_size = 0;  // bytes; 0: no rotation
  int log_max_files = 1;
  std::map<std::string, std::string> log_attrs;  // json-file's extra attributes (--log-opt labels/env/tag)
  bool log_compress = false;                      // rotated files gzipped (--log-opt compress)
  std::optional<logs::SyslogTarget> syslog;        // --log-driver syslog: the output goes there, no log file
  bool terminal = false, stdin_open = false;
  // Docker's StdinOnce: an attached client's end of input closes the container's stdin; without
  // it the container keeps its stdin open for the next attach.
  bool stdin_once = false;
  std::string winsize;  // "ROWS COLS": the terminal's size before the program starts
  RestartPolicy restart;
  std::vector<std::string> cleanup;  // command run after the last exit (unless an owner did it)
  // The events log (events/events.hpp) the shim records each exit in ("die", "oom"), with
  // these attributes (name, image, labels); empty: none.
  std::string events;
  std::map<std::string, std::string> event_attributes;
  std::optional<HealthCheck> health;
  // On a user network, the container's DNS server (dns.hpp): the namespace it listens in, the
  // hosts file it answers from, the servers it passes other queries to (none: it does not).
  struct Dns {
    std::string netns, hosts_file;
    std::vector<std::string> servers;
  };
  std::optional<Dns> dns;
};

// Written atomically, 0600. read_orders throws berth::Error for a missing or malformed file.
void write_orders(const std::string& dir, const Orders& o);
Orders read_orders(const std::string& dir);

// shim.pid: "PID STARTTIME PIDNS" of the shim itself (STARTTIME: /proc/PID/stat field 22;
// PIDNS: the inode of its PID namespace).
void write_shim_record(const std::string& dir, pid_t shim_pid);
// The shim's pid while that process is still the shim (pid and start time match), else 0.
// Throws (unavailable) when this /proc is of another PID namespace than the shim's: its pid
// cannot be looked up from here.
pid_t live_shim(const std::string& dir);

// pid: the running init — "PID RESTARTS STARTED_NS" (restarts before this run, its start).
struct RunRecord {
  pid_t pid = 0;
  int restarts = 0;
  int64_t started = 0;  // unix ns
};
void write_run_record(const std::string& dir, const RunRecord& r);
std::optional<RunRecord> read_run_record(const std::string& dir);  // nullopt: none (or garbled)

// exit: how the last run ended, written after every exit (removed when a restart has started
// the container again; a record next to a live shim means "ended, restarting or finishing").
struct ExitRecord {
  int code = 0;
  int64_t finished = 0;  // unix ns
  int restarts = 0;
  bool oom_killed = false;  // the memory cgroup's oom_kill count was not 0
  std::string error;        // why it never ran, if so
};
void write_exit_record(const std::string& dir, const ExitRecord& r);
// nullopt: none. A record that cannot be read is code 255 with an error saying so.
std::optional<ExitRecord> read_exit_record(const std::string& dir);

// health: the health check's state (Docker's State.Health), rewritten after every probe and
// at each start; it stays after the container ends (inspect shows the last one).
struct HealthResult {
  int64_t start = 0, end = 0;  // unix ns
  int exit_code = 0;           // -1: the probe could not run or timed out
  std::string output;          // stdout and stderr, at most 4096 bytes ("..." when cut)
};
struct Health {
  std::string status = "starting";  // starting | healthy | unhealthy
  int failing_streak = 0;
  std::vector<HealthResult> log;  // the last five
};
void write_health(const std::string& dir, const Health& h);
std::optional<Health> read_health(const std::string& dir);  // nullopt: none (or garbled)

}  // namespace berth::shim
