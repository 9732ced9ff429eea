// Events: what happened to containers, images, networks and volumes, in Docker's shape, kept in
// an append-only log (one JSON object per line) that every berth process and every shim
// writes to and that `berth events` (and a daemon's subscribers) follow with inotify.
// Daemonless like Podman's events file: no process has to be up for an event to be recorded.
//   {"status":"die","id":"3f2a…","from":"busybox","Type":"container","Action":"die",
//    "Actor":{"ID":"3f2a…","Attributes":{"exitCode":"3","image":"busybox","name":"web"}},
//    "scope":"local","time":1764756000,"timeNano":1764756000123456789}
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace berth::events {

struct Event {
  std::string type;    // container, image, network, volume
  std::string action;  // create, start, die, destroy, pull, tag, …
  std::string id;      // the object's id (an image's: its reference, as Docker's)
  std::map<std::string, std::string> attributes;  // name, image, exitCode, …
  int64_t time_ns = 0;                            // unix ns

  // Docker's JSON (the line in the log, the daemon's /events).
  nlohmann::json docker() const;
  static std::optional<Event> parse(std::string_view line);
};

// Appends `e` (time_ns set to now when 0) to the log at `path`, one write of one line; the
// log is rotated at 1 MiB (one old file kept, PATH.1). Never throws: an event that cannot be
// written is a warning, not a failed command.
void append(const std::string& path, Event e);

// Where a namespace's events are kept: STATE/NS/events/events.log (in its own directory, so
// that following it wakes on its writes only).
// Docker's `event=` filter: the action itself, or the kind of one that carries its subject
// after a colon ("health_status" matches "health_status: healthy", "exec_start" matches
// "exec_start: sh -c x").
inline bool action_matches(const std::string& filter, const std::string& action) {
  return filter == action || (action.size() > filter.size() && action.compare(0, filter.size(), filter) == 0 &&
                              action[filter.size()] == ':');
}

inline std::string log_path(const std::string& state, const std::string& ns) {
  return state + "/" + ns + "/events/events.log";
}

}  // namespace berth::events
