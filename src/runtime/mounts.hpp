// Building the container's filesystem view inside its (new) mount namespace: the rootfs
// bind, the configured mounts, /dev, the console, pivot_root, masked and read-only paths.
//
// Every mount target is resolved inside the rootfs with fs::open_in_root and mounted through
// its /proc/self/fd path, so a symlink planted in the image (or swapped in by a racing
// container on a shared volume) can never redirect a mount outside the rootfs.
#pragma once

#include <string>
#include <vector>

#include "common/fd.hpp"
#include "oci/spec.hpp"
#include "runtime/procfs.hpp"

namespace berth::runtime {

class Cgroup;

struct MountContext {
  const oci::Spec* spec = nullptr;
  // No mount namespace of its own: the runtime's is shared (see bind_shared_root).
  bool shared_mntns = false;
  std::string bundle;
  std::string rootfs;  // absolute host path of the rootfs
  UniqueFd rootfs_fd;  // O_PATH of the rootfs (after it was bind-mounted onto itself)
  // rootfsPropagation shared/rshared: "/" was not made rslave, the binds kept the host's peer
  // groups (set by prepare_rootfs).
  bool root_shared = false;
  bool userns = false;
  bool cgroupns = false;
  const Cgroup* cgroup = nullptr;
  // Detached idmapped trees made by the parent, one per idmap/ridmap mount, in config order.
  std::vector<UniqueFd> idmapped;
  size_t next_idmapped = 0;
  // A procfs mount is of this PID namespace (procfs `pidns=`), not the caller's; -1: the caller's.
  int proc_pidns_fd = -1;
};

struct MountFlags {
  unsigned long flags = 0;       // MS_* set by the options
  unsigned long clear = 0;       // MS_* explicitly cleared (rw, suid, ...)
  unsigned long propagation = 0; // MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (| MS_REC)
  bool bind = false, recursive = false;
  // The recursive attributes (rro, rnosuid, rnoatime, … of the runtime spec 1.1): MOUNT_ATTR_*
  // set on and cleared from the mount and every mount below it (mount_setattr, AT_RECURSIVE).
  uint64_t attr_set = 0, attr_clr = 0;
  bool recursive_attrs() const { return attr_set || attr_clr; }
  std::string data;              // options the filesystem interprets itself
};
MountFlags parse_mount_options(const std::vector<std::string>& options);

// A container without a mount namespace (the spec lets it share the runtime's) mounts into
// the host's tree. So that nothing it mounts spreads to other namespaces or outlives it, the
// runtime first binds the rootfs onto itself, recursively private — the host's "/" keeps its
// propagation — and the container's mounts go under that bind; it enters it with chroot (a
// pivot_root would swap the host's root). Returns the bind's mount id, which
// unbind_shared_root takes away with everything under it (delete, or a failed create).
unsigned long long bind_shared_root(const std::string& rootfs);
void unbind_shared_root(const std::string& rootfs, unsigned long long mount_id);

// Step 1 (mount ns of the child, still seeing the host): make "/" rslave (or rprivate per
// rootfsPropagation; a shared one makes only the mount holding the rootfs a slave) and bind
// the rootfs onto itself so it can be pivoted to.
void prepare_rootfs(MountContext& ctx);
// Step 2: linux mounts in order, then /dev devices and symlinks.
void mount_all(MountContext& ctx);
void create_devices(MountContext& ctx);
// Bind-mounts the pty slave over /dev/console (created without following symlinks).
void mount_console(MountContext& ctx, int slave_fd);
// Step 3 (still before pivot, so that /proc/self/fd paths go through the host's procfs,
// not one the container's mounts could shadow): sysctls through a private procfs, then
// masked and read-only paths resolved inside the rootfs.
void write_sysctls(const oci::Spec& spec, const Procfs& procfs);
void mask_paths(MountContext& ctx);
void readonly_paths(MountContext& ctx);
// Step 4: pivot_root (or MS_MOVE + chroot with no_pivot) into the rootfs.
void enter_rootfs(MountContext& ctx, bool no_pivot);
// Step 5 (inside the new root): read-only root and the final rootfs propagation.
void finalize_root(const oci::Spec& spec);

}  // namespace berth::runtime
