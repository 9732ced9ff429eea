// The engine as the CLI sets it up: its options from the global flags, and the hooks through
// which it leaves work to this program — the shim's exit command (`berth container cleanup`)
// and the background maker of warm network spares (`berth network fill`).
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "cli/berth/commands.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "engine/engine.hpp"

namespace berth::cli {

namespace {

std::string self_path() {
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) throw_errno("readlink /proc/self/exe");
  return std::string(exe, static_cast<size_t>(n));
}

// This program with the global flags of `o` (for the commands the engine leaves behind).
std::vector<std::string> self_command(const std::string& self, const Engine& e, const engine::Options& o) {
  std::vector<std::string> argv = {self, "--root", o.images.root, "--state", o.state,
                                   "--namespace", o.images.ns, "--storage-driver",
                                   o.images.driver == snapshot::Driver::native ? "native" : "overlay"};
  if (o.cni_plugin_dirs != std::vector<std::string>{"/usr/lib/cni"})
    for (auto& d : o.cni_plugin_dirs) argv.insert(argv.end(), {"--cni-plugin-dir", d});
  if (e.config_given) argv.insert(argv.end(), {"--config", e.config_file});
  return argv;
}

// daemon.json's runtimes and userns-remap: a missing file is no setting unless --config named it.
void configure_runtimes(const Engine& e, engine::Options& o) {
  engine::Runtimes& r = o.runtimes;
  std::string text;
  if (!fs::read_file_if_exists(e.config_file, text)) {
    if (e.config_given) throw Error(ErrorKind::invalid_argument, "--config " + e.config_file + ": no such file");
    return;
  }
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) throw Error(ErrorKind::invalid_argument, e.config_file + ": not a JSON object");
  r.configure(j, e.config_file);
  if (j.contains("userns-remap")) {
    // Wrong, it fails the commands that create a container, not every other (a container's
    // cleanup when it exits, ps, rm).
    try {
      if (!j["userns-remap"].is_string()) throw Error(ErrorKind::invalid_argument, e.config_file + ": userns-remap: want a string");
      o.userns_remap = engine::UsernsRemap::from_setting(j["userns-remap"].get<std::string>(), e.config_file);
    } catch (const Error& err) {
      o.userns_remap_error = err.what();
    }
  }
}


}  // namespace

engine::Engine make_engine(const Engine& e) {
  engine::Options o;
  o.images = e.image_options();
  o.state = e.state;
  const std::string self = self_path();
  if (const char* s = std::getenv("BERTH_SHIM"); s && *s) o.shim = s;
  else o.shim = self.substr(0, self.rfind('/')) + "/berth-shim";
  // A berth copied away from its shim finds one on PATH (an installed one).
  if (::access(o.shim.c_str(), X_OK) != 0) {
    const char* path = std::getenv("PATH");
    for (const auto& d : split(path ? path : "/usr/local/bin:/usr/bin:/bin", ':'))
      if (!d.empty() && ::access((d + "/berth-shim").c_str(), X_OK) == 0) {
        o.shim = d + "/berth-shim";
        break;
      }
  }
  o.debug = e.debug;
  if (!e.cni_plugin_dirs.empty()) o.cni_plugin_dirs = e.cni_plugin_dirs;
  // BERTH_CNI_TIMEOUT: seconds a plugin call may take (default 60).
  if (const char* t = std::getenv("BERTH_CNI_TIMEOUT"); t && *t) {
    char* end = nullptr;
    double secs = std::strtod(t, &end);
    if (*end || secs <= 0) throw Error("BERTH_CNI_TIMEOUT: not a number of seconds: " + std::string(t));
    o.cni_timeout_ms = static_cast<int>(secs * 1000);
  }
  // BERTH_RUNTIME_TIMEOUT: seconds each command of an external runtime may take (default 60).
  if (const char* t = std::getenv("BERTH_RUNTIME_TIMEOUT"); t && *t) {
    char* end = nullptr;
    double secs = std::strtod(t, &end);
    if (*end || secs <= 0) throw Error("BERTH_RUNTIME_TIMEOUT: not a number of seconds: " + std::string(t));
    o.runtime_timeout_ms = static_cast<int>(secs * 1000);
  }
  configure_runtimes(e, o);
  o.hooks = engine::cli_hooks(self_command(self, e, o));
  return engine::Engine(std::move(o));
}

}  // namespace berth::cli
