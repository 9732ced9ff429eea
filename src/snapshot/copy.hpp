// A faithful copy of a tree (the native snapshotter's prepare): regular files (with
// copy_file_range), directories, symlinks, hardlinks (kept as links within the copy), device
// nodes, fifos, sockets skipped; owners, modes (set after the owner), xattrs and times
// (directories' after their contents).
#pragma once

namespace berth::snapshot {

// Copies the contents of directory `src_dir` into the existing, empty directory `dst_dir`.
// A tree deeper than PATH_MAX bytes of path is refused (berth::Error), part of it copied.
void copy_tree(int src_dir, int dst_dir);

}  // namespace berth::snapshot
