// A faithful copy of a tree (the native snapshotter's prepare): regular files (with
// copy_file_range), directories, symlinks, hardlinks (kept as links within the copy), device
// nodes, fifos, sockets skipped; owners, modes (set after the owner), xattrs and times
// (directories' after their contents).
#pragma once

#include <sys/types.h>

namespace berth::snapshot {

// An owner for every copied entry instead of the source's (`docker cp` without -a).
struct Owner {
  uid_t uid;
  gid_t gid;
};

// Copies the contents of directory `src_dir` into the existing, empty directory `dst_dir`.
// A tree deeper than PATH_MAX bytes of path is refused (berth::Error), part of it copied.
// With `owner`, everything (dst_dir too) is given that owner instead of the source's.
void copy_tree(int src_dir, int dst_dir, const Owner* owner = nullptr);

}  // namespace berth::snapshot
