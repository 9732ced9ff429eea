// berth run and berth create: the request from the flags, the image pulled when missing, the
// container created — and for run started, attached in the foreground or detached.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "cli/berth/attach_io.hpp"
#include "cli/berth/commands.hpp"
#include "cli/berth/create_request.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "engine/engine.hpp"
#include "oci/reference.hpp"

namespace berth::cli {

namespace {

// --pull missing (Docker's default: an image not in the store is pulled first), always, never.
// The pull's progress goes to stderr (stdout is the container's); -q: none.
void pull_for_run(const Engine& e, engine::Engine& eng, const Args& a, const std::string& image) {
  const std::string policy = a.get("pull", "missing");
  if (policy != "missing" && policy != "always" && policy != "never")
    throw Error("--pull must be missing, always or never (not `" + policy + "`)");
  if (policy == "never") return;
  if (policy == "missing") {
    // The engine's image service (its database connection) unless another platform is asked;
    // an image of another platform than the one asked is missing (Docker's).
    if (a.get("platform").empty()) {
      if (eng.images().find(image)) return;
    } else if (auto img = e.images(a.get("platform")).find(image)) {
      if (oci::platform_matches(oci::Platform::parse(a.get("platform")), img->config.platform)) return;
    }
    oci::Reference::parse(image);  // a malformed one: its one-line error, no pull
    if (!a.has("quiet")) std::fprintf(stderr, "Unable to find image '%s' locally\n", image.c_str());
  }
  pull_image(e, image, a.get("platform"), a.has("quiet") ? nullptr : stderr);  // -q: no pull output
}

int do_run(const Engine& e, int argc, char** argv, int first, bool start_it) {
  Args a = parse_args(start_it ? "run" : "create", kRunFlags, argc, argv, first, true);
  // Docker's check, before anything is made: -it with a pipe for stdin would wait forever.
  if (start_it && !a.has("detach") && a.has("interactive") && a.has("tty") && !::isatty(0)) {
    std::fprintf(stderr, "berth: the input device is not a TTY\n");
    return 1;
  }
  if (a.has("detach") && a.has("attach")) throw UsageError("conflicting options: -a and -d");
  if (start_it && !a.has("detach")) attach_options(a, false, false);  // bad -a/--sig-proxy/--detach-keys: before anything is made
  auto eng = make_engine(e);
  engine::CreateRequest req;
  engine::Container c;
  // --cidfile: made (empty) before the container, as Docker's CLI does — an existing file is
  // refused (another container's) —, the id written once created, removed if create fails.
  const std::string cidfile = a.get("cidfile");
  UniqueFd cid;
  try {
    req = build_request(a);
    if (!cidfile.empty()) {
      cid.reset(::open(cidfile.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
      if (!cid && errno == EEXIST)
        throw Error("container ID file found, make sure the other container isn't running or delete " + cidfile);
      if (!cid) throw_errno("--cidfile " + cidfile);
    }
  } catch (const Error& ex) {
    std::fprintf(stderr, "berth: %s\n", ex.what());
    return 125;
  }
  try {
    pull_for_run(e, eng, a, req.image);
    c = eng.create(req);
    if (cid) fs::write_fd(cid.get(), c.id(), "--cidfile " + cidfile);
  } catch (const Error& ex) {
    if (cid) ::unlink(cidfile.c_str());
    // Docker's CLI: run says 125 for anything before the start; create 125 for its flags
    // only, 1 for what the engine refused (a name in use, no such image, …).
    std::fprintf(stderr, "berth: %s\n", ex.what());
    return start_it ? 125 : 1;
  }
  if (!start_it) {
    std::puts(c.id().c_str());
    return 0;
  }
  const bool rm = a.has("rm");
  if (a.has("detach")) {
    try {
      eng.start(c.id(), false);
    } catch (const Error& ex) {
      std::fprintf(stderr, "berth: %s\n", ex.what());
      if (rm) eng.cleanup(c.id(), true);
      return command_failure_code(ex, 125);
    }
    std::puts(c.id().c_str());
    return 0;
  }
  const bool owner = req.host["RestartPolicy"].value("Name", "no") == "no";
  return run_attached(eng, c, attach_options(a, a.has("interactive"), a.has("tty")), rm, owner);
}

}  // namespace

int cmd_run(const Engine& e, int argc, char** argv, int first) { return do_run(e, argc, argv, first, true); }

int cmd_create(const Engine& e, int argc, char** argv, int first) { return do_run(e, argc, argv, first, false); }

}  // namespace berth::cli
