#pragma once

#include <string>

#include "common/fd.hpp"

namespace berth::runtime {

// CVE-2019-5736: an image whose program is "#!/proc/self/exe" makes the runtime's own exec
// inside the container run the runtime binary as a container process; the container can
// then hold that file open and write through it once the runtime has exited.
//
// Every program whose process enters containers calls this first: berth-runtime (create,
// run, exec) and berth-shim (it creates the container and runs exec sessions in it; its
// processes are the container's until they exec). When the binary is
// writable, it re-executes the process (same argv and environment) from a view of itself
// that cannot be written: a read-only overlayfs mount of its directory that exists only in
// this process — an overlay without an upper layer stays read-only even if its mount flags
// are changed — or, where overlayfs cannot be mounted, a sealed memfd copy. A binary that
// is already on a read-only mount is used as is. Returns in the process that may go on;
// throws when no sealed view can be made. `name` is the process name to show (comm).
void reexec_from_sealed_exe(char** argv, const char* name);

// The program at `path` through the same read-only view, for a parent to run it sealed from
// the start (execveat, or /proc/self/fd/N): reexec_from_sealed_exe then finds itself on a
// read-only mount and returns at once, one exec fewer (~1.5 ms for the shim at every
// container start). An empty fd where overlayfs cannot be mounted: run the path, and the
// child seals itself.
UniqueFd sealed_view(const std::string& path);

}  // namespace berth::runtime
