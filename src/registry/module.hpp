// berth-registry.so, the registry module: the libcurl registry client and the commands that
// only it serves (login, logout). `berth` loads it with dlopen when a command talks to a
// registry — libcurl and the ~30 libraries it brings cost ~12 ms at every process start — and
// reaches it through these two entry points (looked up with dlsym). Everything else (the image
// service's pull and push, progress, the other verbs) is `berth`'s own.
#pragma once

#include <string>

#include "distribution/repository.hpp"

namespace berth::cli {
struct Engine;
}

namespace berth::registry {

// How to reach registries: the settings a pull or push takes from its flags.
struct Access {
  bool tls_verify = true;    // false: no certificate checks, and http when https fails
  std::string authfile;      // credentials (podman's auth.json); "": the default path
  std::string scheme_cache;  // where the scheme each insecure registry answered on is kept; "": nowhere
  int max_parallel = 3;
};

}  // namespace berth::registry

extern "C" {
// A client for `repository` of `registry` (new'd: the caller owns it).
using berth_registry_open_fn = berth::distribution::Repository* (*)(const berth::registry::Access* access,
                                                                   const char* registry, const char* repository);
// `berth login|logout ARGS` (argv[first] is the first argument after the verb).
using berth_registry_main_fn = int (*)(const char* verb, const berth::cli::Engine* e, int argc, char** argv,
                                       int first);
}
