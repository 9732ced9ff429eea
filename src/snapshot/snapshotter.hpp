// Snapshots: the filesystem layers of images and the writable layers of containers.
//
// A committed snapshot holds one unpacked layer (keyed by the image's chain ID); an active
// snapshot is a writable layer on top of a committed parent chain; a view is a read-only one.
// Records live in the metadata database (per namespace); directories live under
// <root>/<id>/{fs,work}, named by the record's numeric id.
//
// Drivers:
//   overlay  fs/ is the layer's own files (an overlay upper dir); mounts stack the parents'
//            fs/ dirs as lowerdirs. Deep chains (hundreds of layers) still mount: when the
//            absolute lowerdir list would not fit in a page, the paths are given relative to
//            <root> (the mount happens with <root> as working directory).
//   native   fs/ is a full copy of the parent's tree plus the layer (for filesystems without
//            overlay support); mounts are bind mounts.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "metadata/db.hpp"

namespace berth::snapshot {

enum class Driver { overlay, native };
// "overlay" (or "overlayfs"), "native" (or "vfs"); throws berth::Error otherwise.
Driver parse_driver(std::string_view name);
std::string_view to_string(Driver d);

// A mount as containerd describes one: mount -t type source target -o options.
struct Mount {
  std::string type, source;
  std::vector<std::string> options;
};

// Who the mount is for. A container's rootfs keeps its setuid files and device nodes working
// (they act inside the container only); a view on the host (`image mount`, the engine's own
// reads of a stopped container) is nosuid,nodev: an image's setuid-root file or 0666 device
// node must do nothing for a host user who finds it.
enum class MountUse { container, host_view };

// Marks the writable overlays of `mounts` volatile (overlayfs skips every sync of the upper
// dir: no writeback when the container syncs or when it is unmounted). For a container that
// is thrown away when it exits (--rm): after a crash of the host its upper dir is to be
// deleted, not used. A kernel without the option (< 5.10) gets the plain mount.
void make_volatile(std::vector<Mount>& mounts);

// Mounts `mounts` (from Snapshotter::mounts) on `target`.
void mount_all(const std::vector<Mount>& mounts, const std::string& target,
               MountUse use = MountUse::container);

class Snapshotter {
 public:
  Snapshotter(Driver driver, std::string root, metadata::Db& db, std::string ns);

  Driver driver() const { return driver_; }
  const std::string& root() const { return root_; }

  // A new active (writable) snapshot on the committed snapshot `parent` (empty: none).
  metadata::Snapshot prepare(std::string_view key, std::string_view parent,
                             const metadata::Labels& labels = {});
  // A read-only view of `parent`.
  metadata::Snapshot view(std::string_view key, std::string_view parent,
                          const metadata::Labels& labels = {});
  // Turns active `key` into the committed snapshot `name`.
  metadata::Snapshot commit(std::string_view name, std::string_view key,
                            const metadata::Labels& labels = {});
  // Removes the record and the directory. Error when it has children. False when absent.
  bool remove(std::string_view key);
  // The directory with the snapshot's own files: where a layer is extracted (overlay: the
  // upper dir; native: the full tree).
  std::string fs_dir(const metadata::Snapshot& s) const;
  std::string fs_dir(std::string_view key) const;
  // How to mount `key` (active: writable; view/committed: read-only).
  std::vector<Mount> mounts(std::string_view key) const;
  // The directory of the snapshot record with this id (for callers that removed the record
  // themselves, in a transaction of theirs).
  std::string dir(int64_t id) const { return dir_of(id); }
  // Directories under this driver's root whose name is no id in `known` (every namespace's
  // snapshot ids): what a crash or an interrupted removal left.
  std::vector<std::string> orphan_dirs(const std::set<int64_t>& known) const;
  // The parent chain of `s`, nearest first (its fs dirs are the overlay lowerdirs). Throws
  // berth::Error when a parent's record is missing.
  std::vector<metadata::Snapshot> ancestors(const metadata::Snapshot& s) const;
  // Bytes and inodes used by the snapshot's own directory.
  struct Usage {
    int64_t bytes = 0, inodes = 0;
    int64_t apparent = 0;  // file sizes (not blocks), directories not counted
  };
  Usage usage(std::string_view key) const;
  // Removes directories under root that no record names (left by a crash between mkdir
  // and the record, or between the record's removal and rmdir). Returns how many.
  int cleanup();

 private:
  metadata::Snapshot create(std::string_view key, std::string_view parent,
                            metadata::Snapshot::Kind kind, const metadata::Labels& labels);
  std::string dir_of(int64_t id) const;

  Driver driver_;
  std::string root_;
  metadata::Db& db_;
  std::string ns_;
};

}  // namespace berth::snapshot
