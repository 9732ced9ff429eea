// berth info: Docker's document of the host, the store and the engine (engine/info.hpp, the
// same berthd's GET /info answers), as Docker's text or through --format; the runtimes with
// their versions after it.
#include <cstdio>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "engine/info.hpp"

namespace berth::cli {

using nlohmann::json;

int cmd_info(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("info", {{"format", "f", true}}, argc, argv, first);
  if (!a.positional().empty()) throw Error("info: accepts no arguments (`" + a.positional()[0] + "`)");
  auto eng = make_engine(e);
  engine::InfoExtras x;
  x.server_version = BERTH_VERSION;
  json info = engine::docker_info(eng, x);
  // berth's own: where its state lives, the namespace it serves.
  info["StateDir"] = e.state;
  info["Namespace"] = e.ns;
  if (a.has("format")) return print_inspect(a.get("format"), json::array({info}), 0);
  std::printf("Client:\n Context:    default\n Debug Mode: %s\n\n%s", info.value("Debug", false) ? "true" : "false",
              engine::info_text(info).c_str());
  std::printf(" State Dir: %s\n Namespace: %s\n", e.state.c_str(), e.ns.c_str());
  const auto rts = eng.runtimes();
  for (const auto& [name, r] : rts->all())
    std::printf(" Runtime %s: %s%s (%s)\n", name.c_str(), r.external() ? r.path.c_str() : "(in-process)",
                r.args.empty() ? "" : (" " + json(r.args).dump()).c_str(),
                r.external() ? engine::runtime_version(r).c_str() : "berth " BERTH_VERSION);
  return 0;
}

}  // namespace berth::cli
