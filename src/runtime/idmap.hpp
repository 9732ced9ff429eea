// Idmapped bind mounts (mount options `idmap`, `ridmap`).
//
// Marking a mount idmapped needs privilege over the source's filesystem, which the container's
// init no longer has once it is in a new user namespace. So `create` (the parent) makes a
// detached copy of the source (open_tree), marks it idmapped (mount_setattr with
// MOUNT_ATTR_IDMAP) and passes the fd to the init, which attaches it with move_mount.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/fd.hpp"
#include "oci/spec.hpp"

namespace berth::runtime {

// The text of a uid_map/gid_map: one "containerID hostID size" line per mapping.
std::string id_map_text(const std::vector<oci::IdMapping>& maps);

// A user namespace whose uid_map/gid_map are `uids`/`gids`, held by an fd.
UniqueFd userns_with_mappings(const std::vector<oci::IdMapping>& uids,
                              const std::vector<oci::IdMapping>& gids);

// The detached, idmapped copy of a bind mount's source. The mapping is the mount's own, or
// else that of `container_userns` (-1 when the container has no user namespace: an error).
UniqueFd make_idmapped_tree(const oci::Mount& m, const std::string& bundle, int container_userns);

// Attaches a tree made by make_idmapped_tree onto `target` (an O_PATH fd).
void attach_tree(int tree, int target, const std::string& destination);

}  // namespace berth::runtime
