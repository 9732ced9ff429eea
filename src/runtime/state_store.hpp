// The container state directory: one directory per container under --root, holding
// state.json (written atomically), the config the container was created from, the start
// socket of a created container and a lock file that serialises commands on one id.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fd.hpp"
#include "common/fs.hpp"

namespace berth::runtime {

enum class Status { creating, created, running, stopped, paused };
const char* status_name(Status s);

struct ContainerState {
  std::string id;
  pid_t pid = 0;
  unsigned long long pid_start = 0;  // /proc/<pid>/stat starttime: guards against pid reuse
  std::string bundle;
  std::string rootfs;
  std::string created;  // RFC 3339
  bool started = false;
  std::map<std::string, std::string> annotations;
  nlohmann::json cgroup;  // Cgroup::to_json()
  std::string config;     // config.json as given at create time
  // What start and delete need from the config, noted at create so that they need not parse
  // it again (with Docker's seccomp profile it is ~18 KB: ~0.2 ms a parse, twice a container).
  // Not known in a state an older runtime wrote: then they parse the config.
  struct Facts {
    bool known = false;
    bool poststart = true, poststop = true;  // it has hooks of that kind
    bool own_pidns = true;                   // a PID namespace of its own (not joined, not none)
  } facts;
  uint32_t owner = 0;
  // Without a mount namespace of its own the container's mounts live in the runtime's: they
  // all hang under this private bind of the rootfs (its mount id), which delete takes away.
  unsigned long long root_mount_id = 0;
};

class StateStore {
 public:
  explicit StateStore(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }
  std::string dir(const std::string& id) const { return root_ + "/" + id; }

  // Makes the directory for a new container; fails if the id is taken.
  void create_dir(const std::string& id) const;
  // Takes the per-container lock (blocking); throws "container `id` does not exist".
  UniqueFd lock(const std::string& id) const;
  void save(const ContainerState& st) const;
  ContainerState load(const std::string& id) const;
  void remove(const std::string& id) const;
  std::vector<std::string> ids() const;
  bool exists(const std::string& id) const;

 private:
  std::string root_;
};

// Rejects ids that are empty, too long or could name a path outside --root.
void validate_id(const std::string& id);

// Process liveness that does not fall for zombies or pid reuse.
using fs::process_start_time;  // 0 if gone or a zombie
Status current_status(const ContainerState& st);

std::string now_rfc3339();

}  // namespace berth::runtime
