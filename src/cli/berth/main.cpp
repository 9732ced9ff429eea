// berth: the engine's command line (Docker's verbs and flags), daemonless.
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/berth/flag_help.hpp"
#include "common/error.hpp"
#include "cli/runtime/args.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "engine/spec.hpp"
#include "events/events.hpp"

using namespace berth;

namespace {

const char* kUsage =
    "usage: berth [global flags] COMMAND [flags] [ARGS]\n"
    "\n"
    "A container engine with Docker's command line.\n"
    "\n"
    "Containers:\n"
    "  run             create and start a container (-d -i -t --rm --name -e -v -w -u --entrypoint,\n"
    "                  --privileged --cap-add/--cap-drop --security-opt --read-only --tmpfs --ulimit\n"
    "                  --memory --cpus --cpuset-cpus --pids-limit --init --device --restart --log-opt\n"
    "                  --hostname --mount --runtime --pid host|container:ID --sig-proxy=false\n"
    "                  -a stdin|stdout|stderr --detach-keys KEYS (default ctrl-p,ctrl-q);\n"
    "                  --network NAME|none|host|container:ID --ip\n"
    "                  --network-alias -p [IP:][HOSTPORT:]PORT[/udp] -P --expose --dns --dns-search\n"
    "                  --dns-option --add-host --mac-address; --health-cmd --health-interval\n"
    "                  --health-timeout --health-retries --no-healthcheck …)\n"
    "  create          create a container without starting it (same flags)\n"
    "  start           start containers (-a, -i)\n"
    "  stop, restart   stop (-t SECONDS), then start again\n"
    "  kill            signal a container (-s SIGNAL)\n"
    "  rm              remove containers (-f)\n"
    "  ps              list containers (-a, -q, --no-trunc, --format table|json, --filter K=V)\n"
    "  logs            print a container's log (-f, --tail N, -t, --since, --until)\n"
    "  exec            run a command in a running container (-d -i -t -e -u -w)\n"
    "  attach, wait    attach to a running container; wait for it to exit\n"
    "  inspect         containers or images as JSON (-f TEMPLATE)\n"
    "  top, stats      processes (ps OPTIONS); cpu, memory, net and block I/O, pids (--no-stream)\n"
    "  events          what happens to containers, images, networks, volumes, live\n"
    "                  (--since/--until to replay, --filter type=|event=|container=|image=|…, --format)\n"
    "  pause, unpause, rename, port, container prune, system prune, info\n"
    "  volume          create, ls, inspect, rm, prune (named volumes, local driver)\n"
    "  network         create (--subnet --gateway --internal -d bridge|macvlan|ipvlan -o parent=IF\n"
    "                  -o warm=N: spares attached ahead, 2 on the default network),\n"
    "                  ls, inspect, rm, prune, connect (--alias --ip), disconnect (-f),\n"
    "                  check [NET…] (CNI CHECK of every attachment)\n"
    "  build           an image from a Dockerfile (-t -f --build-arg --target --no-cache --pull\n"
    "                  --label --network --iidfile -q; context: a directory or - for a tar)\n"
    "  commit          an image from a container's changes (-m, -a, -p, -c/--change 'CMD …')\n"
    "  export          a container's root filesystem as a tar (-o FILE)\n"
    "  diff            what a container changed: A added, C changed, D deleted\n"
    "  update          new limits or restart policy (-m --memory-swap --cpus -c --cpuset-cpus\n"
    "                  --pids-limit --restart), live for a running container\n"
    "  cp              copy files in or out (CONTAINER:SRC DEST, SRC CONTAINER:DEST)\n"
    "\n"
    "Images:\n"
    "  pull            fetch an image from a registry (--platform, -q, --tls-verify=false)\n"
    "  push            send an image to a registry (IMAGE [DESTINATION])\n"
    "  login, logout   registry credentials (-u, -p/--password-stdin; --authfile)\n"
    "  images          list images (-q, --digests, --no-trunc, --format table|json)\n"
    "  image inspect   print images as JSON (Docker's shape)\n"
    "  image ls        same as images\n"
    "  image rm        same as rmi\n"
    "  image prune     remove unused data (-a: every image)\n"
    "  history         an image's steps (-q, --no-trunc, -H, --format)\n"
    "  import          make an image from a rootfs tarball (FILE|URL|- [REPOSITORY[:TAG]], -m, -c)\n"
    "  search          search Docker Hub or a registry's v1 search (TERM, --limit, --filter, --format)\n"
    "  tag             give an image another name\n"
    "  rmi             remove images (-f)\n"
    "  save            write images to a tar archive (-o FILE; OCI layout + Docker manifest.json)\n"
    "  load            read images from a docker-archive or oci-archive (-i FILE)\n"
    "  image mount     mount an image's root filesystem read-only (IMAGE [DIR])\n"
    "  image unmount   undo image mount (DIR or IMAGE)\n"
    "  system df       disk usage (-v: per image, container and volume; --format)\n"
    "  version         the version of berth and its engine (--format)\n"
    "  system check    records vs files, mounts and shims: what is missing or left over (--repair)\n"
    "  system autostart  start what the restart policies want running (at boot, as dockerd does)\n"
    "\n"
    "Global flags:\n"
    "  --root DIR             persistent data (default /var/lib/berth)\n"
    "  --state DIR            runtime state (default /run/berth)\n"
    "  --namespace NS, -n NS  namespace (default \"default\"; env BERTH_NAMESPACE)\n"
    "  --storage-driver NAME  overlay (default) or native\n"
    "  --max-layer-size SIZE  refuse layers that unpack to more (e.g. 10g; default: no limit)\n"
    "  --cni-plugin-dir DIR   where CNI plugins are (default /usr/lib/cni; repeat or DIR:DIR)\n"
    "  --config FILE          daemon.json: runtimes, default-runtime (default /etc/berth/daemon.json)\n"
    "  --debug                debug logging\n"
    "  --version, -v          print the version\n";

int registry_login(const cli::Engine& e, int argc, char** argv, int first) {
  return cli::run_registry_verb("login", e, argc, argv, first);
}
int registry_logout(const cli::Engine& e, int argc, char** argv, int first) {
  return cli::run_registry_verb("logout", e, argc, argv, first);
}

// Per-verb help (`berth VERB --help`, `berth help VERB`): the usage line and what it does;
// the flags come from the verb's own flag table.
struct VerbHelp {
  const char* command;  // as the verb names itself to its flag parser
  const char* args;
  const char* what;
};

const VerbHelp kHelp[] = {
    {"run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container from an image"},
    {"create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container"},
    {"start", "[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers"},
    {"stop", "[OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers"},
    {"restart", "[OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers"},
    {"kill", "[OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers"},
    {"rm", "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers"},
    {"ps", "[OPTIONS]", "List containers"},
    {"logs", "[OPTIONS] CONTAINER", "Fetch the logs of a container"},
    {"exec", "[OPTIONS] CONTAINER COMMAND [ARG...]", "Execute a command in a running container"},
    {"attach", "[OPTIONS] CONTAINER", "Attach local standard input, output, and error streams to a running container"},
    {"wait", "CONTAINER [CONTAINER...]", "Block until one or more containers stop, then print their exit codes"},
    {"inspect", "[OPTIONS] NAME|ID [NAME|ID...]", "Return low-level information on containers or images"},
    {"top", "CONTAINER [ps OPTIONS]", "Display the running processes of a container"},
    {"stats", "[OPTIONS] [CONTAINER...]", "Display a live stream of container(s) resource usage statistics"},
    {"events", "[OPTIONS]", "Get real time events from the server"},
    {"pause", "CONTAINER [CONTAINER...]", "Pause all processes within one or more containers"},
    {"unpause", "CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers"},
    {"rename", "CONTAINER NEW_NAME", "Rename a container"},
    {"port", "CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings or a specific mapping for the container"},
    {"commit", "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create a new image from a container's changes"},
    {"build", "[OPTIONS] PATH | -", "Build an image from a Dockerfile"},
    {"diff", "CONTAINER", "Inspect changes to files or directories on a container's filesystem"},
    {"update", "[OPTIONS] CONTAINER [CONTAINER...]", "Update configuration of one or more containers"},
    {"export", "[OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive"},
    {"cp", "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-  or  SRC_PATH|- CONTAINER:DEST_PATH",
     "Copy files/folders between a container and the local filesystem"},
    {"container prune", "[OPTIONS]", "Remove all stopped containers"},
    {"images", "[OPTIONS] [REPOSITORY[:TAG]]", "List images"},
    {"image inspect", "[OPTIONS] IMAGE [IMAGE...]", "Display detailed information on one or more images"},
    {"history", "[OPTIONS] IMAGE", "Show the history of an image"},
    {"rmi", "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images"},
    {"tag", "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"},
    {"import", "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]", "Import the contents from a tarball to create a filesystem image"},
    {"search", "[OPTIONS] TERM", "Search Docker Hub (or REGISTRY/TERM: that registry) for images"},
    {"image prune", "[OPTIONS]", "Remove unused images"},
    {"builder prune", "[OPTIONS]", "Remove build cache"},
    {"save", "[OPTIONS] IMAGE [IMAGE...]", "Save one or more images to a tar archive"},
    {"load", "[OPTIONS]", "Load an image from a tar archive or STDIN"},
    {"pull", "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry"},
    {"push", "[OPTIONS] NAME[:TAG] [DESTINATION]", "Upload an image to a registry"},
    {"login", "[OPTIONS] [SERVER]", "Log in to a registry"},
    {"logout", "[SERVER]", "Log out from a registry"},
    {"image mount", "IMAGE [DIR]", "Mount an image's root filesystem read-only (nosuid, nodev)"},
    {"image unmount", "DIR|IMAGE", "Undo image mount"},
    {"info", "[OPTIONS]", "Display system-wide information"},
    {"version", "[OPTIONS]", "Show the berth version information"},
    {"system df", "[OPTIONS]", "Show disk usage"},
    {"system prune", "[OPTIONS]", "Remove unused data"},
    {"system check", "[OPTIONS]", "Check the store (records, files, mounts, shims); --repair removes what is left over"},
    {"system autostart", "[OPTIONS]", "Start the containers whose restart policy wants them running (always; unless-stopped not stopped by a user; on-failure after a failure), as Docker's daemon does when it starts: for a host's boot"},
    {"volume create", "[OPTIONS] [VOLUME]", "Create a volume"},
    {"volume ls", "[OPTIONS]", "List volumes"},
    {"volume inspect", "[OPTIONS] VOLUME [VOLUME...]", "Display detailed information on one or more volumes"},
    {"volume rm", "[OPTIONS] VOLUME [VOLUME...]", "Remove one or more volumes"},
    {"volume prune", "[OPTIONS]", "Remove unused local volumes"},
    {"network create", "[OPTIONS] NETWORK", "Create a network"},
    {"network ls", "[OPTIONS]", "List networks"},
    {"network inspect", "[OPTIONS] NETWORK [NETWORK...]", "Display detailed information on one or more networks"},
    {"network rm", "NETWORK [NETWORK...]", "Remove one or more networks"},
    {"network prune", "[OPTIONS]", "Remove all unused networks"},
    {"network connect", "[OPTIONS] NETWORK CONTAINER", "Connect a container to a network"},
    {"network disconnect", "[OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network"},
    {"network check", "[NETWORK...]", "Ask the CNI plugins to check every attachment (CNI CHECK)"},
};

void print_verb_help(const cli::HelpRequest& h) {
  const VerbHelp* vh = nullptr;
  for (auto& x : kHelp)
    if (h.command == x.command) vh = &x;
  std::printf("\nUsage:  berth %s %s\n\n", h.command.c_str(), vh ? vh->args : "[OPTIONS]");
  if (vh) std::printf("%s\n\n", vh->what);
  // Docker's layout: "  -t, --time int   Seconds to wait …", descriptions in one column.
  std::vector<cli::FlagSpec> flags = h.flags;
  std::sort(flags.begin(), flags.end(), [](const cli::FlagSpec& a, const cli::FlagSpec& b) { return a.name < b.name; });
  std::vector<std::pair<std::string, std::string>> lines;
  size_t width = 0;
  for (const auto& f : flags) {
    const cli::FlagHelp* fh = cli::flag_help(h.command, f.name);
    std::string left = (f.alias.empty() ? "      " : "  -" + f.alias + ", ") + "--" + f.name;
    const std::string type = fh ? fh->type : f.takes_value ? (f.repeatable ? "list" : "string") : "";
    if (f.takes_value && !type.empty()) left += " " + type;
    lines.push_back({left, fh ? fh->text : ""});
    width = std::max(width, left.size());
  }
  lines.push_back({"      --help", "Print usage"});
  width = std::max(width, lines.back().first.size());
  std::printf("Options:\n");
  for (auto& [left, text] : lines) std::printf("%-*s   %s\n", static_cast<int>(width), left.c_str(), text.c_str());
}

struct Verb {
  const char* name;
  const char* sub;  // second word ("image inspect"), or nullptr
  cli::VerbFn fn;
};

const Verb kVerbs[] = {
    {"images", nullptr, cli::cmd_images},
    {"image", "ls", cli::cmd_images},
    {"image", "list", cli::cmd_images},
    {"image", "inspect", cli::cmd_image_inspect},
    {"history", nullptr, cli::cmd_history},
    {"image", "history", cli::cmd_history},
    {"image", "rm", cli::cmd_rmi},
    {"image", "tag", cli::cmd_tag},
    {"image", "import", cli::cmd_import},
    {"image", "prune", cli::cmd_image_prune},
    {"build", nullptr, cli::cmd_build},
    {"image", "build", cli::cmd_build},
    {"builder", "build", cli::cmd_build},
    {"builder", "prune", cli::cmd_builder_prune},
    {"inspect", nullptr, cli::cmd_inspect},
    {"tag", nullptr, cli::cmd_tag},
    {"rmi", nullptr, cli::cmd_rmi},
    {"import", nullptr, cli::cmd_import},
    {"search", nullptr, cli::cmd_search},
    {"system", "df", cli::cmd_system_df},
    {"version", nullptr, cli::cmd_version},
    {"system", "events", cli::cmd_events},
    {"system", "check", cli::cmd_system_check},
    {"system", "autostart", cli::cmd_system_autostart},
    {"save", nullptr, cli::cmd_save},
    {"pull", nullptr, cli::cmd_pull},
    {"push", nullptr, cli::cmd_push},
    {"login", nullptr, registry_login},
    {"logout", nullptr, registry_logout},
    {"image", "pull", cli::cmd_pull},
    {"image", "push", cli::cmd_push},
    {"load", nullptr, cli::cmd_load},
    {"image", "save", cli::cmd_save},
    {"image", "load", cli::cmd_load},
    {"image", "mount", cli::cmd_image_mount},
    {"image", "unmount", cli::cmd_image_unmount},
    {"image", "umount", cli::cmd_image_unmount},
    {"run", nullptr, cli::cmd_run},
    {"create", nullptr, cli::cmd_create},
    {"start", nullptr, cli::cmd_start},
    {"stop", nullptr, cli::cmd_stop},
    {"restart", nullptr, cli::cmd_restart},
    {"kill", nullptr, cli::cmd_kill},
    {"rm", nullptr, cli::cmd_rm},
    {"ps", nullptr, cli::cmd_ps},
    {"logs", nullptr, cli::cmd_logs},
    {"exec", nullptr, cli::cmd_exec},
    {"attach", nullptr, cli::cmd_attach},
    {"wait", nullptr, cli::cmd_wait},
    {"top", nullptr, cli::cmd_top},
    {"stats", nullptr, cli::cmd_stats},
    {"events", nullptr, cli::cmd_events},
    {"pause", nullptr, cli::cmd_pause},
    {"unpause", nullptr, cli::cmd_unpause},
    {"rename", nullptr, cli::cmd_rename},
    {"port", nullptr, cli::cmd_port},
    {"info", nullptr, cli::cmd_info},
    {"system", "info", cli::cmd_info},
    {"system", "prune", cli::cmd_system_prune},
    {"container", "run", cli::cmd_run},
    {"container", "create", cli::cmd_create},
    {"container", "start", cli::cmd_start},
    {"container", "stop", cli::cmd_stop},
    {"container", "restart", cli::cmd_restart},
    {"container", "kill", cli::cmd_kill},
    {"container", "rm", cli::cmd_rm},
    {"container", "ls", cli::cmd_ps},
    {"container", "list", cli::cmd_ps},
    {"container", "ps", cli::cmd_ps},
    {"container", "logs", cli::cmd_logs},
    {"container", "exec", cli::cmd_exec},
    {"container", "attach", cli::cmd_attach},
    {"container", "wait", cli::cmd_wait},
    {"container", "inspect", cli::cmd_container_inspect},
    {"container", "top", cli::cmd_top},
    {"container", "stats", cli::cmd_stats},
    {"container", "pause", cli::cmd_pause},
    {"container", "unpause", cli::cmd_unpause},
    {"container", "rename", cli::cmd_rename},
    {"container", "port", cli::cmd_port},
    {"container", "prune", cli::cmd_container_prune},
    {"container", "cleanup", cli::cmd_container_cleanup},
    {"export", nullptr, cli::cmd_export},
    {"diff", nullptr, cli::cmd_diff},
    {"update", nullptr, cli::cmd_update},
    {"container", "update", cli::cmd_update},
    {"container", "diff", cli::cmd_diff},
    {"container", "export", cli::cmd_export},
    {"commit", nullptr, cli::cmd_commit},
    {"cp", nullptr, cli::cmd_cp},
    {"container", "cp", cli::cmd_cp},
    {"container", "commit", cli::cmd_commit},
    {"volume", "create", cli::cmd_volume_create},
    {"volume", "ls", cli::cmd_volume_ls},
    {"volume", "list", cli::cmd_volume_ls},
    {"volume", "inspect", cli::cmd_volume_inspect},
    {"volume", "rm", cli::cmd_volume_rm},
    {"volume", "remove", cli::cmd_volume_rm},
    {"volume", "prune", cli::cmd_volume_prune},
    {"network", "create", cli::cmd_network_create},
    {"network", "ls", cli::cmd_network_ls},
    {"network", "list", cli::cmd_network_ls},
    {"network", "inspect", cli::cmd_network_inspect},
    {"network", "rm", cli::cmd_network_rm},
    {"network", "remove", cli::cmd_network_rm},
    {"network", "prune", cli::cmd_network_prune},
    {"network", "connect", cli::cmd_network_connect},
    {"network", "disconnect", cli::cmd_network_disconnect},
    {"network", "fill", cli::cmd_network_fill},
    {"network", "check", cli::cmd_network_check},
};

}  // namespace

namespace berth::cli {

image::Options Engine::image_options(const std::string& platform) const {
  image::Options o;
  if (!platform.empty()) o.platform = oci::Platform::parse(platform);
  o.root = root;
  o.ns = ns;
  o.driver = snapshot::parse_driver(storage_driver);
  o.max_layer_size = max_layer_size;
  o.events = events::log_path(state, ns);
  return o;
}

}  // namespace berth::cli

int berth_main(int argc, char** argv) {
  cli::Engine e;
  if (const char* ns = std::getenv("BERTH_NAMESPACE"); ns && *ns) e.ns = ns;
  try {
    bool version = false, help = false;
    int i = cli::parse_global_flags(argc, argv, [&](const std::string& name, const auto& value) {
      // An empty one (`--root "$UNSET"`) would be the current directory, or / itself.
      auto path = [&](std::string v) {
        if (v.empty()) throw UsageError(name + ": an empty value");
        return v;
      };
      if (name == "--root") e.root = path(value());
      else if (name == "--state") e.state = path(value());
      else if (name == "--namespace" || name == "-n") e.ns = path(value());
      else if (name == "--storage-driver") e.storage_driver = value();
      else if (name == "--max-layer-size") {
        try {
          e.max_layer_size = engine::parse_bytes(value(), "--max-layer-size");
        } catch (const Error& err) {
          throw UsageError(err.what());
        }
      }
      else if (name == "--cni-plugin-dir") {
        for (auto& d : split(value(), ':'))
          if (!d.empty()) e.cni_plugin_dirs.push_back(d);
      }
      else if (name == "--config") {
        e.config_file = value();
        e.config_given = true;
      }
      else if (name == "--debug" || name == "-D") e.debug = true;
      else if (name == "--version" || name == "-v") version = true;
      else if (name == "--help" || name == "-h") help = true;
      else return false;
      return true;
    });
    if (version) {
      std::printf("berth version %s\n", BERTH_VERSION);
      return 0;
    }
    if (help) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    log::init("", log::Format::text, e.debug, "berth");
    if (i >= argc) {
      std::fputs(kUsage, stderr);
      return 1;
    }
    const std::string cmd = argv[i++];
    if (cmd == "help") {
      // `berth help VERB [SUB]`: the verb's own --help.
      if (i >= argc) {
        std::fputs(kUsage, stdout);
        return 0;
      }
      std::vector<char*> again(argv, argv + argc);
      again.erase(again.begin() + i - 1);  // "help"
      static char help_flag[] = "--help";
      again.push_back(help_flag);
      return berth_main(static_cast<int>(again.size()), again.data());
    }
    bool known_group = false;
    for (auto& v : kVerbs) {
      if (cmd != v.name) continue;
      if (!v.sub) return v.fn(e, argc, argv, i);
      known_group = true;
      if (i < argc && std::strcmp(argv[i], v.sub) == 0) return v.fn(e, argc, argv, i + 1);
    }
    if (known_group)
      throw Error("`" + cmd + (i < argc ? " " + std::string(argv[i]) : std::string()) +
                  "` is not a berth command (see berth --help)");
    throw Error("`" + cmd + "` is not a berth command (see berth --help)");
  } catch (const cli::HelpRequest& h) {
    print_verb_help(h);
    return 0;
  } catch (const UsageError& ex) {
    std::fprintf(stderr, "berth: %s (see berth --help)\n", ex.what());
    return 125;
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "berth: %s\n", ex.what());
    return 1;
  }
}

int main(int argc, char** argv) { return berth_main(argc, argv); }
