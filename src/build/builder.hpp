// `berth build`: a Dockerfile turned into an image, step by step, the classic builder's way —
// each instruction's result an image of its own (the parent's config and layers plus what the
// step changed), RUN in a container made by the engine, COPY/ADD written into a snapshot of
// the parent — with BuildKit's rule for stages: only those the target needs are built.
//
// Cache: a step's result is kept under a key (image::Service::build_cache), the hash of
// its parent image's id and what the step does: the instruction after substitution, with the
// build args a RUN sees, and for COPY/ADD a checksum of the sources' names, modes, owners and
// contents (not their mtimes). A hit reuses the image; a miss makes a new parent, so the
// steps after it miss too.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.hpp"
#include "image/service.hpp"

namespace berth::build {

struct BuildOptions {
  std::string context;     // the build context: a directory
  std::string dockerfile;  // the Dockerfile's text
  std::vector<std::string> tags;
  std::map<std::string, std::string> build_args;  // --build-arg K=V
  std::string target;      // --target STAGE; "": the last stage
  bool no_cache = false;
  std::vector<std::string> cache_from;  // images whose history may stand for steps (--cache-from)
  // --secret id=ID,src=FILE: what RUN --mount=type=secret,id=ID sees (read-only, at
  // /run/secrets/ID or its target=), never in a layer nor in the cache key.
  std::map<std::string, std::string> secrets;
  bool always_pull = false;  // --pull: FROM images pulled even when present
  bool rm = true;          // remove RUN's containers after a successful step
  bool force_rm = false;   // … after a failed one too
  std::map<std::string, std::string> labels;  // --label: on the final image
  std::string network = "bridge";            // RUN's: bridge (the default network), none, host, NAME
  // BuildKit's entitlements the user granted (--allow): "network.host" lets a Dockerfile's
  // RUN --network=host have the host's network; without it that RUN is refused.
  std::set<std::string> allow;
  std::vector<std::string> add_hosts;        // HOST:IP for RUN's /etc/hosts
  int64_t shm_size = 0;
  nlohmann::json ulimits = nlohmann::json::array();  // HostConfig.Ulimits of RUN
  int cancel_fd = -1;      // readable: stop (a RUN is killed), nothing left behind
  // Asked between steps and, every 200 ms, while a RUN runs: true stops as cancel_fd does (a
  // daemon's client that went away). May be empty.
  std::function<bool()> cancelled;
  // The build's output: Docker's classic lines and what RUN prints (may be empty).
  std::function<void(std::string_view)> out;
  // Fetches an image a FROM or COPY --from names that is not in the store (or every one with
  // `pull`); empty: such an image is an error.
  std::function<void(const std::string& ref)> pull;
  // ADD http(s)://…: writes the URL's body to the fd, returns its Last-Modified (unix
  // seconds, 0 when none). Empty: ADD of a URL is an error.
  std::function<int64_t(const std::string& url, int fd)> fetch;
};

// A RUN that exited non-zero, in Docker's words; `docker build` exits with its code.
class StepFailed : public Error {
 public:
  StepFailed(const std::string& msg, int code) : Error(ErrorKind::invalid_argument, msg), exit_code(code) {}
  int exit_code;
};

struct BuildResult {
  image::Image image;
  std::vector<std::string> unused_args;  // --build-arg names no ARG declared
};

// Throws berth::Error: invalid_argument for a Dockerfile or context error (the Dockerfile
// line in the message), and for a failing RUN Docker's words ("The command '/bin/sh -c exit
// 7' returned a non-zero code: 7"); cancelled when cancel_fd fired. Nothing the build made
// is left but the cache entries of the steps that completed.
BuildResult build(engine::Engine& eng, const BuildOptions& o);

}  // namespace berth::build
