#include "engine/userns.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/mount.h>
#include <pwd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/idshift.hpp"
#include "common/strings.hpp"
#include "runtime/idmap.hpp"

namespace berth::engine {

namespace {

struct Range {
  uint64_t start = 0, count = 0;
};

// The first range of `who` (its name, or its number as text) in a subid file.
std::optional<Range> first_range(const std::string& file, const std::vector<std::string>& who) {
  std::string text;
  if (!fs::read_file_if_exists(file, text)) return std::nullopt;
  for (const std::string& line : split(text, '\n')) {
    const auto f = split(line, ':');
    if (f.size() != 3 || std::find(who.begin(), who.end(), f[0]) == who.end()) continue;
    char* e1 = nullptr;
    char* e2 = nullptr;
    const unsigned long long start = std::strtoull(f[1].c_str(), &e1, 10);
    const unsigned long long count = std::strtoull(f[2].c_str(), &e2, 10);
    if (*e1 || *e2 || f[1].empty() || f[2].empty() || count == 0) continue;
    return Range{start, count};
  }
  return std::nullopt;
}

// A user or group as subid files may name it: its name and its number.
std::vector<std::string> names_of(const std::string& given, bool group) {
  std::vector<std::string> out = {given};
  const bool numeric = !given.empty() && given.find_first_not_of("0123456789") == std::string::npos;
  if (group) {
    if (const ::group* g = numeric ? ::getgrgid(static_cast<gid_t>(std::atoll(given.c_str()))) : ::getgrnam(given.c_str()))
      out.push_back(numeric ? g->gr_name : std::to_string(g->gr_gid));
  } else {
    if (const ::passwd* p = numeric ? ::getpwuid(static_cast<uid_t>(std::atoll(given.c_str()))) : ::getpwnam(given.c_str()))
      out.push_back(numeric ? p->pw_name : std::to_string(p->pw_uid));
  }
  return out;
}

std::string common_parent(const std::vector<std::string>& paths) {
  std::string base = paths.front();
  for (const auto& p : paths)
    while (!(p == base || (p.size() > base.size() && p.compare(0, base.size(), base) == 0 && (base == "/" || p[base.size()] == '/'))))
      base = base.substr(0, std::max<size_t>(1, base.rfind('/')));
  return base;
}

}  // namespace

UsernsRemap UsernsRemap::from_setting(const std::string& value, const std::string& file) {
  UsernsRemap r;
  if (value.empty()) return r;
  const std::string what = file + ": userns-remap `" + value + "`";
  std::string user = value, group;
  if (value == "default") {
    user = group = "berth-remap";
  } else if (const auto colon = value.find(':'); colon != std::string::npos) {
    user = value.substr(0, colon);
    group = value.substr(colon + 1);
  } else {
    group = user;
  }
  if (user.empty() || group.empty()) throw Error(ErrorKind::invalid_argument, what + ": want default or USER[:GROUP]");
  const auto uids = first_range("/etc/subuid", names_of(user, false));
  const auto gids = first_range("/etc/subgid", names_of(group, true));
  if (!uids || !gids)
    throw Error(ErrorKind::invalid_argument, what + ": no range for " + (uids ? "group " + group + " in /etc/subgid" : "user " + user + " in /etc/subuid") +
                                                 " (a line such as " + (uids ? group : user) + ":100000:65536)");
  const uint64_t size = std::min<uint64_t>({uids->count, gids->count, 65536});
  if (uids->start == 0 || gids->start == 0 || uids->start + size > 0xffffffffULL || gids->start + size > 0xffffffffULL)
    throw Error(ErrorKind::invalid_argument, what + ": its range must start above 0 and end below 2^32");
  r.uid = static_cast<uint32_t>(uids->start);
  r.gid = static_cast<uint32_t>(gids->start);
  r.size = static_cast<uint32_t>(size);
  return r;
}

nlohmann::json UsernsRemap::to_json() const {
  if (!on()) return nullptr;
  return {{"UID", uid}, {"GID", gid}, {"Size", size}};
}

UsernsRemap UsernsRemap::from_json(const nlohmann::json& j) {
  UsernsRemap r;
  if (!j.is_object()) return r;
  r.uid = j.value("UID", 0u);
  r.gid = j.value("GID", 0u);
  r.size = j.value("Size", 0u);
  return r;
}

void mount_rootfs_idmapped(const std::vector<snapshot::Mount>& mounts, const std::string& target,
                           const UsernsRemap& remap, const std::string& scratch) {
  // The namespace the views are mapped by: the container's ids, and one more — `size` — for
  // the host's root, so that what overlayfs itself makes in the upper and work dirs as root
  // (its work directory, whiteouts) can be stored (as that id, which no process of the
  // container has: its own namespace maps 0..size-1 only).
  const std::vector<oci::IdMapping> uids = {{0, remap.uid, remap.size}, {remap.size, 0, 1}};
  const std::vector<oci::IdMapping> gids = {{0, remap.gid, remap.size}, {remap.size, 0, 1}};
  UniqueFd ns = runtime::userns_with_mappings(uids, gids);
  for (const snapshot::Mount& m : mounts) {
    std::vector<std::string> paths;
    const bool overlay = m.type == "overlay";
    if (overlay) {
      for (const std::string& o : m.options)
        for (const char* key : {"lowerdir=", "upperdir=", "workdir="})
          if (o.rfind(key, 0) == 0)
            for (const std::string& p : split(o.substr(std::strlen(key)), ':')) paths.push_back(p);
    } else {
      paths.push_back(m.source);
    }
    if (paths.empty()) throw Error("userns-remap: a snapshot mount without paths");
    const std::string base = common_parent(paths);
    fs::mkdir_p(scratch, 0700);
    UniqueFd tree(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, base.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
    if (!tree) throw_errno("userns-remap: open_tree `" + base + "`");
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<uint64_t>(ns.get());
    if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
      throw_errno("userns-remap: an idmapped view of `" + base + "` (mount_setattr)");
    if (::syscall(SYS_move_mount, tree.get(), "", AT_FDCWD, scratch.c_str(), MOVE_MOUNT_F_EMPTY_PATH) < 0)
      throw_errno("userns-remap: attach the idmapped view of `" + base + "`");
    auto moved = [&](const std::string& p) { return scratch + p.substr(base == "/" ? 0 : base.size()); };
    snapshot::Mount view = m;
    if (overlay) {
      for (std::string& o : view.options)
        for (const char* key : {"lowerdir=", "upperdir=", "workdir="})
          if (o.rfind(key, 0) == 0) {
            std::string v;
            for (const std::string& p : split(o.substr(std::strlen(key)), ':')) v += (v.empty() ? "" : ":") + moved(p);
            o = key + v;
          }
    } else {
      view.source = moved(m.source);
    }
    try {
      snapshot::mount_all({view}, target, snapshot::MountUse::container);
    } catch (...) {
      ::umount2(scratch.c_str(), MNT_DETACH);
      ::rmdir(scratch.c_str());
      throw;
    }
    // The overlay (or the bind) holds its own reference to the view: it can go now.
    ::umount2(scratch.c_str(), MNT_DETACH);
    ::rmdir(scratch.c_str());
  }
}

namespace {
void unshift_at(int dir, const char* name, const struct stat& st, const UsernsRemap& r) {
  const IdShift back{r.uid, r.gid, r.size};
  const uid_t uid = back.uid_of(st.st_uid);
  const gid_t gid = back.gid_of(st.st_gid);
  if (uid == st.st_uid && gid == st.st_gid) return;
  if (::fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH)) < 0) throw_errno("chown (userns-remap)");
  // The chown cleared set-id bits; they come back on that very inode (a container sharing the
  // volume may have swapped the name for a symlink meanwhile: chmod by name would follow it).
  if (!S_ISLNK(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID)) && *name) {
    UniqueFd f(::openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat now {};
    if (f && ::fstat(f.get(), &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev && !S_ISLNK(now.st_mode))
      ::chmod(fs::fd_path(f.get()).c_str(), st.st_mode & 07777);
  }
}

void unshift_tree(int dir, const UsernsRemap& r, int depth) {
  if (depth > 4096) throw Error("userns-remap: a directory tree too deep");
  for (const std::string& name : fs::list_dir(dir, "a volume")) {
    struct stat st {};
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    unshift_at(dir, name.c_str(), st, r);
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub) unshift_tree(sub.get(), r, depth + 1);
    }
  }
}
}  // namespace

void unshift_owners(int dir_fd, const UsernsRemap& remap) {
  struct stat st {};
  if (::fstat(dir_fd, &st) == 0) unshift_at(dir_fd, "", st, remap);
  unshift_tree(dir_fd, remap, 0);
}

}  // namespace berth::engine
