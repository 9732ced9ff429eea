// COPY and ADD: what their sources name in the build context (or in another stage's root),
// a checksum of it for the cache, and the copy into an image's root — by Docker's rules:
//
// - Sources are relative to the context (`..` and symlinks cannot leave it); `*`, `?` and
//   `[…]` match within one path element. Paths .dockerignore excludes do not exist.
// - A directory source copies its contents (not itself); a file goes to DEST/NAME when DEST
//   ends in `/` or is a directory, else it becomes DEST. Several sources need a DEST ending
//   in `/`.
// - What comes from the context belongs to root (0:0) unless --chown, and loses its setuid and
//   setgid bits as Docker's chown makes the kernel drop them; what comes from another stage
//   keeps its owners. Modes and mtimes are kept unless --chmod; symlinks are copied as links,
//   hard links among the files copied stay hard links, fifos and device nodes are made anew.
//   Missing parent directories are made (0755, the --chown owner or root). ADD extracts a
//   local tar (plain, gzip or zstd) into DEST instead of copying it.
// Writing happens inside the destination root only: every path is resolved in it (a symlink
// in the image cannot send a file out).
#pragma once

#include <sys/stat.h>

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "build/ignore.hpp"
#include "common/fd.hpp"

namespace berth::build {

struct CopyEntry {
  std::string src;   // relative to the source root ("" is the root)
  std::string dest;  // absolute in the destination root
  struct stat st {};
  std::string link;      // a symlink's target
  bool extract = false;  // ADD: a tar to unpack into `dest` (a directory)
  bool top = false;      // a source as named (not found inside a directory source)
};

struct CopyPlan {
  std::vector<CopyEntry> entries;  // parents before children
  std::string checksum;            // hex sha256 of names, types, modes, owners and contents
  std::string label;               // Docker's history words: "file:HEX", "dir:HEX", "multi:HEX"
};

struct CopyRequest {
  std::vector<std::string> sources;  // as given (substituted)
  std::string dest;                  // absolute (WORKDIR applied)
  bool add = false;                  // ADD: local tars are extracted
  std::optional<uid_t> uid;          // --chown (resolved); nullopt: 0
  std::optional<gid_t> gid;
  std::optional<mode_t> mode;        // --chmod
  // COPY --from: without --chown, files keep their owners (the context's become root's).
  bool keep_owners = false;
  std::string what = "COPY";         // for messages
};

// Content hashes of files by identity and change times — device, inode, size, mtime, ctime,
// as git's index does: a file whose stat is unchanged is not read again to hash it. Files
// changed in the last two seconds are not remembered (a write in the same clock tick would
// leave the times as they were). Thread-safe.
class HashCache {
 public:
  std::optional<std::string> find(const struct stat& st) const;
  void put(const struct stat& st, const std::string& hex);
  // One "KEY HEX" line per file; a missing or malformed file is an empty cache.
  void load(const std::string& path);
  // Written whole (atomically) when something was added.
  void save(const std::string& path) const;

 private:
  static std::string key(const struct stat& st);
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::string> map_;
  bool dirty_ = false;
};

// Resolves the sources in `root_fd` (the context, or another stage's root: ignore may be
// null) and hashes them. Throws berth::Error (invalid_argument) for a source that is not
// there or excluded, a pattern matching nothing, several sources and a DEST without `/`.
CopyPlan plan_copy(int root_fd, const IgnoreRules* ignore, const CopyRequest& req, HashCache* hashes = nullptr);

// Writes the plan into the root directory `dest_root_fd` (an image's mounted root).
void apply_copy(int src_root_fd, const CopyPlan& plan, int dest_root_fd, const CopyRequest& req);

// --chmod's value: octal, at most 07777.
mode_t parse_chmod(const std::string& text);

}  // namespace berth::build
