// Layers: applying an image layer (a possibly compressed tar) to a directory, and creating a
// layer from an overlay upper directory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/idshift.hpp"
#include "common/digest.hpp"

namespace berth::diff {

// bzip2 and xz are read only (docker cp's and a build context's tars, ADD, import — as Docker's
// DecompressStream): no layer media type names them, and berth never writes them.
enum class Compression { none, gzip, zstd, bzip2, xz };

// From the media type (application/vnd.oci.image.layer.v1.tar[+gzip|+zstd], their
// nondistributable variants, application/vnd.docker.image.rootfs.[foreign.]diff.tar.gzip, …).
// Throws berth::Error("unknown layer media type `…`") for anything else.
Compression compression_of(std::string_view media_type);
// The OCI media type of a layer written with `c` (application/vnd.oci.image.layer.v1.tar…).
std::string_view layer_media_type(Compression c);
// From the first bytes (gzip 1f 8b, zstd 28 b5 2f fd, bzip2 "BZh", xz fd "7zXZ" 00, else none).
Compression detect_compression(const void* head, size_t n);

// Pull-style input: reads up to n bytes into buf; returns 0 at the end; throws on error.
// apply_layer calls it from a helper thread of its own (one call at a time, all of them
// before apply_layer returns), so that decompression overlaps extraction.
using Reader = std::function<size_t(void* buf, size_t n)>;

// Whether the stream is a tar, plain or compressed (detect_compression): its first header
// block, decompressed, has a valid checksum — what Docker's ADD asks before it extracts (a
// gzip of a plain file is copied as it is). A corrupt compressed stream is no tar.
bool is_tar(const Reader& in);

struct ApplyOptions {
  // true: whiteouts become overlayfs whiteouts (char 0/0 nodes) and opaque directories get
  // trusted.overlay.opaque=y — `dest` is the upper dir of an overlay snapshot.
  // false: whiteouts delete from `dest` (a full copy of the parent, the native snapshotter).
  // Either way a whiteout never hides an entry of the same layer (OCI image spec: whiteouts
  // apply to lower layers only), whatever the order of the entries in the tar.
  bool overlay = true;
  // false: a plain tar, not a layer (docker cp's input, a build context): `.wh.` names are
  // ordinary files, as Docker's untar makes them — never a deletion in `dest`.
  bool whiteouts = true;
  // In a user namespace (rootless) device nodes cannot be created: an error names the entry.
  // Overlay snapshots there are mounted with `userxattr`, so the opaque marker is
  // user.overlay.opaque=y instead of trusted.overlay.opaque=y. Owners are still applied
  // (chown failures are errors: the ids of the layer must be mapped in the namespace).
  bool rootless = false;
  // A cap on the uncompressed (tar) size, 0 for none: a layer that inflates past it (a few
  // KiB of gzip can carry gigabytes of zeros) is refused before it fills the disk.
  int64_t max_size = 0;
  // An entry's uid below shift_size is written as uid + shift_uid (gid likewise): a tar of a
  // container's ids applied through its running view, which an idmapped mount shows with the
  // host's ids (userns-remap). 0: ids as they are.
  uint32_t shift_uid = 0, shift_gid = 0, shift_size = 0;
  // A plain tar extracted into an existing directory (ADD, cp -), as Docker's untar does it:
  // its root entry ("./") leaves the directory's mode, owner and times alone, and an absolute
  // name ("/etc/f", `tar -P`) is taken under the directory. A layer's root entry applies, and
  // its absolute names are refused.
  bool keep_root = false;
  bool absolute_inside = false;
};

struct ApplyResult {
  Digest compressed;  // of the bytes read from `in`
  Digest diff_id;     // of the uncompressed tar
  int64_t compressed_size = 0;
  int64_t size = 0;  // uncompressed
  // Docker's layer size: the sizes of the files (and symlink targets) extracted, a hardlink
  // and a directory adding nothing.
  int64_t files_size = 0;
};

// One streaming pass: read → hash (compressed) → decompress → hash (diffID) → extract into
// the directory `dest_dir_fd`. Every path is resolved inside dest (never following a symlink
// out, never through a symlink in a parent component — that is an error, as are `..` and
// absolute entry names, and hardlinks to outside); modes, owners, mtimes, xattrs and file
// capabilities, hardlinks, symlinks, devices and fifos are kept; directory mtimes are set last.
// Overlay metadata in the layer itself (trusted.overlay.*, user.overlay.* xattrs) is dropped.
// Throws berth::Error("layer: <entry>: <reason>") on bad input, and "layer: gzip: …" /
// "layer: zstd: …" / "layer: tar: …" for a corrupt stream; what was extracted so far stays in
// dest (callers extract into a fresh snapshot and remove it on failure). The whole
// uncompressed stream is read (and hashed), also what follows the tar's end-of-archive blocks.
ApplyResult apply_layer(const Reader& in, Compression c, int dest_dir_fd,
                        const ApplyOptions& opt = {});

// apply_layer of the stream on `fd` — a tar, plain, gzip or zstd, told by its first bytes
// (docker cp's input, a build context). With `limit_to_free_space`, what would inflate past
// the free space of dest's filesystem is refused as it inflates (a tar bomb). An empty
// stream extracts nothing. `what` names the input in read errors.
ApplyResult apply_stream(int fd, int dest_dir_fd, ApplyOptions opt, bool limit_to_free_space, std::string_view what);
// The same, for a stream whose first `n` bytes the caller read already (`head`; the rest
// is read from `fd`).
ApplyResult apply_stream(const void* head, size_t n, int fd, int dest_dir_fd, ApplyOptions opt, bool limit_to_free_space,
                         std::string_view what);

struct CreateResult {
  Digest compressed;  // of the bytes written
  Digest diff_id;     // of the uncompressed tar
  int64_t compressed_size = 0;
  int64_t size = 0;
  int64_t files_size = 0;  // as ApplyResult's: what the layer unpacks to
};

// Walks an overlay upper directory and writes an OCI layer (PAX tar) to `out`: whiteout nodes
// (char 0/0) become `.wh.NAME`, opaque directories (trusted. or user.overlay.opaque=y) get
// `.wh..wh..opq` right after their own entry; files sharing an inode become hardlink entries;
// xattrs other than overlay's own are kept; mtimes are kept to the second (as Docker does)
// and atime/ctime and user/group names are not written, so the same tree always gives the
// same bytes (and diffID). gzip is isa-l level 1, zstd is level 3 with a frame checksum.
// Throws berth::Error("layer create: <path>: …"); an upper dir written by overlayfs with
// redirect_dir or metacopy (trusted.overlay.redirect/metacopy) is refused, since its files
// do not hold the whole content.
// `skip`: paths left out (as in the tar: "etc/hosts"), and what is below them.
using Writer = std::function<void(const void* data, size_t n)>;
// `unshift`: ids of a host range written as the ids they stand for in a user namespace (a
// userns-remap container's tree seen through its idmapped mounts).
using IdShift = berth::IdShift;
CreateResult create_layer(int upper_dir_fd, const Writer& out, Compression c, const std::vector<std::string>& skip = {},
                          IdShift unshift = {});
// The layer of what changed from the tree at `lower_dir_fd` to the whole tree at `tree_fd`
// (the native snapshotter: a container's snapshot is a full copy of its image): new and
// changed entries (a file by size and modification time, a link by target; directories with
// changed metadata), whiteouts for entries lower has and the tree has not (and before an entry
// that changed kind). A change of xattrs alone is not seen.
CreateResult create_layer_diff(int lower_dir_fd, int tree_fd, const Writer& out, Compression c,
                               const std::vector<std::string>& skip = {});
// Compresses a stream (an uncompressed layer blob) as create_layer does (gzip: isa-l level 1;
// zstd: level 3): the result's `compressed` is the new blob's digest, `diff_id` the input's.
CreateResult compress_stream(const Reader& in, const Writer& out, Compression c);
// The same tar (uncompressed) of one entry: `name` in `parent_dir_fd` (an O_PATH fd will do)
// and, for a directory, everything below it as `name/...` — `cp CONTAINER:PATH -`. What is
// on the kernel's filesystems (a running container's /proc, /sys, …) is left out. `as`: the
// name the entry is written under instead (with name "." and `parent_dir_fd` a directory:
// that directory as `as`; with `as` empty and name ".", as "./…", Docker's `DIR/.`).
void create_tar(int parent_dir_fd, const std::string& name, const Writer& out, IdShift unshift = {},
                const std::string& as = "");

}  // namespace berth::diff
