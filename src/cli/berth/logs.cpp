// berth logs: the container's json-file log through Engine::logs (--tail, --since, --until,
// -t, -f).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "engine/engine.hpp"
#include "logs/json_file.hpp"

namespace berth::cli {

namespace {

// False when the output is gone (`logs -f | head -1`): the follow ends.
bool print_log(const logs::Entry& l, bool timestamps, bool details) {
  try {
    fs::write_fd(l.stream == "stderr" ? 2 : 1, l.text(timestamps, details), "output");
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

int cmd_logs(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("logs",
         {{"follow", "f", false}, {"tail", "n", true}, {"timestamps", "t", false}, {"since", "", true},
          {"until", "", true}, {"details", "", false}},
         argc, argv, first);
  engine::LogOptions o;
  if (a.has("tail") && a.get("tail") != "all") {
    const std::string text = a.get("tail");
    char* end = nullptr;
    o.tail = std::strtol(text.c_str(), &end, 10);
    if (*end || text.empty()) throw Error(ErrorKind::invalid_argument, "logs: invalid --tail `" + text + "`");
    if (o.tail < 0) o.tail = -1;  // Docker's daemon: a negative number is all
  }
  o.since = parse_time_ns(a.get("since"));
  o.until = a.has("until") ? parse_time_ns(a.get("until")) : 0;
  o.follow = a.has("follow");
  const bool ts = a.has("timestamps"), details = a.has("details");
  make_engine(e).logs(a.id(), o, [&](const logs::Entry& l) { return print_log(l, ts, details); });
  return 0;
}

}  // namespace berth::cli
