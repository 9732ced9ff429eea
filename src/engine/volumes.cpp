#include "engine/volumes.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <ctime>
#include <random>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"

namespace berth::engine {

using nlohmann::json;

std::string random_id() {
  unsigned char buf[32];
  UniqueFd fd(::open("/dev/urandom", O_RDONLY | O_CLOEXEC));
  if (!fd || fs::read_fd(fd.get(), buf, sizeof buf, "/dev/urandom") != sizeof buf)
    throw Error("cannot read /dev/urandom");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : buf) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

VolumeStore::VolumeStore(const std::string& root, const std::string& ns)
    : dir_(root + "/volumes/" + ns) {}

bool VolumeStore::valid_name(const std::string& n) {
  if (n.empty() || n.size() > 255) return false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(n[0])) return false;
  return std::all_of(n.begin(), n.end(), [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

namespace {

// Docker's local driver: these options only; type and device together; o needs a device.
void check_options(const std::map<std::string, std::string>& o) {
  for (auto& [k, v] : o)
    if (k != "type" && k != "device" && k != "o")
      throw Error(ErrorKind::invalid_argument, "invalid volume option \"" + k + "\" (the local driver takes type, device and o)");
  auto need = [&](const char* have, const char* want) {
    if (o.count(have) && !o.count(want))
      throw Error(ErrorKind::invalid_argument, std::string("missing required volume option \"") + want + "\" (with \"" + have + "\")");
  };
  need("device", "type");
  need("type", "device");
  need("o", "device");
}

// The o= list as mount(2) wants it: the flags it names, the rest as the filesystem's data.
struct MountOpts {
  unsigned long flags = 0;
  bool bind = false, readonly = false;
  std::string data;
};
MountOpts mount_opts(const std::string& o) {
  static const std::pair<const char*, unsigned long> set[] = {
      {"nosuid", MS_NOSUID}, {"nodev", MS_NODEV}, {"noexec", MS_NOEXEC}, {"sync", MS_SYNCHRONOUS},
      {"dirsync", MS_DIRSYNC}, {"noatime", MS_NOATIME}, {"nodiratime", MS_NODIRATIME},
      {"relatime", MS_RELATIME}, {"strictatime", MS_STRICTATIME}};
  static const char* cleared[] = {"rw", "suid", "dev", "exec", "async", "atime", "diratime", "norelatime", "defaults"};
  MountOpts m;
  for (const std::string& opt : split(o, ',')) {
    if (opt.empty()) continue;
    if (opt == "ro") {
      m.readonly = true;
      m.flags |= MS_RDONLY;
      continue;
    }
    if (opt == "bind" || opt == "rbind") {
      m.bind = true;
      m.flags |= MS_BIND | (opt == "rbind" ? MS_REC : 0);
      continue;
    }
    bool known = false;
    for (auto& [name, f] : set)
      if (opt == name) m.flags |= f, known = true;
    for (const char* name : cleared)
      if (opt == name) known = true;
    if (!known) m.data += (m.data.empty() ? "" : ",") + opt;
  }
  return m;
}

// statx's mount-root attribute (Linux 5.8+); else whether the path is a mount point in our
// mountinfo (a bind of a directory of the same filesystem has the same st_dev).
bool is_mount_point(const std::string& path) {
  struct statx sx {};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, 0, &sx) == 0 && (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
    return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  std::string info;
  fs::read_file_if_exists("/proc/self/mountinfo", info);
  for (const std::string& line : split(info, '\n')) {
    auto f = split(line, ' ');
    if (f.size() > 4 && f[4] == path) return true;
  }
  return false;
}

}  // namespace

Volume VolumeStore::create(const std::string& name_in, const std::map<std::string, std::string>& labels,
                           bool anonymous, bool must_be_new, const std::map<std::string, std::string>& options) {
  check_options(options);
  const std::string name = name_in.empty() ? random_id() : name_in;
  if (!valid_name(name))
    throw Error(ErrorKind::invalid_argument, "invalid volume name `" + name + "`: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  fs::mkdir_p(dir_, 0700);
  const std::string vdir = dir_ + "/" + name;
  if (::mkdir(vdir.c_str(), 0700) < 0) {
    if (errno != EEXIST) throw_errno("create volume `" + name + "`");
    if (must_be_new) throw Error(ErrorKind::already_exists, "volume \"" + name + "\" already exists");
    // Made by another process this very moment: its record may not be written yet.
    for (int i = 0; i < 100; ++i) {
      if (auto v = get(name)) return *v;
      ::usleep(10000);
    }
    throw Error("volume `" + name + "` is incomplete (no volume.json)");
  }
  try {
    if (::mkdir((vdir + "/_data").c_str(), 0755) < 0) throw_errno("create volume `" + name + "`");
    json rec = {{"name", name}, {"labels", labels}, {"created", static_cast<int64_t>(std::time(nullptr))},
                {"anonymous", anonymous}};
    if (!options.empty()) rec["options"] = options;
    fs::write_file_atomic(vdir + "/volume.json", rec.dump(), 0600);
  } catch (...) {
    fs::remove_all(vdir);
    throw;
  }
  return *get(name);
}

std::optional<Volume> VolumeStore::get(const std::string& name) const {
  if (!valid_name(name)) return std::nullopt;
  std::string text;
  if (!fs::read_file_if_exists(dir_ + "/" + name + "/volume.json", text)) return std::nullopt;
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  Volume v;
  v.name = name;
  v.mountpoint = dir_ + "/" + name + "/_data";
  v.labels = j.value("labels", std::map<std::string, std::string>{});
  v.created = j.value("created", int64_t{0});
  v.anonymous = j.value("anonymous", false);
  v.options = j.value("options", std::map<std::string, std::string>{});
  return v;
}

bool VolumeStore::mounted(const Volume& v) const { return is_mount_point(v.mountpoint); }

namespace {
// The volume's users lock (flock on <vdir>/users.lock) and its users directory.
UniqueFd lock_volume(const std::string& vdir) {
  UniqueFd fd(::open((vdir + "/users.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) throw_errno("lock volume `" + vdir + "`");
  while (::flock(fd.get(), LOCK_EX) < 0)
    if (errno != EINTR) throw_errno("lock volume `" + vdir + "`");
  return fd;
}
}  // namespace

void VolumeStore::mount(const Volume& v, const std::string& user) const {
  if (v.options.empty()) return;
  const std::string vdir = dir_ + "/" + v.name;
  UniqueFd lk = lock_volume(vdir);
  // The user is recorded once the device is there (a failed mount records nobody: a stale
  // record would keep a later mount for good).
  auto record = [&] {
    fs::mkdir_p(vdir + "/users", 0700);
    fs::write_file_atomic(vdir + "/users/" + user, "", 0600);
  };
  if (mounted(v)) return record();
  auto opt = [&](const char* k) {
    auto it = v.options.find(k);
    return it == v.options.end() ? std::string() : it->second;
  };
  const std::string device = opt("device"), type = opt("type");
  const MountOpts m = mount_opts(opt("o"));
  if (m.bind && (device.empty() || device[0] != '/'))
    throw Error(ErrorKind::invalid_argument, "volume " + v.name + ": a bind's device must be an absolute host path (got `" + device + "`)");
  if (::mount(device.c_str(), v.mountpoint.c_str(), m.bind ? nullptr : type.c_str(), m.flags,
              m.data.empty() || m.bind ? nullptr : m.data.c_str()) < 0)
    throw_errno("volume " + v.name + ": mount " + device + " (" + (m.bind ? "bind" : type) + ")");
  // A bind is read-only only after a remount.
  if (m.bind && m.readonly &&
      ::mount(nullptr, v.mountpoint.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | (m.flags & ~(MS_BIND | MS_REC)), nullptr) < 0) {
    const int err = errno;
    ::umount2(v.mountpoint.c_str(), MNT_DETACH);
    throw_errno("volume " + v.name + ": make the bind of " + device + " read-only", err);
  }
  record();
}

void VolumeStore::release(const Volume& v, const std::string& user) const {
  if (v.options.empty()) return;
  const std::string vdir = dir_ + "/" + v.name;
  if (!fs::exists(vdir)) return;
  UniqueFd lk = lock_volume(vdir);
  ::unlink((vdir + "/users/" + user).c_str());
  UniqueFd users(::open((vdir + "/users").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!users || fs::list_dir(users.get(), "volume users").empty()) unmount(v);
}

void VolumeStore::unmount(const Volume& v) const {
  // A device mounted more than once (two starts that raced) comes off layer by layer.
  for (int i = 0; i < 8 && mounted(v); ++i)
    if (::umount2(v.mountpoint.c_str(), MNT_DETACH) < 0 && errno != EINVAL) throw_errno("volume " + v.name + ": unmount");
}

std::vector<Volume> VolumeStore::list() const {
  std::vector<Volume> out;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (auto v = get(n)) out.push_back(*v);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const Volume& a, const Volume& b) { return a.name < b.name; });
  return out;
}

bool VolumeStore::remove(const std::string& name) {
  if (!valid_name(name)) return false;
  const std::string vdir = dir_ + "/" + name;
  if (!fs::exists(vdir)) return false;
  // A device mounted on _data (a bind of a host directory!) comes off first: what is removed
  // is the volume's, never the device's files.
  if (auto v = get(name)) unmount(*v);
  if (is_mount_point(vdir + "/_data"))
    throw Error(ErrorKind::conflict, "volume " + name + ": something is mounted on " + vdir + "/_data (not removed)");
  // Renamed out of the store first (a name no volume can have): a remove killed midway left a
  // half-emptied volume that still looked whole. What such a remove left goes now too.
  const std::string gone = dir_ + "/.removing-" + random_id();
  if (::rename(vdir.c_str(), gone.c_str()) < 0) throw_errno("volume " + name + ": remove");
  fs::remove_all(gone);
  if (DIR* d = ::opendir(dir_.c_str())) {
    std::vector<std::string> left;
    while (auto* e = ::readdir(d))
      if (std::string_view(e->d_name).rfind(".removing-", 0) == 0) left.emplace_back(e->d_name);
    ::closedir(d);
    for (const auto& n : left) {
      try {
        fs::remove_all(dir_ + "/" + n);
      } catch (const std::exception& e) {
        log::debug(e.what());  // another remove at it this very moment
      }
    }
  }
  return true;
}

json VolumeStore::inspect(const Volume& v) const {
  char created[64];
  time_t t = static_cast<time_t>(v.created);
  struct tm tm {};
  gmtime_r(&t, &tm);
  strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return {{"CreatedAt", created},
          {"Driver", "local"},
          {"Labels", v.labels},
          {"Mountpoint", v.mountpoint},
          {"Name", v.name},
          {"Options", v.options.empty() ? json(nullptr) : json(v.options)},
          {"Scope", "local"}};
}

}  // namespace berth::engine
