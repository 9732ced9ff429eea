// Applying a layer: Decoder (compressed digest, decompression, diffID) → libarchive's tar
// reader (formats only, no filters, no extraction) → our own extraction, which resolves every
// parent directory inside dest anew for each entry (no cached paths: containerd's
// CVE-2025-47290) and never through a symlink, and creates every node with *at() calls
// relative to that parent with O_EXCL/O_NOFOLLOW semantics.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <cerrno>
#include <exception>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/fd.hpp"
#include "diff/codec.hpp"
#include "diff/layer.hpp"
#include "diff/tree.hpp"

namespace berth::diff {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kWhiteoutMeta = ".wh..wh.";  // aufs metadata (.wh..wh.plnk, …)
constexpr std::string_view kOpaque = ".wh..wh..opq";

// Cleans a tar path to "a/b/c" ("" for the root): "." components, empty components and a
// trailing "/" go; false for an absolute path or any ".." component.
bool clean_entry_path(std::string_view raw, std::string& out, bool absolute_inside = false) {
  out.clear();
  if (raw.starts_with('/') && !absolute_inside) return false;
  size_t i = 0;
  while (i <= raw.size()) {
    size_t j = raw.find('/', i);
    if (j == std::string_view::npos) j = raw.size();
    std::string_view part = raw.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return false;
    if (!out.empty()) out += '/';
    out += part;
  }
  return true;
}

// "a/b/c" → {"a/b", "c"}; "c" → {"", "c"}.
std::pair<std::string, std::string> split_last(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

std::string join(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

// A directory fd: dest itself (not owned) or one we opened.
struct DirRef {
  UniqueFd owned;
  int fd = -1;
  explicit operator bool() const { return fd >= 0; }
};

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

// What libarchive's read callback pulls from: the decoded stream, with its first chunk (already
// peeked at) handed out first. Exceptions cannot cross libarchive's C frames: they wait here.
struct Feed {
  detail::DecodedStream* stream;
  std::span<const uint8_t> first;
  std::exception_ptr error;
  int64_t max_size = 0;  // ApplyOptions::max_size

  std::span<const uint8_t> next() {
    auto s = stream->next();
    if (max_size > 0 && stream->size() > max_size)
      throw Error("layer: more than " + std::to_string(max_size) +
                  " bytes uncompressed: over the layer size limit (--max-layer-size)", EFBIG);
    return s;
  }
};

la_ssize_t feed_read(archive* a, void* client, const void** buf) {
  auto* f = static_cast<Feed*>(client);
  try {
    std::span<const uint8_t> s;
    if (!f->first.empty()) {
      s = f->first;
      f->first = {};
    } else {
      s = f->next();
    }
    *buf = s.data();
    return static_cast<la_ssize_t>(s.size());
  } catch (...) {
    f->error = std::current_exception();
    archive_set_error(a, EIO, "reading the layer stream failed");
    return -1;
  }
}

class Extractor {
 public:
  Extractor(archive* a, Feed& feed, int dest, const ApplyOptions& opt)
      : a_(a),
        feed_(feed),
        dest_(dest),
        opt_(opt),
        opaque_xattr_(opt.rootless ? "user.overlay.opaque" : "trusted.overlay.opaque") {}

  void entry(archive_entry* e);
  // Docker's layer size: the sizes of the files, symlinks and nodes written (a hardlink adds
  // nothing), directories not counted — what `images` shows without walking the layer again.
  int64_t files_size() const { return files_size_; }
  // After the last entry: directory mtimes (their contents have stopped changing).
  void finish();

 private:
  [[noreturn]] void fail(std::string_view why) const {
    throw Error("layer: " + shown_ + ": " + std::string(why));
  }
  [[noreturn]] void fail_errno(std::string_view what) const {
    throw_errno("layer: " + shown_ + ": " + std::string(what));
  }
  [[noreturn]] void archive_failed() const {
    if (feed_.error) std::rethrow_exception(feed_.error);
    const char* msg = archive_error_string(a_);
    throw Error("layer: " + shown_ + ": tar: " + (msg ? msg : "read failed"));
  }

  DirRef open_dir(const std::string& dir, bool create, int flags, std::string_view context);
  void whiteout(const std::string& dir, const std::string& base);
  void opaque(const std::string& dir);
  void empty_lower(int dir_fd, const std::string& dir);

  void root_dir(archive_entry* e);
  void regular(archive_entry* e, int parent, const std::string& base);
  void directory(archive_entry* e, int parent, const std::string& path, const std::string& base);
  void symlink(archive_entry* e, int parent, const std::string& base);
  void node(archive_entry* e, int parent, const std::string& base, mode_t type);
  void hardlink(const char* target, int parent, const std::string& path, const std::string& base);

  // Ownership, xattrs and mode (in that order: chown clears setuid/setgid and file
  // capabilities) on an open file or directory; times are set by the callers.
  void apply_meta(archive_entry* e, int fd);
  void shift(uid_t& uid, gid_t& gid) const;
  // The same for an entry that cannot be opened (symlink, device, fifo).
  void apply_meta_at(archive_entry* e, int parent, const std::string& base, bool chmod);
  void apply_xattrs(archive_entry* e, int fd, int parent, const std::string& base);
  uid_t id_of(la_int64_t v, const char* what) const;
  static void times_of(archive_entry* e, timespec ts[2]);

  archive* a_;
  Feed& feed_;
  int dest_;
  ApplyOptions opt_;
  const char* opaque_xattr_;
  std::string shown_;  // the current entry's name as written in the tar, for errors
  int64_t files_size_ = 0;
  // Every path this layer created (entries and the parents it had to make): whiteouts and
  // opaque markers only hide what lower layers left.
  std::unordered_set<std::string> written_;
  struct DirTimes {
    std::string path;
    timespec ts[2];
  };
  std::vector<DirTimes> dir_times_;
};

DirRef Extractor::open_dir(const std::string& dir, bool create, int flags,
                           std::string_view context) {
  DirRef r;
  if (dir.empty()) {
    if (flags & O_PATH) {
      r.fd = dest_;
    } else {
      r.owned.reset(::openat(dest_, ".", flags | O_DIRECTORY | O_CLOEXEC));
      if (!r.owned) fail_errno("open the layer root");
      r.fd = r.owned.get();
    }
    return r;
  }
  // Fast path: one openat2 that refuses any symlink on the way.
  static std::atomic<bool> have_openat2{true};
  if (have_openat2.load(std::memory_order_relaxed)) {
    open_how how{};
    how.flags = static_cast<__u64>(flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    for (;;) {
      long fd = ::syscall(SYS_openat2, dest_, dir.c_str(), &how, sizeof how);
      if (fd >= 0) {
        r.owned.reset(static_cast<int>(fd));
        r.fd = r.owned.get();
        return r;
      }
      if (errno == EAGAIN || errno == EINTR) continue;
      break;
    }
    if (errno == ENOSYS)
      have_openat2.store(false, std::memory_order_relaxed);
    else if (errno == ENOENT && !create)
      return r;
  }
  // Component walk: creates what is missing and says exactly what is wrong.
  int cur = dest_;
  UniqueFd holder;
  std::string sofar;
  size_t i = 0;
  while (i < dir.size()) {
    size_t j = dir.find('/', i);
    if (j == std::string::npos) j = dir.size();
    std::string part = dir.substr(i, j - i);
    i = j + 1;
    sofar = join(sofar, part);
    bool last = i >= dir.size();
    int oflags = (last ? flags : O_PATH) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    UniqueFd next(::openat(cur, part.c_str(), oflags));
    if (!next && errno == ENOENT) {
      if (!create) return DirRef{};
      // A parent the tar did not list: made like Docker and containerd do (0755, root).
      if (::mkdirat(cur, part.c_str(), 0755) == 0) {
        written_.insert(sofar);
        if (::fchmodat(cur, part.c_str(), 0755, AT_SYMLINK_NOFOLLOW) < 0)
          fail_errno("chmod `" + sofar + "`");
      } else if (errno != EEXIST) {
        fail_errno(std::string(context) + "mkdir `" + sofar + "`");
      }
      next.reset(::openat(cur, part.c_str(), oflags));
    }
    if (!next) {
      int err = errno;
      struct stat st;
      if (::fstatat(cur, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode))
          fail(std::string(context) + "path goes through symlink `" + sofar + "`");
        if (!S_ISDIR(st.st_mode)) fail(std::string(context) + "`" + sofar + "` is not a directory");
      }
      throw_errno("layer: " + shown_ + ": " + std::string(context) + "open `" + sofar + "`", err);
    }
    holder = std::move(next);
    cur = holder.get();
  }
  r.owned = std::move(holder);
  r.fd = r.owned.get();
  return r;
}

uid_t Extractor::id_of(la_int64_t v, const char* what) const {
  if (v < 0 || v > 0xfffffffeLL) fail(std::string("invalid ") + what + " " + std::to_string(v));
  return static_cast<uid_t>(v);
}

void Extractor::times_of(archive_entry* e, timespec ts[2]) {
  ts[1].tv_sec = archive_entry_mtime(e);
  ts[1].tv_nsec = archive_entry_mtime_nsec(e);
  if (!archive_entry_mtime_is_set(e)) ts[1] = timespec{0, UTIME_OMIT};
  if (archive_entry_atime_is_set(e)) {
    ts[0].tv_sec = archive_entry_atime(e);
    ts[0].tv_nsec = archive_entry_atime_nsec(e);
  } else {
    ts[0] = ts[1];
  }
}

void Extractor::apply_xattrs(archive_entry* e, int fd, int parent, const std::string& base) {
  if (archive_entry_xattr_reset(e) == 0) return;
  const char* name;
  const void* value;
  size_t size;
  std::string path;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (!name || detail::is_overlay_xattr(name)) continue;
    int r;
    if (fd >= 0) {
      r = ::fsetxattr(fd, name, value, size, 0);
    } else {
      if (path.empty()) path = detail::proc_path(parent, base);
      r = ::lsetxattr(path.c_str(), name, value, size, 0);
    }
    if (r == 0) continue;
    // Like containerd: a filesystem without xattrs (of this namespace) is not an error. A user
    // namespace cannot set trusted.* at all.
    if (errno == ENOTSUP) continue;
    if (errno == EPERM && opt_.rootless && std::string_view(name).starts_with("trusted.")) continue;
    fail_errno(std::string("set xattr `") + name + "`");
  }
}

void Extractor::shift(uid_t& uid, gid_t& gid) const {
  if (opt_.shift_size == 0) return;
  if (uid < opt_.shift_size) uid += opt_.shift_uid;
  if (gid < opt_.shift_size) gid += opt_.shift_gid;
}

void Extractor::apply_meta(archive_entry* e, int fd) {
  uid_t uid = id_of(archive_entry_uid(e), "uid");
  gid_t gid = id_of(archive_entry_gid(e), "gid");
  shift(uid, gid);
  if (::fchown(fd, uid, gid) < 0) fail_errno("chown");
  apply_xattrs(e, fd, -1, {});
  if (::fchmod(fd, archive_entry_mode(e) & 07777) < 0) fail_errno("chmod");
}

void Extractor::apply_meta_at(archive_entry* e, int parent, const std::string& base, bool chmod) {
  uid_t uid = id_of(archive_entry_uid(e), "uid");
  gid_t gid = id_of(archive_entry_gid(e), "gid");
  shift(uid, gid);
  if (::fchownat(parent, base.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) < 0) fail_errno("chown");
  apply_xattrs(e, -1, parent, base);
  if (chmod &&
      ::fchmodat(parent, base.c_str(), archive_entry_mode(e) & 07777, AT_SYMLINK_NOFOLLOW) < 0)
    fail_errno("chmod");
  timespec ts[2];
  times_of(e, ts);
  if (::utimensat(parent, base.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0) fail_errno("set times");
}

void Extractor::entry(archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  if (!raw) throw Error("layer: tar: an entry has no name");
  shown_ = raw;
  std::string path;
  if (!clean_entry_path(raw, path, opt_.absolute_inside)) fail("path leaves the root");
  if (path.empty()) {
    if (opt_.keep_root) return;  // a plain tar's "./" over an existing directory (Docker's untar)
    return root_dir(e);
  }
  auto [dir, base] = split_last(path);

  if (opt_.whiteouts && base.starts_with(kWhiteoutPrefix)) {
    if (base == kOpaque) return opaque(dir);
    if (base.starts_with(kWhiteoutMeta)) return;  // aufs bookkeeping, ignored like containerd
    return whiteout(dir, base.substr(kWhiteoutPrefix.size()));
  }

  const char* link = archive_entry_hardlink(e);
  mode_t type = archive_entry_filetype(e);
  if (!link && opt_.rootless && (type == AE_IFCHR || type == AE_IFBLK))
    fail("device nodes cannot be created in rootless mode");

  DirRef parent = open_dir(dir, true, O_PATH, "");
  if (link) {
    hardlink(link, parent.fd, path, base);
  } else {
    switch (type) {
      case AE_IFREG:
        regular(e, parent.fd, base);
        break;
      case AE_IFDIR:
        directory(e, parent.fd, path, base);
        break;
      case AE_IFLNK:
        symlink(e, parent.fd, base);
        break;
      case AE_IFCHR:
      case AE_IFBLK:
      case AE_IFIFO:
        node(e, parent.fd, base, type);
        break;
      case AE_IFSOCK:
        return;  // tar cannot carry sockets; a listener recreates them
      default:
        fail("unsupported entry type " + std::to_string(type));
    }
  }
  written_.insert(std::move(path));
}

void Extractor::root_dir(archive_entry* e) {
  if (archive_entry_hardlink(e) || archive_entry_filetype(e) != AE_IFDIR)
    fail("the root of a layer must be a directory");
  DirRef d = open_dir("", false, O_RDONLY, "");
  apply_meta(e, d.fd);
  DirTimes t{""};
  times_of(e, t.ts);
  dir_times_.push_back(std::move(t));
}

void Extractor::regular(archive_entry* e, int parent, const std::string& base) {
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd fd(::openat(parent, base.c_str(), kFlags, 0600));
  if (!fd && errno == EEXIST) {
    // Whatever was there (a symlink included) is replaced, never written through.
    detail::remove_tree(parent, base, shown_);
    fd.reset(::openat(parent, base.c_str(), kFlags, 0600));
  }
  if (!fd) fail_errno("create");
  int64_t pos = 0;
  for (;;) {
    const void* buf;
    size_t size;
    la_int64_t offset;
    int r = archive_read_data_block(a_, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) archive_failed();
    if (offset != pos) {  // a hole of a sparse file
      if (::lseek(fd.get(), offset, SEEK_SET) < 0) fail_errno("seek");
      pos = offset;
    }
    auto* p = static_cast<const char*>(buf);
    while (size > 0) {
      ssize_t n = ::write(fd.get(), p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail_errno("write");
      }
      p += n;
      size -= static_cast<size_t>(n);
      pos += n;
    }
  }
  if (archive_entry_size_is_set(e) && archive_entry_size(e) > pos &&
      ::ftruncate(fd.get(), archive_entry_size(e)) < 0)  // a trailing hole
    fail_errno("truncate");
  files_size_ += std::max<int64_t>(pos, archive_entry_size_is_set(e) ? archive_entry_size(e) : 0);
  apply_meta(e, fd.get());
  timespec ts[2];
  times_of(e, ts);
  if (::futimens(fd.get(), ts) < 0) fail_errno("set times");
}

void Extractor::directory(archive_entry* e, int parent, const std::string& path,
                          const std::string& base) {
  if (::mkdirat(parent, base.c_str(), 0700) < 0) {
    if (errno != EEXIST) fail_errno("mkdir");
    struct stat st;
    if (::fstatat(parent, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) fail_errno("stat");
    if (!S_ISDIR(st.st_mode)) {  // a directory replaces a file or symlink
      detail::remove_tree(parent, base, shown_);
      if (::mkdirat(parent, base.c_str(), 0700) < 0) fail_errno("mkdir");
    }  // else: an existing directory is kept, with the new metadata
  }
  UniqueFd fd(::openat(parent, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) fail_errno("open");
  apply_meta(e, fd.get());
  DirTimes t{path};
  times_of(e, t.ts);
  dir_times_.push_back(std::move(t));
}

void Extractor::symlink(archive_entry* e, int parent, const std::string& base) {
  const char* target = archive_entry_symlink(e);
  if (!target) fail("symlink without a target");
  if (::symlinkat(target, parent, base.c_str()) < 0) {
    if (errno != EEXIST) fail_errno("symlink");
    detail::remove_tree(parent, base, shown_);
    if (::symlinkat(target, parent, base.c_str()) < 0) fail_errno("symlink");
  }
  apply_meta_at(e, parent, base, false);
  files_size_ += static_cast<int64_t>(std::strlen(target));
}

void Extractor::node(archive_entry* e, int parent, const std::string& base, mode_t type) {
  dev_t dev =
      type == AE_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
  mode_t mode = (type == AE_IFCHR ? S_IFCHR : type == AE_IFBLK ? S_IFBLK : S_IFIFO) | 0600;
  if (::mknodat(parent, base.c_str(), mode, dev) < 0) {
    if (errno != EEXIST) fail_errno("mknod");
    detail::remove_tree(parent, base, shown_);
    if (::mknodat(parent, base.c_str(), mode, dev) < 0) fail_errno("mknod");
  }
  apply_meta_at(e, parent, base, true);
}

void Extractor::hardlink(const char* target, int parent, const std::string& path,
                         const std::string& base) {
  std::string context = std::string("hardlink target `") + target + "`: ";
  std::string tpath;
  if (!clean_entry_path(target, tpath, opt_.absolute_inside) || tpath.empty()) fail(context + "path leaves the root");
  if (tpath == path) fail(context + "links to itself");
  auto [tdir, tbase] = split_last(tpath);
  DirRef tparent = open_dir(tdir, false, O_PATH, context);
  if (!tparent) fail(context + "does not exist");
  // linkat without AT_SYMLINK_FOLLOW: a target that is a symlink is linked itself, never
  // what it points to; and a hardlink entry's own metadata is never applied (CVE-2021-32760).
  if (::linkat(tparent.fd, tbase.c_str(), parent, base.c_str(), 0) < 0) {
    if (errno != EEXIST) fail_errno(context + "link");
    detail::remove_tree(parent, base, shown_);
    if (::linkat(tparent.fd, tbase.c_str(), parent, base.c_str(), 0) < 0)
      fail_errno(context + "link");
  }
}

void Extractor::whiteout(const std::string& dir, const std::string& name) {
  if (name.empty() || name == "." || name == "..") fail("invalid whiteout");
  std::string target = join(dir, name);
  if (written_.count(target)) return;  // whiteouts hide lower layers, not this one
  if (opt_.overlay) {
    DirRef d = open_dir(dir, true, O_PATH, "");
    detail::remove_tree(d.fd, name, target);
    if (::mknodat(d.fd, name.c_str(), S_IFCHR | 0, makedev(0, 0)) < 0)
      fail_errno("create whiteout `" + target + "`");
  } else {
    DirRef d = open_dir(dir, false, O_PATH, "");
    if (d) detail::remove_tree(d.fd, name, target);
  }
}

void Extractor::opaque(const std::string& dir) {
  if (opt_.overlay) {
    DirRef d = open_dir(dir, true, O_RDONLY, "");
    if (::fsetxattr(d.fd, opaque_xattr_, "y", 1, 0) < 0)
      fail_errno(std::string("set xattr `") + opaque_xattr_ + "`");
  } else {
    DirRef d = open_dir(dir, false, O_PATH, "");
    if (d) empty_lower(d.fd, dir);
  }
}

// Native mode's opaque directory: removes what lower layers left under `dir`, keeping what this
// layer wrote before the marker (tar order may put siblings first) — and since the lower
// directory is hidden as a whole, also what lower layers left inside this layer's own
// subdirectories. Entries after the marker are simply written afterwards.
void Extractor::empty_lower(int dir_fd, const std::string& dir) {
  for (const auto& name : fs::list_dir(dir_fd, dir.empty() ? "." : dir)) {
    std::string p = join(dir, name);
    if (!written_.count(p)) {
      detail::remove_tree(dir_fd, name, p);
      continue;
    }
    UniqueFd sub(::openat(dir_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (sub) empty_lower(sub.get(), p);
  }
}

void Extractor::finish() {
  // Every directory's mtime last, once nothing is created in it any more. A directory that a
  // later entry replaced or removed is skipped.
  for (const auto& t : dir_times_) {
    shown_ = t.path.empty() ? "." : t.path;
    DirRef d;
    try {
      d = open_dir(t.path, false, O_RDONLY, "");
    } catch (const Error&) {
      continue;
    }
    if (d && ::futimens(d.fd, t.ts) < 0) fail_errno("set times");
  }
}

}  // namespace

ApplyResult apply_stream(int fd, int dest_dir_fd, ApplyOptions opt, bool limit_to_free_space, std::string_view what) {
  // The first bytes tell the compression; they are handed to the extraction ahead of the rest.
  char head[512];
  size_t have = 0;
  while (have < sizeof head) {
    const size_t n = fs::read_fd(fd, head + have, sizeof head - have, what);
    if (n == 0) break;
    have += n;
  }
  return apply_stream(head, have, fd, dest_dir_fd, opt, limit_to_free_space, what);
}

ApplyResult apply_stream(const void* head_in, size_t have, int fd, int dest_dir_fd, ApplyOptions opt, bool limit_to_free_space,
                         std::string_view what) {
  const char* head = static_cast<const char*>(head_in);
  size_t given = 0;
  if (have == 0) return {};
  if (limit_to_free_space) {
    struct statvfs vfs;
    if (::fstatvfs(dest_dir_fd, &vfs) == 0) opt.max_size = static_cast<int64_t>(vfs.f_bavail) * static_cast<int64_t>(vfs.f_frsize);
  }
  const Reader reader = [&](void* buf, size_t n) {
    if (given < have) {
      const size_t k = std::min(n, have - given);
      std::memcpy(buf, head + given, k);
      given += k;
      return k;
    }
    return fs::read_fd(fd, buf, n, what);
  };
  return apply_layer(reader, detect_compression(head, have), dest_dir_fd, opt);
}

ApplyResult apply_layer(const Reader& in, Compression c, int dest_dir_fd, const ApplyOptions& opt) {
  detail::Utf8Locale utf8;
  detail::DecodedStream stream(detail::Decoder::make(in, c));
  // An empty stream is an empty layer (libarchive would call it an unknown format).
  Feed feed{&stream, {}, nullptr, opt.max_size};
  int64_t files_size = 0;
  feed.first = feed.next();
  if (!feed.first.empty()) {
    std::unique_ptr<archive, ArchiveFree> a(archive_read_new());
    if (!a) throw Error("layer: tar: cannot allocate a reader");
    // The tar reader reads ustar, pax and GNU tar; no filter is enabled: decompression is ours.
    archive_read_support_format_tar(a.get());
    auto failed = [&]() {
      if (feed.error) std::rethrow_exception(feed.error);
      const char* msg = archive_error_string(a.get());
      throw Error(std::string("layer: tar: ") + (msg ? msg : "read failed"));
    };
    if (archive_read_open(a.get(), &feed, nullptr, feed_read, nullptr) != ARCHIVE_OK) failed();
    Extractor x(a.get(), feed, dest_dir_fd, opt);
    for (;;) {
      archive_entry* e;
      int r = archive_read_next_header(a.get(), &e);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) failed();
      x.entry(e);
    }
    // What follows the end-of-archive blocks is part of the diffID too (and reaching the end
    // checks the gzip/zstd trailers).
    while (!feed.next().empty()) {
    }
    x.finish();
    files_size = x.files_size();
  }
  ApplyResult r;
  r.files_size = files_size;
  r.compressed = stream.compressed_digest();
  r.compressed_size = stream.compressed_size();
  r.diff_id = stream.diff_id();
  r.size = stream.size();
  return r;
}

}  // namespace berth::diff
