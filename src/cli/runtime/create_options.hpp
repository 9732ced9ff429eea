#pragma once

#include <charconv>

#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "runtime/container.hpp"

namespace berth::cli {

inline runtime::CreateOptions create_options(const Global& g, const Args& a) {
  runtime::CreateOptions o;
  o.root = g.root;
  o.id = a.id();
  o.bundle = a.get("bundle", ".");
  o.console_socket = a.get("console-socket");
  o.pid_file = a.get("pid-file");
  o.no_pivot = a.has("no-pivot");
  o.no_new_keyring = a.has("no-new-keyring");
  if (a.has("preserve-fds")) {
    std::string v = a.get("preserve-fds");
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), o.preserve_fds);
    if (ec != std::errc() || p != v.data() + v.size() || o.preserve_fds < 0)
      throw Error("--preserve-fds: `" + v + "` is not a non-negative number");
  }
  return o;
}

}  // namespace berth::cli
