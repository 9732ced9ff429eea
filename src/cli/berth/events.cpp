// `berth events`: what happens to containers, images, networks and volumes, live (Docker's
// verb, --since/--until to replay the recorded ones, --filter, --format).
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"
#include "engine/engine.hpp"
#include "format/template.hpp"

namespace berth::cli {

namespace {

using nlohmann::json;

// Docker's event filters: alternatives within a key, every key must match.
class EventFilter {
 public:
  explicit EventFilter(const std::vector<std::string>& specs)
      : filters_("events", specs, {"type", "event", "container", "image", "network", "volume", "label"}) {}
  bool matches(const events::Event& e) const {
    for (auto& [k, values] : filters_.by_key()) {
      bool any = false;
      for (auto& v : values) any = any || one(k, v, e);
      if (!any) return false;
    }
    return true;
  }

 private:
  static std::string attr(const events::Event& e, const char* k) {
    auto it = e.attributes.find(k);
    return it == e.attributes.end() ? "" : it->second;
  }
  static bool one(const std::string& k, const std::string& v, const events::Event& e) {
    if (k == "type") return e.type == v;
    if (k == "event") return events::action_matches(v, e.action);
    if (k == "label") return has_label(json(e.attributes), v);
    // Docker's FuzzyMatch: the id or the name, whole or by a prefix.
    if (k == "container") return e.type == "container" && !v.empty() && (attr(e, "name").rfind(v, 0) == 0 || e.id.rfind(v, 0) == 0);
    if (k == "image")
      return (e.type == "image" && (e.id == v || attr(e, "name") == v)) || (e.type == "container" && attr(e, "image") == v);
    if (k == "network") return e.type == "network" && (attr(e, "name") == v || (!v.empty() && e.id.rfind(v, 0) == 0));
    if (k == "volume") return e.type == "volume" && e.id == v;
    return false;
  }
  Filters filters_;
};

// Docker's line: TIME TYPE ACTION ID (k=v, …). One line whatever the event carries: an exec's
// command (its action) or a label with a line break in it would forge lines of their own, so
// control characters are shown as spaces (as ps shows a command).
std::string event_line(const events::Event& e) {
  std::string line = rfc3339_nano(e.time_ns) + " " + e.type + " " + e.action + " " + e.id;
  std::string attrs;
  for (auto& [k, v] : e.attributes) attrs += (attrs.empty() ? "" : ", ") + k + "=" + v;
  if (!attrs.empty()) line += " (" + attrs + ")";
  return cell_text(std::move(line), 0);
}

// A template sees Docker's events.Message by its Go field names (Status, ID, From, Scope, Time,
// TimeNano), not the JSON keys `--format json` and `{{json .}}` print (status, id, from, scope,
// time, timeNano).
json template_fields(json j) {
  const json form = j;
  const std::pair<const char*, const char*> renamed[] = {
      {"status", "Status"}, {"id", "ID"}, {"from", "From"}, {"scope", "Scope"}, {"time", "Time"}, {"timeNano", "TimeNano"}};
  for (auto& [from, to] : renamed) {
    auto it = j.find(from);
    j[to] = it != j.end() ? *it : json("");
    if (it != j.end()) j.erase(from);
  }
  j[format::kJsonForm] = form;
  return j;
}

}  // namespace

int cmd_events(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("events", {{"since", "", true}, {"until", "", true}, {"filter", "f", true, true}, {"format", "", true}},
         argc, argv, first);
  if (!a.positional().empty()) throw UsageError("events: no arguments expected");
  const EventFilter filter(a.has("filter") ? a.all("filter") : std::vector<std::string>{});
  engine::EventOptions o;
  // --since 0 is the epoch: every recorded event (0 itself means "only new ones").
  if (a.has("since")) o.since = std::max<int64_t>(parse_time_ns(a.get("since")), 1);
  o.until = a.has("until") ? parse_time_ns(a.get("until")) : 0;
  const std::string format = a.get("format");
  std::optional<format::Template> tmpl;
  if (!format.empty() && format != "json") tmpl = format::Template::parse(format);
  make_engine(e).events(o, [&](const events::Event& ev) {
    if (!filter.matches(ev)) return true;
    std::string out;
    if (format == "json") out = ev.docker().dump();
    else if (tmpl) out = tmpl->render(template_fields(ev.docker()));
    else out = event_line(ev);
    out += '\n';
    return std::fwrite(out.data(), 1, out.size(), stdout) == out.size() && std::fflush(stdout) == 0;
  });
  return 0;
}

}  // namespace berth::cli
