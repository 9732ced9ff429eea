// berth version: Docker's document (Client, and the engine as its Server: berth has no daemon,
// the engine is the same program), as text or through --format.
#include <sys/utsname.h>

#include <cstdio>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"

namespace berth::cli {

using nlohmann::json;

int cmd_version(const Engine&, int argc, char** argv, int first) {
  Args a = parse_args("version", {{"format", "f", true}}, argc, argv, first);
  if (!a.positional().empty()) throw UsageError("version: takes no arguments");
  utsname u{};
  ::uname(&u);
  const std::string arch = std::string(u.machine) == "x86_64" ? "amd64" : std::string(u.machine) == "aarch64" ? "arm64" : u.machine;
  // Docker's templates name the Go fields (`.Server.APIVersion`); its JSON says ApiVersion:
  // both are here. berth is not written in Go: GoVersion is empty.
  const json client = {{"Platform", {{"Name", "berth"}}}, {"Version", BERTH_VERSION}, {"ApiVersion", "1.41"},
                       {"APIVersion", "1.41"}, {"DefaultAPIVersion", "1.41"}, {"GitCommit", ""}, {"GoVersion", ""},
                       {"Os", "linux"}, {"Arch", arch}, {"BuildTime", ""}, {"Context", "default"}, {"Experimental", false}};
  const json server = {{"Platform", {{"Name", "berth (daemonless: the engine runs in this process)"}}},
                       {"Version", BERTH_VERSION}, {"ApiVersion", "1.41"}, {"APIVersion", "1.41"}, {"MinAPIVersion", "1.24"},
                       {"GitCommit", ""}, {"GoVersion", ""}, {"Os", "linux"}, {"Arch", arch}, {"KernelVersion", u.release},
                       {"Experimental", false}, {"BuildTime", ""},
                       {"Components", json::array({{{"Name", "Engine"}, {"Version", BERTH_VERSION}},
                                                   {{"Name", "berth-runtime"}, {"Version", BERTH_VERSION}}})}};
  const json doc = {{"Client", client}, {"Server", server}};
  if (a.has("format")) return print_inspect(a.get("format"), json::array({doc}), 0);
  std::printf("Client:\n Version:           %s\n API version:       1.41\n OS/Arch:           linux/%s\n\n",
              BERTH_VERSION, arch.c_str());
  std::printf("Server:\n Engine:\n  Version:          %s\n  API version:      1.41 (minimum version 1.24)\n"
              "  OS/Arch:          linux/%s\n  Kernel version:   %s\n berth-runtime:\n  Version:          %s\n",
              BERTH_VERSION, arch.c_str(), u.release, BERTH_VERSION);
  return 0;
}

}  // namespace berth::cli
