#include "engine/volumes.hpp"

#include <dirent.h>
#include <fcntl.h>
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

Volume VolumeStore::create(const std::string& name_in, const std::map<std::string, std::string>& labels,
                           bool anonymous, bool must_be_new) {
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
  return v;
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
  fs::remove_all(vdir);
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
          {"Options", json::object()},
          {"Scope", "local"}};
}

}  // namespace berth::engine
