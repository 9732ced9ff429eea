// berth-runtime: an OCI runtime with runc's command line.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/log.hpp"
#include "runtime/exe_seal.hpp"

using namespace berth;

namespace {

const char* kUsage =
    "usage: berth-runtime [global flags] COMMAND [flags] [ID]\n"
    "\n"
    "An OCI runtime (runtime-spec 1.2) with runc's command line.\n"
    "\n"
    "Commands:\n"
    "  create    create a container (its process waits before exec)\n"
    "  start     start the user process of a created container\n"
    "  run       create and start a container\n"
    "  exec      run a process in a running container\n"
    "  ps        list the processes of a container (--format table|json)\n"
    "  pause     freeze every process of a container\n"
    "  resume    thaw a paused container\n"
    "  update    change the resource limits of a live container\n"
    "  events    print resource statistics (--stats: once)\n"
    "  state     print the state of a container as JSON\n"
    "  kill      send a signal to a container's init (or --all processes)\n"
    "  delete    delete a stopped container (--force: kill it first)\n"
    "  list      list containers (-q, --format table|json)\n"
    "  spec      write a default config.json (--rootless)\n"
    "  features  print the features this runtime supports as JSON\n"
    "\n"
    "Global flags:\n"
    "  --root DIR            state directory (default /run/berth-runtime; rootless:\n"
    "                        $XDG_RUNTIME_DIR/berth-runtime)\n"
    "  --log FILE            log file\n"
    "  --log-format FORMAT   text or json\n"
    "  --debug               debug logging\n"
    "  --systemd-cgroup      use systemd for cgroups (not supported)\n"
    "  --version, -v         print the version\n";

}  // namespace

int main(int argc, char** argv) {
  cli::Global g;
  log::init("", log::Format::text, false, "berth-runtime");  // a bad global flag says who we are
  try {
    bool version = false, help = false;
    int i = cli::parse_global_flags(argc, argv, [&](const std::string& name, const auto& value) {
      if (name == "--root") {
        g.root = value();
        if (g.root.empty()) throw UsageError("--root: an empty value");  // would be the current directory
      }
      else if (name == "--log") g.log = value();
      else if (name == "--log-format") g.log_format = value();
      else if (name == "--debug") g.debug = true;
      else if (name == "--systemd-cgroup") g.systemd_cgroup = true;
      else if (name == "--rootless" || name == "--criu") (void)value();  // runc compatibility
      else if (name == "--version" || name == "-v") version = true;
      else if (name == "--help" || name == "-h") help = true;
      else return false;
      return true;
    });
    if (version) {
      std::printf("berth-runtime version %s\nspec: 1.2.0\n", BERTH_VERSION);
      return 0;
    }
    if (help) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    const std::string cmd = i < argc ? argv[i] : "";
    // Before anything opens files: commands that enter a container run from a read-only
    // view of this binary (CVE-2019-5736), re-executing themselves once.
    if (cmd == "create" || cmd == "run" || cmd == "exec") runtime::reexec_from_sealed_exe(argv, "berth-runtime");
    if (g.log_format != "text" && g.log_format != "json")
      throw Error("--log-format must be text or json, not `" + g.log_format + "`");
    log::init(g.log, g.log_format == "json" ? log::Format::json : log::Format::text, g.debug, "berth-runtime");
    if (g.systemd_cgroup)
      throw Error("--systemd-cgroup: the systemd cgroup driver is not supported; use cgroupfs");
    if (i >= argc) {
      std::fputs(kUsage, stderr);
      return 1;
    }
    ++i;
    using Fn = int (*)(const cli::Global&, int, char**, int);
    struct Verb {
      const char* name;
      Fn fn;
    };
    static const Verb verbs[] = {
        {"create", cli::cmd_create}, {"start", cli::cmd_start},   {"run", cli::cmd_run},
        {"state", cli::cmd_state},   {"kill", cli::cmd_kill},     {"delete", cli::cmd_delete},
        {"list", cli::cmd_list},     {"spec", cli::cmd_spec},     {"features", cli::cmd_features},
        {"exec", cli::cmd_exec},     {"ps", cli::cmd_ps},         {"pause", cli::cmd_pause},
        {"resume", cli::cmd_resume}, {"update", cli::cmd_update}, {"events", cli::cmd_events},
    };
    for (auto& v : verbs)
      if (cmd == v.name) return v.fn(g, argc, argv, i);
    if (cmd == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    throw Error("unknown command `" + cmd + "`");
  } catch (const cli::HelpRequest& h) {
    std::printf("usage: berth-runtime [global options] %s [options] <container-id>\n\n", h.command.c_str());
    if (!h.flags.empty()) std::printf("options:\n%s", cli::describe_flags(h.flags).c_str());
    return 0;
  } catch (const std::exception& e) {
    log::write(log::Level::error, e.what());
    return 1;
  }
}
