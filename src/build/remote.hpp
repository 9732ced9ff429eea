// Remote build contexts, as Docker's classic builder (and its CLI) take them instead of a
// directory: a git repository, or the URL of a tar or of a Dockerfile.
//
//   git:   `git://…`, `git@…`, `github.com/…` (https), or an http(s) URL whose path ends in
//          `.git`; `#REF:SUBDIR` picks the branch, tag or commit (default: the remote's HEAD) and
//          the directory of the repository to build from (default: its top). Cloned with the
//          host's git (a shallow fetch where the server allows it, submodules too); the
//          context keeps `.git`, as Docker's does (.dockerignore can leave it out).
//   URL:   any other http(s) URL, downloaded: a tar (plain, gzip, zstd, xz, bzip2) is the
//          context; anything else is the Dockerfile, with an empty context.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/download.hpp"

#include "common/fd.hpp"

namespace berth::build {

bool is_git_context(std::string_view s);
bool is_url_context(std::string_view s);  // http(s)://, git or not
inline bool is_remote_context(std::string_view s) { return is_git_context(s) || is_url_context(s); }

struct RemoteContext {
  std::string context;     // the directory to build from (inside the directory given)
  std::string dockerfile;  // the Dockerfile's text, read inside the context (or the URL's)
};

// Makes the context of `url` in `dir` (an empty directory only root can reach, removed by the
// caller) and reads its Dockerfile: `dockerfile` (default "Dockerfile") resolved inside the
// context — a symlink cannot lead out of it. `fetch` downloads a URL into an fd (the registry
// module's libcurl). Throws berth::Error (invalid_argument) with one line: git's own last
// words, a subdirectory or Dockerfile that is not there, a download that failed.
RemoteContext make_remote_context(const std::string& url, const std::string& dir, const std::string& dockerfile,
                                  const Fetch& fetch);

// The Dockerfile `name` of the context directory open at `root_fd`, opened for reading: found
// inside the context only (never through a symlink out), and a regular file — a fifo or a
// device there would hold the build forever, or read the host's device. An invalid fd when
// there is no such file.
UniqueFd open_dockerfile(int root_fd, const std::string& name);

}  // namespace berth::build
