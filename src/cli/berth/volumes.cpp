// berth volume create, ls, inspect, rm.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"

namespace berth::cli {

using nlohmann::json;

int cmd_volume_create(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("volume create", {{"name", "", true}, {"label", "l", true, true}, {"driver", "d", true}, {"opt", "o", true, true}},
         argc, argv, first);
  if (a.has("driver") && a.get("driver") != "local") throw Error("volume create: only the local driver exists");
  std::map<std::string, std::string> opts;  // the local driver's: type, device, o
  for (auto& o : a.all("opt")) {
    const auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0) throw Error(ErrorKind::invalid_argument, "volume create: -o " + o + ": want KEY=VALUE");
    opts[o.substr(0, eq)] = o.substr(eq + 1);
  }
  std::string name = a.get("name", a.positional().empty() ? "" : a.positional()[0]);
  std::map<std::string, std::string> labels;
  for (auto& l : a.all("label")) labels[l.substr(0, l.find('='))] = l.find('=') == std::string::npos ? "" : l.substr(l.find('=') + 1);
  auto eng = make_engine(e);
  auto v = eng.volumes().create(name, labels, false, false, opts);
  eng.emit("volume", "create", v.name, {{"driver", "local"}});
  std::puts(v.name.c_str());
  return 0;
}

int cmd_volume_ls(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("volume ls", {{"quiet", "q", false}, {"format", "", true}, {"filter", "f", true, true}}, argc, argv, first);
  auto eng = make_engine(e);
  // Docker's filters: the values of one key are alternatives, labels must all hold.
  const Filters filters("volume ls", a.all("filter"), {"dangling", "name", "label", "driver"});
  filters.check_values("dangling", {"true", "false", "1", "0"});
  std::vector<json> rows;
  for (auto& v : eng.volumes().list()) {
    const json label_map(v.labels);
    if (!filters.any("dangling", [&](const std::string& x) { return (x == "true" || x == "1") == eng.volume_users(v.name).empty(); }) ||
        !filters.any("name", [&](const std::string& x) { return v.name.find(x) != std::string::npos; }) ||
        !filters.any("driver", [&](const std::string& x) { return x == "local"; }) ||
        !filters.all("label", [&](const std::string& x) { return has_label(label_map, x); }))
      continue;
    if (a.has("quiet")) {
      std::puts(v.name.c_str());
      continue;
    }
    std::string labels;
    for (auto& [k, val] : v.labels) labels += (labels.empty() ? "" : ",") + k + "=" + val;
    rows.push_back({{"Driver", "local"}, {"Name", v.name}, {"Mountpoint", v.mountpoint}, {"Labels", labels}, {"Scope", "local"}});
  }
  if (a.has("quiet")) return 0;
  static const json headers = {{"Driver", "DRIVER"}, {"Name", "VOLUME NAME"}, {"Mountpoint", "MOUNTPOINT"},
                               {"Labels", "LABELS"}, {"Scope", "SCOPE"}};
  // Docker's own table: DRIVER padded to 10 (the tabwriter's minimum), then the name.
  print_list(a.get("format"), "{{.Driver}}\t{{.Name}}", headers, rows);
  return 0;
}

int cmd_volume_inspect(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("volume inspect", {{"format", "f", true}}, argc, argv, first);
  if (a.positional().empty()) throw Error("volume inspect: a volume is required");
  auto eng = make_engine(e);
  json out = json::array();
  int rc = 0;
  for (auto& n : a.positional()) {
    auto v = eng.volumes().get(n);
    if (!v) {
      std::fprintf(stderr, "berth: no such volume: %s\n", n.c_str());
      rc = 1;
      continue;
    }
    out.push_back(eng.volumes().inspect(*v));
  }
  if (out.empty()) return rc;
  return print_inspect(a.get("format"), out, rc);
}

int cmd_volume_rm(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("volume rm", {{"force", "f", false}}, argc, argv, first);
  if (a.positional().empty()) throw Error("volume rm: a volume is required");
  auto eng = make_engine(e);
  int rc = 0;
  for (auto& n : a.positional()) {
    try {
      if (eng.remove_volume(n, a.has("force"))) std::puts(n.c_str());
    } catch (const Error& ex) {
      std::fprintf(stderr, "berth: %s\n", ex.what());
      rc = 1;
    }
  }
  return rc;
}

}  // namespace berth::cli
