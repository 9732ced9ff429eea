// berth system df: Docker's summary (images, containers, local volumes, build cache: total,
// active, size, reclaimable), -v with a table per kind, --format json or a template.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"
#include "engine/engine.hpp"
#include "engine/model.hpp"
#include "format/template.hpp"
#include "oci/reference.hpp"

namespace berth::cli {

using nlohmann::json;

namespace {

// Docker's RECLAIMABLE: "11.63MB (70%)" of a non-empty total.
std::string reclaimable(int64_t bytes, int64_t total) {
  const std::string h = image::human_size(bytes);
  return total > 0 ? h + " (" + std::to_string(bytes * 100 / total) + "%)" : h;
}

json summary_row(const char* type, size_t total, int active, int64_t size, int64_t reclaim) {
  return {{"Type", type}, {"TotalCount", std::to_string(total)}, {"Active", std::to_string(active)},
          {"Size", image::human_size(size)}, {"Reclaimable", reclaimable(reclaim, size)}};
}

void print_verbose(const engine::Engine::DiskUsage& u) {
  std::puts("Images space usage:\n");
  std::vector<json> images;
  for (auto& row : u.images)
    for (auto& name : row.names) {
      const bool unnamed = image::is_dangling_name(name);
      const oci::Reference ref = oci::Reference::parse(name);
      oci::Reference bare = ref;
      bare.tag.clear();
      bare.digest.clear();
      const int64_t created = parse_rfc3339(row.image.config.created);
      images.push_back({{"Repository", unnamed ? "<none>" : bare.familiar()}, {"Tag", ref.tag.empty() || unnamed ? "<none>" : ref.tag},
                        {"ID", row.image.id.encoded.substr(0, 12)}, {"CreatedSince", created ? time_ago(created) : std::string("N/A")},
                        {"Size", image::human_size(row.size)}, {"SharedSize", image::human_size(row.shared)},
                        {"UniqueSize", image::human_size(row.size - row.shared)},
                        {"Containers", std::to_string(row.containers)}});
    }
  print_list("", "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
             {{"Repository", "REPOSITORY"}, {"Tag", "TAG"}, {"ID", "IMAGE ID"}, {"CreatedSince", "CREATED"},
              {"Size", "SIZE"}, {"SharedSize", "SHARED SIZE"}, {"UniqueSize", "UNIQUE SIZE"}, {"Containers", "CONTAINERS"}},
             images);
  std::printf("\nContent store (compressed layers and documents, not counted above): %s\n",
              image::human_size(u.content_size).c_str());
  std::puts("\nContainers space usage:\n");
  std::vector<json> containers;
  for (auto& cu : u.containers) {
    const json& config = cu.container.data["Config"];
    const std::string cmd = engine::command_text(config);
    containers.push_back({{"ID", cu.container.id().substr(0, 12)}, {"Image", config.value("Image", "")},
                          {"Command", "\"" + cell_text(cmd, 20) + "\""}, {"LocalVolumes", std::to_string(cu.local_volumes)},
                          {"Size", image::human_size(cu.size_rw)},
                          {"CreatedSince", time_ago(cu.container.rec.created / 1000000000)},
                          {"Status", engine::status_text(cu.state)}, {"Names", cu.container.rec.name}});
  }
  print_list("", "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.CreatedSince}}\t{{.Status}}\t{{.Names}}",
             {{"ID", "CONTAINER ID"}, {"Image", "IMAGE"}, {"Command", "COMMAND"}, {"LocalVolumes", "LOCAL VOLUMES"},
              {"Size", "SIZE"}, {"CreatedSince", "CREATED"}, {"Status", "STATUS"}, {"Names", "NAMES"}},
             containers);
  std::puts("\nLocal Volumes space usage:\n");
  std::vector<json> volumes;
  for (auto& v : u.volumes)
    volumes.push_back({{"Name", v.volume.name}, {"Links", std::to_string(v.links)}, {"Size", image::human_size(v.size)}});
  print_list("", "{{.Name}}\t{{.Links}}\t{{.Size}}", {{"Name", "VOLUME NAME"}, {"Links", "LINKS"}, {"Size", "SIZE"}},
             volumes);
  std::puts("\nBuild cache usage: 0B\n");
  print_list("", "{{.ID}}\t{{.Type}}\t{{.Size}}\t{{.Created}}\t{{.LastUsed}}\t{{.Usage}}\t{{.Shared}}",
             {{"ID", "CACHE ID"}, {"Type", "CACHE TYPE"}, {"Size", "SIZE"}, {"Created", "CREATED"},
              {"LastUsed", "LAST USED"}, {"Usage", "USAGE"}, {"Shared", "SHARED"}},
             {});
}

}  // namespace

int cmd_system_df(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("system df", {{"format", "", true}, {"verbose", "v", false}}, argc, argv, first);
  if (!a.positional().empty()) throw UsageError("system df: takes no arguments");
  const std::string format = a.get("format");
  if (a.has("verbose") && !format.empty()) throw UsageError("system df: --format is not supported with --verbose");
  if (!format.empty() && format != "json" && format != "table")
    format::Template::parse(format.rfind("table ", 0) == 0 ? format.substr(6) : format);  // before any work
  auto eng = make_engine(e);
  const engine::Engine::DiskUsage u = eng.disk_usage();
  if (a.has("verbose")) {
    print_verbose(u);
    return 0;
  }
  int images_active = 0;
  for (auto& row : u.images) images_active += row.containers > 0;
  int running = 0;
  int64_t rw = 0, rw_stopped = 0;
  for (auto& cu : u.containers) {
    rw += cu.size_rw;
    if (cu.state.running()) ++running;
    else rw_stopped += cu.size_rw;
  }
  int volumes_active = 0;
  int64_t volumes_size = 0, volumes_unused = 0;
  for (auto& v : u.volumes) {
    volumes_size += v.size;
    if (v.links > 0) ++volumes_active;
    else volumes_unused += v.size;
  }
  std::vector<json> rows = {
      summary_row("Images", u.images.size(), images_active, u.layers_size, u.images_reclaimable),
      summary_row("Containers", u.containers.size(), running, rw, rw_stopped),
      summary_row("Local Volumes", u.volumes.size(), volumes_active, volumes_size, volumes_unused),
      summary_row("Build Cache", u.build_cache_entries, 0, u.build_cache_size, u.build_cache_size)};
  print_list(format, "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
             {{"Type", "TYPE"}, {"TotalCount", "TOTAL"}, {"Active", "ACTIVE"}, {"Size", "SIZE"}, {"Reclaimable", "RECLAIMABLE"}},
             rows);
  return 0;
}

}  // namespace berth::cli
