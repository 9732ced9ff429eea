// User-namespace remapping (Docker's daemon option `userns-remap`): containers run in a user
// namespace whose ids 0..size-1 are the host's uid..uid+size-1 (gid likewise), from the first
// range /etc/subuid and /etc/subgid give a user — so the container's root is an unprivileged
// user on the host. Their layers stay as they are on disk: the rootfs is an overlay of
// idmapped views of them (mount_rootfs_idmapped), and what the container writes lands with
// its own ids; named volumes are bound idmapped too. `--userns host` opts a container out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "snapshot/snapshotter.hpp"

namespace berth::engine {

struct UsernsRemap {
  uint32_t uid = 0, gid = 0, size = 0;  // size 0: no remapping
  bool on() const { return size > 0; }

  // daemon.json's "userns-remap": "" (none), "default" (the user berth-remap) or
  // "USER[:GROUP]" (a name or a number): the first range of each in /etc/subuid and
  // /etc/subgid, at most 65536 ids. `file` names the setting in errors (invalid_argument).
  static UsernsRemap from_setting(const std::string& value, const std::string& file);
  // As a container's record keeps it ({"UID", "GID", "Size"}; null: none).
  nlohmann::json to_json() const;
  static UsernsRemap from_json(const nlohmann::json& j);
};

// Mounts a container's snapshot `mounts` on `target` so that the container's user namespace
// (remap) sees the image's files with their own owners: the snapshots' common directory is
// cloned idmapped (open_tree + mount_setattr) onto `scratch` for the time of the mount, and
// the overlay (or the bind of a native snapshot) is made from there. What the container writes
// is stored with its ids in the namespace (what commit and diff read).
void mount_rootfs_idmapped(const std::vector<snapshot::Mount>& mounts, const std::string& target,
                           const UsernsRemap& remap, const std::string& scratch);

// The tree at `dir_fd` (itself included) given back its owners as the container's namespace
// has them: an id in the remapped range loses the range's start (a file's setuid/setgid bits,
// which a chown drops, are set again).
void unshift_owners(int dir_fd, const UsernsRemap& remap);

}  // namespace berth::engine
