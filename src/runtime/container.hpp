// The low-level runtime as a library: the OCI lifecycle operations on containers whose
// state lives under one root directory. berth-runtime's verbs are thin wrappers over these.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/state_store.hpp"

namespace berth::runtime {

struct CreateOptions {
  std::string root;            // state root (--root)
  std::string id;
  std::string bundle = ".";
  std::string console_socket;  // unix socket to receive the pty master
  int console_fd = -1;         // or a connected socket to send it through (not closed)
  std::string pid_file;
  bool no_pivot = false;
  bool no_new_keyring = false;
  int preserve_fds = 0;        // fds 3 .. 3+N-1 stay open in the container
  // A monitor (berth-shim) that creates containers through a short-lived child: the init
  // becomes the caller's parent's child (CLONE_PARENT) and gets this signal when that parent
  // dies (PR_SET_PDEATHSIG, set right before execve, after the user switch that clears it).
  // A container must not outlive its monitor. 0: none (the runtime CLI's containers).
  int parent_death_signal = 0;
};

// create: sets the container up and leaves its process blocked before exec.
// Returns the container's pid (on the host).
pid_t create_container(const CreateOptions& opts);
// start: lets a created container's process exec the user program.
void start_container(const std::string& root, const std::string& id);
// run: create + start. In the foreground (detach=false) waits, forwards signals, returns the
// exit status (128+signal when killed) and deletes the container unless keep is set.
int run_container(const CreateOptions& opts, bool detach, bool keep);

struct ExecOptions {
  std::string root, id;
  std::string process_file;              // --process: a runtime-spec process object
  std::vector<std::string> args;         // or the command line
  bool tty = false, detach = false, no_new_privs = false;
  std::string apparmor, process_label;  // --apparmor, --process-label
  std::string console_socket, pid_file, cwd, user;  // user: "UID[:GID]"
  std::vector<std::string> env, caps;
  std::vector<uint32_t> additional_gids;
  int preserve_fds = 0;
  unsigned console_rows = 0, console_cols = 0;  // with tty: the terminal's size before the process runs
};
// exec: runs another process in a running container's namespaces and cgroup, with the
// container's seccomp filter. In the foreground returns its exit status (128+signal).
int exec_container(const ExecOptions& opts);

// pause/resume: freeze and thaw the container's cgroup ("paused" in state).
void pause_container(const std::string& root, const std::string& id);
void resume_container(const std::string& root, const std::string& id);
// update: new limits for a live container (parsed like linux.resources).
void update_container(const std::string& root, const std::string& id,
                      const nlohmann::json& resources);
// The pids in the container's cgroup.
std::vector<pid_t> container_pids(const std::string& root, const std::string& id);
// runc's `events --stats` object: {"type": "stats", "id": ..., "data": {cpu, memory, pids}}.
nlohmann::json container_stats(const std::string& root, const std::string& id);
// Whether the OOM killer ended a process of the container (its memory cgroup's oom_kill);
// false when that cannot be read. Ask before delete, which removes the cgroup.
bool container_oom_killed(const std::string& root, const std::string& id);
// The cgroup a bundle's spec names (linux.cgroupsPath, as written); "" when the spec cannot
// be read or names none. For the cgroup_* calls below on a container another runtime made.
std::string bundle_cgroups_path(const std::string& bundle);
// The same for the cgroup at `cgroups_path` (absolute, from the hierarchies' roots) that
// another runtime made: its memory controller's oom_kill count.
bool cgroup_oom_killed(const std::string& cgroups_path);
// Removes the directories of that cgroup that are left and empty, in every hierarchy (what a
// runtime whose sandbox died before its delete leaves).
void remove_empty_cgroup(const std::string& cgroups_path);
// Kills every process still in that cgroup (thawed first), waits up to `timeout_ms` for it to
// be empty, then removes it (remove_empty_cgroup). For what a runtime leaves when it fails
// half-way: runsc's sandbox, in a session of its own, outlives its killed `create`. Returns
// whether the cgroup was empty in the end.
bool kill_foreign_cgroup(const std::string& cgroups_path, int timeout_ms = 2000);
// runc's stats shape ("data" of `events --stats`) read from that cgroup itself: for a runtime
// that has no `events` (crun).
nlohmann::json cgroup_stats_at(const std::string& cgroups_path);

// The runtime-spec state: {ociVersion, id, status, pid, bundle, annotations}.
nlohmann::json container_state(const std::string& root, const std::string& id);
void kill_container(const std::string& root, const std::string& id, int sig, bool all);
void delete_container(const std::string& root, const std::string& id, bool force);

struct ListEntry {
  ContainerState state;
  Status status;
};
std::vector<ListEntry> list_containers(const std::string& root);

// The runtime-spec features document for this build and host.
nlohmann::json features();
// A default config.json (runc's `spec`), rootless variant if asked.
nlohmann::json default_spec(bool rootless);

}  // namespace berth::runtime
