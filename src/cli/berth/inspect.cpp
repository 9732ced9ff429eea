// berth inspect and container inspect: Docker's JSON documents, --format, --size.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"

namespace berth::cli {

using nlohmann::json;

namespace {

// A container's inspect document, with its sizes when asked (--size). not_found when `ref`
// names no container.
// With a template, the pointer fields Docker's JSON leaves out when unset are there as null:
// `{{if .State.Health}}` is false and `{{.State.Health}}` prints <nil>, as with Docker's
// structs, where a field the document lacks is an error.
json container_document(engine::Engine& eng, const std::string& ref, bool size, bool with_nulls) {
  auto c = eng.lookup(ref);
  json doc = eng.inspect(c);
  if (with_nulls) {
    if (!doc["State"].contains("Health")) doc["State"]["Health"] = nullptr;
    if (!doc["Config"].contains("Healthcheck")) doc["Config"]["Healthcheck"] = nullptr;
  }
  if (size) {
    const auto z = eng.sizes(c);
    doc["SizeRw"] = z.rw;
    doc["SizeRootFs"] = z.root_fs;
  }
  return doc;
}

bool templated(const std::string& format) { return !format.empty() && format != "json"; }

}  // namespace

int cmd_container_inspect(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("inspect", {{"format", "f", true}, {"type", "", true}, {"size", "s", false}}, argc, argv, first);
  if (a.positional().empty()) throw Error("inspect: a container is required");
  auto eng = make_engine(e);
  json out = json::array();
  std::vector<std::string> errors;
  for (auto& ref : a.positional()) {
    try {
      out.push_back(container_document(eng, ref, a.has("size"), templated(a.get("format"))));
    } catch (const Error& ex) {
      errors.push_back(ex.what());
    }
  }
  return print_inspect(a.get("format"), out, errors);
}

int cmd_inspect(const Engine& e, int argc, char** argv, int first) {
  // Each name as Docker's CLI resolves it: a container, else an image, a network, a volume;
  // none of them: "No such object".
  Args a = parse_args("inspect", {{"format", "f", true}, {"type", "", true}, {"size", "s", false}}, argc, argv, first);
  const std::string type = a.get("type");
  if (!type.empty()) {
    // The kind's own inspect, given the arguments without --type (`--type X`, `--type=X`)
    // and without the kind's flags it lacks (-s is the container's).
    std::vector<char*> rest(argv, argv + first);
    for (int i = first; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--") {
        rest.insert(rest.end(), argv + i, argv + argc);
        break;
      }
      if (arg == "--type") {
        ++i;
        continue;
      }
      if (arg.rfind("--type=", 0) == 0) continue;
      rest.push_back(argv[i]);
    }
    const int n = static_cast<int>(rest.size());
    if (type == "image") return cmd_image_inspect(e, n, rest.data(), first);
    if (type == "container") return cmd_container_inspect(e, n, rest.data(), first);
    if (type == "network") return cmd_network_inspect(e, n, rest.data(), first);
    if (type == "volume") return cmd_volume_inspect(e, n, rest.data(), first);
    throw Error("inspect: unknown --type `" + type + "` (container, image, network, volume)");
  }
  if (a.positional().empty()) throw Error("inspect: requires at least one NAME");
  auto eng = make_engine(e);
  json out = json::array();
  std::vector<std::string> errors;
  for (auto& ref : a.positional()) {
    try {
      out.push_back(container_document(eng, ref, a.has("size"), templated(a.get("format"))));
      continue;
    } catch (const Error& err) {
      if (err.kind() != ErrorKind::not_found) throw;
    }
    if (auto img = eng.images().find(ref)) {
      out.push_back(eng.images().inspect(*img));
    } else if (auto n = eng.networks().find(ref)) {
      out.push_back(eng.networks().inspect(*n));
    } else if (auto v = eng.volumes().get(ref)) {
      out.push_back(eng.volumes().inspect(*v));
    } else {
      errors.push_back("No such object: " + ref);
    }
  }
  return print_inspect(a.get("format"), out, errors);
}

}  // namespace berth::cli
