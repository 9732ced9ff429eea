// berth export: the container's root filesystem as a tar.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"

namespace berth::cli {

int cmd_export(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("export", {{"output", "o", true}}, argc, argv, first);
  auto eng = make_engine(e);
  const std::string ref = a.id();
  // -o '' is no file, as Docker's (its flag's default): standard output.
  if (a.get("output").empty()) {
    if (::isatty(1)) throw Error("export: cowardly refusing to write a tar to a terminal (use -o FILE or a redirect)");
    eng.export_rootfs(ref, 1);
    return 0;
  }
  // Written next to the target and renamed: a failed export leaves nothing half-written.
  const std::string out = a.get("output"), tmp = out + ".tmp." + std::to_string(::getpid());
  check_output_file("export", out);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) throw_errno("export: create `" + tmp + "`");
  try {
    eng.export_rootfs(ref, fd.get());
    if (::fsync(fd.get()) < 0) throw_errno("export: fsync");
    fd.reset();
    if (::rename(tmp.c_str(), out.c_str()) < 0) throw_errno("export: rename to `" + out + "`");
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  return 0;
}

}  // namespace berth::cli
