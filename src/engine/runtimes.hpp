// The OCI runtimes a container can run on (Docker's --runtime, containerd's runtime handlers):
// berth's own runtime library, in-process (the default, "berth"), or any runc-compatible
// binary driven through its command line — runc and crun when installed, and those the
// configuration names (daemon.json's `runtimes`, Docker's shape:
// {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--platform=ptrace"]}}).
//
// A container's runtime is chosen by name at create (HostConfig.Runtime keeps the name, as
// Docker's does) and resolved to a path and arguments at each start; the shim's orders keep
// what its run uses, so that every later operation (exec, pause, stats, kill, delete) drives
// the same binary whatever the configuration says by then.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::engine {

struct Runtime {
  std::string path;               // the binary; empty: berth's runtime library
  std::vector<std::string> args;  // runtimeArgs: global flags put before each command
  bool configured = false;        // named in the configuration (not a built-in)
  bool external() const { return !path.empty(); }
  // A runtime that runs the container on a kernel of its own (gVisor's runsc, Kata's
  // runtimes), known by its binary's name: such a container cannot join a host process's
  // namespaces that its kernel would have to share (a PID namespace).
  bool own_kernel() const;
};

class Runtimes {
 public:
  static constexpr const char* kBuiltin = "berth";

  // The built-ins: berth, and runc and crun when they are on PATH.
  Runtimes();

  // daemon.json's `runtimes` and `default-runtime` (`file` names it in errors; other keys are
  // not looked at). A name may not be "berth"; a configured runc or crun replaces the
  // built-in. The path must be absolute or found on PATH; a missing binary is an error only
  // when a container asks for it (Docker's way: a daemon starts without it).
  void configure(const nlohmann::json& daemon_json, const std::string& file);

  // The runtime a container asks for: a name (empty: the default), or — Podman's way — an
  // absolute path to a runtime binary. Throws invalid_argument with one line for an unknown
  // name and a binary that is not an executable file.
  Runtime resolve(const std::string& name) const;
  // The name HostConfig.Runtime records for `asked` (the default's name for "").
  std::string name_of(const std::string& asked) const { return asked.empty() ? default_ : asked; }

  const std::string& default_name() const { return default_; }
  const std::map<std::string, Runtime>& all() const { return table_; }

 private:
  std::map<std::string, Runtime> table_;
  std::string default_ = kBuiltin;
};

// The first line of `PATH --version` ("runc version 1.1.5"), empty when it says nothing.
std::string runtime_version(const Runtime& r);

// Whether an external runtime accepts capability `name`: those its `features` lists (runc,
// crun); without `features` (runsc 2022) the ones before CAP_PERFMON (Linux 5.8), which older
// runtimes refuse by name. Asked once per object.
class RuntimeCaps {
 public:
  // Runs `RUNTIME features` (berth's runtime: none needed), or reads what it said before from
  // `cache_dir` when given (one file per binary, run again when the binary changes).
  explicit RuntimeCaps(const Runtime& r, const std::string& cache_dir = "");
  bool accepts(const std::string& name) const;
  // Whether its `features` lists mount option `name` (no `features`: no).
  bool mount_option(const std::string& name) const;

 private:
  std::vector<std::string> listed_, mount_options_;
  bool have_list_ = false;
};

// Whether a read-only bind can be made recursively read-only on `r`: the kernel has
// mount_setattr (Linux 5.12) and the runtime knows `rro` (berth's does; an external one when
// its `features` lists it: runc 1.1 and crun do).
bool recursive_ro_possible(const Runtime& r, const std::string& cache_dir = "");

// An external runtime's command line: `path args... --root ROOT cmd...`.
std::vector<std::string> runtime_argv(const Runtime& r, const std::string& root, std::vector<std::string> cmd);

// What the engine asks of a container's runtime after the shim started it, for either kind.
class RuntimeOps {
 public:
  RuntimeOps(Runtime r, std::string root, int timeout_ms)
      : r_(std::move(r)), root_(std::move(root)), timeout_ms_(timeout_ms) {}
  bool external() const { return r_.external(); }
  const Runtime& runtime() const { return r_; }

  nlohmann::json state(const std::string& id) const;  // the runtime-spec state
  void pause(const std::string& id) const;
  void resume(const std::string& id) const;
  std::vector<pid_t> pids(const std::string& id) const;
  // An external runtime's `ps` table (UID PID PPID … CMD).
  std::string ps_table(const std::string& id) const { return run({"ps", id}); }
  // runc's `events --stats` object's "data": {cpu, memory, pids, blkio, …}; for a runtime
  // without `events` (crun), read from `cgroups_path` (the spec's) directly.
  nlohmann::json stats(const std::string& id, const std::string& cgroups_path = "") const;
  void update(const std::string& id, const nlohmann::json& resources) const;
  // SIGKILL to every process, then the state removed; a container that is gone is no error.
  void remove(const std::string& id) const;

 private:
  // Runs the external runtime's `cmd` for `id`; its words (the last error of its log) on failure.
  std::string run(std::vector<std::string> cmd, const std::string& input = "") const;
  Runtime r_;
  std::string root_;
  int timeout_ms_;  // per command of an external runtime
};

}  // namespace berth::engine
