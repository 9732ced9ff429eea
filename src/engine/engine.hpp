// Containers of one namespace: create (record + writable snapshot), start (rootfs mount, spec,
// berth-shim), stop/kill/rm, state, wait, attach, exec, inspect — daemonless: every berth
// command is a short process; the shims keep the containers.
//
// On disk:
//   <root>/metadata.db                 container records (table containers, per namespace)
//   <root>/containers/<id>/            <id>-json.log, hostname, hosts, resolv.conf
//   <state>/<ns>/containers/<id>/      bundle (config.json, rootfs/ = the mounted snapshot) and
//                                      the shim's files (shim/protocol.hpp)
//   <state>/<ns>/runtime/              the runtime library's state (berth-runtime --root)
//   <state>/<ns>/locks/<id>            per-container lock (flock)
// A container's record keeps Docker's Config and HostConfig (what inspect shows) and the last
// state seen; the live state (running, exit code) is read from the shim's files and written
// back to the record when it changes.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "engine/model.hpp"
#include "engine/runtimes.hpp"
#include "engine/userns.hpp"
#include "engine/volumes.hpp"
#include "image/service.hpp"
#include "events/events.hpp"
#include "logs/json_file.hpp"
#include "metadata/db.hpp"
#include "network/netns.hpp"
#include "network/networks.hpp"
#include "shim/files.hpp"

namespace berth::engine {

// What start() throws for a container that runs: Docker's start says nothing of it (the
// API's 304).
class AlreadyRunning : public Error {
 public:
  explicit AlreadyRunning(const std::string& name) : Error(ErrorKind::conflict, "container " + name + " is already running") {}
};

// A process to start in a running container (`exec`).
struct ExecRequest {
  std::vector<std::string> args;
  std::vector<std::string> env;  // KEY=VALUE, over the container's
  std::string user;              // as -u (name, uid, name:group, …); empty: the container's
  std::string workdir;           // empty: the container's
  bool tty = false, stdin_open = false, detach = false;
  bool privileged = false;       // every capability
  std::string winsize;           // "ROWS COLS" of the terminal, with tty
};

// An attachment to a running container's stdio through its shim: `conn` carries its frames
// (protocol.hpp) — stdin, resize and signal frames to it; its output, then its exit frame back.
struct AttachSession {
  UniqueFd conn;
  bool tty = false;         // Config.Tty: one stream, resizes apply
  bool stdin_open = false;  // Config.OpenStdin: stdin frames reach it
};

// A started exec process. `conn` carries its frames (protocol.hpp): stdin, resize and signal
// frames to it; its output and then its exit frame back. Empty for a detached one.
struct ExecSession {
  UniqueFd conn;
  int pid = 0;
};

// One reading of a running container's counters (Engine::stats).
struct Stats {
  int64_t taken_ns = 0;    // CLOCK_MONOTONIC: rates come from two readings
  uint64_t cpu_ns = 0;     // CPU time of all its processes
  uint64_t mem_usage = 0;  // bytes, less the inactive page cache (what Docker shows)
  uint64_t mem_limit = 0;  // 0: none
  uint64_t pids = 0;
  uint64_t net_rx = 0, net_tx = 0;       // bytes through its interfaces but lo; 0 without a network of its own
  std::vector<network::InterfaceUsage> interfaces;  // each of them but lo, with its counters
  uint64_t blk_read = 0, blk_write = 0;  // bytes read from and written to block devices
  nlohmann::json raw;                    // the cgroup reading (runc's `events --stats` data); {} if unknown
  // A number of `raw` by its path ({"cpu", "usage", "total"}); 0 when absent.
  uint64_t raw_number(std::initializer_list<const char*> path) const;
};
// CPU use between two readings: 100 is one CPU busy all the time (Docker's CPU %).
double cpu_percent(const Stats& before, const Stats& after);

// `top`: ps's columns and one row per process of the container.
struct Processes {
  std::vector<std::string> titles;
  std::vector<std::vector<std::string>> rows;
};

// What an owner start leaves to do after the exit (Engine::start, refill_spares).
struct Refill {
  std::string network;
  bool spare_taken = false;
};

struct EventOptions {
  int64_t since = 0;  // unix ns: the recorded events from then on first; 0: only new ones
  int64_t until = 0;  // unix ns: stop there (the log's end if it is past); 0: follow
  int cancel_fd = -1;  // readable (a client gone): stop
};

// Docker's wait conditions: not-running (returns at once when it is not running), next-exit
// (the next exit from now, a created container's first), removed.
enum class WaitCondition { not_running, next_exit, removed };
struct WaitOptions {
  WaitCondition condition = WaitCondition::not_running;
  int cancel_fd = -1;  // readable (a client gone): stop waiting (unavailable)
  // unix ns: exits from then on count (a daemon's wait that arrives after the start it
  // belongs to); 0: from now.
  int64_t since = 0;
};

struct LogOptions : logs::ReadOptions {
  bool follow = false;
  int cancel_fd = -1;
};

struct Options {
  image::Options images;
  std::string state = "/run/berth";
  std::string shim;  // the berth-shim binary
  std::vector<std::string> cni_plugin_dirs = {"/usr/lib/cni"};
  int cni_timeout_ms = 60000;  // per plugin call
  // Where networks without --subnet get one (Docker's default-address-pools); empty: berth's.
  std::vector<network::AddressPool> address_pools;
  bool debug = false;
  // The runtimes containers can ask for by name (built-ins and the configuration's), at
  // construction: Engine::runtimes() has those of now.
  Runtimes runtimes;
  int runtime_timeout_ms = 60000;  // per command of an external runtime (create, start, exec, …)
  // daemon.json's userns-remap: containers made from now on run in a user namespace of these
  // ids (engine/userns.hpp); off by default.
  UsernsRemap userns_remap;
  std::string userns_remap_error;  // the setting could not be read: create fails with this
  // What the engine leaves to the program that uses it (the CLI and a daemon each give their
  // own; the engine never runs /proc/self/exe).
  struct Hooks {
    // The command a container's shim runs once the container has exited for good (no
    // restart to come): it must call Engine::cleanup(id, rm) — the CLI's `berth container
    // cleanup [--rm] ID`. Empty: none; the next engine call that sees the exit reconciles it
    // (and a --rm container is removed only by an explicit rm).
    std::function<std::vector<std::string>(const std::string& id, bool rm)> exit_command;
    // Starts making the warm spare namespaces of `network` in the background (the CLI: a
    // detached `berth network fill`; a daemon: a thread of its own). Empty: none are made.
    std::function<void(const std::string& network)> fill_spares;
  } hooks;
};

// The hooks that run berth's CLI for the engine's background work, both front ends' way:
// `cli` is the berth command with its global flags (store, state, namespace, …); the exit
// command is `cli container cleanup [--rm] ID`, the spares are made by a detached
// `cli network fill NETWORK`.
Options::Hooks cli_hooks(std::vector<std::string> cli);

struct CreateRequest {
  std::string image;
  std::string name;           // empty: generated
  nlohmann::json config;      // Docker Config fields given by flags (Cmd, Env, …)
  nlohmann::json host;        // Docker HostConfig
  // Docker's NetworkingConfig.EndpointsConfig: per network {"Aliases": [...],
  // "IPAMConfig": {"IPv4Address": "..."}} (--network-alias, --ip).
  nlohmann::json endpoints = nlohmann::json::object();
  // What the CRI server keeps of a container of its own (its pod, CRI metadata,
  // annotations): recorded as data["CRI"], not interpreted by the engine. null: none.
  nlohmann::json cri;
  // Docker's init-layer files (/etc/mtab, /.dockerenv) made at its first start; not for a
  // build's RUN step, whose layer is the command's work only.
  bool init_files = true;
  // --platform (the API's ?platform=): the image must be of it, else not_found as Docker's
  // "was found but does not match the specified platform" (its clients then pull that one).
  std::string platform;
};

struct State {
  Status status = Status::created;
  pid_t pid = 0;
  int exit_code = 0;
  int64_t started = 0, finished = 0;  // unix ns
  int restarts = 0;
  bool oom_killed = false;  // the OOM killer ended a process of the container's last run
  std::string error;
  // A --rm container found ended with nobody left to remove it (its monitor killed, the host
  // gone down with it): state() removed it just now. Lists skip it; its last state is this.
  bool removed = false;
  // Its health check's status (starting, healthy, unhealthy) since it first ran with one; "":
  // none. The last one stays after it ends.
  std::string health;
  bool running() const { return status == Status::running || status == Status::paused; }
};

struct Container {
  metadata::Container rec;
  nlohmann::json data;  // {"Config", "HostConfig", "ImageID", "ImageRef", "State", …}
  const std::string& id() const { return rec.id; }
  // The record's Config and HostConfig, parsed (invalid_argument if a field has a wrong type).
  ContainerConfig config() const;
  HostConfig host_config() const;
  // Docker's NetworkingConfig.EndpointsConfig: the networks it is to be attached to.
  nlohmann::json endpoints() const {
    return data.value("NetworkingConfig", nlohmann::json::object()).value("EndpointsConfig", nlohmann::json::object());
  }
};

class Engine {
 public:
  explicit Engine(Options opts);
  ~Engine();

  image::Service& images() { return images_; }
  VolumeStore& volumes() { return volumes_; }
  network::Networks& networks() { return networks_; }
  // Attaches a container to one more network (at once if it runs, else at its next start).
  void connect(const std::string& ref, const std::string& network, const nlohmann::json& endpoint);
  void disconnect(const std::string& ref, const std::string& network, bool force);
  // The containers (by name) that use network `name` (attached or configured).
  std::vector<std::string> network_users(const std::string& name);
  // The containers (by name) that use volume `name`.
  std::vector<std::string> volume_users(const std::string& name);
  // Removes a volume no container uses: conflict if one does (created or running), not_found
  // if there is none (with force: false instead). A container being created with the volume
  // cannot slip in between the check and the removal.
  bool remove_volume(const std::string& name, bool force = false);
  // The same for a network (by name or id); the predefined host and none cannot be removed
  // (invalid_argument).
  bool remove_network(const std::string& ref, bool force = false);
  const Options& options() const { return opts_; }
  // The runtimes containers can ask for now. A daemon's configuration reload replaces them
  // (Docker's SIGHUP): containers made before keep their runtime's name, resolved again at each
  // start; a running container's shim keeps the binary it started with.
  std::shared_ptr<const Runtimes> runtimes() const;
  void set_runtimes(Runtimes r);
  // Docker's rmi (image::Service::remove) with its rule for containers: the last name of an
  // image a container was made from goes only with force (conflict otherwise, naming it).
  std::vector<std::string> remove_image(const std::string& ref, bool force);

  Container create(const CreateRequest& req);
  // Starts a created or exited container (AlreadyRunning if it runs). With owner, the caller
  // attaches from the first byte and cleans up after the exit itself (foreground `run`): the
  // connection is returned. With `attach` alone the caller attaches from the first byte as a
  // plain client (a foreground run whose restart policy leaves the container to its shim):
  // the connection is returned, and ends with the first exit.
  // `winsize` ("ROWS COLS") sizes the terminal of a -t container before its program starts.
  // An owner start leaves the refill of its network's warm spares for after the exit (not
  // while the container it waits for runs): in `refill` if given, to pass to refill_spares.
  UniqueFd start(const std::string& ref, bool owner = false, const std::string& winsize = "",
                 Refill* refill = nullptr, bool attach = false);
  // After an owner's start: the network spares it used are made again from here (the
  // caller calls this once the container has exited).
  void refill_spares(const Refill& r);
  // By full id, name, or unique id prefix. Throws "No such container: x".
  Container lookup(const std::string& ref);
  std::vector<Container> list();
  // The live state. An exit the record does not know yet is recorded (reconcile) under the
  // container's lock, which the caller must not hold (state_locked is for a caller that does).
  State state(Container& c);

  void kill(const std::string& ref, int sig);
  // SIGTERM (or the StopSignal), then SIGKILL after `timeout` seconds (negative: never; none
  // given: the container's StopTimeout, default 10).
  void stop(const std::string& ref, std::optional<int> timeout = std::nullopt);
  // stop (if it runs), then start — and a --rm container is not removed in between (Docker
  // lifts AutoRemove for the stop of a restart).
  // `stopped`, if given, is called between the two.
  void restart(const std::string& ref, std::optional<int> timeout, const std::function<void()>& stopped = {});
  // What Docker's daemon does as it comes up (its restore), for a host's boot (`berth system
  // autostart`) and berthd's start: every container that has run before, does not run now and
  // whose restart policy wants it running is started (detached) — `always`; `unless-stopped`
  // unless a user stopped it (stop, or kill with SIGKILL/SIGTERM/SIGINT); `on-failure[:N]`
  // after a failed last exit, below N restarts. One that joins another's namespaces
  // (container:X) or links to it starts after it. --rm containers found ended go (state()).
  struct AutostartResult {
    std::vector<std::string> started;                           // names, in start order
    std::vector<std::pair<std::string, std::string>> failed;    // name, why
  };
  AutostartResult autostart();
  // A daemon's watch over the shims, until `stop` (looked at every second): a container whose
  // shim died (killed: the container went with it) is started again when its restart policy
  // wants it running and no user stopped it, as Docker's daemon does (monitors.cpp).
  void watch_monitors(const std::atomic<bool>& stop);
  // volumes: its anonymous volumes go too (rm -v).
  void remove(const std::string& ref, bool force, bool volumes);
  // Docker's prunes: every container that is not running (nor paused, nor restarting);
  // volumes no container uses (anonymous ones only unless `all`); networks no container uses
  // (never the default one) — those `f` matches. One in use meanwhile is kept.
  PruneResult prune_containers(const PruneFilter& f);
  PruneResult prune_volumes(const PruneFilter& f, bool all);
  PruneResult prune_networks(const PruneFilter& f);
  // After an exit: unmount the rootfs and forget runtime state; with rm, remove the container
  // (and its anonymous volumes when it was run with --rm, or `volumes`).
  // With `deferred` (a foreground run's owner, whose shim is waiting for its word), the
  // unmount and the removal of the directories are left to the shim: they are listed there as
  // "umount PATH" / "rm PATH" lines for the done frame.
  void cleanup(const std::string& id, bool rm, bool volumes = false,
               std::vector<std::string>* deferred = nullptr);
  // CNI DEL for every network container `id` is attached to, its namespace removed (by the
  // network records alone: the container's may be gone). Never throws (logs).
  void release_network(const std::string& id);
  // Blocks until the container is not running; its exit code (Docker's default condition:
  // a created container's is 0 at once; a --rm container's exit code is that of its die
  // event, read even when the container is removed by then).
  int wait(const std::string& ref);
  // Docker's wait with a condition: the exit code of the exit waited for (for `removed`, of
  // its last run). Woken by the container's die/destroy events (inotify on the events log),
  // not by polling; unavailable when o.cancel_fd becomes readable first.
  int wait(const std::string& ref, const WaitOptions& o);
  // Starts a process in the running container through its shim: the process is the shim's
  // child (watched, its exit code known, whatever becomes of the caller). Throws Error:
  // not_running when the container is not running or paused; command_not_found or
  // command_not_executable when the command is missing or cannot run.
  ExecSession exec(const std::string& ref, const ExecRequest& req);
  // The container's json-file log, oldest record first, as `o` selects; with `o.follow`
  // then what it writes until it stops — woken by inotify and the shim's exit, no polling —
  // or until `o.cancel_fd` becomes readable (a daemon's client went away) or the sink
  // returns false.
  void logs(const std::string& ref, const LogOptions& o, const logs::Sink& sink);
  // What happened to containers, images, networks and volumes (events/events.hpp), recorded
  // by every berth process and shim of this namespace; oldest first, then live (inotify on
  // the events log) as `o` says, until the sink returns false.
  void events(const EventOptions& o, const std::function<bool(const events::Event&)>& sink);
  // Records an event (the image service and the CLI's verbs that are not the engine's).
  void emit(const std::string& type, const std::string& action, const std::string& id,
            std::map<std::string, std::string> attributes = {});
  // A container's event: its name, image and labels as attributes, plus `extra`.
  void emit(const Container& c, const std::string& action, std::map<std::string, std::string> extra = {});
  std::string events_path() const;
  // A reading of the container's counters; not_running unless it runs (or is paused).
  Stats stats(const std::string& ref);
  // The container's processes as `ps ARGS` shows them (Docker's default: -ef); not_running
  // unless it runs.
  Processes top(const std::string& ref, const std::vector<std::string>& ps_args = {"-ef"});
  // Attaches to a running container (not_running otherwise: Docker's "You cannot attach to a
  // stopped container, start it first").
  AttachSession attach(const std::string& ref);
  // Connects to the shim's control socket with `request` ("attach\n", …).
  UniqueFd shim_connect(const Container& c, const std::string& request);
  // shim_connect, then the shim's one-line reply.
  std::string shim_request(const Container& c, const std::string& request);
  // Freezes a running container's processes: its shim first (it answers between two steps of
  // its own, so no exec or health probe is half set up; it starts none until thaw), then the
  // cgroup. thaw: the other way round.
  void freeze(const Container& c);
  void thaw(const Container& c);
  void rename(const std::string& ref, const std::string& name);
  void pause(const std::string& ref, bool pause);

  // Docker's cp: `from_container` copies SRC out of the container to the host path DST, else
  // the host's SRC into the container at DST. Paths in the container resolve inside its root
  // (symlinks included: nothing outside it is read or written). A symlink SRC is copied as a
  // link unless `follow_link` (-L). Modes and times are the source's; owners too with
  // `archive` (-a), else the container's root (into it) or the caller (out of it), as Docker.
  void copy(const std::string& ref, const std::string& src, const std::string& dst, bool from_container,
            bool follow_link = false, bool archive = false);
  // `cp CONTAINER:SRC -`: a tar of SRC (its last name as the top entry) to out_fd.
  // `cp - CONTAINER:DST`: the tar on in_fd extracted into the directory DST (it must exist);
  // its entries stay inside DST whatever their names or links say.
  void copy_out_tar(const std::string& ref, const std::string& src, int out_fd, bool follow_link);
  void copy_in_tar(const std::string& ref, int in_fd, const std::string& dst);
  // What `path` is in the container (resolved inside its root; a symlink itself, not its
  // target): Docker's container path stat (X-Docker-Container-Path-Stat of the archive
  // endpoints). not_found when it is not there.
  struct PathStat {
    std::string name;         // the last component ("/" for the root)
    int64_t size = 0;
    uint32_t mode = 0;        // st_mode
    int64_t mtime_ns = 0;
    std::string link_target;  // a symlink's target
  };
  PathStat stat_path(const std::string& ref, const std::string& path);
  // The container's root filesystem as a tar on `out_fd` (Docker's export).
  void export_rootfs(const std::string& ref, int out_fd);
  // A new image from the container's changes (Docker's commit); pauses a running container
  // meanwhile when `pause`. The image's config: `config` (the API's body; null: the
  // container's), then the Dockerfile-style `changes`, then what is still unset taken from
  // the container's config (Docker's merge: user, env and labels by key, exposed ports,
  // volumes, entrypoint with cmd, workdir, stop signal, healthcheck fields).
  image::Image commit(const std::string& ref, const std::string& image_ref, const std::string& comment,
                      const std::string& author, bool pause, const std::vector<std::string>& changes = {},
                      const nlohmann::json& config = nullptr);

  // Docker's update: new values for HostConfig's resources (Memory, MemorySwap,
  // MemoryReservation, NanoCpus, CpuShares, CpuPeriod, CpuQuota, CpuRealtime*, CpusetCpus,
  // CpusetMems, PidsLimit, BlkioWeight; KernelMemory only as 0) and RestartPolicy (the keys
  // of `changes`). Checked as at create,
  // applied to a running container's cgroup (runtime library) and shim (its restart policy),
  // then recorded. A running container of an external runtime only takes a restart policy.
  void update(const std::string& ref, const nlohmann::json& changes);

  // Docker's diff: what the container changed in its image's files — 'A' added, 'C' changed
  // (a directory whose entries changed too), 'D' deleted — sorted by path. Read from the
  // overlay upper dir (live, also while the container runs); not on the native snapshotter.
  struct Change {
    char kind;
    std::string path;
  };
  std::vector<Change> changes(const std::string& ref);
  // Docker's SizeRw (the bytes of the files the container added or changed) and SizeRootFs
  // (that plus its image's layers, as `images` sizes them).
  struct Sizes {
    int64_t rw = 0, root_fs = 0;
  };
  Sizes sizes(const Container& c);

  // Docker's system df: what images, containers and volumes hold on disk. An image's size
  // is its layers unpacked (image::Service::layer_size), `shared` the part of it
  // that other images have too; the store's totals count each layer once. Reclaimable: what
  // removing every image no container uses, every container not running and every volume no
  // container uses would give back.
  struct DiskUsage {
    struct ImageUse {
      image::Image image;  // one per image id (its first name); `names` has all of them
      std::vector<std::string> names;
      int64_t size = 0, shared = 0;
      int containers = 0;
    };
    struct ContainerUse {
      Container container;
      State state;
      int64_t size_rw = 0;
      int local_volumes = 0;
    };
    struct VolumeUse {
      Volume volume;
      int links = 0;  // containers that use it
      int64_t size = 0;
    };
    std::vector<ImageUse> images;
    std::vector<ContainerUse> containers;
    std::vector<VolumeUse> volumes;
    int64_t layers_size = 0;           // every layer of every image, once
    int64_t images_reclaimable = 0;    // layers no used image has
    int64_t content_size = 0;          // the content store's blobs (compressed layers, documents)
    // The build cache: its entries (one per build step), and the layers only they hold.
    int build_cache_entries = 0;
    int64_t build_cache_size = 0;
    std::vector<std::pair<std::string, int64_t>> build_cache_layers;  // chain ID, bytes
  };
  DiskUsage disk_usage();

  // `berth system check`: the image store's check, then what the engine owns — state
  // directories and live shims of containers that have no record (a crash between two
  // steps), container rootfs mounts nothing runs in, image mounts under ROOT/mounts without
  // their record. `repair` stops such shims (their containers die with them), undoes the
  // mounts and removes the directories and runtime state.
  image::Service::CheckResult check(bool repair);

  nlohmann::json inspect(Container& c);
  // Docker's Mounts of a container (inspect, the API's container list): its binds and volumes.
  nlohmann::json mounts(const Container& c);
  // The json-file log of container `id`; the log of `c` (its k8s-file path if it has one).
  std::string log_path(const std::string& id) const;
  std::string log_path(const Container& c) const;
  std::string runtime_root() const;
  // The runtime of the container's current (or last) run, as its shim's orders name it.
  RuntimeOps runtime_ops(const std::string& id) const;
  std::string container_dir(const std::string& id) const;

 private:
  // create() once its image is found (the caller holds the users lock).
  Container create_from(const CreateRequest& req, const image::Image& img);
  // HostConfig.VolumesFrom into binds (create).
  void volumes_from(HostConfig& host);
  // Checks and resolves host.links (create): each linked container exists, kept by its name.
  void resolve_links(HostConfig& host);
  // The container a link names (lookup, with Docker's 400 when there is none).
  Container linked_container(const std::string& ref);
  // flock(op) on STATE/NS/locks/NAME (made when missing); `what` names it in errors.
  UniqueFd lock_file(const std::string& name, int op, const std::string& what);
  UniqueFd lock(const std::string& id);
  static std::map<std::string, std::string> event_attributes(const Container& c);
  // Taken shared by create and connect from their volume and network lookups to their record,
  // exclusively by remove_volume and remove_network around their in-use check and removal.
  UniqueFd lock_users(bool exclusive);
  // Writes c's record; conflict if another writer changed it since c was read (callers hold
  // the container's lock and read c under it).
  void save(Container& c);
  // state() for a caller that holds the container's lock.
  State state_locked(Container& c);
  // Whether `c` (state `s`, under its lock) is such a --rm container (State::removed).
  bool auto_remove_leftover(const Container& c, const State& s);
  // Why a record is stale: the container ended (the shim's exit record says how), or its
  // shim died before it could say.
  // commit_died: a commit's pause outlived the commit (killed): thawed under the lock.
  // start_unsettled: see observe; under the lock, waited for (≤ 10 s) by state_locked.
  enum class Stale { no, exited, monitor_died, commit_died, start_unsettled };
  // What the shim's files and the record say, without writing anything; `stale`: whether the
  // container ended without its record knowing (reconcile, under the lock), and how — or
  // (start_unsettled) that a live shim has recorded neither a run nor an exit: a first start
  // under way, or given up by a start that was killed (state_locked waits for that one).
  State observe(const Container& c, Stale& stale);
  // Records that a user stopped c (Docker's HasBeenManuallyStopped: `unless-stopped` is then
  // not started by autostart); under c's lock. A start clears it.
  void mark_stopped_by_user(Container& c);
  // A container between two runs of its restart policy: its shim gives up the restart and
  // ends (Docker's stop, kill and rm -f of a restarting container). `lk` is let go for the wait.
  void end_restarts(Container& c, UniqueFd lk);
  // Brings a stale record up to date: a dead shim's container killed and its networks
  // released, the rootfs unmounted, the exit recorded.
  void reconcile(Container& c, const State& s, Stale why);
  std::string netns_path(const std::string& id) const;
  // The container's network namespace (NetworkSettings started); its path, "" when the
  // container has none of its own (none, host, container:).
  // `spare_taken`: a warm spare became its namespace.
  std::string create_sandbox(Container& c, bool& spare_taken);
  // CNI ADD for every network of the container, in its namespace (NetworkSettings filled).
  // On failure everything is released (namespace included).
  void attach_networks(Container& c);
  // CNI DEL for every network, the namespace removed. Never throws (logs).
  void release_network(Container& c);
  // The temp files of attachment records a killed berth left (Networks::forget), warned of.
  void forget_network_leftovers(const std::string& id);
  network::Member attach_one(Container& c, const network::Network& net, const nlohmann::json& endpoint,
                             const std::string& ifname, bool primary);
  // What an attachment of the container is given (names, namespace, ports of the primary).
  network::Member new_member(Container& c, const nlohmann::json& endpoint, const std::string& ifname, bool primary);
  // NetworkSettings of an attachment made.
  void record_endpoint(Container& c, const network::Network& net, const nlohmann::json& endpoint,
                       const network::Member& m, bool primary);
  // Spares made in the background (hooks.fill_spares) when the network keeps fewer than it
  // should (`spare_taken`: the start that calls took one).
  void make_spares(const std::string& network, bool spare_taken);
  // The network of the container's eth0 ("" if none).
  static std::string primary_network(const Container& c);
  void write_etc_files(const Container& c);
  // Whether the container gets Docker's embedded DNS server (127.0.0.11, run by its shim): a
  // network stack of its own on a user network, and a runtime on the host's kernel (gVisor's
  // own network stack would not see the server's socket).
  bool embedded_dns(const HostConfig& host) const;
  // The same for a container as it is now: a default-network one connected to a user
  // network too has it (Docker switches it over).
  bool embedded_dns(const Container& c) const;
  // The shim's DNS server orders (none without the server).
  std::optional<shim::Orders::Dns> dns_orders(const Container& c, const std::string& netns, const std::string& hosts_file);
  // Rewrites the container's resolv.conf when whether it names 127.0.0.11 is not `embedded`
  // (in place: it is bound into the running container). Whether it did.
  bool sync_resolv_conf(const Container& c, bool embedded, bool in_place);
  // The views a copy or an export mounted under the container's state directory (tmp-PID)
  // and left behind when its berth was killed; under the container's lock (a live one holds it).
  void detach_views(const std::string& id);
  void unmount_rootfs(const std::string& id, bool detach = false);
  // Waits (up to 5 s) for the container's shim to exit; false if it is still there.
  bool wait_shim_gone(const std::string& id);
  // Deletes by force (processes killed) the runtime's state that a gone shim left: through
  // the runtime library, or the external runtime its shim.json names (the library cannot
  // read another runtime's state). Nothing to do without state.
  void delete_runtime_state(const std::string& id);
  // Whether a runtime keeps state for container `id` in runtime_root(): a directory of its
  // id (berth's, runc, crun) or runsc's `ID_sandbox:ID.state`.
  bool runtime_state_left(const std::string& id) const;
  // Stops a running container for good: no restart, `sig`, SIGKILL after `timeout` seconds,
  // then the shim's end. False if the shim is still there. `lk`, the container's lock that
  // the caller took, is let go once the signal is sent.
  bool halt(Container& c, const State& s, int sig, int timeout, UniqueFd lk);
  // `f` with the directory of the container's root: a running one's (with its volumes and
  // bind mounts when `with_mounts`), else its layers mounted for the time of `f`.
  void with_rootfs(const Container& c, const std::function<void(const std::string&)>& f, bool with_mounts = false);
  // A stopped container's volumes and host binds over its root filesystem mounted at `root`,
  // where the container would see them (the mount points made inside the root if missing).
  void mount_volumes_at(const Container& c, const std::string& root);

  // Named and anonymous volumes for a new container: HostConfig.Binds NAME:/dst entries and
  // Config.Volumes paths not mounted otherwise. Returns data["Volumes"].
  nlohmann::json make_volumes(const ContainerConfig& config, const HostConfig& host);
  // Bind mounts of the container's volumes, copying the image's content into empty ones.
  std::vector<nlohmann::json> volume_mounts(const Container& c, const std::string& rootfs);

  Options opts_;
  mutable std::mutex runtimes_mu_;
  std::shared_ptr<const Runtimes> runtimes_;
  image::Service images_;
  VolumeStore volumes_;
  network::Networks networks_;
};

// A random Docker-style name ("brave_turing").
std::string random_name();
// Signal name or number ("TERM", "SIGKILL", "9") → number; throws on nonsense.
int parse_signal(const std::string& s);
// Docker's status column: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created".
std::string status_text(const State& s);

}  // namespace berth::engine
