// The prune verbs: container, image, volume, network and system prune. Each asks first, as
// Docker's do, unless --force: a "y" on stdin goes on, anything else (EOF included) removes
// nothing. --filter takes Docker's keys for each verb; an unknown key is an error, never
// ignored (an ignored `until=24h` would remove everything).
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "build/cache_mounts.hpp"
#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/time.hpp"
#include "engine/engine.hpp"

namespace berth::cli {

bool has_label(const nlohmann::json& labels, const std::string& spec) { return engine::has_label(labels, spec); }

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

// --filter until=TIME, label=K[=V], label!=K[=V] (all must hold) as the engine's filter.
engine::PruneFilter prune_filter(const std::string& verb, const std::vector<std::string>& specs, bool until_allowed) {
  const Filters filters(verb, specs, until_allowed ? std::vector<std::string>{"label", "label!", "until"}
                                                   : std::vector<std::string>{"label", "label!"});
  engine::PruneFilter f;
  f.labels = filters.values("label");
  f.not_labels = filters.values("label!");
  for (auto& v : filters.values("until")) {
    if (v.empty()) throw Error(ErrorKind::invalid_argument, "invalid filter `until`: a time or a duration is needed");
    f.until = parse_since(v);
  }
  return f;
}

void print_deleted(const char* title, const std::vector<std::string>& items) {
  if (items.empty()) return;
  std::printf("%s\n", title);
  for (auto& i : items) std::printf("%s\n", i.c_str());
  std::putchar('\n');
}

// Docker's container and volume prune output: what went, then the space it gave back.
void print_pruned(const char* title, const engine::PruneResult& r) {
  print_deleted(title, r.deleted);
  std::printf("Total reclaimed space: %s\n", image::human_size(r.reclaimed).c_str());
}

}  // namespace

int cmd_container_prune(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("container prune", {{"force", "f", false}, {"filter", "", true, true}}, argc, argv, first);
  const engine::PruneFilter f = prune_filter("container prune", a.all("filter"), true);
  if (!confirmed(a.has("force"), "WARNING! This will remove all stopped containers.")) return 0;
  auto eng = make_engine(e);
  print_pruned("Deleted Containers:", eng.prune_containers(f));
  return 0;
}

int cmd_volume_prune(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("volume prune", {{"force", "f", false}, {"all", "a", false}, {"filter", "", true, true}}, argc, argv, first);
  const engine::PruneFilter f = prune_filter("volume prune", a.all("filter"), false);
  if (!confirmed(a.has("force"), a.has("all") ? "WARNING! This will remove all local volumes not used by at least one container."
                                              : "WARNING! This will remove anonymous local volumes not used by at least one container."))
    return 0;
  auto eng = make_engine(e);
  print_pruned("Deleted Volumes:", eng.prune_volumes(f, a.has("all")));
  return 0;
}

int cmd_network_prune(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("network prune", {{"force", "f", false}, {"filter", "", true, true}}, argc, argv, first);
  const engine::PruneFilter f = prune_filter("network prune", a.all("filter"), true);
  if (!confirmed(a.has("force"), "WARNING! This will remove all custom networks not used by at least one container.")) return 0;
  auto eng = make_engine(e);
  print_deleted("Deleted Networks:", eng.prune_networks(f).deleted);
  return 0;
}

int cmd_image_prune(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("image prune", {{"all", "a", false}, {"force", "f", false}, {"filter", "", true, true}}, argc, argv, first);
  const engine::PruneFilter f = prune_filter("image prune", a.all("filter"), true);
  if (!confirmed(a.has("force"), a.has("all") ? "WARNING! This will remove all images without at least one container associated to them."
                                              : "WARNING! This will remove all dangling images."))
    return 0;
  auto svc = e.images();
  auto lines = svc.prune(a.has("all"), f.image_selector());
  auto gc = svc.gc(true);
  print_deleted("Deleted Images:", lines);
  std::printf("Total reclaimed space: %s\n", image::human_size(gc.bytes).c_str());
  return 0;
}

int cmd_system_prune(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("system prune", {{"force", "f", false}, {"all", "a", false}, {"volumes", "", false}, {"filter", "", true, true}},
                      argc, argv, first);
  const engine::PruneFilter f = prune_filter("system prune", a.all("filter"), true);
  // Docker's rule: volumes have no creation time to filter on.
  if (a.has("volumes") && f.until) throw Error(ErrorKind::invalid_argument, "the `until` filter is not supported with --volumes");
  std::string warning = "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n";
  if (a.has("volumes")) warning += "  - all anonymous volumes not used by at least one container\n";
  warning += a.has("all") ? "  - all images without at least one container associated to them\n" : "  - all dangling images\n";
  warning += a.has("all") ? "  - all build cache\n" : "  - unused build cache\n";
  if (!confirmed(a.has("force"), warning)) return 0;
  auto eng = make_engine(e);
  const engine::PruneResult containers = eng.prune_containers(f);
  print_deleted("Deleted Containers:", containers.deleted);
  int64_t reclaimed = containers.reclaimed;
  if (a.has("volumes")) {
    const engine::PruneResult volumes = eng.prune_volumes(f, false);
    print_deleted("Deleted Volumes:", volumes.deleted);
    reclaimed += volumes.reclaimed;
  }
  print_deleted("Deleted Networks:", eng.prune_networks(f).deleted);
  print_deleted("Deleted Images:", eng.images().prune(a.has("all"), f.image_selector()));
  reclaimed += eng.images().gc(true).bytes;
  // RUN --mount=type=cache directories no build uses (they have no time or labels to filter on).
  if (a.all("filter").empty()) reclaimed += build::prune_cache_mounts(e.root, e.ns).bytes;
  std::printf("Total reclaimed space: %s\n", image::human_size(reclaimed).c_str());
  return 0;
}

}  // namespace berth::cli
