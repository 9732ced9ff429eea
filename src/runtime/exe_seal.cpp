#include "runtime/exe_seal.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"

extern char** environ;

namespace berth::runtime {

namespace {

// Set across the re-exec only, so that the new image knows it is the sealed one.
constexpr const char* kSealedEnv = "_BERTH_SEALED_EXE";

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_ino == b.st_ino && a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
         a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

// The file `path` as seen through a detached read-only overlay of its directory (the second,
// empty lower layer is a fresh read-only tmpfs: overlayfs needs two lowers without an upper);
// checked to be the file `want` describes.
UniqueFd overlay_view(const std::string& path, const struct stat& want) {
  if (path.empty() || path[0] != '/' || path.ends_with(" (deleted)")) return {};
  auto slash = path.rfind('/');
  std::string dir = slash == 0 ? "/" : path.substr(0, slash), name = path.substr(slash + 1);
  UniqueFd dirfd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dirfd) return {};
  const unsigned ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  UniqueFd empty = fs::new_detached_mount("tmpfs", {}, ro);
  if (!empty) return {};
  UniqueFd mnt = fs::new_detached_mount(
      "overlay",
      {{"lowerdir", fs::fd_path(dirfd.get()) + ":" + fs::fd_path(empty.get())}}, ro);
  if (!mnt) return {};
  UniqueFd exe(::openat(mnt.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!exe || ::fstat(exe.get(), &st) < 0 || !same_file(st, want)) return {};
  return exe;
}

UniqueFd overlay_view(const struct stat& self_st) {
  char link[4096];
  ssize_t n = ::readlink("/proc/self/exe", link, sizeof link - 1);
  if (n <= 0) return {};
  return overlay_view(std::string(link, static_cast<size_t>(n)), self_st);
}

UniqueFd memfd_copy(int self, const char* name) {
  unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
#ifdef MFD_EXEC
  flags |= MFD_EXEC;
#endif
  UniqueFd m(::memfd_create(name, flags));
#ifdef MFD_EXEC
  if (!m && errno == EINVAL) m.reset(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
#endif
  if (!m) return {};
  off_t off = 0;
  for (;;) {
    ssize_t n = ::sendfile(m.get(), self, &off, 1 << 30);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return {};
    }
  }
  if (::fcntl(m.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
    return {};
  return m;
}

}  // namespace

void reexec_from_sealed_exe(char** argv, const char* name) {
  if (const char* v = ::getenv(kSealedEnv); v && v[0] == '1') {
    ::unsetenv(kSealedEnv);
    // execveat(fd) names the process after the fd number; give it its name back.
    ::prctl(PR_SET_NAME, name, 0, 0, 0);
    return;
  }
  UniqueFd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (!self) throw_errno("open /proc/self/exe");
  struct statvfs sv;
  if (::fstatvfs(self.get(), &sv) == 0 && (sv.f_flag & ST_RDONLY)) {
    // Run from a read-only view its parent made (sealed_view): exec'd through /proc/self/fd/N,
    // the process is named after the fd number; give it its name.
    ::prctl(PR_SET_NAME, name, 0, 0, 0);
    return;
  }
  int seals = ::fcntl(self.get(), F_GET_SEALS);
  if (seals >= 0 && (seals & F_SEAL_WRITE)) return;
  struct stat st;
  if (::fstat(self.get(), &st) < 0) throw_errno("stat /proc/self/exe");

  UniqueFd exe = overlay_view(st);
  if (!exe) exe = memfd_copy(self.get(), name);
  if (!exe)
    throw Error(std::string("cannot run from a read-only view of the ") + name + " binary (needs overlayfs or "
                "memfd): refusing to enter a container with a writable binary");
  ::setenv(kSealedEnv, "1", 1);
  ::syscall(SYS_execveat, exe.get(), "", argv, environ, AT_EMPTY_PATH);
  int e = errno;
  ::unsetenv(kSealedEnv);
  errno = e;
  throw_errno(std::string("re-exec ") + name + " from its read-only view");
}

UniqueFd sealed_view(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) < 0 || !S_ISREG(st.st_mode)) return {};
  std::string abs = path;
  if (abs[0] != '/') {
    char cwd[4096];
    if (!::getcwd(cwd, sizeof cwd)) return {};
    abs = std::string(cwd) + "/" + abs;
  }
  return overlay_view(abs, st);
}

}  // namespace berth::runtime
