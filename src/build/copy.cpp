#include "build/copy.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "common/digest.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "diff/layer.hpp"

namespace berth::build {

namespace {

bool has_glob(const std::string& s) {
  return s.find_first_of("*?[") != std::string::npos;
}

std::string base_of(const std::string& p) {
  auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

std::string join_rel(const std::string& a, const std::string& b) {
  return a.empty() ? b : a + "/" + b;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : path) {
    if (c == '/') {
      if (!cur.empty() && cur != ".") out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty() && cur != ".") out.push_back(cur);
  return out;
}

std::string join_abs(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

// An archive ADD extracts: a tar, plain or gzip, zstd, bzip2 or xz (what diff/ reads; Docker's
// DecompressStream reads the same).
enum class Archive { none, tar };
Archive archive_kind(int fd) {
  // A tar's first header decompressed and checked (Docker's test): a gzip of a plain file is
  // copied as it is.
  off_t off = 0;
  const diff::Reader in = [&](void* buf, size_t n) {
    const ssize_t k = ::pread(fd, buf, n, off);
    if (k < 0) throw_errno("ADD: read");
    off += k;
    return static_cast<size_t>(k);
  };
  return diff::is_tar(in) ? Archive::tar : Archive::none;
}

struct Planner {
  int root;
  const IgnoreRules* ignore;
  const CopyRequest& req;
  HashCache* hashes;
  CopyPlan plan;
  Hasher hash{"sha256"};
  std::map<std::pair<dev_t, ino_t>, std::string> links;  // the first destination of each multiply-linked file

  bool excluded(const std::string& rel) const {
    return ignore && !rel.empty() && ignore->excluded(rel);
  }

  void add(CopyEntry e, int fd) {
    // The cache's view of it: where it goes, what it is, who owns it, its bytes.
    // A directory named as a source is not copied itself: DEST, when made, is 0755 whatever
    // the source's mode (the context's root may be a private temporary directory).
    const mode_t perm = e.top && S_ISDIR(e.st.st_mode) ? 0755
                        : req.mode && !S_ISLNK(e.st.st_mode) ? *req.mode
                                                             : (e.st.st_mode & 07777);
    // The owner it gets: --chown's, else the source's for another stage's files (COPY --from
    // keeps them: a stage whose chown changed must miss), else root.
    const uid_t uid = req.uid ? *req.uid : req.keep_owners ? e.st.st_uid : 0;
    const gid_t gid = req.gid ? *req.gid : req.keep_owners ? e.st.st_gid : 0;
    std::string rec = e.dest + '\0' + std::to_string(e.st.st_mode & S_IFMT) + '\0' + std::to_string(perm) + '\0' +
                      std::to_string(uid) + ':' + std::to_string(gid) + '\0' +
                      e.link + '\0' + (e.extract ? "x" : "") + '\0' +
                      (S_ISCHR(e.st.st_mode) || S_ISBLK(e.st.st_mode) ? std::to_string(e.st.st_rdev) : "") + '\0';
    if (S_ISREG(e.st.st_mode)) {
      rec += std::to_string(e.st.st_size) + '\0';
      // Hard links among the sources are copied as links: which entry an entry shares its
      // inode with is part of what is copied (same bytes, now linked, must miss).
      if (e.st.st_nlink > 1) rec += "h:" + links.try_emplace({e.st.st_dev, e.st.st_ino}, e.dest).first->second + '\0';
      if (auto known = hashes ? hashes->find(e.st) : std::nullopt) {
        rec += *known;
        hash.update(rec);
        hash.update("\n", 1);
        plan.entries.push_back(std::move(e));
        return;
      }
      Hasher content("sha256");
      std::vector<char> buf(1 << 16);
      for (off_t off = 0;;) {
        ssize_t n = ::pread(fd, buf.data(), buf.size(), off);
        if (n < 0) throw_errno(req.what + ": read " + e.src);
        if (n == 0) break;
        content.update(buf.data(), static_cast<size_t>(n));
        off += n;
      }
      const std::string hex = content.digest().encoded;
      if (hashes) hashes->put(e.st, hex);
      rec += hex;
    }
    hash.update(rec);
    hash.update("\n", 1);
    plan.entries.push_back(std::move(e));
  }

  // The entries of directory `dir_fd` (at `rel` in the source root) under `dest`.
  void walk(int dir_fd, const std::string& rel, const std::string& dest) {
    for (const std::string& name : fs::list_dir(dir_fd, rel.empty() ? "." : rel)) {
      const std::string child = join_rel(rel, name);
      if (excluded(child) && !(ignore->has_exceptions())) continue;
      struct stat st {};
      if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) throw_errno(req.what + ": stat " + child);
      if (S_ISSOCK(st.st_mode)) continue;  // Docker leaves sockets out too
      if (S_ISDIR(st.st_mode)) {
        UniqueFd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub) throw_errno(req.what + ": open " + child);
        const bool skip_self = excluded(child);  // only an exception below can bring parts of it back
        if (!skip_self) add({child, join_abs(dest, name), st, "", false}, -1);
        walk(sub.get(), child, join_abs(dest, name));
        continue;
      }
      if (excluded(child)) continue;
      CopyEntry e{child, join_abs(dest, name), st, "", false};
      if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        add(std::move(e), -1);
      } else if (S_ISLNK(st.st_mode)) {
        std::string target(static_cast<size_t>(st.st_size) + 256, '\0');
        ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
        if (n < 0) throw_errno(req.what + ": read link " + child);
        target.resize(static_cast<size_t>(n));
        e.link = target;
        add(std::move(e), -1);
      } else if (S_ISREG(st.st_mode)) {
        UniqueFd f(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!f) throw_errno(req.what + ": open " + child);
        add(std::move(e), f.get());
      } else {
        throw Error(ErrorKind::invalid_argument, req.what + ": " + child + " is not a file, directory or symlink");
      }
    }
  }

  // One source that exists at `rel` (symlinks on the way resolved inside the root).
  void source(const std::string& rel, bool several) {
    UniqueFd f = fs::open_in_root(root, rel.empty() ? "." : rel, O_PATH | O_CLOEXEC);
    if (!f) throw Error(ErrorKind::invalid_argument, req.what + " failed: file not found in build context or excluded by .dockerignore: stat " + rel + ": file does not exist");
    struct stat st {};
    if (::fstat(f.get(), &st) < 0) throw_errno(req.what + ": stat " + rel);
    const bool to_dir = several || req.dest.back() == '/';
    const std::string dest = fs::clean_path(req.dest);
    if (S_ISDIR(st.st_mode)) {
      UniqueFd d(::openat(f.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!d) throw_errno(req.what + ": open " + rel);
      CopyEntry self{rel, dest, st, "", false};
      self.top = true;
      add(std::move(self), -1);
      walk(d.get(), rel, dest);
      return;
    }
    if (!S_ISREG(st.st_mode)) throw Error(ErrorKind::invalid_argument, req.what + ": " + rel + " is not a file or directory");
    UniqueFd data(::open(fs::fd_path(f.get()).c_str(), O_RDONLY | O_CLOEXEC));
    if (!data) throw_errno(req.what + ": open " + rel);
    CopyEntry e{rel, to_dir ? join_abs(dest, base_of(rel)) : dest, st, "", false};
    e.top = true;
    if (req.add) {
      if (archive_kind(data.get()) == Archive::tar) {
        e.extract = true;
        e.dest = dest;
      }
    }
    // A single file to a DEST without `/`: into DEST/NAME if DEST is a directory in the image
    // (decided when copying; the parent's id in the cache key fixes what the image has).
    add(std::move(e), data.get());
  }
};

}  // namespace

mode_t parse_chmod(const std::string& text) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("01234567") != std::string::npos)
    throw Error(ErrorKind::invalid_argument, "invalid --chmod `" + text + "`: an octal mode such as 0755");
  return static_cast<mode_t>(std::stoul(text, nullptr, 8)) & 07777;
}

std::string HashCache::key(const struct stat& st) {
  return std::to_string(st.st_dev) + ':' + std::to_string(st.st_ino) + ':' + std::to_string(st.st_size) + ':' +
         std::to_string(st.st_mtim.tv_sec) + '.' + std::to_string(st.st_mtim.tv_nsec) + ':' +
         std::to_string(st.st_ctim.tv_sec) + '.' + std::to_string(st.st_ctim.tv_nsec);
}

std::optional<std::string> HashCache::find(const struct stat& st) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = map_.find(key(st));
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

void HashCache::put(const struct stat& st, const std::string& hex) {
  struct timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  if (st.st_ctim.tv_sec > now.tv_sec - 2 || st.st_mtim.tv_sec > now.tv_sec - 2) return;
  std::lock_guard<std::mutex> lk(mu_);
  auto [it, added] = map_.emplace(key(st), hex);
  if (added) dirty_ = true;
}

void HashCache::load(const std::string& path) {
  std::string text;
  try {
    text = fs::read_file(path);
  } catch (const Error&) {
    return;
  }
  std::lock_guard<std::mutex> lk(mu_);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string_view line(text.data() + pos, nl - pos);
    const size_t sp = line.find(' ');
    if (sp != std::string_view::npos && line.size() - sp - 1 == 64) map_.emplace(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
    pos = nl + 1;
  }
}

void HashCache::save(const std::string& path) const {
  std::lock_guard<std::mutex> lk(mu_);
  if (!dirty_) return;
  // Bounded: past 200000 files the oldest knowledge is simply dropped (a rebuild rehashes).
  if (map_.size() > 200000) return;
  std::string text;
  for (auto& [k, v] : map_) text += k + ' ' + v + '\n';
  fs::write_file_atomic(path, text, 0600);
}

CopyPlan plan_copy(int root_fd, const IgnoreRules* ignore, const CopyRequest& req, HashCache* hashes) {
  if (req.sources.empty() || req.dest.empty())
    throw Error(ErrorKind::invalid_argument, req.what + " requires at least two arguments: SRC... DEST");
  Planner p{root_fd, ignore, req, hashes, {}};
  // Several sources (or a pattern that may match several) need a directory to go to.
  std::vector<std::string> resolved, unmatched;
  for (const std::string& given : req.sources) {
    if (given.rfind("http://", 0) == 0 || given.rfind("https://", 0) == 0) {
      if (!req.add) throw Error(ErrorKind::invalid_argument, "COPY cannot copy from a URL (" + given + "): use ADD");
      throw Error(ErrorKind::invalid_argument, "ADD from a URL (" + given + ") is not supported yet");
    }
    // Cleaned as a path under the context's root: `..` stops there (Docker's way).
    std::string rel = fs::clean_path("/" + given).substr(1);
    if (!has_glob(rel)) {
      // An excluded directory still gives what an exception brings back below it
      // (`dir` then `!dir/sub/keep.txt`: COPY dir copies keep.txt).
      struct stat dst {};
      const bool dir_with_exceptions = ignore && ignore->has_exceptions() && ::fstatat(root_fd, rel.empty() ? "." : rel.c_str(), &dst, 0) == 0 &&
                                       S_ISDIR(dst.st_mode);
      if (p.excluded(rel) && !dir_with_exceptions)
        throw Error(ErrorKind::invalid_argument, req.what + " failed: file not found in build context or excluded by .dockerignore: stat " + rel + ": file does not exist");
      resolved.push_back(rel);
      continue;
    }
    // A pattern: the context's paths down to its depth that it matches.
    const size_t depth = static_cast<size_t>(std::count(rel.begin(), rel.end(), '/')) + 1;
    std::vector<std::string> matches;
    std::function<void(int, const std::string&, size_t)> scan = [&](int dir, const std::string& at, size_t level) {
      for (const std::string& name : fs::list_dir(dir, at.empty() ? "." : at)) {
        const std::string child = join_rel(at, name);
        if (::fnmatch(rel.c_str(), child.c_str(), FNM_PATHNAME) == 0 && !p.excluded(child)) matches.push_back(child);
        if (level + 1 >= depth) continue;
        UniqueFd sub(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (sub) scan(sub.get(), child, level + 1);
      }
    };
    UniqueFd top(::openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!top) throw_errno(req.what + ": open the context");
    scan(top.get(), "", 0);
    // A pattern that matches nothing is fine beside sources that exist (`COPY package.json
    // yarn.lock* ./`, Docker's rule); nothing at all is an error.
    if (matches.empty()) unmatched.push_back(given);
    resolved.insert(resolved.end(), matches.begin(), matches.end());
  }
  if (resolved.empty())
    throw Error(ErrorKind::invalid_argument, req.what + " failed: no source files were specified (`" + unmatched.front() +
                                                 "` matches nothing in the build context)");
  const bool several = resolved.size() > 1;
  if (several && req.dest.back() != '/')
    throw Error(ErrorKind::invalid_argument, "When using " + req.what + " with more than one source file, the destination must be a directory and end with a /");
  for (auto& rel : resolved) p.source(rel, several);
  p.plan.checksum = p.hash.digest().encoded;
  const bool dir = !p.plan.entries.empty() && S_ISDIR(p.plan.entries.front().st.st_mode);
  p.plan.label = (several ? "multi:" : dir ? "dir:" : "file:") + p.plan.checksum;
  return std::move(p.plan);
}

namespace {

// Owner and mode of a copied entry, in Docker's order: the mode first, then the owner for
// what comes from the context (the kernel's chown then drops setuid/setgid, as under Docker),
// the owner first for another stage's files (their bits stay) and under --chmod (asked for).
void own(int dir_fd, const std::string& name, const CopyRequest& req, const struct stat& st, bool is_link) {
  const uid_t uid = req.uid ? *req.uid : req.keep_owners ? st.st_uid : 0;
  const gid_t gid = req.gid ? *req.gid : req.keep_owners ? st.st_gid : 0;
  auto chown = [&] {
    if (::fchownat(dir_fd, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) < 0) throw_errno("chown " + name);
  };
  if (is_link) return chown();
  const mode_t mode = req.mode ? *req.mode : (st.st_mode & 07777);
  auto chmod = [&] {
    if (::fchmodat(dir_fd, name.c_str(), mode, 0) < 0) throw_errno("chmod " + name);
  };
  if (req.mode || req.keep_owners) {
    chown();
    chmod();
  } else {
    chmod();
    chown();
  }
}

// mkdir -p inside the root: the directories made are 0755 and owned as --chown says (root
// otherwise), those that exist are left as they are. An O_PATH fd of the last one.
UniqueFd make_parents(int root_fd, const std::string& path, const CopyRequest& req) {
  UniqueFd cur = fs::open_in_root(root_fd, "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  std::string sofar;
  for (const std::string& part : split_path(path)) {
    sofar += "/" + part;
    UniqueFd next = fs::open_in_root(root_fd, sofar, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (!next) {
      if (errno != ENOENT) throw_errno(req.what + ": " + sofar);
      if (::mkdirat(cur.get(), part.c_str(), 0755) == 0) {
        if (req.uid || req.gid)
          ::fchownat(cur.get(), part.c_str(), req.uid.value_or(0), req.gid.value_or(0), AT_SYMLINK_NOFOLLOW);
        next = fs::open_in_root(root_fd, sofar, O_PATH | O_DIRECTORY | O_CLOEXEC);
      } else if (errno == EEXIST) {
        // A symlink whose target is missing: made where it points, inside the root.
        next = fs::mkdir_in_root(root_fd, sofar, 0755);
      }
      if (!next) throw_errno(req.what + ": mkdir " + sofar);
    }
    cur = std::move(next);
  }
  return cur;
}

void set_times(int dir_fd, const std::string& name, const struct stat& st) {
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  ::utimensat(dir_fd, name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
}

void extract(int src, const std::string& what, int dest_dir) {
  diff::ApplyOptions ao;
  ao.overlay = false;  // a whiteout deletes from the directory; nothing overlay-specific is made
  ao.rootless = ::geteuid() != 0;
  ao.keep_root = true;         // Docker's untar: the destination keeps its mode and owner
  ao.absolute_inside = true;   // and `/etc/f` lands at DEST/etc/f
  struct statvfs vfs;
  if (::fstatvfs(dest_dir, &vfs) == 0) ao.max_size = static_cast<int64_t>(vfs.f_bavail) * static_cast<int64_t>(vfs.f_frsize);
  char head[16];
  const ssize_t h = ::pread(src, head, sizeof head, 0);
  off_t off = 0;
  diff::Reader reader = [&](void* buf, size_t n) {
    ssize_t k = ::pread(src, buf, n, off);
    if (k < 0) throw_errno("ADD: read " + what);
    off += k;
    return static_cast<size_t>(k);
  };
  try {
    diff::apply_layer(reader, diff::detect_compression(head, h > 0 ? static_cast<size_t>(h) : 0), dest_dir, ao);
  } catch (const Error& e) {
    throw Error(ErrorKind::invalid_argument, "ADD " + what + ": " + e.what());
  }
}

}  // namespace

namespace {

// `path` with its final symlinks followed inside the root `root` (at most 40), as a path: a
// dangling link's target is where a file goes.
std::string follow_links(int root, std::string path) {
  for (int i = 0; i < 40 && path != "/"; ++i) {
    const std::string parent = path.substr(0, path.rfind('/'));
    UniqueFd pd = fs::open_in_root(root, parent.empty() ? "/" : parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (!pd) return path;
    char buf[4096];
    const ssize_t n = ::readlinkat(pd.get(), base_of(path).c_str(), buf, sizeof buf);
    if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return path;  // not a link (or absent)
    const std::string target(buf, static_cast<size_t>(n));
    path = fs::clean_path(target[0] == '/' ? target : (parent.empty() ? "" : parent) + "/" + target);
  }
  return path;
}

}  // namespace

void apply_copy(int src_root_fd, const CopyPlan& plan, int dest_root_fd, const CopyRequest& req) {
  std::vector<char> buf(1 << 16);
  std::map<std::pair<dev_t, ino_t>, std::string> linked;  // source file → where it was copied
  for (size_t i = 0; i < plan.entries.size(); ++i) {
    const CopyEntry& e = plan.entries[i];
    const bool top = e.top;
    std::string dest = e.dest;
    if (e.extract) {
      UniqueFd at = fs::mkdir_in_root(dest_root_fd, dest, 0755);
      UniqueFd dir(::openat(at.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!dir) throw_errno(req.what + ": open " + dest);
      UniqueFd src = fs::open_in_root(src_root_fd, e.src, O_RDONLY | O_CLOEXEC);
      if (!src) throw_errno(req.what + ": open " + e.src);
      extract(src.get(), e.src, dir.get());
      continue;
    }
    // A single file to a DEST without `/` that is a directory in the image: into it.
    if (top && S_ISREG(e.st.st_mode) && req.dest.back() != '/' && plan.entries.size() == 1) {
      UniqueFd d = fs::open_in_root(dest_root_fd, dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (d) dest = join_abs(fs::clean_path(dest), base_of(e.src));
    }
    dest = fs::clean_path(dest);
    // DEST itself is resolved in the image's root, a final symlink included (Docker's
    // classic builder): a file copied onto a link goes where the link leads.
    if (top && !S_ISDIR(e.st.st_mode)) dest = follow_links(dest_root_fd, dest);
    if (dest == "/") {
      if (!S_ISDIR(e.st.st_mode)) throw Error(ErrorKind::invalid_argument, req.what + ": cannot replace the root directory with " + e.src);
      continue;
    }
    const std::string parent = dest.substr(0, dest.rfind('/'));
    const std::string name = base_of(dest);
    // The directories made above DEST: --chown's for a file copied (Docker's), root's for a
    // directory (only DEST and what is in it take the owner).
    CopyRequest parents_req = req;
    if (top && S_ISDIR(e.st.st_mode)) {
      parents_req.uid.reset();
      parents_req.gid.reset();
    }
    UniqueFd pd = make_parents(dest_root_fd, parent.empty() ? "/" : parent, parents_req);
    struct stat old {};
    const bool exists = ::fstatat(pd.get(), name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0;
    if (S_ISDIR(e.st.st_mode)) {
      bool made = false;
      // A directory onto an existing file DEST: Docker's "not a directory" (its contents
      // never replace the file).
      if (top && exists && !S_ISDIR(old.st_mode) && !S_ISLNK(old.st_mode))
        throw Error(ErrorKind::invalid_argument, req.what + " failed: cannot copy directory " + e.src + " to " + dest + ": not a directory");
      if (exists && !S_ISDIR(old.st_mode)) {
        if (::unlinkat(pd.get(), name.c_str(), 0) < 0) throw_errno(req.what + ": replace " + dest);
      }
      if (!exists || !S_ISDIR(old.st_mode)) {
        if (::mkdirat(pd.get(), name.c_str(), 0755) < 0) throw_errno(req.what + ": mkdir " + dest);
        made = true;
      }
      // The directory DEST itself keeps what it had when it was there already, and is
      // 0755 when made (Docker's).
      if (!top) {
        own(pd.get(), name, req, e.st, false);
      } else if (made) {
        struct stat dir_st = e.st;
        dir_st.st_mode = S_IFDIR | 0755;
        CopyRequest r = req;
        r.mode.reset();
        r.keep_owners = false;  // made here: root's (or --chown's), not the source's
        own(pd.get(), name, r, dir_st, false);
      }
      continue;
    }
    if (exists) {
      if (S_ISDIR(old.st_mode)) throw Error(ErrorKind::invalid_argument, req.what + ": cannot replace directory " + dest + " with a file");
      if (::unlinkat(pd.get(), name.c_str(), 0) < 0) throw_errno(req.what + ": replace " + dest);
    }
    if (S_ISLNK(e.st.st_mode)) {
      if (::symlinkat(e.link.c_str(), pd.get(), name.c_str()) < 0) throw_errno(req.what + ": symlink " + dest);
      own(pd.get(), name, req, e.st, true);
      set_times(pd.get(), name, e.st);
      continue;
    }
    if (S_ISFIFO(e.st.st_mode) || S_ISCHR(e.st.st_mode) || S_ISBLK(e.st.st_mode)) {
      if (::mknodat(pd.get(), name.c_str(), (e.st.st_mode & S_IFMT) | 0600, e.st.st_rdev) < 0)
        throw_errno(req.what + ": mknod " + dest);
      own(pd.get(), name, req, e.st, false);
      set_times(pd.get(), name, e.st);
      continue;
    }
    // A hard link to a file copied before: linked again (Docker keeps hard links).
    if (e.st.st_nlink > 1) {
      auto first = linked.find({e.st.st_dev, e.st.st_ino});
      if (first != linked.end()) {
        const std::string& to_path = first->second;
        UniqueFd from_dir = fs::open_in_root(dest_root_fd, to_path.substr(0, to_path.rfind('/')).empty() ? "/" : to_path.substr(0, to_path.rfind('/')),
                                             O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (from_dir && ::linkat(from_dir.get(), base_of(to_path).c_str(), pd.get(), name.c_str(), 0) == 0) continue;
      }
      linked[{e.st.st_dev, e.st.st_ino}] = dest;
    }
    UniqueFd from = fs::open_in_root(src_root_fd, e.src, O_RDONLY | O_CLOEXEC | (top ? 0 : O_NOFOLLOW));
    if (!from) throw_errno(req.what + ": open " + e.src);
    UniqueFd to(::openat(pd.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!to) throw_errno(req.what + ": create " + dest);
    for (;;) {
      const size_t n = fs::read_fd(from.get(), buf.data(), buf.size(), e.src);
      if (n == 0) break;
      fs::write_fd(to.get(), std::string_view(buf.data(), n), dest);
    }
    to.reset();
    own(pd.get(), name, req, e.st, false);
    set_times(pd.get(), name, e.st);
  }
  // Directory mtimes last: what was written into them changed them.
  for (const CopyEntry& e : plan.entries) {
    if (!S_ISDIR(e.st.st_mode) || e.extract) continue;
    const std::string dest = fs::clean_path(e.dest);
    if (dest == "/") continue;
    UniqueFd pd = fs::open_in_root(dest_root_fd, dest.substr(0, dest.rfind('/')).empty() ? "/" : dest.substr(0, dest.rfind('/')), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (pd) set_times(pd.get(), base_of(dest), e.st);
  }
}

}  // namespace berth::build
