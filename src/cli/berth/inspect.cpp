// berth inspect and container inspect: Docker's JSON documents, --format, --size.
#include <cstdio>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"

namespace berth::cli {

using nlohmann::json;

int cmd_container_inspect(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("inspect", {{"format", "f", true}, {"type", "", true}, {"size", "s", false}}, argc, argv, first);
  if (a.positional().empty()) throw Error("inspect: a container is required");
  auto eng = make_engine(e);
  json out = json::array();
  int rc = 0;
  for (auto& ref : a.positional()) {
    try {
      auto c = eng.lookup(ref);
      out.push_back(eng.inspect(c));
      if (a.has("size")) {
        const auto z = eng.sizes(c);
        out.back()["SizeRw"] = z.rw;
        out.back()["SizeRootFs"] = z.root_fs;
      }
    } catch (const Error& ex) {
      std::fprintf(stderr, "berth: %s\n", ex.what());
      rc = 1;
    }
  }
  return print_inspect(a.get("format"), out, rc);
}

int cmd_inspect(const Engine& e, int argc, char** argv, int first) {
  // A container by that name or id first, else an image (Docker's order).
  Args a = parse_args("inspect", {{"format", "f", true}, {"type", "", true}, {"size", "s", false}}, argc, argv, first);
  std::string type = a.get("type");
  if (type == "image") return cmd_image_inspect(e, argc, argv, first);
  if (type == "container") return cmd_container_inspect(e, argc, argv, first);
  auto eng = make_engine(e);
  bool all_containers = !a.positional().empty();
  for (auto& ref : a.positional()) {
    try {
      eng.lookup(ref);
    } catch (const Error&) {
      all_containers = false;
    }
  }
  return all_containers ? cmd_container_inspect(e, argc, argv, first) : cmd_image_inspect(e, argc, argv, first);
}

}  // namespace berth::cli
