#include "snapshot/snapshotter.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <unordered_set>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "snapshot/copy.hpp"

namespace berth::snapshot {

using metadata::Snapshot;

Driver parse_driver(std::string_view name) {
  if (name == "overlay" || name == "overlayfs" || name == "overlay2") return Driver::overlay;
  if (name == "native" || name == "vfs") return Driver::native;
  throw Error(ErrorKind::invalid_argument, "unknown storage driver `" + std::string(name) + "` (overlay or native)");
}

std::string_view to_string(Driver d) { return d == Driver::overlay ? "overlay" : "native"; }

void make_volatile(std::vector<Mount>& mounts) {
  for (auto& m : mounts)
    if (m.type == "overlay" &&
        std::any_of(m.options.begin(), m.options.end(), [](const std::string& o) { return o.rfind("upperdir=", 0) == 0; }))
      m.options.insert(m.options.begin(), "volatile");
}

namespace {

std::string join_options(const std::vector<std::string>& opts, unsigned long* flags) {
  std::string data;
  for (auto& o : opts) {
    if (o == "ro") *flags |= MS_RDONLY;
    else if (o == "rw") continue;
    else if (o == "bind") *flags |= MS_BIND;
    else if (o == "rbind") *flags |= MS_BIND | MS_REC;
    else data += (data.empty() ? "" : ",") + o;
  }
  return data;
}

// Longest common directory of the paths in the overlay options (lowerdir=a:b, upperdir=…).
std::string common_dir(const std::vector<std::string>& paths) {
  std::string prefix = paths.front();
  for (auto& p : paths) {
    size_t n = 0;
    while (n < prefix.size() && n < p.size() && prefix[n] == p[n]) ++n;
    prefix.resize(n);
  }
  auto slash = prefix.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : prefix.substr(0, slash);
}

void mount_overlay(const Mount& m, const std::string& target, unsigned long flags) {
  std::string data = join_options(m.options, &flags);
  // The kernel takes at most a page of options; deep chains are given relative to the
  // common parent directory, the working directory of a short child that makes the mount (the
  // working directory is the whole process's: a daemon's other threads must not see it move).
  if (data.size() < 4000) {
    if (::mount("overlay", target.c_str(), "overlay", flags, data.c_str()) < 0)
      throw_errno("mount overlay on `" + target + "`");
    return;
  }
  std::vector<std::string> paths;
  std::vector<std::pair<std::string, std::vector<std::string>>> opts;
  for (auto& o : m.options) {
    auto eq = o.find('=');
    std::string k = eq == std::string::npos ? o : o.substr(0, eq);
    std::vector<std::string> vals;
    if (k == "lowerdir" || k == "upperdir" || k == "workdir") {
      std::string v = o.substr(eq + 1);
      size_t start = 0;
      for (;;) {
        auto colon = v.find(':', start);
        vals.push_back(v.substr(start, colon == std::string::npos ? colon : colon - start));
        paths.push_back(vals.back());
        if (colon == std::string::npos) break;
        start = colon + 1;
      }
    }
    opts.emplace_back(o, vals);
  }
  const std::string base = common_dir(paths);
  std::string rel;
  for (auto& [o, vals] : opts) {
    if (o == "ro" || o == "rw") continue;
    if (!rel.empty()) rel += ",";
    if (vals.empty()) {
      rel += o;
      continue;
    }
    rel += o.substr(0, o.find('=') + 1);
    for (size_t i = 0; i < vals.size(); ++i)
      rel += (i ? ":" : "") + (base == "/" ? vals[i].substr(1) : vals[i].substr(base.size() + 1));
  }
  if (rel.size() >= 4096) throw Error("overlay: too many layers to mount (" + std::to_string(paths.size()) + ")");
  const std::string abs_target = fs::absolute(target);
  // vfork: the child borrows our memory until it exits (it only makes two system calls and
  // writes `err`) but has a working directory of its own (no CLONE_FS).
  volatile int err = 0;
  const char* dir = base.c_str();
  const char* tgt = abs_target.c_str();
  const char* data_rel = rel.c_str();
  pid_t pid = ::vfork();
  if (pid == 0) {
    if (::chdir(dir) < 0 || ::mount("overlay", tgt, "overlay", flags, data_rel) < 0) err = errno;
    ::_exit(0);
  }
  if (pid < 0) throw_errno("mount overlay on `" + target + "`: fork");
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (err) throw_errno("mount overlay on `" + target + "` (relative to `" + base + "`)", err);
}

}  // namespace

void mount_all(const std::vector<Mount>& mounts, const std::string& target, MountUse use) {
  const unsigned long host = use == MountUse::host_view ? MS_NOSUID | MS_NODEV : 0;
  for (auto& m : mounts) {
    if (m.type == "overlay") {
      // A volatile mount (make_volatile) leaves WORKDIR/work/incompat/volatile/dirty behind,
      // and overlayfs refuses the next mount of that upper dir while it is there. Only berth
      // mounts these directories, and it makes volatile only what it throws away: the mark
      // goes before any mount (volatile or not) of the same upper dir.
      for (const auto& o : m.options)
        if (o.rfind("workdir=", 0) == 0) {
          const std::string incompat = o.substr(8) + "/work/incompat";  // volatile/dirty in it
          if (fs::exists(incompat)) fs::remove_all(incompat);
        }
      const bool is_volatile = std::find(m.options.begin(), m.options.end(), "volatile") != m.options.end();
      try {
        mount_overlay(m, target, host);
      } catch (const Error&) {
        if (!is_volatile) throw;
        // A kernel before 5.10 does not know the option: the plain mount, which throws the
        // error that matters if it fails too.
        Mount plain = m;
        plain.options.erase(std::find(plain.options.begin(), plain.options.end(), "volatile"));
        mount_overlay(plain, target, host);
      }
      continue;
    }
    unsigned long flags = 0;
    std::string data = join_options(m.options, &flags);
    if (!(flags & MS_BIND)) throw Error("snapshot mount: unsupported type `" + m.type + "`");
    if (::mount(m.source.c_str(), target.c_str(), nullptr, flags & (MS_BIND | MS_REC), nullptr) < 0)
      throw_errno("bind `" + m.source + "` on `" + target + "`");
    // A bind mount takes its flags from a remount.
    const unsigned long extra = (flags & MS_RDONLY) | host;
    if (extra &&
        ::mount(nullptr, target.c_str(), nullptr, MS_REMOUNT | MS_BIND | extra, nullptr) < 0) {
      int err = errno;
      ::umount2(target.c_str(), MNT_DETACH);
      throw_errno("remount `" + target + "` (ro, nosuid, nodev)", err);
    }
  }
}

Snapshotter::Snapshotter(Driver driver, std::string root, metadata::Db& db, std::string ns)
    : driver_(driver), root_(std::move(root)), db_(db), ns_(std::move(ns)) {
  fs::mkdir_p(root_, 0700);
}

std::string Snapshotter::dir_of(int64_t id) const { return root_ + "/" + std::to_string(id); }

std::vector<std::string> Snapshotter::orphan_dirs(const std::set<int64_t>& known) const {
  std::vector<std::string> out;
  UniqueFd root(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return out;
  for (const auto& name : fs::list_dir(root.get(), root_)) {
    char* end = nullptr;
    const long long id = std::strtoll(name.c_str(), &end, 10);
    if (*end || !known.count(id)) out.push_back(root_ + "/" + name);
  }
  return out;
}

std::string Snapshotter::fs_dir(const Snapshot& s) const { return dir_of(s.id) + "/fs"; }

std::string Snapshotter::fs_dir(std::string_view key) const {
  auto s = db_.get_snapshot(ns_, key);
  if (!s) throw Error(ErrorKind::not_found, "snapshot \"" + std::string(key) + "\" not found");
  return fs_dir(*s);
}

std::vector<Snapshot> Snapshotter::ancestors(const Snapshot& s) const {
  std::vector<Snapshot> chain;
  std::string parent = s.parent;
  while (!parent.empty()) {
    auto p = db_.get_snapshot(ns_, parent);
    if (!p) throw Error(ErrorKind::not_found, "snapshot \"" + s.key + "\": parent \"" + parent + "\" not found");
    parent = p->parent;
    chain.push_back(std::move(*p));
  }
  return chain;
}

Snapshot Snapshotter::create(std::string_view key, std::string_view parent, Snapshot::Kind kind,
                             const metadata::Labels& labels) {
  Snapshot s = db_.add_snapshot(ns_, key, parent, kind, labels);
  const std::string dir = dir_of(s.id);
  try {
    if (::mkdir(dir.c_str(), 0700) < 0) throw_errno("create snapshot directory `" + dir + "`");
    if (::mkdir((dir + "/fs").c_str(), 0755) < 0) throw_errno("create `" + dir + "/fs`");
    if (driver_ == Driver::overlay && kind == Snapshot::Kind::active &&
        ::mkdir((dir + "/work").c_str(), 0700) < 0)
      throw_errno("create `" + dir + "/work`");
    if (driver_ == Driver::native && !parent.empty()) {
      UniqueFd src(::open(fs_dir(parent).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      UniqueFd dst(::open((dir + "/fs").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!src || !dst) throw_errno("open snapshot directories");
      copy_tree(src.get(), dst.get());
    }
  } catch (...) {
    db_.remove_snapshot(ns_, key);
    fs::remove_all(dir);
    throw;
  }
  return s;
}

Snapshot Snapshotter::prepare(std::string_view key, std::string_view parent,
                              const metadata::Labels& labels) {
  return create(key, parent, Snapshot::Kind::active, labels);
}

Snapshot Snapshotter::view(std::string_view key, std::string_view parent,
                           const metadata::Labels& labels) {
  return create(key, parent, Snapshot::Kind::view, labels);
}

Snapshot Snapshotter::commit(std::string_view name, std::string_view key,
                             const metadata::Labels& labels) {
  Snapshot s = db_.commit_snapshot(ns_, key, name, labels);
  // The work dir only serves the active overlay mount.
  fs::remove_all(dir_of(s.id) + "/work");
  return s;
}

bool Snapshotter::remove(std::string_view key) {
  auto s = db_.get_snapshot(ns_, key);
  if (!s) return false;
  // The files first: on a full disk they are what frees the space the database needs to drop
  // the record (the other way round, "database or disk is full" hid the cause and kept both).
  // A removal that fails keeps the record, for another try.
  if (const int64_t n = db_.count_snapshot_children(s->id); n > 0)
    throw Error(ErrorKind::conflict, "snapshot \"" + std::string(key) + "\" has " + std::to_string(n) + (n == 1 ? " child" : " children"));
  fs::remove_all(dir_of(s->id));
  return db_.remove_snapshot(ns_, key).has_value();
}

std::vector<Mount> Snapshotter::mounts(std::string_view key) const {
  auto s = db_.get_snapshot(ns_, key);
  if (!s) throw Error(ErrorKind::not_found, "snapshot \"" + std::string(key) + "\" not found");
  const bool active = s->kind == Snapshot::Kind::active;
  const std::string ro = active ? "rw" : "ro";
  if (driver_ == Driver::native) return {{"bind", fs_dir(*s), {"rbind", ro}}};
  std::vector<Snapshot> chain = ancestors(*s);
  if (active) {
    if (chain.empty()) return {{"bind", fs_dir(*s), {"rbind", "rw"}}};
    std::string lower;
    for (auto& p : chain) lower += (lower.empty() ? "" : ":") + fs_dir(p);
    return {{"overlay",
             "overlay",
             {"index=off", "lowerdir=" + lower, "upperdir=" + fs_dir(*s),
              "workdir=" + dir_of(s->id) + "/work"}}};
  }
  // Read-only: a committed snapshot shows itself and its parents; a view, its parents.
  if (s->kind == Snapshot::Kind::committed) chain.insert(chain.begin(), *s);
  if (chain.empty()) return {{"bind", fs_dir(*s), {"rbind", "ro"}}};
  if (chain.size() == 1) return {{"bind", fs_dir(chain[0]), {"rbind", "ro"}}};
  std::string lower;
  for (auto& p : chain) lower += (lower.empty() ? "" : ":") + fs_dir(p);
  return {{"overlay", "overlay", {"index=off", "lowerdir=" + lower, "ro"}}};
}

Snapshotter::Usage Snapshotter::usage(std::string_view key) const {
  const fs::Usage u = fs::disk_usage(fs_dir(key));
  return {u.bytes, u.inodes, u.apparent};
}

int Snapshotter::cleanup() {
  std::vector<int64_t> ids = db_.snapshot_ids();
  std::unordered_set<int64_t> known(ids.begin(), ids.end());
  std::vector<std::string> orphans;
  UniqueFd root(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return 0;
  for (const auto& n : fs::list_dir(root.get(), root_)) {
    if (n.size() > 18 || !std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    if (!known.count(std::stoll(n))) orphans.push_back(root_ + "/" + n);
  }
  for (auto& o : orphans) fs::remove_all(o);
  return static_cast<int>(orphans.size());
}

}  // namespace berth::snapshot
