#include "build/cache_mounts.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/digest.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "image/service.hpp"

namespace berth::build {

namespace {

std::string base_dir(const std::string& root, const std::string& ns) { return root + "/build-mounts/" + ns; }

UniqueFd open_lock(const std::string& dir) {
  const std::string path = dir + "/lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) throw_errno("open " + path);
  return fd;
}

bool take(int fd, int op) {
  while (::flock(fd, op) < 0) {
    if (errno == EWOULDBLOCK) return false;
    if (errno != EINTR) throw_errno("lock a cache mount");
  }
  return true;
}

// data/ with the mode and owner asked for, when it is made (an existing one keeps its own).
void make_data(const std::string& path, const CacheMount::Options& o) {
  if (::mkdir(path.c_str(), 0700) < 0) {
    if (errno == EEXIST) return;
    throw_errno("mkdir " + path);
  }
  if (::chown(path.c_str(), o.uid, o.gid) < 0 || ::chmod(path.c_str(), o.mode) < 0) {
    const int err = errno;
    ::rmdir(path.c_str());
    throw_errno("set up the cache mount " + path, err);
  }
}

}  // namespace

CacheMount::CacheMount(const std::string& root, const std::string& ns, const std::string& id, const Options& o) {
  const std::string dir = base_dir(root, ns) + "/" + sha256_of(id).encoded;
  fs::mkdir_p(dir, 0700);
  lock_ = open_lock(dir);
  if (o.sharing == "locked") {
    take(lock_.get(), LOCK_EX);
  } else if (o.sharing == "private") {
    if (!take(lock_.get(), LOCK_EX | LOCK_NB)) {
      // In use: this RUN gets a directory of its own (BuildKit makes another instance).
      // Among the build's temporary directories: no prune of the cache mounts touches it.
      lock_.reset();
      fs::mkdir_p(root + "/build", 0700);
      temp_ = root + "/build/" + image::unique_name("cache-private-");
      make_data(temp_, o);
      path_ = temp_;
      return;
    }
  } else {
    take(lock_.get(), LOCK_SH);
  }
  path_ = dir + "/data";
  make_data(path_, o);
}

CacheMount::~CacheMount() {
  if (temp_.empty()) return;
  try {
    fs::remove_all(temp_);
  } catch (const std::exception& e) {
    log::warn("build: remove " + temp_ + ": " + e.what());
  }
}

CacheMountsPruned prune_cache_mounts(const std::string& root, const std::string& ns) {
  CacheMountsPruned r;
  const std::string base = base_dir(root, ns);
  UniqueFd dir(::open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return r;  // none was ever made
  for (const std::string& name : fs::list_dir(dir.get(), base)) {
    const std::string path = base + "/" + name;
    if (!fs::is_dir(path)) continue;
    UniqueFd lk = open_lock(path);
    if (!take(lk.get(), LOCK_EX | LOCK_NB)) continue;  // a RUN uses it
    // data/ goes; the directory and its lock stay (a RUN waiting on the lock meanwhile then
    // makes data/ anew, empty).
    const std::string data = path + "/data";
    if (!fs::is_dir(data)) continue;
    r.bytes += fs::disk_usage(data).bytes;
    fs::remove_all(data);
    ++r.count;
  }
  return r;
}

}  // namespace berth::build
