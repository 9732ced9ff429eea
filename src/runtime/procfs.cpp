#include "runtime/procfs.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace berth::runtime {

namespace {

constexpr ino_t kProcRootIno = 1;

bool is_procfs_root(int fd) {
  struct statfs sf;
  struct stat st;
  return ::fstatfs(fd, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC && ::fstat(fd, &st) == 0 &&
         st.st_ino == kProcRootIno;
}

}  // namespace

Procfs Procfs::open_private() {
  UniqueFd root = fs::new_detached_mount("proc", {}, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
  if (!root)
    root.reset(static_cast<int>(
        ::syscall(SYS_open_tree, AT_FDCWD, "/proc", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
  if (!root) root.reset(::open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw_errno("open procfs");
  if (!is_procfs_root(root.get())) throw Error("/proc is not the root of a procfs; refusing to use it");
  return Procfs(std::move(root));
}

UniqueFd Procfs::open(const std::string& rel, int flags) const {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  UniqueFd f(static_cast<int>(::syscall(SYS_openat2, root_.get(), rel.c_str(), &how, sizeof how)));
  if (!f && errno == ENOSYS) f.reset(::openat(root_.get(), rel.c_str(), flags | O_CLOEXEC | O_NOFOLLOW));
  if (!f) return f;
  struct statfs sf;
  if (::fstatfs(f.get(), &sf) < 0 || sf.f_type != PROC_SUPER_MAGIC) {
    errno = EXDEV;
    return {};
  }
  return f;
}

}  // namespace berth::runtime
