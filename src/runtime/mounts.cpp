#include "runtime/mounts.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "runtime/cgroup.hpp"
#include "runtime/idmap.hpp"

namespace berth::runtime {
namespace {

struct Opt {
  unsigned long flag;
  bool clear;
};

const std::map<std::string, Opt, std::less<>>& option_table() {
  static const std::map<std::string, Opt, std::less<>> t = {
      {"defaults", {0, false}},          {"ro", {MS_RDONLY, false}},
      {"rw", {MS_RDONLY, true}},         {"suid", {MS_NOSUID, true}},
      {"nosuid", {MS_NOSUID, false}},    {"dev", {MS_NODEV, true}},
      {"nodev", {MS_NODEV, false}},      {"exec", {MS_NOEXEC, true}},
      {"noexec", {MS_NOEXEC, false}},    {"sync", {MS_SYNCHRONOUS, false}},
      {"async", {MS_SYNCHRONOUS, true}}, {"dirsync", {MS_DIRSYNC, false}},
      {"remount", {MS_REMOUNT, false}},  {"mand", {MS_MANDLOCK, false}},
      {"nomand", {MS_MANDLOCK, true}},   {"atime", {MS_NOATIME, true}},
      {"noatime", {MS_NOATIME, false}},  {"diratime", {MS_NODIRATIME, true}},
      {"nodiratime", {MS_NODIRATIME, false}}, {"relatime", {MS_RELATIME, false}},
      {"norelatime", {MS_RELATIME, true}},    {"strictatime", {MS_STRICTATIME, false}},
      {"nostrictatime", {MS_STRICTATIME, true}}, {"lazytime", {MS_LAZYTIME, false}},
      {"nolazytime", {MS_LAZYTIME, true}},  {"silent", {MS_SILENT, false}},
      {"loud", {MS_SILENT, true}},       {"nosymfollow", {MS_NOSYMFOLLOW, false}},
      {"symfollow", {MS_NOSYMFOLLOW, true}},
  };
  return t;
}

// The runtime spec's recursive options: {MOUNT_ATTR_* to set, MOUNT_ATTR_* to clear}. An atime
// option replaces the whole atime field (MOUNT_ATTR__ATIME): `ratime`, `rnorelatime`' and
// `rnostrictatime` leave the kernel's default, relatime, as their plain forms do in mount(8).
struct RecAttr {
  uint64_t set, clr;
};
const std::map<std::string, RecAttr, std::less<>>& recursive_table() {
  static const std::map<std::string, RecAttr, std::less<>> t = {
      {"rro", {MOUNT_ATTR_RDONLY, 0}},           {"rrw", {0, MOUNT_ATTR_RDONLY}},
      {"rnosuid", {MOUNT_ATTR_NOSUID, 0}},       {"rsuid", {0, MOUNT_ATTR_NOSUID}},
      {"rnodev", {MOUNT_ATTR_NODEV, 0}},         {"rdev", {0, MOUNT_ATTR_NODEV}},
      {"rnoexec", {MOUNT_ATTR_NOEXEC, 0}},       {"rexec", {0, MOUNT_ATTR_NOEXEC}},
      {"rnodiratime", {MOUNT_ATTR_NODIRATIME, 0}}, {"rdiratime", {0, MOUNT_ATTR_NODIRATIME}},
      {"rnosymfollow", {MOUNT_ATTR_NOSYMFOLLOW, 0}}, {"rsymfollow", {0, MOUNT_ATTR_NOSYMFOLLOW}},
      {"rnoatime", {MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME}},
      {"rstrictatime", {MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME}},
      {"rrelatime", {MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME}},
      {"ratime", {MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME}},
      {"rnorelatime", {MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME}},
      {"rnostrictatime", {MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME}},
  };
  return t;
}


const std::map<std::string, unsigned long, std::less<>>& propagation_table() {
  static const std::map<std::string, unsigned long, std::less<>> t = {
      {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
      {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
      {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
      {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
  };
  return t;
}

void do_mount(const std::string& source, const std::string& target, const char* type,
              unsigned long flags, const std::string& data, const std::string& shown_target) {
  if (::mount(source.empty() ? nullptr : source.c_str(), target.c_str(), type, flags,
              data.empty() ? nullptr : data.c_str()) < 0) {
    throw_errno("mount `" + (source.empty() ? std::string(type ? type : "none") : source) +
                "` to `" + shown_target + "`");
  }
}

// The MS_* flags a mount already has that a user namespace would refuse to drop on remount.
unsigned long locked_flags(const std::string& path) {
  struct statvfs sv;
  if (::statvfs(path.c_str(), &sv) < 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_RDONLY) f |= MS_RDONLY;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

// Remount a bind mount with new per-mount flags; keeps flags the kernel will not let go.
void remount_bind(const std::string& target, unsigned long flags, const std::string& shown) {
  unsigned long f = MS_BIND | MS_REMOUNT | flags;
  if (::mount(nullptr, target.c_str(), nullptr, f, nullptr) == 0) return;
  if (errno == EPERM) {
    f |= locked_flags(target) & ~((flags & MS_RDONLY) ? 0UL : static_cast<unsigned long>(MS_RDONLY));
    if (::mount(nullptr, target.c_str(), nullptr, f, nullptr) == 0) return;
  }
  throw_errno("remount `" + shown + "`");
}

// The mount point for `dest` inside the rootfs, made if it is not there (a directory, or an
// empty file for a file's bind). Symlinks on the way, the last one included, are followed
// inside the rootfs, as runc's securejoin does: an image whose /etc/localtime or
// /etc/resolv.conf is a link gets the mount where the link leads (made there when it leads
// nowhere yet), never outside the rootfs.
UniqueFd make_target(MountContext& ctx, const std::string& dest, bool dir, int depth = 0) {
  std::string clean = fs::clean_path(dest);
  if (clean == "/") return UniqueFd(::openat(ctx.rootfs_fd.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (dir) return fs::mkdir_in_root(ctx.rootfs_fd.get(), clean);
  auto slash = clean.find_last_of('/');
  const std::string parent_path = slash == 0 ? "/" : clean.substr(0, slash);
  UniqueFd parent = fs::mkdir_in_root(ctx.rootfs_fd.get(), parent_path);
  std::string name = clean.substr(slash + 1);
  UniqueFd f(::openat(parent.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!f) {
    if (errno != ENOENT) throw_errno("open mount target `" + dest + "`");
    UniqueFd c(::openat(parent.get(), name.c_str(),
                        O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!c && errno != EEXIST) throw_errno("create mount target `" + dest + "`");
    f.reset(::openat(parent.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!f) throw_errno("open mount target `" + dest + "`");
  }
  struct stat st;
  if (::fstat(f.get(), &st) < 0 || !S_ISLNK(st.st_mode)) return f;
  if (depth >= 40) throw_errno("mount target `" + dest + "`", ELOOP);
  // Where the link leads, read as the container will read it: relative to its directory (as
  // resolved: a link on the way counts), absolute from the rootfs's root.
  char link[4096];
  const ssize_t n = ::readlinkat(f.get(), "", link, sizeof link - 1);
  if (n <= 0) throw_errno("read the link at mount target `" + dest + "`");
  const std::string to(link, static_cast<size_t>(n));
  std::string dir_of_link = parent_path;
  const std::string root = fs::fd_target(ctx.rootfs_fd.get()), at = fs::fd_target(parent.get());
  if (root == "/") dir_of_link = at;
  else if (at == root) dir_of_link = "/";
  else if (at.compare(0, root.size() + 1, root + "/") == 0) dir_of_link = at.substr(root.size());
  return make_target(ctx, to[0] == '/' ? to : dir_of_link + "/" + to, dir, depth + 1);
}

// Re-resolves a target after something was mounted on it, to reach the new mount's root
// (following the links make_target followed, inside the rootfs).
UniqueFd reopen(MountContext& ctx, const std::string& dest) {
  UniqueFd f = fs::open_in_root(ctx.rootfs_fd.get(), dest, O_PATH);
  if (!f) throw_errno("reopen mount target `" + dest + "`");
  return f;
}

// /proc and /sys must be real directories (CVE-2019-19921 class).
void require_plain_dir(MountContext& ctx, const std::string& dest) {
  UniqueFd f = fs::open_in_root(ctx.rootfs_fd.get(), dest, O_PATH | O_NOFOLLOW);
  if (!f) return;  // will be created as a directory
  struct stat st;
  if (::fstat(f.get(), &st) < 0) throw_errno("stat `" + dest + "`");
  if (!S_ISDIR(st.st_mode))
    throw Error("mount `" + dest + "`: must be mounted on an ordinary directory");
}

void mount_cgroup(MountContext& ctx, const oci::Mount& m, const MountFlags& mf) {
  const unsigned long flags = mf.flags & ~MS_RDONLY;
  const bool ro = mf.flags & MS_RDONLY;
  UniqueFd target = make_target(ctx, m.destination, true);
  if (host_cgroup_mode() == CgroupMode::v2) {
    if (ctx.cgroupns) {
      do_mount("cgroup2", fs::fd_path(target.get()), "cgroup2", mf.flags, "", m.destination);
    } else {
      std::string src = ctx.cgroup ? ctx.cgroup->host_dir("") : "/sys/fs/cgroup";
      do_mount(src, fs::fd_path(target.get()), nullptr, MS_BIND | MS_REC, "", m.destination);
      UniqueFd t = reopen(ctx, m.destination);
      remount_bind(fs::fd_path(t.get()), mf.flags, m.destination);
    }
    return;
  }
  // v1 and hybrid: a tmpfs with one directory per hierarchy, like the host's layout.
  do_mount("tmpfs", fs::fd_path(target.get()), "tmpfs", flags, "mode=755", m.destination);
  for (auto& h : host_hierarchies()) {
    std::string name = h.mountpoint.substr(h.mountpoint.find_last_of('/') + 1);
    std::string dest = fs::join(m.destination, name);
    UniqueFd sub = make_target(ctx, dest, true);
    std::string key = h.v2 ? "" : h.controllers.empty() ? name : h.controllers.front();
    if (ctx.cgroupns) {
      std::string opts;
      for (auto& c : h.controllers) opts += (opts.empty() ? "" : ",") + c;
      if (h.v2)
        do_mount("cgroup2", fs::fd_path(sub.get()), "cgroup2", mf.flags, "", dest);
      else
        do_mount("cgroup", fs::fd_path(sub.get()), "cgroup", mf.flags, opts, dest);
    } else {
      std::string src = ctx.cgroup ? ctx.cgroup->host_dir(key) : h.mountpoint;
      if (src.empty() || !fs::is_dir(src)) continue;
      do_mount(src, fs::fd_path(sub.get()), nullptr, MS_BIND | MS_REC, "", dest);
      UniqueFd t = reopen(ctx, dest);
      remount_bind(fs::fd_path(t.get()), mf.flags, dest);
    }
  }
  // Co-mounted controllers get the usual aliases (cpu -> cpu,cpuacct).
  for (auto& h : host_hierarchies()) {
    if (h.v2 || h.controllers.size() < 2) continue;
    std::string name = h.mountpoint.substr(h.mountpoint.find_last_of('/') + 1);
    UniqueFd dir = fs::open_in_root(ctx.rootfs_fd.get(), m.destination, O_PATH | O_DIRECTORY);
    for (auto& c : h.controllers)
      if (c != name && c.find('=') == std::string::npos) ::symlinkat(name.c_str(), dir.get(), c.c_str());
  }
  if (ro) {
    UniqueFd t = reopen(ctx, m.destination);
    do_mount("", fs::fd_path(t.get()), nullptr, MS_REMOUNT | flags | MS_RDONLY, "mode=755",
             m.destination);
  }
}

// Nothing but procfs on /proc, and below it only the files lxcfs emulates (runc's rule,
// CVE-2019-19921 class): a mount over /proc would feed the runtime and the container's
// programs a fake /proc/self/… Checked on the target as resolved in the rootfs, so that a
// symlink in the image (/x -> /proc) cannot lead a mount there.
void check_proc_target(const MountContext& ctx, const oci::Mount& m, int target) {
  const std::string root = fs::fd_target(ctx.rootfs_fd.get());
  const std::string at = fs::fd_target(target);
  if (root == "/" || at.compare(0, root.size(), root) != 0) return;
  const std::string rel = at.substr(root.size());
  if (rel == "/proc") {
    if (m.type == "proc") return;
    throw Error("mount `" + m.destination + "`: nothing but procfs may be mounted on /proc");
  }
  if (rel.rfind("/proc/", 0) != 0) return;
  static const char* const kLxcfs[] = {"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
                                       "/proc/swaps",   "/proc/uptime",    "/proc/loadavg", "/proc/slabinfo",
                                       "/proc/net/dev", "/proc/sys/kernel/ns_last_pid"};
  for (const char* f : kLxcfs)
    if (rel == f) return;
  throw Error("mount `" + m.destination + "`: cannot be mounted inside /proc (only lxcfs's files may)");
}

// Applies the recursive attributes to the mount at `dest` and everything mounted below it.
void set_recursive_attrs(MountContext& ctx, const std::string& dest, const MountFlags& mf) {
  UniqueFd t = reopen(ctx, dest);
  struct mount_attr attr {};
  attr.attr_set = mf.attr_set;
  attr.attr_clr = mf.attr_clr;
  if (::syscall(SYS_mount_setattr, t.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) == 0) return;
  const int err = errno;
  if (err == ENOSYS)
    throw Error(ErrorKind::unavailable,
                "mount `" + dest + "`: recursive mount options (rro, rnosuid, …) need mount_setattr (Linux 5.12 or later)");
  throw_errno("mount `" + dest + "`: set the recursive mount options", err);
}

void mount_one(MountContext& ctx, const oci::Mount& m) {
  MountFlags mf = parse_mount_options(m.options);
  bool bind = mf.bind || m.type == "bind";
  if (m.type == "cgroup" || m.type == "cgroup2") {
    mount_cgroup(ctx, m, mf);
    return;
  }
  if (m.destination == "/proc" || m.destination == "/sys") require_plain_dir(ctx, m.destination);
  if (m.idmapped()) {
    if (ctx.next_idmapped >= ctx.idmapped.size())
      throw Error("mount `" + m.destination + "`: no idmapped tree was prepared");
    const int tree = ctx.idmapped[ctx.next_idmapped++].get();
    struct stat st;
    if (::fstat(tree, &st) < 0) throw_errno("stat idmapped tree of `" + m.destination + "`");
    UniqueFd target = make_target(ctx, m.destination, S_ISDIR(st.st_mode));
    check_proc_target(ctx, m, target.get());
    attach_tree(tree, target.get(), m.destination);
    unsigned long extra = mf.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
    if (extra) {
      UniqueFd t = reopen(ctx, m.destination);
      remount_bind(fs::fd_path(t.get()), extra, m.destination);
    }
  } else if (bind) {
    std::string src = m.source;
    if (src.empty()) throw Error("mount `" + m.destination + "`: a bind mount needs a source");
    if (src[0] != '/') src = fs::join(ctx.bundle, src);
    struct stat st;
    if (::stat(src.c_str(), &st) < 0) throw_errno("bind mount source `" + src + "`");
    UniqueFd target = make_target(ctx, m.destination, S_ISDIR(st.st_mode));
    check_proc_target(ctx, m, target.get());
    do_mount(src, fs::fd_path(target.get()), nullptr, MS_BIND | (mf.recursive ? MS_REC : 0), "",
             m.destination);
    unsigned long extra = mf.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
    if (extra) {
      UniqueFd t = reopen(ctx, m.destination);
      remount_bind(fs::fd_path(t.get()), extra, m.destination);
    }
  } else {
    UniqueFd target = make_target(ctx, m.destination, true);
    check_proc_target(ctx, m, target.get());
    const std::string path = fs::fd_path(target.get());
    std::string src = m.source.empty() ? m.type : m.source;
    if (m.type == "proc" && ctx.proc_pidns_fd >= 0)
      mf.data += (mf.data.empty() ? "pidns=" : ",pidns=") + fs::fd_path(ctx.proc_pidns_fd);
    if (::mount(src.c_str(), path.c_str(), m.type.c_str(), mf.flags,
                mf.data.empty() ? nullptr : mf.data.c_str()) < 0) {
      int err = errno;
      // In a user namespace without its own network namespace (or sharing the host's
      // mqueue), the kernel refuses these; runc falls back to binding the host's.
      if (err == EPERM && (m.type == "sysfs" || m.type == "mqueue")) {
        std::string host = m.type == "sysfs" ? "/sys" : "/dev/mqueue";
        do_mount(host, path, nullptr, MS_BIND | MS_REC, "", m.destination);
        UniqueFd t = reopen(ctx, m.destination);
        remount_bind(fs::fd_path(t.get()), mf.flags, m.destination);
      } else {
        throw_errno("mount `" + src + "` (" + m.type + ") to `" + m.destination + "`", err);
      }
    }
  }
  // Under a shared root a mount is still a peer of its host source (prepare_rootfs): one that
  // asks for no propagation gets the rslave it gets otherwise, so that only the mounts asking
  // for shared propagation carry the container's mounts to the host.
  const unsigned long prop = mf.propagation ? mf.propagation : ctx.root_shared ? MS_SLAVE | MS_REC : 0;
  if (prop) {
    UniqueFd t = reopen(ctx, m.destination);
    do_mount("", fs::fd_path(t.get()), nullptr, prop, "", m.destination);
  }  if (mf.recursive_attrs()) set_recursive_attrs(ctx, m.destination, mf);
}

// Makes the mount holding `path` (`path` itself when it is a mount point) a slave, alone:
// EINVAL (not the root of a mount) sends the walk one directory up.
void make_holder_slave(const std::string& path) {
  char* real = ::realpath(path.c_str(), nullptr);
  std::string p = real ? real : path;
  std::free(real);
  while (::mount(nullptr, p.c_str(), nullptr, MS_SLAVE, nullptr) < 0) {
    if (errno != EINVAL || p == "/") throw_errno("make the mount holding the rootfs `" + path + "` a slave");
    const auto slash = p.find_last_of('/');
    p = slash == 0 ? std::string("/") : p.substr(0, slash);
  }
}

UniqueFd verified_dev_null(int root) {
  UniqueFd f = fs::open_in_root(root, "/dev/null", O_PATH | O_NOFOLLOW);
  if (!f) throw_errno("open /dev/null");
  struct stat st;
  if (::fstat(f.get(), &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
    throw Error("/dev/null in the container is not the null device (1:3); refusing to mask with it");
  return f;
}

}  // namespace

MountFlags parse_mount_options(const std::vector<std::string>& options) {
  MountFlags mf;
  for (auto& o : options) {
    if (o == "bind") {
      mf.bind = true;
      continue;
    }
    if (o == "rbind") {
      mf.bind = mf.recursive = true;
      continue;
    }
    if (o == "tmpcopyup" || o == "notmpcopyup" || o == "copy-symlink") continue;
    if (o == "idmap" || o == "ridmap") continue;  // handled by runtime/idmap
    if (auto it = recursive_table().find(o); it != recursive_table().end()) {
      // An atime option replaces an earlier one (the field takes one value).
      if (it->second.clr & MOUNT_ATTR__ATIME) mf.attr_set &= ~static_cast<uint64_t>(MOUNT_ATTR__ATIME);
      mf.attr_set = (mf.attr_set & ~it->second.clr) | it->second.set;
      mf.attr_clr = (mf.attr_clr & ~it->second.set) | it->second.clr;
      continue;
    }
    if (auto it = option_table().find(o); it != option_table().end()) {
      if (it->second.clear) {
        mf.flags &= ~it->second.flag;
        mf.clear |= it->second.flag;
      } else {
        mf.flags |= it->second.flag;
      }
      continue;
    }
    if (auto it = propagation_table().find(o); it != propagation_table().end()) {
      mf.propagation = it->second;
      continue;
    }
    mf.data += (mf.data.empty() ? "" : ",") + o;
  }
  return mf;
}

namespace {

unsigned long long mount_id_of(int fd) {
  std::string info = fs::read_file("/proc/self/fdinfo/" + std::to_string(fd));
  auto at = info.find("mnt_id:");
  if (at == std::string::npos) throw Error("no mnt_id in /proc/self/fdinfo");
  return std::stoull(info.substr(at + 7));
}

}  // namespace

unsigned long long bind_shared_root(const std::string& rootfs) {
  do_mount(rootfs, rootfs, nullptr, MS_BIND | MS_REC, "", rootfs);
  unsigned long long id = 0;
  try {
    if (::mount(nullptr, rootfs.c_str(), nullptr, MS_PRIVATE | MS_REC, nullptr) < 0)
      throw_errno("make the rootfs `" + rootfs + "` private");
    UniqueFd fd(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw_errno("open rootfs `" + rootfs + "`");
    id = mount_id_of(fd.get());
  } catch (...) {
    ::umount2(rootfs.c_str(), MNT_DETACH);
    throw;
  }
  return id;
}

void unbind_shared_root(const std::string& rootfs, unsigned long long mount_id) {
  // Only the bind made at create: never whatever else may be mounted at that path now.
  UniqueFd fd(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd || mount_id_of(fd.get()) != mount_id) return;
  fd.reset();
  if (::umount2(rootfs.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
    throw_errno("unmount the container's rootfs bind `" + rootfs + "`");
}

void prepare_rootfs(MountContext& ctx) {
  if (ctx.shared_mntns) {
    // The runtime made the private bind (bind_shared_root); "/" is the host's, left alone.
    ctx.rootfs_fd.reset(::open(ctx.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!ctx.rootfs_fd) throw_errno("open rootfs `" + ctx.rootfs + "`");
    return;
  }
  unsigned long prop = MS_SLAVE | MS_REC;
  const std::string& rp = ctx.spec->linux ? ctx.spec->linux->rootfsPropagation : std::string();
  if (!rp.empty()) prop = propagation_table().at(rp);
  if (prop & MS_SHARED) {
    // shared/rshared (the engine's rule for a `:rshared` bind, the CRI's bidirectional): an
    // rslave "/" would leave a bind of a shared host path only a slave of the host's peer
    // group, so that what the container mounts under it would never reach the host. The tree
    // keeps the host's peer groups until the binds are made; only the mount holding the
    // rootfs is cut, made a slave: pivot_root refuses a shared parent, and the rootfs bind,
    // with all that is mounted under it, stays out of the host's groups. mount_all makes
    // each mount that asks for no propagation rslave; enter_rootfs makes the old root rslave
    // before detaching it (and "/" a slave before a no_pivot move onto it).
    ctx.root_shared = true;
    make_holder_slave(ctx.rootfs);
  } else {
    // Until pivot_root the whole tree must be non-shared, recursively: a shared submount left
    // behind (e.g. the one holding the bundle) would both make pivot_root fail and let the
    // container's mounts propagate back to the host. Private requests start private (nothing
    // from the host comes in), the others slave; the exact requested propagation is applied
    // to the new "/" after pivot_root.
    unsigned long early = (prop & MS_PRIVATE) ? (MS_PRIVATE | MS_REC) : (MS_SLAVE | MS_REC);
    do_mount("", "/", nullptr, early, "", "/");
  }
  do_mount(ctx.rootfs, ctx.rootfs, nullptr, MS_BIND | MS_REC, "", ctx.rootfs);
  ctx.rootfs_fd.reset(::open(ctx.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!ctx.rootfs_fd) throw_errno("open rootfs `" + ctx.rootfs + "`");
}

void mount_all(MountContext& ctx) {
  for (auto& m : ctx.spec->mounts) mount_one(ctx, m);
}

void create_devices(MountContext& ctx) {
  // Skip device creation when /dev comes from the host (bind-mounted).
  for (auto& m : ctx.spec->mounts)
    if (fs::clean_path(m.destination) == "/dev" &&
        (m.type == "bind" || parse_mount_options(m.options).bind))
      return;
  UniqueFd dev = fs::mkdir_in_root(ctx.rootfs_fd.get(), "/dev");
  struct Node {
    std::string name;
    mode_t type;
    unsigned major, minor;
    mode_t mode;
    uint32_t uid, gid;
  };
  std::vector<Node> nodes = {
      {"null", S_IFCHR, 1, 3, 0666, 0, 0},    {"zero", S_IFCHR, 1, 5, 0666, 0, 0},
      {"full", S_IFCHR, 1, 7, 0666, 0, 0},    {"random", S_IFCHR, 1, 8, 0666, 0, 0},
      {"urandom", S_IFCHR, 1, 9, 0666, 0, 0}, {"tty", S_IFCHR, 5, 0, 0666, 0, 0},
  };
  if (ctx.spec->linux) {
    for (auto& d : ctx.spec->linux->devices) {
      std::string rel = fs::clean_path(d.path);
      if (rel.rfind("/dev/", 0) != 0)
        throw Error("linux.devices: `" + d.path + "` is not under /dev");
      mode_t type = d.type == "b" ? S_IFBLK : d.type == "p" ? S_IFIFO : S_IFCHR;
      nodes.push_back({rel.substr(5), type, static_cast<unsigned>(d.major),
                       static_cast<unsigned>(d.minor), d.fileMode.value_or(0666) & 07777,
                       d.uid.value_or(0), d.gid.value_or(0)});
    }
  }
  for (auto& n : nodes) {
    std::string parent_rel = "/dev";
    std::string name = n.name;
    if (auto slash = n.name.find_last_of('/'); slash != std::string::npos) {
      parent_rel += "/" + n.name.substr(0, slash);
      name = n.name.substr(slash + 1);
    }
    UniqueFd parent = fs::mkdir_in_root(ctx.rootfs_fd.get(), parent_rel);
    struct stat st;
    if (::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if ((st.st_mode & S_IFMT) == n.type && st.st_rdev == makedev(n.major, n.minor)) continue;
      if (S_ISDIR(st.st_mode)) throw Error("device `/dev/" + n.name + "` is a directory");
      ::unlinkat(parent.get(), name.c_str(), 0);
    }
    if (!ctx.userns && ::mknodat(parent.get(), name.c_str(), n.type | n.mode, makedev(n.major, n.minor)) == 0) {
      // mknod is subject to the umask; set the exact mode and owner.
      UniqueFd f(::openat(parent.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      if (f) {
        ::fchmodat(parent.get(), name.c_str(), n.mode, 0);
        if (::fchownat(parent.get(), name.c_str(), n.uid, n.gid, AT_SYMLINK_NOFOLLOW) < 0)
          throw_errno("chown `/dev/" + n.name + "`");
      }
      continue;
    }
    if (!ctx.userns && errno != EPERM) throw_errno("mknod `/dev/" + n.name + "`");
    // No mknod (user namespace): bind the host's node over an empty file.
    std::string host = "/dev/" + n.name;
    UniqueFd c(::openat(parent.get(), name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!c) throw_errno("create `/dev/" + n.name + "`");
    c.reset();
    UniqueFd t(::openat(parent.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    do_mount(host, fs::fd_path(t.get()), nullptr, MS_BIND, "", "/dev/" + n.name);
  }
  struct Link {
    const char* name;
    const char* target;
  };
  for (auto l : {Link{"fd", "/proc/self/fd"}, Link{"stdin", "/proc/self/fd/0"},
                 Link{"stdout", "/proc/self/fd/1"}, Link{"stderr", "/proc/self/fd/2"},
                 Link{"ptmx", "pts/ptmx"}}) {
    if (::symlinkat(l.target, dev.get(), l.name) < 0 && errno != EEXIST)
      throw_errno(std::string("symlink /dev/") + l.name);
  }
  if (::mkdirat(dev.get(), "shm", 01777) == 0) {
    ::fchmodat(dev.get(), "shm", 01777, 0);  // mkdir is subject to the umask
  } else if (errno != EEXIST) {
    throw_errno("mkdir /dev/shm");
  }
}

void mount_console(MountContext& ctx, int slave_fd) {
  UniqueFd dev = fs::mkdir_in_root(ctx.rootfs_fd.get(), "/dev");
  // Never follow a planted /dev/console symlink (CVE-2025-52565 class).
  struct stat st;
  if (::fstatat(dev.get(), "console", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
    ::unlinkat(dev.get(), "console", 0);
  UniqueFd c(::openat(dev.get(), "console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!c) throw_errno("create /dev/console");
  c.reset();
  UniqueFd t(::openat(dev.get(), "console", O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!t) throw_errno("open /dev/console");
  do_mount(fs::fd_path(slave_fd), fs::fd_path(t.get()), nullptr, MS_BIND, "", "/dev/console");
}

void enter_rootfs(MountContext& ctx, bool no_pivot) {
  if (::fchdir(ctx.rootfs_fd.get()) < 0) throw_errno("chdir to rootfs");
  if (ctx.shared_mntns) {
    // The host's mount table: no MS_MOVE over its "/", no pivot_root of it.
    if (::chroot(".") < 0) throw_errno("chroot");
  } else if (no_pivot) {
    // A shared root left "/" in the host's peer group: the move would stack the rootfs on the
    // host's "/" too.
    if (ctx.root_shared && ::mount(nullptr, "/", nullptr, MS_SLAVE, nullptr) < 0) throw_errno("make / a slave");
    if (::mount(ctx.rootfs.c_str(), "/", nullptr, MS_MOVE, nullptr) < 0)
      throw_errno("move rootfs `" + ctx.rootfs + "` to /");
    if (::chroot(".") < 0) throw_errno("chroot");
  } else {
    UniqueFd oldroot(::open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    if (!oldroot) throw_errno("open /");
    UniqueFd newroot(::open(".", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    if (!newroot) throw_errno("open rootfs");
    // pivot_root(".", ".") stacks the old root under the new one; then detach it.
    if (::syscall(SYS_pivot_root, ".", ".") < 0) throw_errno("pivot_root to `" + ctx.rootfs + "`");
    if (::fchdir(oldroot.get()) < 0) throw_errno("chdir to old root");
    if (::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) < 0)
      throw_errno("make old root rslave");
    if (::umount2(".", MNT_DETACH) < 0) throw_errno("unmount old root");
    if (::fchdir(newroot.get()) < 0) throw_errno("chdir to new root");
  }
  if (::chdir("/") < 0) throw_errno("chdir /");
  ctx.rootfs_fd.reset(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
}

void write_sysctls(const oci::Spec& spec, const Procfs& procfs) {
  if (!spec.linux) return;
  for (auto& [key, value] : spec.linux->sysctl) {
    std::string rel = "sys/" + key;
    for (size_t i = 4; i < rel.size(); ++i)
      if (rel[i] == '.') rel[i] = '/';
    UniqueFd f = procfs.open(rel, O_WRONLY);
    if (!f) throw_errno("linux.sysctl: open `/proc/" + rel + "` on a private procfs");
    if (::write(f.get(), value.data(), value.size()) < 0)
      throw_errno("linux.sysctl: write `" + value + "` to `/proc/" + rel + "`");
  }
}

void mask_paths(MountContext& ctx) {
  const oci::Spec& spec = *ctx.spec;
  if (!spec.linux || spec.linux->maskedPaths.empty()) return;
  UniqueFd null = verified_dev_null(ctx.rootfs_fd.get());
  for (auto& p : spec.linux->maskedPaths) {
    UniqueFd f = fs::open_in_root(ctx.rootfs_fd.get(), p, O_PATH | O_NOFOLLOW);
    if (!f) {
      if (errno == ENOENT) continue;
      throw_errno("linux.maskedPaths: open `" + p + "`");
    }
    struct stat st;
    if (::fstat(f.get(), &st) < 0) throw_errno("stat `" + p + "`");
    if (S_ISDIR(st.st_mode)) {
      do_mount("tmpfs", fs::fd_path(f.get()), "tmpfs", MS_RDONLY, "", p);
    } else {
      do_mount(fs::fd_path(null.get()), fs::fd_path(f.get()), nullptr, MS_BIND, "", p);
    }
  }
}

void readonly_paths(MountContext& ctx) {
  const oci::Spec& spec = *ctx.spec;
  if (!spec.linux) return;
  for (auto& p : spec.linux->readonlyPaths) {
    UniqueFd f = fs::open_in_root(ctx.rootfs_fd.get(), p, O_PATH | O_NOFOLLOW);
    if (!f) {
      if (errno == ENOENT) continue;
      throw_errno("linux.readonlyPaths: open `" + p + "`");
    }
    do_mount(fs::fd_path(f.get()), fs::fd_path(f.get()), nullptr, MS_BIND | MS_REC, "", p);
    UniqueFd t = fs::open_in_root(ctx.rootfs_fd.get(), p, O_PATH | O_NOFOLLOW);
    if (!t) throw_errno("reopen `" + p + "`");
    remount_bind(fs::fd_path(t.get()), MS_RDONLY, p);
  }
}

void finalize_root(const oci::Spec& spec) {
  if (spec.root.readonly) remount_bind("/", MS_RDONLY, "/");
  const std::string& rp = spec.linux ? spec.linux->rootfsPropagation : std::string();
  if (!rp.empty()) {
    unsigned long prop = propagation_table().at(rp);
    if (::mount(nullptr, "/", nullptr, prop, nullptr) < 0)
      throw_errno("linux.rootfsPropagation: set `" + rp + "` on /");
  }
}

}  // namespace berth::runtime
