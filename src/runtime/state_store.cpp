#include "runtime/state_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "runtime/cgroup.hpp"

namespace berth::runtime {

const char* status_name(Status s) {
  switch (s) {
    case Status::creating: return "creating";
    case Status::created: return "created";
    case Status::running: return "running";
    case Status::stopped: return "stopped";
    case Status::paused: return "paused";
  }
  return "unknown";
}

void validate_id(const std::string& id) {
  if (id.empty()) throw Error("container id must not be empty");
  if (id.size() > 1024) throw Error("container id is too long");
  if (id == "." || id == "..") throw Error("invalid container id `" + id + "`");
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == '+';
    if (!ok)
      throw Error("invalid container id `" + id +
                  "`: only letters, digits and _ - . + are allowed");
  }
}

void StateStore::create_dir(const std::string& id) const {
  fs::mkdir_p(root_, 0711);
  if (::mkdir(dir(id).c_str(), 0711) < 0) {
    if (errno == EEXIST) throw Error("container with id `" + id + "` already exists");
    throw_errno("mkdir `" + dir(id) + "`");
  }
}

bool StateStore::exists(const std::string& id) const { return fs::is_dir(dir(id)); }

UniqueFd StateStore::lock(const std::string& id) const {
  UniqueFd fd(::open(dir(id).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) throw Error("container `" + id + "` does not exist");
    throw_errno("open `" + dir(id) + "`");
  }
  while (::flock(fd.get(), LOCK_EX) < 0) {
    if (errno != EINTR) throw_errno("lock `" + dir(id) + "`");
  }
  return fd;
}

void StateStore::save(const ContainerState& st) const {
  nlohmann::json j = {{"id", st.id},         {"pid", st.pid},         {"pid_start", st.pid_start},
                      {"bundle", st.bundle}, {"rootfs", st.rootfs},   {"created", st.created},
                      {"started", st.started}, {"annotations", st.annotations},
                      {"cgroup", st.cgroup}, {"owner", st.owner}};
  if (st.root_mount_id) j["root_mount_id"] = st.root_mount_id;
  if (st.facts.known)
    j["facts"] = {{"poststart", st.facts.poststart}, {"poststop", st.facts.poststop}, {"own_pidns", st.facts.own_pidns}};
  fs::write_file_atomic(dir(st.id) + "/state.json", j.dump(), 0600);
  if (!st.config.empty() && !fs::exists(dir(st.id) + "/config.json"))
    fs::write_file_atomic(dir(st.id) + "/config.json", st.config, 0600);
}

ContainerState StateStore::load(const std::string& id) const {
  std::string text;
  if (!fs::read_file_if_exists(dir(id) + "/state.json", text)) {
    if (!exists(id)) throw Error("container `" + id + "` does not exist");
    throw Error("container `" + id + "` is still being created");
  }
  ContainerState st;
  try {
    auto j = nlohmann::json::parse(text);
    st.id = j.at("id").get<std::string>();
    st.pid = j.at("pid").get<pid_t>();
    st.pid_start = j.at("pid_start").get<unsigned long long>();
    st.bundle = j.at("bundle").get<std::string>();
    st.rootfs = j.at("rootfs").get<std::string>();
    st.created = j.at("created").get<std::string>();
    st.started = j.at("started").get<bool>();
    st.annotations = j.at("annotations").get<std::map<std::string, std::string>>();
    st.cgroup = j.at("cgroup");
    st.owner = j.value("owner", 0u);
    st.root_mount_id = j.value("root_mount_id", 0ull);
    if (auto f = j.find("facts"); f != j.end()) {
      st.facts.poststart = f->at("poststart").get<bool>();
      st.facts.poststop = f->at("poststop").get<bool>();
      st.facts.own_pidns = f->at("own_pidns").get<bool>();
      st.facts.known = true;
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error("state of container `" + id + "` is corrupt: " + e.what());
  }
  fs::read_file_if_exists(dir(id) + "/config.json", st.config);
  return st;
}

void StateStore::remove(const std::string& id) const { fs::remove_all(dir(id)); }

std::vector<std::string> StateStore::ids() const {
  std::vector<std::string> out;
  DIR* d = ::opendir(root_.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    throw_errno("open `" + root_ + "`");
  }
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    // "@…" names are the runtime's own (the seccomp cache): never a valid container id.
    if (n == "." || n == ".." || n[0] == '@') continue;
    if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN) out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Status current_status(const ContainerState& st) {
  unsigned long long t = process_start_time(st.pid);
  if (t == 0 || t != st.pid_start) return Status::stopped;
  if (!st.started) return Status::created;
  if (!st.cgroup.is_null()) {
    try {
      if (cgroup_frozen(*Cgroup::from_json(st.cgroup))) return Status::paused;
    } catch (const Error&) {
    }
  }
  return Status::running;
}

std::string now_rfc3339() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  ::gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09ldZ", ts.tv_nsec);
  return buf;
}

}  // namespace berth::runtime
