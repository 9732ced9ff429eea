// berth info: the host, the store and the engine's settings.
#include <cstdio>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/fs.hpp"

namespace berth::cli {

using nlohmann::json;

// Docker's Runtimes ({"runc": {"path": …}}) with each one's version ("berth": this build's).
json runtimes_info(const engine::Runtimes& rts) {
  json out = json::object();
  for (const auto& [name, r] : rts.all()) {
    json j = {{"path", r.external() ? r.path : "(in-process)"},
              {"version", r.external() ? engine::runtime_version(r) : "berth " BERTH_VERSION}};
    if (!r.args.empty()) j["runtimeArgs"] = r.args;
    out[name] = j;
  }
  return out;
}

int cmd_info(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("info", {{"format", "f", true}}, argc, argv, first);
  if (!a.positional().empty()) throw Error("info: accepts no arguments (`" + a.positional()[0] + "`)");
  auto eng = make_engine(e);
  int running = 0, paused = 0, stopped = 0;
  auto list = eng.list();
  for (auto& c : list) {
    auto s = eng.state(c);
    if (s.removed) continue;
    if (s.status == engine::Status::running) ++running;
    else if (s.status == engine::Status::paused) ++paused;
    else ++stopped;
  }
  json info = {{"Containers", running + paused + stopped}, {"ContainersRunning", running}, {"ContainersPaused", paused},
               {"ContainersStopped", stopped}, {"Images", eng.images().list().size()},
               {"Driver", e.storage_driver}, {"DockerRootDir", e.root}, {"StateDir", e.state},
               {"Namespace", e.ns}, {"LoggingDriver", "json-file"},
               {"DefaultRuntime", eng.runtimes()->default_name()}, {"Runtimes", runtimes_info(*eng.runtimes())},
               {"ServerVersion", BERTH_VERSION}, {"OperatingSystem", "linux"},
               {"CgroupVersion", fs::exists("/sys/fs/cgroup/cgroup.controllers") ? "2" : "1"},
               {"NCPU", ::sysconf(_SC_NPROCESSORS_ONLN)}};
  if (a.has("format")) return print_inspect(a.get("format"), json::array({info}), 0);
  for (auto& [k, v] : info.items()) {
    if (k == "Runtimes") {
      std::printf("Runtimes:\n");
      for (auto& [name, r] : v.items())
        std::printf("  %s: %s%s%s\n", name.c_str(), r.value("path", "").c_str(),
                    r.contains("runtimeArgs") ? (" " + r["runtimeArgs"].dump()).c_str() : "",
                    r.value("version", "").empty() ? "" : (" (" + r.value("version", "") + ")").c_str());
      continue;
    }
    std::printf("%s: %s\n", k.c_str(), v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
  }
  return 0;
}

}  // namespace berth::cli
