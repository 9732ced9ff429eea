// save, load, image mount/unmount.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "image/archive.hpp"

namespace berth::cli {

int cmd_save(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("save", {{"output", "o", true}}, argc, argv, first);
  if (a.positional().empty()) throw Error("save: requires at least one IMAGE");
  auto svc = e.images();
  const std::string out = a.get("output");
  if (out.empty()) {
    if (::isatty(1)) throw Error("save: refusing to write an archive to a terminal; use -o FILE or redirect");
    image::save_archive(svc, a.positional(), 1);
    return 0;
  }
  // Written next to the target and renamed: a failed save leaves no half archive behind.
  check_output_file("save", out);
  const std::string tmp = out + ".tmp-" + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) throw_errno("save: create `" + out + "`");
  try {
    image::save_archive(svc, a.positional(), fd.get());
    if (::fsync(fd.get()) < 0) throw_errno("save: fsync `" + out + "`");
    if (::rename(tmp.c_str(), out.c_str()) < 0) throw_errno("save: rename to `" + out + "`");
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  return 0;
}

int cmd_load(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("load", {{"input", "i", true}, {"quiet", "q", false}}, argc, argv, first);
  if (!a.positional().empty()) throw Error("load: takes no arguments (use -i FILE)");
  UniqueFd fd;
  int in = 0;
  if (a.has("input")) {
    fd.reset(::open(a.get("input").c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("load: open `" + a.get("input") + "`");
    in = fd.get();
  } else if (::isatty(0)) {
    throw Error("load: requested load from stdin, but stdin is empty");
  }
  auto svc = e.images();
  for (auto& name : image::load_archive(svc, in))
    if (!a.has("quiet"))  // an image without a name by its id, as Docker's
      std::printf(name.rfind("sha256:", 0) == 0 ? "Loaded image ID: %s\n" : "Loaded image: %s\n", name.c_str());
  return 0;
}

int cmd_image_mount(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("image mount", {}, argc, argv, first);
  const auto& pos = a.positional();
  if (pos.empty() || pos.size() > 2) throw Error("image mount: requires IMAGE [DIR]");
  auto svc = e.images();
  std::puts(svc.mount(svc.resolve(pos[0]), pos.size() == 2 ? pos[1] : "").c_str());
  return 0;
}

int cmd_image_unmount(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("image unmount", {}, argc, argv, first);
  if (a.positional().size() != 1) throw Error("image unmount: requires DIR or IMAGE");
  auto svc = e.images();
  const std::string& arg = a.positional()[0];
  // A directory mounted on; otherwise an image mounted where `image mount IMAGE` puts it.
  if (arg.find('/') == std::string::npos && !fs::is_dir(arg)) {
    std::optional<image::Image> img;
    try {
      img = svc.resolve(arg);
    } catch (const Error&) {
    }
    if (img) {
      svc.unmount(svc.default_mount_point(*img));
      return 0;
    }
  }
  svc.unmount(arg);
  return 0;
}

}  // namespace berth::cli
