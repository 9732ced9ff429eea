// The Docker Engine API (version 1.41) over berth's engine: what the docker CLI,
// docker-compose and the Docker SDKs speak. One Api serves every request thread of berthd;
// its own state is what only a daemon has — exec sessions and attachments waiting for a
// start — the rest is the engine's (one store with the berth CLI).
//
// Request → route (method and path, the /vX.Y prefix taken off) → handler; an exception's
// ErrorKind is the response's status (one table: status_of) with Docker's {"message": …}.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/http.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "engine/engine.hpp"

namespace berth::api::docker {

inline constexpr const char* kApiVersion = "1.41";
inline constexpr const char* kMinApiVersion = "1.24";

// The HTTP status of an error kind (Docker's: 400, 404, 409, 500, …).
int status_of(ErrorKind kind);

struct Settings {
  std::string berth_version;
  std::string root, state;      // for /info
  // Registries: what /images/create and push use (set by berthd from its config).
  std::function<image::Transfer(const std::string& auth_header)> transfer;
  // daemon.json's log-driver and log-opts: the driver of a container created without one, and
  // the options of its driver it does not give itself (Docker's merge).
  std::string log_driver = "json-file";
  std::map<std::string, std::string> log_opts;
  std::vector<std::string> registry_mirrors;  // for /info
  // ADD of a URL in POST /build: the body to the fd; Last-Modified (unix s, 0: none).
  std::function<int64_t(const std::string& url, int fd)> fetch;
};

class Api {
 public:
  Api(engine::Engine& eng, Settings settings);
  void handle(Exchange& ex);
  // Headers every response carries (Api-Version, Docker-Experimental, Ostype, Server).
  static CommonHeaders common_headers(const std::string& berth_version);

  struct Params {
    std::map<std::string, std::string> v;
    const std::string& operator[](const std::string& k) const { return v.at(k); }
  };
  using Fn = void (Api::*)(Exchange&, const Params&);

 private:
  struct Route {
    std::string method;
    std::vector<std::string> parts;  // "{id}" a parameter, "{name*}" one of one or more segments
    Fn fn;
    bool big = false;  // moves images or trees: malloc_trim after it
  };
  static std::vector<Route> routes();
  // Calls the route's handler; an error becomes the response.
  void dispatch(Exchange& ex, const std::string& path);

  // system.cpp
  void ping(Exchange&, const Params&);
  void version(Exchange&, const Params&);
  void info(Exchange&, const Params&);
  void events(Exchange&, const Params&);
  void system_df(Exchange&, const Params&);
  void auth(Exchange&, const Params&);
  void build(Exchange&, const Params&);
  void build_prune(Exchange&, const Params&);
  // containers.cpp
  void container_create(Exchange&, const Params&);
  void container_list(Exchange&, const Params&);
  void container_inspect(Exchange&, const Params&);
  void container_start(Exchange&, const Params&);
  void container_stop(Exchange&, const Params&);
  void container_restart(Exchange&, const Params&);
  void container_kill(Exchange&, const Params&);
  void container_pause(Exchange&, const Params&);
  void container_unpause(Exchange&, const Params&);
  void container_rename(Exchange&, const Params&);
  void container_wait(Exchange&, const Params&);
  void container_delete(Exchange&, const Params&);
  void container_logs(Exchange&, const Params&);
  void container_top(Exchange&, const Params&);
  void container_stats(Exchange&, const Params&);
  void container_changes(Exchange&, const Params&);
  void container_export(Exchange&, const Params&);
  void container_update(Exchange&, const Params&);
  void container_prune(Exchange&, const Params&);
  void container_resize(Exchange&, const Params&);
  void archive_get(Exchange&, const Params&);
  void archive_head(Exchange&, const Params&);
  void archive_put(Exchange&, const Params&);
  // attach.cpp
  void container_attach(Exchange&, const Params&);
  void exec_create(Exchange&, const Params&);
  void exec_start(Exchange&, const Params&);
  void exec_resize(Exchange&, const Params&);
  void exec_inspect(Exchange&, const Params&);
  // images.cpp
  void image_list(Exchange&, const Params&);
  void image_inspect(Exchange&, const Params&);
  void image_history(Exchange&, const Params&);
  void image_create(Exchange&, const Params&);
  void image_push(Exchange&, const Params&);
  void image_tag(Exchange&, const Params&);
  void image_delete(Exchange&, const Params&);
  void image_prune(Exchange&, const Params&);
  void image_search(Exchange&, const Params&);
  void plugin_list(Exchange&, const Params&);
  void swarm_only(Exchange&, const Params&);
  void image_get(Exchange&, const Params&);
  void image_get_all(Exchange&, const Params&);
  void image_load(Exchange&, const Params&);
  void commit(Exchange&, const Params&);
  // objects.cpp: networks and volumes
  void network_list(Exchange&, const Params&);
  void network_inspect(Exchange&, const Params&);
  void network_create(Exchange&, const Params&);
  void network_delete(Exchange&, const Params&);
  void network_connect(Exchange&, const Params&);
  void network_disconnect(Exchange&, const Params&);
  void network_prune(Exchange&, const Params&);
  void volume_list(Exchange&, const Params&);
  void volume_inspect(Exchange&, const Params&);
  void volume_create(Exchange&, const Params&);
  void volume_delete(Exchange&, const Params&);
  void volume_prune(Exchange&, const Params&);

 public:
  // An attachment to a created container that waits for its start (the docker CLI attaches
  // before it starts): the start hands it the shim connection it started with as owner.
  struct PendingAttach {
    std::mutex mu;
    std::condition_variable cv;
    UniqueFd shim;
    bool given = false, gone = false;
  };
  // An exec instance (exec create → start → inspect).
  struct ExecInstance {
    std::string id, container_id;
    engine::ExecRequest req;
    bool attach_stdin = false, attach_stdout = true, attach_stderr = true;
    std::mutex mu;
    bool running = false, started = false;
    int exit_code = 0;
    bool exited = false;
    int pid = 0;
    int conn = -1;  // the exec's shim connection while it runs (frames to it under mu)
    std::string winsize;  // the last resize ("ROWS COLS")
    std::chrono::steady_clock::time_point finished;
    void finish(int code);  // it ended with `code` (takes mu)
  };
  // A run the daemon started: what a next-exit wait that comes after the start (the docker
  // CLI sends its wait and its start at once) waits from.
  struct RunMark {
    int64_t started_ns = 0;
    bool waited = false;
  };
  // How long after a start such a wait still counts from it.
  static constexpr int64_t kRunMarkWindowNs = 10'000'000'000LL;

 private:
  engine::Engine& eng_;
  Settings settings_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<PendingAttach>> pending_;
  std::map<std::string, std::shared_ptr<ExecInstance>> execs_;
  std::map<std::string, RunMark> runs_;
  // next-exit/removed waits under way that took no mark (they came before the start they go
  // with: `docker start -a`, or `docker run` when its wait wins the race): the start that
  // follows is theirs, its mark born used — no later wait may take it for its own.
  std::map<std::string, int> early_waits_;
  std::map<std::string, int> removed_exits_;  // exit codes of --rm containers the daemon removed

  std::shared_ptr<ExecInstance> find_exec(const std::string& id);
  void start_failed(const engine::Container& c);
  // Records a start the daemon made (RunMark), forgetting the marks past their window.
  void mark_started(const std::string& id, int64_t started_ns);
  void forget_old_execs();
  // The pump between a hijacked client and a shim connection (attach.cpp).
  friend struct Pump;
};

// Docker's filters query parameter: {"label": {"a=b": true}} or the old {"label": ["a=b"]}.
std::map<std::string, std::vector<std::string>> parse_filters(const std::string& text);

}  // namespace berth::api::docker
