// berth cp: files between a container and the host (or a tar on stdin/stdout).
#include <unistd.h>

#include <cstdio>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/strings.hpp"

namespace berth::cli {

int cmd_cp(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("cp", {{"archive", "a", false}, {"follow-link", "L", false}}, argc, argv, first);
  if (a.positional().size() != 2) throw Error("cp: CONTAINER:SRC DEST or SRC CONTAINER:DEST");
  auto split = [](const std::string& s) -> std::pair<std::string, std::string> {
    auto colon = s.find(':');
    if (colon == std::string::npos || s[0] == '/' || s[0] == '.') return {"", s};
    return {s.substr(0, colon), s.substr(colon + 1)};
  };
  auto [c1, p1] = split(a.positional()[0]);
  auto [c2, p2] = split(a.positional()[1]);
  if (c1.empty() == c2.empty()) throw Error("cp: exactly one of the paths must name a container (CONTAINER:PATH)");
  if (p1.empty() || p2.empty()) throw Error("cp: empty path");
  auto eng = make_engine(e);
  // "-": a tar stream on stdout (from the container) or stdin (into it), as Docker.
  if (!c1.empty() && p2 == "-") {
    if (::isatty(1)) throw Error("cp: cowardly refusing to write a tar to a terminal (redirect stdout)");
    eng.copy_out_tar(c1, p1, 1, a.has("follow-link"));
    return 0;
  }
  if (c1.empty() && p1 == "-") {
    eng.copy_in_tar(c2, 0, p2);
    return 0;
  }
  if (!c1.empty()) eng.copy(c1, p1, p2, true, a.has("follow-link"), a.has("archive"));
  else eng.copy(c2, p1, p2, false, a.has("follow-link"), a.has("archive"));
  return 0;
}

}  // namespace berth::cli
