// RUN --mount=type=cache (BuildKit's cache mounts): directories that outlive the build and are
// bound into every RUN that names the same id — a package manager's download cache, a
// compiler's — never part of a layer nor of a step's cache key.
//
// Layout: ROOT/build-mounts/NS/<sha256 of the id>/ with `data/` (what RUN sees) and `lock`.
// A RUN holds the lock shared (sharing=shared, the default) or exclusive (sharing=locked: one
// RUN at a time, the others wait); sharing=private takes it exclusive if it can, else gets a
// fresh directory of its own for that RUN (thrown away after). `builder prune` removes the
// ones no RUN holds.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/fd.hpp"

namespace berth::build {

class CacheMount {
 public:
  struct Options {
    std::string sharing = "shared";  // shared | private | locked
    mode_t mode = 0755;              // of data/ when it is made
    uid_t uid = 0;
    gid_t gid = 0;
  };
  // Opens the cache `id` of namespace `ns` (made on first use) and takes its lock.
  CacheMount(const std::string& root, const std::string& ns, const std::string& id, const Options& o);
  ~CacheMount();
  CacheMount(CacheMount&&) = default;
  CacheMount(const CacheMount&) = delete;
  CacheMount& operator=(const CacheMount&) = delete;

  // The directory to bind at the RUN's target.
  const std::string& path() const { return path_; }

 private:
  UniqueFd lock_;
  std::string path_;
  std::string temp_;  // a private instance's own directory, removed at the end
};

struct CacheMountsPruned {
  size_t count = 0;
  int64_t bytes = 0;
};
// Removes the cache mounts of namespace `ns` that no RUN holds now.
CacheMountsPruned prune_cache_mounts(const std::string& root, const std::string& ns);

}  // namespace berth::build
