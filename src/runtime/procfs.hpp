// Writes to procfs (sysctls) go through a procfs instance that no mount of the container's
// can shadow (CVE-2025-52881 class): a fresh, detached procfs made for this process, with
// every path resolved beneath its root without crossing a mount or following a symlink.
#pragma once

#include <string>

#include "common/fd.hpp"

namespace berth::runtime {

class Procfs {
 public:
  // A private procfs for the calling process's namespaces: fsopen("proc") when allowed,
  // else a non-recursive detached clone of /proc, else /proc itself (still opened with
  // mount crossings refused). Must be called while a full /proc is visible (before pivot).
  static Procfs open_private();

  // Opens `rel` (e.g. "sys/net/ipv4/ip_forward") beneath the procfs root; fails with errno
  // set when the path crosses a mount, is a symlink, or does not end on procfs.
  UniqueFd open(const std::string& rel, int flags) const;

  int root() const { return root_.get(); }

 private:
  explicit Procfs(UniqueFd root) : root_(std::move(root)) {}
  UniqueFd root_;
};

}  // namespace berth::runtime
