// berth ps: Docker's columns, filters (--filter), --format, -q, -s, -n/-l.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/strings.hpp"
#include "engine/container_filter.hpp"
#include "engine/engine.hpp"
#include "engine/model.hpp"
#include "format/template.hpp"

namespace berth::cli {

using nlohmann::json;

namespace {

json container_row(engine::Engine& eng, engine::Container& c, engine::State& s) {
  const json& config = c.data["Config"];
  const std::string cmd = engine::command_text(config);
  const auto ports = engine::port_summary(c.data, s.running());
  json networks = json::array();
  const json endpoints = c.endpoints();
  for (auto& [name, ep] : endpoints.items())
    networks.push_back(name);
  // Docker's NETWORKS for the modes without an attachment: none, host.
  if (networks.empty())
    if (const std::string mode = c.data["HostConfig"].value("NetworkMode", ""); mode == "none" || mode == "host")
      networks.push_back(mode);
  // Docker's IMAGE: the name the container was made from while it still names that image;
  // the image's short id once it was untagged or the name moved to another image.
  std::string image = config.value("Image", "");
  if (auto now = eng.images().find(image); !now || now->id.str() != c.rec.image)
    image = c.rec.image.rfind("sha256:", 0) == 0 ? c.rec.image.substr(7, 12) : c.rec.image;
  // Mounts as Docker's MOUNTS column and volume filter see them: volume names, bind sources,
  // and each destination.
  json mounts = json::array(), destinations = json::array();
  for (const engine::Bind& b : engine::shown_binds(c.data["HostConfig"])) {
    if (!b.host_path()) continue;  // a named volume: below, from the record's Volumes
    mounts.push_back(b.source);
    destinations.push_back(b.destination);
  }
  int local_volumes = 0;
  for (auto& v : c.data.value("Volumes", json::array())) {
    mounts.push_back(v.value("Name", ""));
    destinations.push_back(v.value("Destination", ""));
    ++local_volumes;
  }
  return {{"ID", c.id()},
          {"ImageID", c.rec.image},
          {"CreatedNs", c.rec.created},
          {"Mounts", mounts},
          {"MountDestinations", destinations},
          {"LocalVolumes", local_volumes},
          {"Ports", engine::ports_text(ports)},
          {"PortSummary", ports},
          {"Networks", networks},
          {"Image", image},
          {"Command", cmd},
          {"CreatedAt", c.rec.created / 1000000000},
          {"Status", engine::status_text(s)},
          {"State", engine::status_name(s.status)},
          {"Names", c.rec.name},
          {"Labels", config.value("Labels", json::object())},
          {"ExitCode", s.exit_code},
          {"Health", s.health.empty() ? "none" : s.health}};
}

}  // namespace

int cmd_ps(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("ps",
         {{"all", "a", false}, {"quiet", "q", false}, {"no-trunc", "", false}, {"format", "", true},
          {"filter", "f", true, true}, {"latest", "l", false}, {"last", "n", true}, {"size", "s", false}},
         argc, argv, first);
  if (!a.positional().empty()) throw Error("ps: accepts no arguments (`" + a.positional()[0] + "`)");
  // -n N / -l (= -n 1): the N last created containers, whatever their state (Docker's).
  // (-n 0 or below is no limit: Docker's default is -1, and its 0 lists as without -n.)
  int last = a.has("latest") ? 1 : int_flag(a, "last", -1);
  if (last <= 0) last = -1;
  const std::string format = a.get("format", "table");
  // A template that does not parse fails before anything is looked at.
  if (format != "table" && format != "json") format::Template::parse(format.rfind("table ", 0) == 0 ? format.substr(6) : format);
  auto eng = make_engine(e);
  const Filters given("ps", a.all("filter"), engine::ContainerFilter::keys());
  const engine::ContainerFilter filter(eng, given.by_key());
  // Docker's CLI asks for sizes when its template uses .Size — and `{{json .}}` (or --format
  // json) renders every field, Size included: "0B (virtual 1.98MB)", as dockerd 20.10 here.
  const bool whole_row = format == "json" || std::regex_search(format, std::regex(R"(\{\{-?\s*json\s+\.\s*-?\}\})"));
  const bool want_size = a.has("size") || whole_row || format.find(".Size") != std::string::npos;
  std::vector<json> rows;
  for (auto& c : eng.list()) {
    engine::State s = eng.state(c);
    if (s.removed) continue;
    if (!a.has("all") && last < 0 && !filter.wants_all() && !s.running() && s.status != engine::Status::restarting) continue;
    if (!filter.match(eng, c, s)) continue;
    json row = container_row(eng, c, s);
    // Sizes walk the layers' files: only when asked (-s, or a template that shows them).
    if (want_size) {
      const auto z = eng.sizes(c);
      row["Size"] = image::human_size(z.rw) + " (virtual " + image::human_size(z.root_fs) + ")";
    }
    rows.push_back(row);
  }
  std::reverse(rows.begin(), rows.end());  // newest first, like Docker
  if (last >= 0 && rows.size() > static_cast<size_t>(last)) rows.resize(static_cast<size_t>(last));
  bool trunc = !a.has("no-trunc");
  for (auto& r : rows)
    if (trunc) r["ID"] = r["ID"].get<std::string>().substr(0, 12);
  if (a.has("quiet")) {
    for (auto& r : rows) std::puts(r["ID"].get<std::string>().c_str());
    return 0;
  }
  if (format != "table") {
    // Docker's fields as its templates see them (strings), and the exit code.
    std::vector<json> views;
    for (auto& r : rows) {
      std::string labels, nets;
      for (auto& [k, v] : r["Labels"].items()) labels += (labels.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
      for (auto& n : r["Networks"]) nets += (nets.empty() ? "" : ",") + n.get<std::string>();
      std::string mounts;
      for (auto& m : r["Mounts"]) mounts += (mounts.empty() ? "" : ",") + m.get<std::string>();
      const int64_t created = r["CreatedAt"].get<int64_t>();
      char at[64] = "";
      time_t t = static_cast<time_t>(created);
      struct tm tm {};
      gmtime_r(&t, &tm);
      std::strftime(at, sizeof at, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
      views.push_back({{"ID", r["ID"]}, {"Image", r["Image"]}, {"Command", "\"" + cell_text(r["Command"], trunc ? 20 : 0) + "\""},
                       {"CreatedAt", at}, {"RunningFor", time_ago(created)}, {"Ports", r["Ports"]}, {"State", r["State"]},
                       {"Status", r["Status"]}, {"Names", r["Names"]}, {"Labels", labels}, {"Networks", nets},
                       {"Mounts", mounts}, {"LocalVolumes", std::to_string(r["LocalVolumes"].get<int>())},
                       {"ExitCode", r["ExitCode"]}});
      // Docker's rows have a Size always ("0B" when not asked for).
      views.back()["Size"] = r.contains("Size") ? r["Size"] : json("0B");
      // Docker's `.Label "KEY"` (a method of its rows; not in its JSON).
      if (format != "json") views.back()["Label"] = {{"@lookup", r["Labels"]}};
    }
    static const json headers = {{"ID", "CONTAINER ID"}, {"Image", "IMAGE"}, {"Command", "COMMAND"}, {"CreatedAt", "CREATED AT"},
                                 {"RunningFor", "CREATED"}, {"Ports", "PORTS"}, {"State", "STATE"}, {"Status", "STATUS"},
                                 {"Names", "NAMES"}, {"Labels", "LABELS"}, {"Networks", "NETWORKS"}, {"Mounts", "MOUNTS"},
                                 {"LocalVolumes", "LOCAL VOLUMES"}, {"ExitCode", "EXIT CODE"}, {"Size", "SIZE"},
                                 {"Label", {{"@header", true}}}};
    print_list(format, "", headers, views);
    return 0;
  }
  size_t wi = 12, wm = 5, wc = 7, wt = 7, ws = 6, wp = 5;
  size_t wn = 5;
  std::vector<std::array<std::string, 8>> cells;
  for (auto& r : rows) {
    const std::string cmd = "\"" + cell_text(r["Command"], trunc ? 20 : 0) + "\"";
    cells.push_back({r["ID"], r["Image"], cmd, time_ago(r["CreatedAt"].get<int64_t>()), r["Status"], r["Names"], r["Ports"],
                     r.value("Size", "")});
    wp = std::max(wp, width(cells.back()[6]));
    wn = std::max(wn, width(cells.back()[5]));
    wi = std::max(wi, width(cells.back()[0]));
    wm = std::max(wm, width(cells.back()[1]));
    wc = std::max(wc, width(cells.back()[2]));
    wt = std::max(wt, width(cells.back()[3]));
    ws = std::max(ws, width(cells.back()[4]));
  }
  // With -s, SIZE after NAMES (Docker's column order).
  const bool size_col = a.has("size");
  std::puts((pad("CONTAINER ID", wi) + pad("IMAGE", wm) + pad("COMMAND", wc) + pad("CREATED", wt) +
             pad("STATUS", ws) + pad("PORTS", wp) + (size_col ? pad("NAMES", wn) + "SIZE" : std::string("NAMES"))).c_str());
  for (auto& r : cells)
    std::puts((pad(r[0], wi) + pad(r[1], wm) + pad(r[2], wc) + pad(r[3], wt) + pad(r[4], ws) +
               pad(r[6], wp) + (size_col ? pad(r[5], wn) + r[7] : r[5])).c_str());
  return 0;
}

}  // namespace berth::cli
