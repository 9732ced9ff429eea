// The `berth` command line: global flags and one function per verb (one file per group).
#pragma once

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cli/runtime/args.hpp"
#include "common/time.hpp"
#include "engine/engine.hpp"
#include "image/service.hpp"

namespace berth::cli {

struct Engine {
  std::string root = "/var/lib/berth";
  std::string state = "/run/berth";
  std::string ns = "default";
  std::string storage_driver = "overlay";
  std::vector<std::string> cni_plugin_dirs;  // --cni-plugin-dir (default /usr/lib/cni)
  int64_t max_layer_size = 0;               // --max-layer-size (0: no limit)
  bool debug = false;
  // --config: daemon.json (berth reads its `runtimes` and `default-runtime`); missing is
  // fine unless given.
  std::string config_file = "/etc/berth/daemon.json";
  bool config_given = false;

  // The image service's settings and the service; `platform` ("linux/arm64") overrides this
  // machine's for pulls.
  image::Options image_options(const std::string& platform = "") const;
  image::Service images(const std::string& platform = "") const { return image::Service(image_options(platform)); }
};

// The container engine with the global flags' settings.
engine::Engine make_engine(const Engine& e);

using VerbFn = int (*)(const Engine&, int argc, char** argv, int first);

// Flags as Docker's CLI takes them (combined short flags "-fa" too).
Args parse_args(const std::string& cmd, const std::vector<FlagSpec>& flags, int argc, char** argv, int first,
                bool stop_at_positional = false);
// An inspect's documents: as an indented JSON array without a format, one JSON document per
// line with "json", else each through the Go template `format` (format/template.hpp); the
// template is parsed before anything is printed. Returns rc.
int print_inspect(const std::string& format, const nlohmann::json& docs, int rc);
// The same, then `errors` on stderr, each a line "Error: …" (Docker's order: the documents
// found first); 1 when there are any.
int print_inspect(const std::string& format, const nlohmann::json& docs, const std::vector<std::string>& errors);
// A list verb's rows through --format: "json", "table TEMPLATE" (header from `headers`) or a
// template per row; "" and "table" use `default_table`.
// Table cells of the verbs that lay out their own columns (ps, top): characters on screen
// (UTF-8 code points); `s` padded to `w` of them; control characters made spaces and, with
// max > 0, cut to max characters ending in "…".
size_t width(const std::string& s);
std::string pad(const std::string& s, size_t w);
std::string cell_text(std::string s, size_t max);
// Docker's --filter KEY=VALUE of a list verb (args.cpp): the values given for each key. The
// values of one key are alternatives (any), except where every one must hold (labels: all).
// A filter without "=", or with a key the verb does not take, is an invalid_argument error
// naming the keys it takes ("VERB: invalid filter `k` (a, b, c)").
class Filters {
 public:
  Filters(const std::string& verb, const std::vector<std::string>& specs, const std::vector<std::string>& keys);
  bool has(const std::string& key) const { return by_key_.count(key) > 0; }
  const std::vector<std::string>& values(const std::string& key) const;
  // True when no value was given for `key`, or `ok` holds for one of them.
  bool any(const std::string& key, const std::function<bool(const std::string&)>& ok) const;
  // True when `ok` holds for every value given for `key` (none given: true).
  bool all(const std::string& key, const std::function<bool(const std::string&)>& ok) const;
  // A value of `key` that must be one of `allowed` (checked for every value given).
  void check_values(const std::string& key, const std::vector<std::string>& allowed) const;
  const std::map<std::string, std::vector<std::string>>& by_key() const { return by_key_; }

 private:
  std::string verb_;
  std::map<std::string, std::vector<std::string>> by_key_;
};
// An integer flag value ("--time 5"): a usage error naming the flag when it is not one.
int int_flag(const Args& a, const std::string& name, int otherwise);
// A file berth is to write in place of whatever is at `path` (save -o, export -o, --iidfile):
// it must be missing or a regular file (symlinks followed), as Docker's CLI checks — the
// rename over it would otherwise replace a device (`-o /dev/null`), a FIFO or a socket.
void check_output_file(const std::string& verb, const std::string& path);
// Docker's way with several containers (args.cpp): `op` on each, its name printed on
// success, its error on stderr; exit 1 if any failed.
int for_each_container(const std::vector<std::string>& refs, const std::function<void(const std::string&)>& op);
void print_list(const std::string& format, const std::string& default_table, const nlohmann::json& headers,
                const std::vector<nlohmann::json>& rows);
// Docker's label filter: `spec` is K (the label is there) or K=V (with that value); `labels` a
// JSON object of them (anything else has none).
bool has_label(const nlohmann::json& labels, const std::string& spec);
// --since/--until and the until filter: a duration before now ("10m", "2h"), an RFC 3339
// time or unix seconds; unix seconds (0 for "").
int64_t parse_since(const std::string& s);
// The same to the nanosecond (a fraction of unix seconds kept: events' --since/--until).
int64_t parse_time_ns(const std::string& s);

int cmd_images(const Engine& e, int argc, char** argv, int first);
int cmd_image_inspect(const Engine& e, int argc, char** argv, int first);
int cmd_history(const Engine& e, int argc, char** argv, int first);
int cmd_tag(const Engine& e, int argc, char** argv, int first);
int cmd_rmi(const Engine& e, int argc, char** argv, int first);
int cmd_import(const Engine& e, int argc, char** argv, int first);
int cmd_search(const Engine& e, int argc, char** argv, int first);
int cmd_image_prune(const Engine& e, int argc, char** argv, int first);
int cmd_save(const Engine& e, int argc, char** argv, int first);
int cmd_load(const Engine& e, int argc, char** argv, int first);
int cmd_image_mount(const Engine& e, int argc, char** argv, int first);
int cmd_image_unmount(const Engine& e, int argc, char** argv, int first);
// registry.cpp: pull and push through the image service, the registry module's client.
int cmd_pull(const Engine& e, int argc, char** argv, int first);
int cmd_push(const Engine& e, int argc, char** argv, int first);
// `ref` pulled as `run --pull` does it: default registry access, progress on `progress_out`
// (nullptr: none, `run -q`).
void pull_image(const Engine& e, const std::string& ref, const std::string& platform, std::FILE* progress_out);
// ADD of a URL: its body to `fd` through the registry module's HTTP client; the
// Last-Modified time (unix seconds, 0 when none).
int64_t fetch_url(const std::string& url, int fd);
// login and logout, in the module berth-registry.so (src/registry/cli.cpp): loads it (next to
// the berth binary, or $BERTH_REGISTRY_MODULE) and runs `verb`.
int run_registry_verb(const char* verb, const Engine& e, int argc, char** argv, int first);
int cmd_system_df(const Engine& e, int argc, char** argv, int first);
int cmd_version(const Engine& e, int argc, char** argv, int first);
int cmd_system_check(const Engine& e, int argc, char** argv, int first);
// Containers and volumes: one file per verb (run.cpp has run and create, pause.cpp pause and
// unpause, inspect.cpp both inspects, volumes.cpp the volume verbs).
int cmd_run(const Engine& e, int argc, char** argv, int first);
int cmd_create(const Engine& e, int argc, char** argv, int first);
int cmd_start(const Engine& e, int argc, char** argv, int first);
int cmd_system_autostart(const Engine& e, int argc, char** argv, int first);
int cmd_stop(const Engine& e, int argc, char** argv, int first);
int cmd_restart(const Engine& e, int argc, char** argv, int first);
int cmd_kill(const Engine& e, int argc, char** argv, int first);
int cmd_rm(const Engine& e, int argc, char** argv, int first);
int cmd_ps(const Engine& e, int argc, char** argv, int first);
int cmd_logs(const Engine& e, int argc, char** argv, int first);
int cmd_exec(const Engine& e, int argc, char** argv, int first);
int cmd_attach(const Engine& e, int argc, char** argv, int first);
int cmd_wait(const Engine& e, int argc, char** argv, int first);
int cmd_inspect(const Engine& e, int argc, char** argv, int first);
int cmd_container_inspect(const Engine& e, int argc, char** argv, int first);
int cmd_top(const Engine& e, int argc, char** argv, int first);
int cmd_diff(const Engine& e, int argc, char** argv, int first);
int cmd_update(const Engine& e, int argc, char** argv, int first);
int cmd_stats(const Engine& e, int argc, char** argv, int first);
int cmd_events(const Engine& e, int argc, char** argv, int first);
int cmd_pause(const Engine& e, int argc, char** argv, int first);
int cmd_unpause(const Engine& e, int argc, char** argv, int first);
int cmd_rename(const Engine& e, int argc, char** argv, int first);
int cmd_port(const Engine& e, int argc, char** argv, int first);
int cmd_container_prune(const Engine& e, int argc, char** argv, int first);
int cmd_container_cleanup(const Engine& e, int argc, char** argv, int first);
int cmd_system_prune(const Engine& e, int argc, char** argv, int first);
int cmd_info(const Engine& e, int argc, char** argv, int first);
int cmd_export(const Engine& e, int argc, char** argv, int first);
int cmd_commit(const Engine& e, int argc, char** argv, int first);
// build.cpp: berth build (a Dockerfile through build/builder.hpp), builder prune.
int cmd_build(const Engine& e, int argc, char** argv, int first);
int cmd_builder_prune(const Engine& e, int argc, char** argv, int first);
int cmd_cp(const Engine& e, int argc, char** argv, int first);
int cmd_volume_create(const Engine& e, int argc, char** argv, int first);
int cmd_volume_ls(const Engine& e, int argc, char** argv, int first);
int cmd_volume_inspect(const Engine& e, int argc, char** argv, int first);
int cmd_volume_rm(const Engine& e, int argc, char** argv, int first);
int cmd_volume_prune(const Engine& e, int argc, char** argv, int first);
// Networks (networks.cpp).
int cmd_network_create(const Engine& e, int argc, char** argv, int first);
int cmd_network_ls(const Engine& e, int argc, char** argv, int first);
int cmd_network_inspect(const Engine& e, int argc, char** argv, int first);
int cmd_network_rm(const Engine& e, int argc, char** argv, int first);
int cmd_network_fill(const Engine& e, int argc, char** argv, int first);
int cmd_network_check(const Engine& e, int argc, char** argv, int first);
int cmd_network_prune(const Engine& e, int argc, char** argv, int first);
int cmd_network_connect(const Engine& e, int argc, char** argv, int first);
int cmd_network_disconnect(const Engine& e, int argc, char** argv, int first);

// "3 minutes ago", "2 months ago", like Docker's CreatedSince.
std::string time_ago(int64_t unix_seconds);

}  // namespace berth::cli
