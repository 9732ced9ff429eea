#include "common/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace berth::fs {

std::string read_file(const std::string& path) {
  std::string out;
  if (!read_file_if_exists(path, out)) throw_errno("open `" + path + "`", ENOENT);
  return out;
}

bool read_file_if_exists(const std::string& path, std::string& out, size_t max) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return false;
    throw_errno("open `" + path + "`");
  }
  std::string data;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read `" + path + "`");
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > max)
      throw Error(ErrorKind::invalid_argument, "`" + path + "` is larger than " + std::to_string(max >> 10) + " KiB");
  }
  out = std::move(data);
  return true;
}

std::string read_line(int fd) {
  std::string out;
  char c;
  for (;;) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    out += c;
  }
  return out;
}

size_t read_fd(int fd, void* buf, size_t n, std::string_view what) {
  for (;;) {
    ssize_t r = ::read(fd, buf, n);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno != EINTR) throw_errno("read `" + std::string(what) + "`");
  }
}

bool write_all(int fd, std::string_view data) noexcept {
  while (!data.empty()) {
    ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data.remove_prefix(static_cast<size_t>(w));
  }
  return true;
}

void write_fd(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write `" + std::string(what) + "`");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void write_file(const std::string& path, std::string_view data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw_errno("open `" + path + "`");
  // Kernel knobs want the value in a single write.
  ssize_t n = ::write(fd.get(), data.data(), data.size());
  if (n < 0) throw_errno("write `" + std::string(data) + "` to `" + path + "`");
}

namespace {

void write_then_rename(const std::string& tmp, const std::string& path, std::string_view data, mode_t mode, bool sync) {
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd) throw_errno("create `" + tmp + "`");
  try {
    write_fd(fd.get(), data, tmp);
    if (sync && ::fsync(fd.get()) < 0) throw_errno("fsync `" + tmp + "`");
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) < 0) throw_errno("rename to `" + path + "`");
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace

void write_file_atomic(const std::string& path, std::string_view data, mode_t mode, bool sync) {
  write_then_rename(path + ".tmp." + std::to_string(::getpid()), path, data, mode, sync);
}

void write_file_atomic_via(const std::string& tmp, const std::string& path, std::string_view data, mode_t mode) {
  write_then_rename(tmp, path, data, mode, false);
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void mkdir_p(const std::string& path, mode_t mode) {
  if (path.empty()) return;
  if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST) {
    if (errno == EEXIST && !is_dir(path)) throw_errno("mkdir `" + path + "`", ENOTDIR);
    return;
  }
  if (errno != ENOENT) throw_errno("mkdir `" + path + "`");
  auto slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) mkdir_p(path.substr(0, slash), mode);
  if (::mkdir(path.c_str(), mode) < 0 && errno != EEXIST) throw_errno("mkdir `" + path + "`");
}

std::vector<std::string> list_dir(int dir_fd, std::string_view what) {
  // A fresh open of the directory: its own offset, and an O_PATH fd works too.
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno("open directory `" + std::string(what) + "`");
  DIR* d = ::fdopendir(fd);
  if (!d) {
    int err = errno;
    ::close(fd);
    throw_errno("open directory `" + std::string(what) + "`", err);
  }
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    dirent* de = ::readdir(d);
    if (!de) break;
    std::string_view n = de->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  int err = errno;
  ::closedir(d);
  if (err) throw_errno("read directory `" + std::string(what) + "`", err);
  std::sort(names.begin(), names.end());
  return names;
}

// Iterative, depth-first, with at most kOpen directory fds at a time: a tree of any depth
// (a container can make 100,000 nested directories) costs neither stack nor fds. A directory
// whose fd was given up is reopened from its child with "..", and checked to be the same one.
void remove_all(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) < 0) {
    if (errno == ENOENT) return;
    throw_errno("stat `" + path + "`");
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) < 0 && errno != ENOENT) throw_errno("unlink `" + path + "`");
    return;
  }
  constexpr size_t kOpen = 32;
  struct Frame {
    UniqueFd fd;
    dev_t dev;
    ino_t ino;
    std::vector<std::string> names;
    size_t next = 0;
  };
  const dev_t dev = st.st_dev;
  std::vector<Frame> stack;
  auto push = [&](UniqueFd fd, const std::string& what) {
    struct stat ds;
    if (::fstat(fd.get(), &ds) < 0) throw_errno("stat `" + what + "`");
    Frame f{std::move(fd), ds.st_dev, ds.st_ino, {}, 0};
    f.names = list_dir(f.fd.get(), what.c_str());
    stack.push_back(std::move(f));
    if (stack.size() > kOpen) stack[stack.size() - kOpen - 1].fd.reset();
  };
  UniqueFd top(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!top) throw_errno("open `" + path + "`");
  push(std::move(top), path);
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.next < f.names.size()) {
      const std::string& name = f.names[f.next++];
      struct stat cs;
      if (::fstatat(f.fd.get(), name.c_str(), &cs, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT) continue;
        throw_errno("stat `" + name + "` in `" + path + "`");
      }
      if (!S_ISDIR(cs.st_mode)) {
        if (::unlinkat(f.fd.get(), name.c_str(), 0) < 0 && errno != ENOENT)
          throw_errno("unlink `" + name + "` in `" + path + "`");
        continue;
      }
      if (cs.st_dev != dev) throw_errno("remove `" + name + "` in `" + path + "`", EBUSY);
      UniqueFd child(::openat(f.fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!child) throw_errno("open `" + name + "` in `" + path + "`");
      push(std::move(child), name);
      continue;
    }
    // Empty now: remove it from its parent (the top one by its path).
    if (stack.size() == 1) {
      stack.clear();
      if (::rmdir(path.c_str()) < 0 && errno != ENOENT) throw_errno("rmdir `" + path + "`");
      break;
    }
    Frame& parent = stack[stack.size() - 2];
    if (!parent.fd) {
      parent.fd.reset(::openat(f.fd.get(), "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      struct stat ps;
      if (!parent.fd || ::fstat(parent.fd.get(), &ps) < 0 || ps.st_dev != parent.dev || ps.st_ino != parent.ino)
        throw Error("remove `" + path + "`: a directory was moved while it was being removed");
    }
    const std::string name = parent.names[parent.next - 1];
    stack.pop_back();
    if (::unlinkat(stack.back().fd.get(), name.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT)
      throw_errno("rmdir `" + name + "` in `" + path + "`");
  }
}

std::string clean_path(std::string_view path) {
  bool abs = !path.empty() && path[0] == '/';
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part.empty() || part == ".") {
    } else if (part == "..") {
      if (!parts.empty() && parts.back() != "..")
        parts.pop_back();
      else if (!abs)
        parts.push_back(part);
    } else {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out = abs ? "/" : "";
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k) out += '/';
    out += parts[k];
  }
  if (out.empty()) out = ".";
  return out;
}

std::string absolute(const std::string& p) {
  if (!p.empty() && p[0] == '/') return clean_path(p);
  char cwd[4096];
  if (!::getcwd(cwd, sizeof cwd)) throw_errno("getcwd");
  return clean_path(std::string(cwd) + "/" + p);
}

std::string join(std::string_view root, std::string_view path) {
  std::string r(root);
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  std::string p = clean_path(std::string("/") + std::string(path));
  if (p == "/") return r;
  if (r == "/") return p;
  return r + p;
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

std::string fd_target(int fd) {
  char buf[4096];
  ssize_t n = ::readlink(fd_path(fd).c_str(), buf, sizeof buf - 1);
  if (n < 0) throw_errno("readlink " + fd_path(fd));
  return std::string(buf, static_cast<size_t>(n));
}

// Fallback for kernels without openat2: walk component by component from the root,
// resolving symlinks ourselves so that absolute targets and ".." stay inside root.
static int open_in_root_walk(int root_fd, std::string_view path, int flags, mode_t mode) {
  std::vector<std::string> todo;
  auto push_components = [&](std::string_view p) {
    std::vector<std::string> parts;
    size_t i = 0;
    while (i <= p.size()) {
      size_t j = p.find('/', i);
      if (j == std::string_view::npos) j = p.size();
      if (j > i) parts.emplace_back(p.substr(i, j - i));
      i = j + 1;
    }
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.push_back(*it);
  };
  push_components(path);
  std::vector<int> stack;  // fds of directories walked so far; stack[0] is root
  stack.push_back(::fcntl(root_fd, F_DUPFD_CLOEXEC, 3));
  auto close_all = [&] {
    for (int f : stack) ::close(f);
  };
  int links = 0;
  while (!todo.empty()) {
    std::string part = std::move(todo.back());
    todo.pop_back();
    if (part == ".") continue;
    if (part == "..") {
      if (stack.size() > 1) {
        ::close(stack.back());
        stack.pop_back();
      }
      continue;
    }
    bool last = todo.empty();
    int cur = stack.back();
    char target[4096];
    ssize_t n = ::readlinkat(cur, part.c_str(), target, sizeof target - 1);
    if (n >= 0 && !(last && (flags & O_NOFOLLOW))) {
      if (++links > 40) {
        close_all();
        errno = ELOOP;
        return -1;
      }
      std::string_view t(target, static_cast<size_t>(n));
      if (!t.empty() && t[0] == '/') {
        while (stack.size() > 1) {
          ::close(stack.back());
          stack.pop_back();
        }
      }
      push_components(t);
      continue;
    }
    if (last) {
      int fd = ::openat(cur, part.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
      int saved = errno;
      close_all();
      errno = saved;
      return fd;
    }
    int next = ::openat(cur, part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      int saved = errno;
      close_all();
      errno = saved;
      return -1;
    }
    stack.push_back(next);
  }
  // Path resolved to a directory on the stack (e.g. "/" or "a/..").
  int fd = ::openat(stack.back(), ".", (flags & ~(O_CREAT | O_EXCL)) | O_CLOEXEC, mode);
  int saved = errno;
  close_all();
  errno = saved;
  return fd;
}

UniqueFd open_in_root(int root_fd, std::string_view path, int flags, mode_t mode) {
  static bool have_openat2 = true;
  std::string p(path.empty() ? "." : path);
  if (have_openat2) {
    struct open_how how {};
    how.flags = static_cast<__u64>(flags | O_CLOEXEC);
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    for (;;) {
      long fd = ::syscall(SYS_openat2, root_fd, p.c_str(), &how, sizeof how);
      if (fd >= 0) return UniqueFd(static_cast<int>(fd));
      if (errno == EAGAIN || errno == EINTR) continue;  // racing rename; retry
      if (errno == ENOSYS) break;
      return UniqueFd();
    }
    have_openat2 = false;
  }
  return UniqueFd(open_in_root_walk(root_fd, p, flags, mode));
}

static UniqueFd mkdir_in_root_depth(int root_fd, std::string_view path, mode_t mode, int depth) {
  if (depth > 40) throw_errno("mkdir `" + std::string(path) + "` in rootfs", ELOOP);
  std::string clean = clean_path(std::string("/") + std::string(path));
  UniqueFd cur(::openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cur) throw_errno("open rootfs");
  std::string sofar;
  size_t i = 1;
  while (i < clean.size()) {
    size_t j = clean.find('/', i);
    if (j == std::string::npos) j = clean.size();
    std::string part = clean.substr(i, j - i);
    std::string parent = sofar.empty() ? "/" : sofar;
    sofar += "/" + part;
    i = j + 1;
    // Resolve what we have so far inside the root (follows symlinks, but only inside).
    UniqueFd next = open_in_root(root_fd, sofar, O_PATH | O_DIRECTORY);
    if (!next) {
      if (errno != ENOENT) throw_errno("open `" + sofar + "` in rootfs");
      char target[4096];
      ssize_t n = ::readlinkat(cur.get(), part.c_str(), target, sizeof target - 1);
      if (n >= 0) {
        // A dangling symlink: create its target, as resolved inside the root, instead.
        std::string t(target, static_cast<size_t>(n));
        std::string rest = i <= clean.size() ? clean.substr(std::min(i - 1, clean.size())) : "";
        std::string redirected = (t[0] == '/' ? t : parent + "/" + t) + rest;
        return mkdir_in_root_depth(root_fd, redirected, mode, depth + 1);
      }
      if (::mkdirat(cur.get(), part.c_str(), mode) < 0 && errno != EEXIST)
        throw_errno("mkdir `" + sofar + "` in rootfs");
      next = open_in_root(root_fd, sofar, O_PATH | O_DIRECTORY);
      if (!next) throw_errno("open `" + sofar + "` in rootfs");
    }
    cur = std::move(next);
  }
  return cur;
}

UniqueFd mkdir_in_root(int root_fd, std::string_view path, mode_t mode) {
  return mkdir_in_root_depth(root_fd, path, mode, 0);
}

UniqueFd new_detached_mount(const char* fstype,
                            const std::vector<std::pair<std::string, std::string>>& options,
                            unsigned attrs) {
  UniqueFd ctx(static_cast<int>(::syscall(SYS_fsopen, fstype, FSOPEN_CLOEXEC)));
  if (!ctx) return {};
  for (auto& [key, value] : options)
    if (::syscall(SYS_fsconfig, ctx.get(), FSCONFIG_SET_STRING, key.c_str(), value.c_str(), 0) < 0)
      return {};
  if (::syscall(SYS_fsconfig, ctx.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) return {};
  return UniqueFd(static_cast<int>(::syscall(SYS_fsmount, ctx.get(), FSMOUNT_CLOEXEC, attrs)));
}

void bind_tree_at(const std::string& source, int target_fd, bool read_only, const std::string& what) {
  UniqueFd tree(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, source.c_str(),
                                           OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE)));
  if (!tree) throw_errno(what + ": open_tree `" + source + "`");
  if (read_only) {
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
      throw_errno(what + ": read-only");
  }
  if (::syscall(SYS_move_mount, tree.get(), "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    throw_errno(what + ": move_mount");
}

namespace {
// This process's time namespace's boot time offset in clock ticks (/proc/self/timens_offsets;
// 0 without one). /proc/PID/stat gives a start time shifted by the reader's offset: taken off,
// every reader in any time namespace sees the same number for the same process.
long long boottime_offset_ticks() {
  static const long long ticks = [] {
    std::string text;
    try {
      if (!fs::read_file_if_exists("/proc/self/timens_offsets", text)) return 0LL;
    } catch (const Error&) {
      return 0LL;
    }
    const auto at = text.find("boottime");
    if (at == std::string::npos) return 0LL;
    long long secs = 0, nanos = 0;
    if (std::sscanf(text.c_str() + at + 8, "%lld %lld", &secs, &nanos) != 2) return 0LL;
    const long long hz = ::sysconf(_SC_CLK_TCK) > 0 ? ::sysconf(_SC_CLK_TCK) : 100;
    // (An offset with a part below one tick may leave the start time one tick off.)
    return secs * hz + nanos / (1000000000LL / hz);
  }();
  return ticks;
}
}  // namespace

unsigned long long process_start_time(pid_t pid) {
  if (pid <= 0) return 0;
  std::string stat;
  try {
    if (!fs::read_file_if_exists("/proc/" + std::to_string(pid) + "/stat", stat)) return 0;
  } catch (const Error&) {
    return 0;
  }
  // The comm field may contain spaces and parentheses: parse after the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return 0;
  char state = stat[close + 2];
  if (state == 'Z' || state == 'X') return 0;
  // Fields after comm: state(3) ... starttime is field 22 overall → 20th after ')'.
  const char* p = stat.c_str() + close + 2;
  for (int field = 3; field < 22; ++field) {
    p = std::strchr(p, ' ');
    if (!p) return 0;
    ++p;
  }
  const unsigned long long t = std::strtoull(p, nullptr, 10);
  // The start time as the host's time namespace sees it (never 0: that means gone).
  const long long seen = static_cast<long long>(t) - boottime_offset_ticks();
  return seen > 0 ? static_cast<unsigned long long>(seen) : 1;
}

void raise_nofile_limit(unsigned long want) {
  struct rlimit nofile;
  if (::getrlimit(RLIMIT_NOFILE, &nofile) < 0 || nofile.rlim_cur >= want || nofile.rlim_cur >= nofile.rlim_max) return;
  nofile.rlim_cur = std::min<rlim_t>(nofile.rlim_max, want);
  ::setrlimit(RLIMIT_NOFILE, &nofile);
}

Usage disk_usage(const std::string& root) {
  Usage u;
  std::set<std::pair<dev_t, ino_t>> seen;
  // Containers may be changing the tree meanwhile (a volume in use): each directory is opened
  // inside the root by its path from there, so a directory swapped for a symlink leads nowhere
  // outside it.
  UniqueFd top(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!top) return u;
  std::vector<std::string> stack{""};
  while (!stack.empty()) {
    std::string rel = std::move(stack.back());
    stack.pop_back();
    UniqueFd fd = rel.empty() ? UniqueFd(::openat(top.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC))
                              : open_in_root(top.get(), rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    DIR* d = fd ? ::fdopendir(fd.get()) : nullptr;
    if (!d) continue;
    (void)fd.release();  // the DIR owns it
    while (struct dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      struct stat st;
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
      if (!seen.emplace(st.st_dev, st.st_ino).second) continue;
      u.inodes++;
      u.bytes += static_cast<int64_t>(st.st_blocks) * 512;
      if (!S_ISDIR(st.st_mode)) u.apparent += static_cast<int64_t>(st.st_size);
      if (S_ISDIR(st.st_mode)) stack.push_back(rel.empty() ? n : rel + "/" + n);
    }
    ::closedir(d);
  }
  return u;
}

bool on_kernel_fs(int fd) {
  struct statfs sf;
  if (::fstatfs(fd, &sf) < 0) return false;
  switch (static_cast<unsigned long>(sf.f_type)) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case DEVPTS_SUPER_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case SECURITYFS_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case BPF_FS_MAGIC:
    case SELINUX_MAGIC:
    case PSTOREFS_MAGIC:
    case EFIVARFS_MAGIC:
    case 0x19800202:  // mqueue
      return true;
    default:
      return false;
  }
}

}  // namespace berth::fs
