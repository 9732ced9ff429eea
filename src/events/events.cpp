#include "events/events.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

namespace berth::events {

namespace {

constexpr off_t kRotateAt = 1 << 20;

}  // namespace

nlohmann::json Event::docker() const {
  nlohmann::json j = nlohmann::json::object();
  // Docker's deprecated fields: status and id for containers and images, from for containers.
  if (type == "container" || type == "image") {
    j["status"] = action;
    j["id"] = id;
    if (auto it = attributes.find("image"); type == "container" && it != attributes.end()) j["from"] = it->second;
  }
  j["Type"] = type;
  j["Action"] = action;
  j["Actor"] = {{"ID", id}, {"Attributes", attributes}};
  j["scope"] = "local";
  j["time"] = time_ns / 1000000000;
  j["timeNano"] = time_ns;
  return j;
}

std::optional<Event> Event::parse(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    Event e;
    e.type = j.at("Type").get<std::string>();
    e.action = j.at("Action").get<std::string>();
    const auto& actor = j.at("Actor");
    e.id = actor.at("ID").get<std::string>();
    if (auto it = actor.find("Attributes"); it != actor.end() && it->is_object())
      for (auto& [k, v] : it->items())
        if (v.is_string()) e.attributes[k] = v.get<std::string>();
    e.time_ns = j.at("timeNano").get<int64_t>();
    return e;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

void append(const std::string& path, Event e) {
  if (path.empty()) return;
  if (!e.time_ns) e.time_ns = now_ns();
  const std::string line = e.docker().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const std::string dir = path.substr(0, path.rfind('/'));
  if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) {
    try {
      fs::mkdir_p(dir, 0700);  // the first event of a new state directory
    } catch (const std::exception& x) {
      log::warn("event " + e.type + " " + e.action + ": " + x.what());
      return;
    }
  }
  // Writers take the lock to write (shared) and to rotate (exclusive): a rotation never
  // moves the file from under a write, nor do two rotations run at once.
  int lk = ::open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lk >= 0)
    while (::flock(lk, LOCK_SH) < 0 && errno == EINTR) {
    }
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  struct stat st {};
  if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_size >= kRotateAt && lk >= 0) {
    ::close(fd);
    fd = -1;
    while (::flock(lk, LOCK_EX) < 0 && errno == EINTR) {
    }
    if (::stat(path.c_str(), &st) == 0 && st.st_size >= kRotateAt) ::rename(path.c_str(), (path + ".1").c_str());
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  }
  bool ok = fd >= 0 && fs::write_all(fd, line);  // O_APPEND: one write, one line
  if (fd >= 0) ::close(fd);
  if (!ok) log::warn("event " + e.type + " " + e.action + ": cannot write " + path + ": " + std::strerror(errno));
  if (lk >= 0) ::close(lk);
}

}  // namespace berth::events
