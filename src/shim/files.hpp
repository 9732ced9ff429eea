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

namespace berth::shim {

// Docker's restart policies: no | always | on-failure[:max] | unless-stopped.
struct RestartPolicy {
  std::string name = "no";
  int max = 0;  // on-failure:N (0: unlimited)

  // After an exit with `code`, `restarts` restarts into the container's life, and no manual
  // stop: does the policy start it again? (The shim acts on it; the engine shows "restarting".)
  bool due(int code, int restarts) const;
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
  bool terminal = false, stdin_open = false;
  std::string winsize;  // "ROWS COLS": the terminal's size before the program starts
  RestartPolicy restart;
  std::vector<std::string> cleanup;  // command run after the last exit (unless an owner did it)
  // The events log (events/events.hpp) the shim records each exit in ("die", "oom"), with
  // these attributes (name, image, labels); empty: none.
  std::string events;
  std::map<std::string, std::string> event_attributes;
};

// Written atomically, 0600. read_orders throws berth::Error for a missing or malformed file.
void write_orders(const std::string& dir, const Orders& o);
Orders read_orders(const std::string& dir);

// shim.pid: "PID STARTTIME" of the shim itself (STARTTIME: /proc/PID/stat field 22).
void write_shim_record(const std::string& dir, pid_t shim_pid);
// The shim's pid while that process is still the shim (pid and start time match), else 0.
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

}  // namespace berth::shim
