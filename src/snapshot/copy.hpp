// A faithful copy of a tree (the native snapshotter's prepare): regular files (with
// copy_file_range), directories, symlinks, hardlinks (kept as links within the copy), device
// nodes, fifos, sockets skipped; owners, modes (set after the owner), xattrs and times
// (directories' after their contents).
#pragma once

#include <sys/types.h>

#include "common/idshift.hpp"

namespace berth::snapshot {

// An owner for every copied entry instead of the source's (`docker cp` without -a).
struct Owner {
  uid_t uid;
  gid_t gid;
};

struct CopyOptions {
  const Owner* owner = nullptr;  // everything (dst_dir too) given this owner, not the source's
  // A copy onto the host of what a container made (cp out): device nodes are not made (a
  // container's 0666 node of the host's disk would be any host user's), and without
  // keep_setid the setuid/setgid bits are dropped.
  // The kernel's filesystems mounted in the tree (a running container's /proc, /sys, …:
  // its view of the kernel, read with the engine's privileges) are skipped too.
  bool to_host = false;
  bool keep_setid = false;
  // The source's ids of a host range given as the ids they stand for in a user namespace (a
  // running userns-remap container's files, seen through its idmapped mounts).
  IdShift unshift;
};

// Copies the contents of directory `src_dir` into the existing, empty directory `dst_dir`.
// A tree deeper than PATH_MAX bytes of path is refused (berth::Error), part of it copied.
void copy_tree(int src_dir, int dst_dir, const CopyOptions& o = {});

}  // namespace berth::snapshot
