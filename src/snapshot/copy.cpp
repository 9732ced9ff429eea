#include "snapshot/copy.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"

namespace berth::snapshot {

namespace {

struct Copier {
  // (dev, ino) of a multiply-linked source file → its path relative to the copy root.
  std::map<std::pair<dev_t, ino_t>, std::string> links;
  int dst_root;
  const Owner* owner = nullptr;
  CopyOptions opts;
  struct DirTimes {
    std::string rel;  // relative to the copy root
    struct timespec times[2];
  };
  std::vector<DirTimes> dir_times;

  // Buffers live on the heap: a 64 KiB frame on a small thread stack (a daemon's worker) can
  // step over the stack's guard page into other memory instead of faulting (seen under ASan
  // with a 128 KiB stack: a corrupted heap, a crash later elsewhere).
  void copy_xattrs(const std::string& src, const std::string& dst) {
    std::vector<char> list(65536);
    char* names = list.data();
    ssize_t n = ::llistxattr(src.c_str(), names, list.size());
    if (n <= 0) return;
    std::vector<char> value(65536);
    for (char* p = names; p < names + n; p += std::strlen(p) + 1) {
      ssize_t v = ::lgetxattr(src.c_str(), p, value.data(), value.size());
      if (v < 0) continue;
      if (::lsetxattr(dst.c_str(), p, value.data(), static_cast<size_t>(v), 0) < 0 && errno != ENOTSUP)
        throw_errno("copy xattr " + std::string(p) + " to `" + dst + "`");
    }
  }

  void copy_file(int sfd_parent, int dfd_parent, const char* name, const struct stat& st) {
    UniqueFd in(::openat(sfd_parent, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) throw_errno(std::string("open `") + name + "`");
    UniqueFd out(::openat(dfd_parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) throw_errno(std::string("create `") + name + "`");
    off_t left = st.st_size;
    while (left > 0) {
      ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, static_cast<size_t>(left), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
        std::vector<char> buf(1 << 16);
        ssize_t r = ::read(in.get(), buf.data(), buf.size());
        if (r < 0) throw_errno(std::string("read `") + name + "`");
        if (r == 0) break;
        fs::write_fd(out.get(), std::string_view(buf.data(), static_cast<size_t>(r)), name);
        left -= r;
        continue;
      }
      if (n < 0) throw_errno(std::string("copy `") + name + "`");
      if (n == 0) break;
      left -= n;
    }
  }

  void finish_entry(int dfd_parent, const char* name, const struct stat& st, bool symlink,
                    const std::string& src_path, const std::string& dst_path) {
    if (::fchownat(dfd_parent, name, owner ? owner->uid : opts.unshift.uid_of(st.st_uid), owner ? owner->gid : opts.unshift.gid_of(st.st_gid),
                   AT_SYMLINK_NOFOLLOW) < 0)
      throw_errno(std::string("chown `") + name + "`");
    copy_xattrs(src_path, dst_path);
    const mode_t setid = opts.to_host && !opts.keep_setid ? (S_ISUID | S_ISGID) : 0;
    if (!symlink && ::fchmodat(dfd_parent, name, st.st_mode & 07777 & ~setid, 0) < 0)
      throw_errno(std::string("chmod `") + name + "`");
    struct timespec t[2] = {st.st_atim, st.st_mtim};
    ::utimensat(dfd_parent, name, t, AT_SYMLINK_NOFOLLOW);
  }

  // One directory being copied: its fds on both sides, its entries, the next one to copy.
  struct Level {
    UniqueFd src, dst;  // empty for the copy's roots (the caller's fds)
    std::string rel;    // relative to the copy root ("" for the root)
    std::vector<std::string> names;
    size_t next = 0;
    struct stat st {};  // the source directory's, applied once its entries are in
  };

  // Depth first, without recursion: a container can nest directories as deep as it likes,
  // and the copy (cp out of it, a volume's copy-up) must neither overflow the stack nor run
  // out of fds. Paths stop at PATH_MAX (two fds per level, up to 2048 levels), as no tool
  // could open anything deeper by name.
  void copy(int src_root, int dst_root_fd) {
    std::vector<Level> stack;
    stack.push_back({UniqueFd(), UniqueFd(), "", fs::list_dir(src_root, "."), 0, {}});
    while (!stack.empty()) {
      Level& top = stack.back();
      const int sdir = top.src ? top.src.get() : src_root, ddir = top.dst ? top.dst.get() : dst_root_fd;
      if (top.next == top.names.size()) {
        if (stack.size() > 1) {  // the directory itself, now that its entries are in
          Level done = std::move(top);
          stack.pop_back();
          Level& parent = stack.back();
          const int psrc = parent.src ? parent.src.get() : src_root, pdst = parent.dst ? parent.dst.get() : dst_root_fd;
          const std::string name = done.rel.substr(done.rel.rfind('/') + 1);
          finish_entry(pdst, name.c_str(), done.st, false, fs::fd_path(psrc) + "/" + name, fs::fd_path(pdst) + "/" + name);
          dir_times.push_back({done.rel, {done.st.st_atim, done.st.st_mtim}});
        } else {
          stack.pop_back();
        }
        continue;
      }
      const std::string& n = top.names[top.next++];
      const char* name = n.c_str();
      std::string child_rel = top.rel.empty() ? n : top.rel + "/" + n;
      if (child_rel.size() >= PATH_MAX)
        throw Error("a path longer than " + std::to_string(PATH_MAX) + " bytes (`" + child_rel.substr(0, 64) +
                    "…`): the directory tree is too deep to copy");
      struct stat st;
      if (::fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) throw_errno("stat `" + child_rel + "`");
      // Never a device node of the container's making on the host.
      if (opts.to_host && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) continue;
      const std::string src_path = fs::fd_path(sdir) + "/" + n, dst_path = fs::fd_path(ddir) + "/" + n;
      if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
        auto key = std::make_pair(st.st_dev, st.st_ino);
        if (auto it = links.find(key); it != links.end()) {
          if (::linkat(dst_root, it->second.c_str(), ddir, name, 0) < 0)
            throw_errno("link `" + child_rel + "`");
          continue;
        }
        links.emplace(key, child_rel);
      }
      if (S_ISDIR(st.st_mode)) {
        UniqueFd s(::openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (s && opts.to_host && fs::on_kernel_fs(s.get())) continue;
        if (::mkdirat(ddir, name, 0700) < 0) throw_errno("mkdir `" + child_rel + "`");
        UniqueFd t(::openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!s || !t) throw_errno("open directory `" + child_rel + "`");
        auto names = fs::list_dir(s.get(), child_rel);
        stack.push_back({std::move(s), std::move(t), std::move(child_rel), std::move(names), 0, st});  // `top` dies here
        continue;
      }
      if (S_ISREG(st.st_mode)) {
        copy_file(sdir, ddir, name, st);
      } else if (S_ISLNK(st.st_mode)) {
        std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
        ssize_t len = ::readlinkat(sdir, name, target.data(), target.size());
        if (len < 0) throw_errno("readlink `" + child_rel + "`");
        target.resize(static_cast<size_t>(len));
        if (::symlinkat(target.c_str(), ddir, name) < 0) throw_errno("symlink `" + child_rel + "`");
      } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
        if (::mknodat(ddir, name, st.st_mode, st.st_rdev) < 0) throw_errno("mknod `" + child_rel + "`");
      } else {
        continue;  // sockets are not part of a filesystem image
      }
      finish_entry(ddir, name, st, S_ISLNK(st.st_mode), src_path, dst_path);
    }
  }
};

}  // namespace

void copy_tree(int src_dir, int dst_dir, const CopyOptions& o) {
  Copier c;
  c.dst_root = dst_dir;
  c.owner = o.owner;
  c.opts = o;
  const Owner* owner = o.owner;
  fs::raise_nofile_limit(4 * PATH_MAX);
  c.copy(src_dir, dst_dir);
  // Directory times last: creating entries inside changed them.
  for (auto it = c.dir_times.rbegin(); it != c.dir_times.rend(); ++it)
    ::utimensat(dst_dir, it->rel.c_str(), it->times, AT_SYMLINK_NOFOLLOW);
  struct stat st;
  if (::fstat(src_dir, &st) == 0) {
    ::fchown(dst_dir, owner ? owner->uid : o.unshift.uid_of(st.st_uid), owner ? owner->gid : o.unshift.gid_of(st.st_gid));
    ::fchmod(dst_dir, st.st_mode & 07777 & ~(o.to_host && !o.keep_setid ? (S_ISUID | S_ISGID) : 0));
    struct timespec t[2] = {st.st_atim, st.st_mtim};
    ::futimens(dst_dir, t);
  }
}

}  // namespace berth::snapshot
