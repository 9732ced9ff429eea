// The prune verbs: container, image, volume, network and system prune. Each asks first, as
// Docker's do, unless --force: a "y" on stdin goes on, anything else (EOF included) removes
// nothing. --filter takes Docker's keys for each verb; an unknown key is an error, never
// ignored (an ignored `until=24h` would remove everything).
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/time.hpp"
#include "engine/engine.hpp"
#include "network/networks.hpp"

namespace berth::cli {



bool has_label(const nlohmann::json& labels, const std::string& spec) {
  const auto eq = spec.find('=');
  if (!labels.is_object()) return false;
  auto it = labels.find(spec.substr(0, eq));
  if (it == labels.end()) return false;
  if (eq == std::string::npos) return true;
  return (it->is_string() ? it->get<std::string>() : it->dump()) == spec.substr(eq + 1);
}

namespace {

// Docker's question; true when the answer is y/Y (or --force).
bool confirmed(bool force, const std::string& warning) {
  if (force) return true;
  std::printf("%s\nAre you sure you want to continue? [y/N] ", warning.c_str());
  std::fflush(stdout);
  std::string answer;
  if (!std::getline(std::cin, answer)) {
    std::putchar('\n');
    return false;
  }
  while (!answer.empty() && (answer.back() == '\r' || answer.back() == ' ')) answer.pop_back();
  return answer == "y" || answer == "Y";
}

// --filter until=TIME, label=K[=V], label!=K[=V]: all must hold.
class PruneFilter {
 public:
  PruneFilter(const std::vector<std::string>& specs, bool until_allowed) {
    for (const auto& s : specs) {
      const auto eq = s.find('=');
      if (eq == std::string::npos) throw Error("invalid filter `" + s + "`: KEY=VALUE");
      std::string key = s.substr(0, eq), value = s.substr(eq + 1);
      if (key == "label!" ) {
        not_labels_.push_back(value);
      } else if (key == "label") {
        labels_.push_back(value);
      } else if (key == "until" && until_allowed) {
        if (value.empty()) throw Error("invalid filter `until`: a time or a duration is needed");
        until_ = parse_since(value);
      } else {
        throw Error("invalid filter `" + key + "`");
      }
    }
  }
  // `created`: unix seconds.
  bool matches(const nlohmann::json& labels, int64_t created) const {
    if (until_ && created >= until_) return false;
    for (const auto& l : labels_)
      if (!has_label(labels, l)) return false;
    for (const auto& l : not_labels_)
      if (has_label(labels, l)) return false;
    return true;
  }

 private:
  std::vector<std::string> labels_, not_labels_;
  int64_t until_ = 0;
};

std::vector<std::string> prune_containers(engine::Engine& eng, const PruneFilter& f) {
  std::vector<std::string> out;
  for (auto& c : eng.list()) {
    auto s = eng.state(c);
    if (s.running() || s.status == engine::Status::restarting || s.status == engine::Status::paused) continue;
    if (!f.matches(c.data["Config"].value("Labels", nlohmann::json::object()), c.rec.created / 1000000000))
      continue;
    eng.cleanup(c.id(), true);
    out.push_back(c.id());
  }
  return out;
}

// Anonymous volumes only unless `all` (Docker 23+).
std::vector<std::string> prune_volumes(engine::Engine& eng, const PruneFilter& f, bool all) {
  std::vector<std::string> out;
  for (auto& v : eng.volumes().list()) {
    if (!v.anonymous && !all) continue;
    if (!f.matches(nlohmann::json(v.labels), v.created)) continue;
    try {
      if (eng.remove_volume(v.name, true)) out.push_back(v.name);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::conflict) throw;  // in use: kept
    }
  }
  return out;
}

// Networks no container uses; never the default network (Docker keeps bridge, host, none).
std::vector<std::string> prune_networks(engine::Engine& eng, const PruneFilter& f) {
  std::vector<std::string> out;
  for (auto& n : eng.networks().list()) {
    if (n.name == network::Networks::kDefault) continue;
    if (!f.matches(n.labels, n.created / 1000000000)) continue;
    if (!eng.networks().members(n.name).empty()) continue;  // attached: no 5 s wait in remove
    try {
      if (eng.remove_network(n.id, true)) out.push_back(n.name);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::conflict) throw;  // in use: kept
    }
  }
  return out;
}

void print_deleted(const char* title, const std::vector<std::string>& items) {
  if (items.empty()) return;
  std::printf("%s\n", title);
  for (auto& i : items) std::printf("%s\n", i.c_str());
  std::putchar('\n');
}

}  // namespace

int cmd_container_prune(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("container prune", {{"force", "f", false}, {"filter", "", true, true}}, argc, argv, first);
  PruneFilter f(a.all("filter"), true);
  if (!confirmed(a.has("force"), "WARNING! This will remove all stopped containers.")) return 0;
  auto eng = make_engine(e);
  print_deleted("Deleted Containers:", prune_containers(eng, f));
  return 0;
}

int cmd_volume_prune(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("volume prune", {{"force", "f", false}, {"all", "a", false}, {"filter", "", true, true}}, argc, argv, first);
  PruneFilter f(a.all("filter"), false);
  if (!confirmed(a.has("force"), a.has("all") ? "WARNING! This will remove all local volumes not used by at least one container."
                                              : "WARNING! This will remove anonymous local volumes not used by at least one container."))
    return 0;
  auto eng = make_engine(e);
  print_deleted("Deleted Volumes:", prune_volumes(eng, f, a.has("all")));
  return 0;
}

int cmd_network_prune(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("network prune", {{"force", "f", false}, {"filter", "", true, true}}, argc, argv, first);
  PruneFilter f(a.all("filter"), true);
  if (!confirmed(a.has("force"), "WARNING! This will remove all custom networks not used by at least one container.")) return 0;
  auto eng = make_engine(e);
  print_deleted("Deleted Networks:", prune_networks(eng, f));
  return 0;
}

int cmd_image_prune(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("image prune", {{"all", "a", false}, {"force", "f", false}}, argc, argv, first);
  if (!confirmed(a.has("force"), a.has("all") ? "WARNING! This will remove all images without at least one container associated to them."
                                              : "WARNING! This will remove all dangling images."))
    return 0;
  auto svc = e.images();
  auto lines = svc.prune(a.has("all"));
  auto gc = svc.gc(true);
  print_deleted("Deleted Images:", lines);
  std::printf("Total reclaimed space: %s\n", image::human_size(gc.bytes).c_str());
  return 0;
}

int cmd_system_prune(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("system prune", {{"force", "f", false}, {"all", "a", false}, {"volumes", "", false}, {"filter", "", true, true}},
                      argc, argv, first);
  PruneFilter f(a.all("filter"), true);
  std::string warning = "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n";
  if (a.has("volumes")) warning += "  - all anonymous volumes not used by at least one container\n";
  warning += a.has("all") ? "  - all images without at least one container associated to them\n" : "  - all dangling images\n";
  if (!confirmed(a.has("force"), warning)) return 0;
  auto eng = make_engine(e);
  print_deleted("Deleted Containers:", prune_containers(eng, f));
  if (a.has("volumes")) print_deleted("Deleted Volumes:", prune_volumes(eng, PruneFilter({}, false), false));
  print_deleted("Deleted Networks:", prune_networks(eng, f));
  print_deleted("Deleted Images:", eng.images().prune(a.has("all")));
  auto gc = eng.images().gc(true);
  std::printf("Total reclaimed space: %s\n", image::human_size(gc.bytes).c_str());
  return 0;
}

}  // namespace berth::cli
