#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "runtime/container.hpp"

namespace berth::cli {

int cmd_delete(const Global& g, int argc, char** argv, int first) {
  Args a("delete", {{"force", "f", false}}, argc, argv, first);
  // Like runc, several ids may be given; each is deleted, errors are reported at the end.
  if (a.positional().empty()) throw Error("delete: a container id is required");
  std::string errors;
  for (auto& id : a.positional()) {
    try {
      runtime::delete_container(g.root, id, a.has("force"));
    } catch (const Error& e) {
      if (a.positional().size() == 1) throw;
      errors += (errors.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  if (!errors.empty()) throw Error(errors);
  return 0;
}

}  // namespace berth::cli
