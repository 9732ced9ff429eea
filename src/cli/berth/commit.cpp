// berth commit: a new image from a container's changes.
#include <cstdio>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"

namespace berth::cli {

int cmd_commit(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("commit", {{"message", "m", true}, {"author", "a", true}, {"pause", "p", true, false, true}, {"change", "c", true, true}},
         argc, argv, first);
  if (a.positional().empty() || a.positional().size() > 2)
    throw UsageError("commit: CONTAINER [REPOSITORY[:TAG]]");
  auto eng = make_engine(e);
  // Without a name: Docker's <none> image, known by its id.
  auto img = eng.commit(a.positional()[0], a.positional().size() > 1 ? a.positional()[1] : "", a.get("message"), a.get("author"),
                        a.get("pause", "true") != "false", a.all("change"));
  std::puts(img.id.str().c_str());
  return 0;
}

}  // namespace berth::cli
