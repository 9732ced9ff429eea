// Creating a layer: a sorted walk of an overlay upper directory → libarchive's pax writer
// (restricted: plain ustar headers unless a name, id or xattr needs an extension) → Encoder
// (diffID, compression, compressed digest) → the Writer.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <exception>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "diff/codec.hpp"
#include "diff/layer.hpp"
#include "diff/tree.hpp"

namespace berth::diff {

namespace {

struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using Entry = std::unique_ptr<archive_entry, EntryFree>;

// libarchive's write callback target. Exceptions cannot cross libarchive's C frames: they
// wait here.
struct Sink {
  detail::Encoder* enc;
  std::exception_ptr error;
};

la_ssize_t sink_write(archive* a, void* client, const void* buf, size_t n) {
  auto* s = static_cast<Sink*>(client);
  try {
    s->enc->write(buf, n);
    return static_cast<la_ssize_t>(n);
  } catch (...) {
    s->error = std::current_exception();
    archive_set_error(a, EIO, "writing the layer stream failed");
    return -1;
  }
}

using Xattrs = std::vector<std::pair<std::string, std::string>>;

class Walker {
 public:
  Walker(archive* a, Sink& sink) : a_(a), sink_(sink), buf_(new char[detail::kBufSize]) {}
  // The entries `names` of `dir_fd` as `prefix + name`, and everything below them, depth
  // first in name order. A loop, not recursion: the depth a container can build is bounded
  // by PATH_MAX only (2048 levels), too deep for the stack of a sanitized build or a thread.
  // With `lower_fd` (not -1), dir_fd is a whole tree (the native snapshotter's copy) and
  // only its differences from the tree at lower_fd are written: new and changed entries,
  // whiteouts for what lower has and dir_fd has not.
  void walk(int dir_fd, const std::string& prefix, std::vector<std::string> names, int lower_fd = -1);
  // Paths (as written: "etc/hosts") left out of the layer, with whatever is below them.
  void skip(const std::vector<std::string>* paths) { skip_ = paths; }
  // Leave out what is on the kernel's filesystems (proc, sysfs, devpts, cgroup…).
  void skip_kernel_fs() { skip_kernel_fs_ = true; }
  void unshift(IdShift s) { unshift_ = s; }
  // The name the walk's top entry is written under (its children below it), for a tree
  // reached through a link: `cp CONTAINER:LINK/ -` archives the directory as LINK.
  void top_as(std::string name) { top_as_ = std::move(name); }
  // What the entries written unpack to (ApplyResult::files_size).
  int64_t files_size() const { return files_size_; }

 private:
  [[noreturn]] void archive_failed(const std::string& path) const {
    if (sink_.error) std::rethrow_exception(sink_.error);
    const char* msg = archive_error_string(a_);
    throw Error("layer create: " + path + ": tar: " + (msg ? msg : "write failed"));
  }
  void write_header(archive_entry* e, const std::string& path) {
    if (archive_write_header(a_, e) < ARCHIVE_WARN) archive_failed(path);
  }
  // An empty regular file named `path` carrying the metadata of `st` (whiteouts, markers).
  void marker(const std::string& path, const struct stat& st);
  // One entry `name` of `dir_fd` as `prefix + name`; for a directory, its open fd, to be
  // walked next.
  UniqueFd entry(int dir_fd, const std::string& name, const std::string& prefix, const std::string* shown = nullptr);
  Xattrs read_xattrs(int fd, int dir_fd, const std::string& name, const std::string& path);
  void copy_data(int fd, int64_t size, const std::string& path);

  archive* a_;
  Sink& sink_;
  std::unique_ptr<char[]> buf_;
  int64_t files_size_ = 0;
  std::map<std::pair<dev_t, ino_t>, std::string> inodes_;  // first path of multiply-linked files
  const std::vector<std::string>* skip_ = nullptr;
  bool skip_kernel_fs_ = false;
  IdShift unshift_;
  std::string top_as_;
};

Xattrs Walker::read_xattrs(int fd, int dir_fd, const std::string& name, const std::string& path) {
  std::string ppath = fd >= 0 ? std::string() : detail::proc_path(dir_fd, name);
  auto list = [&](char* b, size_t n) {
    return fd >= 0 ? ::flistxattr(fd, b, n) : ::llistxattr(ppath.c_str(), b, n);
  };
  auto get = [&](const char* key, void* b, size_t n) {
    return fd >= 0 ? ::fgetxattr(fd, key, b, n) : ::lgetxattr(ppath.c_str(), key, b, n);
  };
  std::string names;
  for (;;) {
    ssize_t n = list(nullptr, 0);
    if (n < 0) {
      if (errno == ENOTSUP) return {};
      throw_errno("layer create: " + path + ": list xattrs");
    }
    if (n == 0) return {};
    names.resize(static_cast<size_t>(n));
    n = list(names.data(), names.size());
    if (n >= 0) {
      names.resize(static_cast<size_t>(n));
      break;
    }
    if (errno != ERANGE) throw_errno("layer create: " + path + ": list xattrs");
  }
  Xattrs out;
  for (size_t i = 0; i < names.size();) {
    std::string key(names.c_str() + i);
    i += key.size() + 1;
    if (key.empty()) continue;
    if (key.starts_with("trusted.overlay.") || key.starts_with("user.overlay.")) {
      std::string_view rest = std::string_view(key).substr(key.find(".overlay.") + 9);
      if (rest == "redirect" || rest == "metacopy")
        throw Error("layer create: " + path + ": overlayfs " + std::string(rest) +
                    " is not supported (mount with redirect_dir=off,metacopy=off)");
      if (rest != "opaque") continue;  // origin, impure, nlink, …: overlay bookkeeping
    }
    std::string value;
    ssize_t n;
    do {  // sized, then read; again if it grew in between
      n = get(key.c_str(), nullptr, 0);
      if (n < 0) break;
      value.resize(static_cast<size_t>(n));
      n = get(key.c_str(), value.data(), value.size());
    } while (n < 0 && errno == ERANGE);
    if (n < 0) {
      if (errno == ENODATA) continue;  // removed meanwhile
      throw_errno("layer create: " + path + ": read xattr `" + key + "`");
    }
    value.resize(static_cast<size_t>(n));
    out.emplace_back(std::move(key), std::move(value));
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Walker::marker(const std::string& path, const struct stat& st) {
  Entry e(archive_entry_new());
  archive_entry_set_pathname(e.get(), path.c_str());
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), st.st_mode & 0777);
  archive_entry_set_uid(e.get(), unshift_.uid_of(st.st_uid));
  archive_entry_set_gid(e.get(), unshift_.gid_of(st.st_gid));
  archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, 0);
  archive_entry_set_size(e.get(), 0);
  write_header(e.get(), path);
}

void Walker::copy_data(int fd, int64_t size, const std::string& path) {
  while (size > 0) {
    size_t want = static_cast<size_t>(std::min<int64_t>(size, detail::kBufSize));
    ssize_t n = ::read(fd, buf_.get(), want);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("layer create: " + path + ": read");
    }
    if (n == 0) throw Error("layer create: " + path + ": file shrank while being read");
    if (archive_write_data(a_, buf_.get(), static_cast<size_t>(n)) < 0) archive_failed(path);
    size -= n;
  }
}

namespace {

// The same entry in both trees, as far as a layer can tell (Docker's naive diff): type,
// permissions, owner; size and modification time for a file (the copy kept them), the target
// for a link, the device number. Changed xattrs alone do not show.
bool same_entry(const struct stat& a, const struct stat& b, int a_dir, int b_dir, const std::string& name) {
  if (a.st_mode != b.st_mode || a.st_uid != b.st_uid || a.st_gid != b.st_gid) return false;
  if (S_ISDIR(a.st_mode)) return true;
  if (a.st_mtim.tv_sec != b.st_mtim.tv_sec || a.st_mtim.tv_nsec != b.st_mtim.tv_nsec) return false;
  if (S_ISREG(a.st_mode)) return a.st_size == b.st_size;
  if (S_ISCHR(a.st_mode) || S_ISBLK(a.st_mode)) return a.st_rdev == b.st_rdev;
  if (S_ISLNK(a.st_mode)) {
    if (a.st_size != b.st_size) return false;
    std::string ta(static_cast<size_t>(a.st_size) + 1, '\0'), tb = ta;
    return ::readlinkat(a_dir, name.c_str(), ta.data(), ta.size()) == a.st_size &&
           ::readlinkat(b_dir, name.c_str(), tb.data(), tb.size()) == b.st_size && ta == tb;
  }
  return true;  // fifos
}

}  // namespace

void Walker::walk(int dir_fd, const std::string& prefix, std::vector<std::string> names, int lower_fd) {
  struct Level {
    UniqueFd fd;  // empty for the caller's dir_fd
    UniqueFd lower;  // the same directory in the lower tree; empty: none (or the caller's)
    std::string prefix;
    std::vector<std::string> names;
    size_t next = 0;
  };
  std::vector<Level> stack;
  // A level's whiteouts: what the lower directory has and this one has not.
  auto whiteouts = [&](int lower, const std::string& level_prefix, const std::vector<std::string>& have) {
    for (const auto& n : fs::list_dir(lower, level_prefix.empty() ? "." : level_prefix)) {
      if (std::binary_search(have.begin(), have.end(), n)) continue;
      struct stat st;
      if (::fstatat(lower, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) throw_errno("layer create: " + level_prefix + n + ": stat");
      marker(level_prefix + ".wh." + n, st);
    }
  };
  if (lower_fd >= 0) whiteouts(lower_fd, prefix, names);
  stack.push_back({UniqueFd(), UniqueFd(), prefix, std::move(names)});
  while (!stack.empty()) {
    Level& top = stack.back();
    if (top.next == top.names.size()) {
      stack.pop_back();
      continue;
    }
    const std::string& name = top.names[top.next++];
    if (skip_ && std::find(skip_->begin(), skip_->end(), top.prefix + name) != skip_->end()) continue;
    const int here = top.fd ? top.fd.get() : dir_fd;
    const int lower = top.lower ? top.lower.get() : (stack.size() == 1 ? lower_fd : -1);
    UniqueFd sub, sub_lower;
    if (lower >= 0) {
      struct stat up, low;
      if (::fstatat(here, name.c_str(), &up, AT_SYMLINK_NOFOLLOW) < 0) throw_errno("layer create: " + top.prefix + name + ": stat");
      if (::fstatat(lower, name.c_str(), &low, AT_SYMLINK_NOFOLLOW) == 0) {
        if (same_entry(up, low, here, lower, name)) {
          if (!S_ISDIR(up.st_mode)) continue;
          sub.reset(::openat(here, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));  // unchanged: below only
          if (!sub) throw_errno("layer create: " + top.prefix + name + ": open");
        } else if ((up.st_mode & S_IFMT) != (low.st_mode & S_IFMT)) {
          marker(top.prefix + ".wh." + name, low);  // another kind of entry now: the old one goes first
        }
        if (S_ISDIR(up.st_mode) && S_ISDIR(low.st_mode)) {
          sub_lower.reset(::openat(lower, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
          if (!sub_lower) throw_errno("layer create: " + top.prefix + name + ": open the lower directory");
        }
      }
    }
    const std::string& shown = stack.size() == 1 && !top_as_.empty() ? top_as_ : name;
    if (!sub) sub = entry(here, name, top.prefix, &shown);
    if (!sub) continue;
    std::string sub_prefix = top.prefix + shown + "/";
    auto sub_names = fs::list_dir(sub.get(), sub_prefix);
    if (sub_lower) whiteouts(sub_lower.get(), sub_prefix, sub_names);
    stack.push_back({std::move(sub), std::move(sub_lower), std::move(sub_prefix), std::move(sub_names)});  // `top` dies here
  }
}

UniqueFd Walker::entry(int dir_fd, const std::string& name, const std::string& prefix, const std::string* shown) {
  {
    std::string path = prefix + (shown ? *shown : name);
    // A tree no tool could open by path (a container can nest directories without end): a
    // clear refusal, where the walk would go on writing ever longer names — O(depth²) bytes —
    // and holding one fd per level. This also bounds the walk's depth to 2048.
    if (path.size() >= PATH_MAX)
      throw Error("layer create: a path longer than " + std::to_string(PATH_MAX) + " bytes (`" +
                  path.substr(0, 64) + "…`): the directory tree is too deep to archive");
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
      throw_errno("layer create: " + path + ": stat");
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {  // an overlay whiteout
      marker(prefix + ".wh." + name, st);
      return {};
    }
    if (S_ISSOCK(st.st_mode)) return {};  // tar cannot carry sockets

    Entry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_mode(e.get(), st.st_mode);
    archive_entry_set_uid(e.get(), unshift_.uid_of(st.st_uid));
    archive_entry_set_gid(e.get(), unshift_.gid_of(st.st_gid));
    // Seconds only, like Docker: sub-second times would cost a pax header per file.
    archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, 0);

    UniqueFd fd;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
      int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
      fd.reset(::openat(dir_fd, name.c_str(), flags));
      if (!fd) throw_errno("layer create: " + path + ": open");
      struct stat again;
      if (::fstat(fd.get(), &again) < 0) throw_errno("layer create: " + path + ": stat");
      if (again.st_ino != st.st_ino || again.st_dev != st.st_dev)
        throw Error("layer create: " + path + ": changed while being read");
      // A running container's /proc, /sys…: its view of the kernel, not its files.
      if (skip_kernel_fs_ && fs::on_kernel_fs(fd.get())) return {};
    }
    bool opaque = false;
    for (const auto& [key, value] : read_xattrs(fd ? fd.get() : -1, dir_fd, name, path)) {
      if (detail::is_overlay_xattr(key)) {
        opaque = S_ISDIR(st.st_mode) && value == "y";
        continue;
      }
      archive_entry_xattr_add_entry(e.get(), key.c_str(), value.data(), value.size());
    }

    if (S_ISREG(st.st_mode)) {
      if (st.st_nlink > 1) {
        auto [it, first] = inodes_.try_emplace({st.st_dev, st.st_ino}, path);
        if (!first) {
          archive_entry_set_hardlink(e.get(), it->second.c_str());
          archive_entry_set_size(e.get(), 0);
          write_header(e.get(), path);
          return {};
        }
      }
      archive_entry_set_size(e.get(), st.st_size);
      write_header(e.get(), path);
      copy_data(fd.get(), st.st_size, path);
      files_size_ += st.st_size;
    } else if (S_ISDIR(st.st_mode)) {
      archive_entry_set_pathname(e.get(), (path + "/").c_str());
      write_header(e.get(), path);
      if (opaque) marker(path + "/.wh..wh..opq", st);  // before any child: tar order is safe
      return fd;
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      for (;;) {
        ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
        if (n < 0) throw_errno("layer create: " + path + ": readlink");
        if (static_cast<size_t>(n) < target.size()) {
          target.resize(static_cast<size_t>(n));
          break;
        }
        target.resize(target.size() * 2);
      }
      archive_entry_set_symlink(e.get(), target.c_str());
      write_header(e.get(), path);
      files_size_ += static_cast<int64_t>(target.size());
    } else {  // devices and fifos
      if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        archive_entry_set_rdevmajor(e.get(), major(st.st_rdev));
        archive_entry_set_rdevminor(e.get(), minor(st.st_rdev));
      }
      write_header(e.get(), path);
    }
  }
  return {};
}

}  // namespace

namespace {

// Ends the stream; both digests and sizes.
CreateResult finish(detail::Encoder& enc) {
  enc.finish();
  CreateResult r;
  r.compressed = enc.compressed_digest();
  r.compressed_size = enc.compressed_size();
  r.diff_id = enc.diff_id();
  r.size = enc.size();
  return r;
}

// The tar writer around a walk: pax with SCHILY xattrs, no blocking, through the encoder.
CreateResult write_tar(const Writer& out, Compression c, const std::function<void(Walker&)>& walk) {
  detail::Utf8Locale utf8;
  auto enc = detail::Encoder::make(out, c);
  Sink sink{enc.get(), nullptr};
  std::unique_ptr<archive, WriteFree> a(archive_write_new());
  if (!a) throw Error("layer create: tar: cannot allocate a writer");
  auto failed = [&](const char* what) {
    if (sink.error) std::rethrow_exception(sink.error);
    const char* msg = archive_error_string(a.get());
    throw Error(std::string("layer create: tar: ") + what + ": " + (msg ? msg : "failed"));
  };
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK) failed("pax format");
  // xattrs as SCHILY.xattr.* only (what GNU tar, Go's archive/tar and so Docker read), not
  // duplicated as LIBARCHIVE.xattr.*.
  if (archive_write_set_format_option(a.get(), "pax", "xattrheader", "SCHILY") != ARCHIVE_OK)
    failed("xattrheader option");
  // No blocking: the stream ends right after the two zero blocks, like Docker's layers.
  archive_write_set_bytes_per_block(a.get(), 0);
  if (archive_write_open(a.get(), &sink, nullptr, sink_write, nullptr) != ARCHIVE_OK)
    failed("open");
  // The walk holds one fd per level (up to PATH_MAX / 2 of them): the soft limit up to the
  // hard one, as containerd does at start.
  fs::raise_nofile_limit(4 * PATH_MAX);
  Walker w(a.get(), sink);
  walk(w);
  if (archive_write_close(a.get()) != ARCHIVE_OK) failed("close");
  CreateResult r = finish(*enc);
  r.files_size = w.files_size();
  return r;
}

}  // namespace

CreateResult compress_stream(const Reader& in, const Writer& out, Compression c) {
  auto enc = detail::Encoder::make(out, c);
  std::unique_ptr<uint8_t[]> buf(new uint8_t[detail::kBufSize]);
  for (size_t n; (n = in(buf.get(), detail::kBufSize)) > 0;) enc->write(buf.get(), n);
  return finish(*enc);
}

CreateResult create_layer(int upper_dir_fd, const Writer& out, Compression c, const std::vector<std::string>& skip,
                          IdShift unshift) {
  return write_tar(out, c, [&](Walker& w) {
    w.skip(&skip);
    w.unshift(unshift);
    w.walk(upper_dir_fd, "", fs::list_dir(upper_dir_fd, "."));
  });
}

CreateResult create_layer_diff(int lower_dir_fd, int tree_fd, const Writer& out, Compression c,
                               const std::vector<std::string>& skip) {
  return write_tar(out, c, [&](Walker& w) {
    w.skip(&skip);
    w.walk(tree_fd, "", fs::list_dir(tree_fd, "."), lower_dir_fd);
  });
}

void create_tar(int parent_dir_fd, const std::string& name, const Writer& out, IdShift unshift, const std::string& as) {
  write_tar(out, Compression::none, [&](Walker& w) {
    w.skip_kernel_fs();
    w.unshift(unshift);
    w.top_as(as);
    w.walk(parent_dir_fd, "", {name});
  });
}

}  // namespace berth::diff
