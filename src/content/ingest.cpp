// The write side of the content store: ingests under <root>/ingest/<sha256 of ref>/ holding
//   data  the bytes so far (0644 while being written, 0444 once committed)
//   ref   the caller's ref, so that ingests() can list them (the ref itself is never a path)
// The directory itself is the flock: a writer holds it from writer() until commit, abort or
// destruction. Whoever removes an ingest does so while holding the lock, and whoever gets
// the lock checks that the directory it locked is still the one at the path (a waiter may
// have opened it just before it was removed).
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "content/detail.hpp"
#include "content/store.hpp"

namespace berth::content {

namespace {

// Writes of at least this size go straight to the file; smaller ones are gathered first.
constexpr size_t kDirectWrite = 64 << 10;
constexpr size_t kBufferSize = 1 << 20;
// Dirty data is handed to writeback every this many bytes, so that the fsync at commit finds
// little left to write instead of the whole blob: a pull paced by the network would otherwise
// keep hundreds of MiB dirty (below the kernel's background threshold) and then wait for all
// of it at once. Measured no cost in a tight loop.
constexpr int64_t kWriteBehind = 8 << 20;
constexpr size_t kMaxRef = 4096;

const char* const kData = "data";
const char* const kRef = "ref";
const char* const kRefTmp = "ref.tmp";

std::string ingest_name(std::string_view ref) {
  return "ingest " + detail::quote(ref);
}

std::string key_of(std::string_view ref) {
  return sha256_of(ref).encoded;
}

// Whether the directory open as fd is still the one at path.
bool still_at(int fd, const std::string& path) {
  struct stat a, b;
  if (::fstat(fd, &a) < 0) throw_errno("stat `" + path + "`");
  if (::lstat(path.c_str(), &b) < 0) {
    if (errno == ENOENT) return false;
    throw_errno("stat `" + path + "`");
  }
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Opens and flocks the ingest directory at path. Returns an empty fd when it does not exist
// (and create is false). Throws when another writer holds it and wait is false.
UniqueFd lock_ingest(const std::string& path, std::string_view ref, bool create, bool wait) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (create && ::mkdir(path.c_str(), 0755) < 0 && errno != EEXIST)
      throw_errno("create " + ingest_name(ref));
    UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) {
      if (errno != ENOENT) throw_errno("open " + ingest_name(ref));
      if (!create) return {};
      continue;  // removed between mkdir and open
    }
    while (::flock(dir.get(), LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
      if (errno == EINTR) continue;
      if (errno == EWOULDBLOCK)
        throw Error(ErrorKind::conflict, ingest_name(ref) + " is in use by another writer", EWOULDBLOCK);
      throw_errno("lock " + ingest_name(ref));
    }
    if (still_at(dir.get(), path)) return dir;
    if (!create) return {};
    // Committed or aborted by the writer we waited for: start again with a fresh directory.
  }
  throw Error(ingest_name(ref) + ": directory keeps disappearing");
}

// Removes an ingest directory whose lock the caller holds (data first: a crash half-way leaves
// an empty ingest, never a half-removed blob).
void remove_ingest(int dirfd, const std::string& path, std::string_view ref) {
  for (const char* name : {kData, kRefTmp, kRef})
    if (::unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
      throw_errno("remove " + ingest_name(ref) + " " + name);
  if (::rmdir(path.c_str()) < 0) {
    if (errno == ENOENT) return;
    if (errno != ENOTEMPTY && errno != EEXIST) throw_errno("remove " + ingest_name(ref));
    fs::remove_all(path);  // something else was put there; the lock says it is ours
  }
}

void pwrite_all(int fd, const char* p, size_t n, int64_t off, std::string_view ref) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, off);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno("write " + ingest_name(ref));
    }
    p += w;
    n -= static_cast<size_t>(w);
    off += w;
  }
}

void check_ref(std::string_view ref) {
  if (ref.empty()) throw Error("ingest ref must not be empty");
  if (ref.size() > kMaxRef)
    throw Error(ingest_name(ref) + ": ref longer than " + std::to_string(kMaxRef) + " bytes");
}

}  // namespace

struct Store::Writer::State {
  std::string root;  // the store's
  std::string ref;
  std::string path;  // <root>/ingest/<key>
  UniqueFd dir;      // locked
  UniqueFd data;
  Hasher hasher;                // sha256 of everything written, resumed bytes included
  int64_t offset = 0;           // bytes written by the caller (in the file or in buf)
  int64_t on_disk = 0;          // bytes handed to the kernel
  int64_t written_back = 0;     // start of the range not yet handed to writeback
  std::unique_ptr<char[]> buf;  // allocated on the first small write
  size_t buf_len = 0;
  bool closed = false;  // committed or aborted
  bool failed = false;  // an I/O error left file and hasher out of step

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  // Keeps what was written for a later resume.
  ~State() {
    if (closed || failed) return;
    try {
      flush();
    } catch (...) {
    }
  }

  void check_usable() const {
    if (closed) throw Error(ingest_name(ref) + ": already committed or aborted");
    if (failed)
      throw Error(ingest_name(ref) + ": an earlier write failed; open it again to resume");
  }

  void put(const char* p, size_t n) {
    try {
      pwrite_all(data.get(), p, n, on_disk, ref);
    } catch (...) {
      failed = true;
      throw;
    }
    on_disk += static_cast<int64_t>(n);
    if (on_disk - written_back >= kWriteBehind) {
      // A hint: failures of writeback are reported by the fsync at commit.
      (void)::sync_file_range(data.get(), written_back, on_disk - written_back,
                              SYNC_FILE_RANGE_WRITE);
      written_back = on_disk;
    }
  }

  void flush() {
    if (buf_len == 0) return;
    put(buf.get(), buf_len);
    buf_len = 0;
  }

  // Throws away the ingest (lock still held), then lets it go.
  void discard() {
    closed = true;
    data.reset();
    remove_ingest(dir.get(), path, ref);
    dir.reset();
  }

  // discard() for error paths: the original error is the one to report.
  void discard_quietly() noexcept {
    try {
      discard();
    } catch (...) {
    }
  }
};

Store::Writer::Writer(std::unique_ptr<State> s) : s_(std::move(s)) {}
Store::Writer::Writer(Writer&&) noexcept = default;
Store::Writer& Store::Writer::operator=(Writer&&) noexcept = default;
Store::Writer::~Writer() = default;

int64_t Store::Writer::offset() const {
  if (!s_) throw Error("content writer used after move");
  return s_->offset;
}

void Store::Writer::write(const void* data, size_t n) {
  if (!s_) throw Error("content writer used after move");
  State& s = *s_;
  s.check_usable();
  if (n == 0) return;
  // Hash the caller's bytes where they are; copy only small writes, into the buffer.
  s.hasher.update(data, n);
  auto p = static_cast<const char*>(data);
  if (n >= kDirectWrite) {
    s.flush();
    s.put(p, n);
  } else {
    if (s.buf_len + n > kBufferSize) s.flush();
    if (!s.buf) s.buf.reset(new char[kBufferSize]);
    std::memcpy(s.buf.get() + s.buf_len, p, n);
    s.buf_len += n;
  }
  s.offset += static_cast<int64_t>(n);
}

Digest Store::Writer::digest() const {
  if (!s_) throw Error("content writer used after move");
  return s_->hasher.digest();
}

void Store::Writer::commit(const Digest& expected, int64_t expected_size) {
  if (!s_) throw Error("content writer used after move");
  State& s = *s_;
  s.check_usable();
  detail::check_digest(expected);
  const std::string blob = "blob " + expected.str();
  s.flush();

  if (expected_size >= 0 && s.offset != expected_size) {
    s.discard_quietly();
    throw Error(blob + ": size " + std::to_string(s.offset) + ", expected " +
                std::to_string(expected_size));
  }
  Digest got;
  if (expected.algorithm == "sha256") {
    got = s.hasher.digest();
  } else {
    Hasher h(expected.algorithm);  // rare: hash the file again with the other algorithm
    detail::hash_fd(s.data.get(), h, ingest_name(s.ref));
    got = h.digest();
  }
  if (got != expected) {
    s.discard_quietly();
    throw Error(blob + ": digest mismatch: got " + got.str());
  }

  const std::string dir = s.root + "/blobs/" + expected.algorithm;
  const std::string target = dir + "/" + expected.encoded;
  struct stat st;
  if (::lstat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    s.discard();  // already there (verified when it was written)
    return;
  }
  try {
    if (::fchmod(s.data.get(), 0444) < 0) throw_errno("chmod " + ingest_name(s.ref));
    if (::fsync(s.data.get()) < 0) throw_errno("fsync " + ingest_name(s.ref));
    fs::mkdir_p(dir);
    if (::renameat(s.dir.get(), kData, AT_FDCWD, target.c_str()) < 0)
      throw_errno("move " + ingest_name(s.ref) + " to " + blob);
    detail::fsync_dir(dir);
  } catch (...) {
    s.failed = true;  // the ingest stays for a resume, the caller sees why
    throw;
  }
  s.discard();
}

void Store::Writer::abort() {
  if (!s_) throw Error("content writer used after move");
  if (s_->closed) return;
  s_->discard();
}

Store::Writer Store::writer(const std::string& ref, bool resume, bool wait) {
  check_ref(ref);
  auto s = std::make_unique<Writer::State>();
  s->root = root_;
  s->ref = ref;
  s->path = root_ + "/ingest/" + key_of(ref);
  s->dir = lock_ingest(s->path, ref, /*create=*/true, wait);

  // Record the ref (atomically: ingests() may read it at any time).
  std::string have;
  {
    UniqueFd fd(::openat(s->dir.get(), kRef, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd) {
      char tmp[kMaxRef + 1];
      ssize_t n;
      do n = ::read(fd.get(), tmp, sizeof tmp);
      while (n < 0 && errno == EINTR);
      if (n > 0) have.assign(tmp, static_cast<size_t>(n));
    }
  }
  if (have != ref) {
    UniqueFd fd(::openat(s->dir.get(), kRefTmp,
                         O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd) throw_errno("create " + ingest_name(ref) + " ref");
    fs::write_fd(fd.get(), ref, ingest_name(ref) + " ref");
    fd.reset();
    if (::renameat(s->dir.get(), kRefTmp, s->dir.get(), kRef) < 0)
      throw_errno("rename " + ingest_name(ref) + " ref");
  }

  int flags = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
  s->data.reset(::openat(s->dir.get(), kData, flags, 0644));
  if (!s->data && errno == EACCES) {
    // Made read-only by a commit that failed after the chmod: it is still ours to resume.
    if (::fchmodat(s->dir.get(), kData, 0644, 0) == 0)
      s->data.reset(::openat(s->dir.get(), kData, flags, 0644));
  }
  if (!s->data) throw_errno("open " + ingest_name(ref) + " data");

  if (!resume) {
    if (::ftruncate(s->data.get(), 0) < 0) throw_errno("truncate " + ingest_name(ref));
  } else {
    s->offset = detail::hash_fd(s->data.get(), s->hasher, ingest_name(ref));
    s->on_disk = s->written_back = s->offset;
  }
  return Writer(std::move(s));
}

std::vector<std::string> Store::ingests() const {
  const std::string dir = root_ + "/ingest";
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) {
    if (errno == ENOENT) return {};
    throw_errno("open `" + dir + "`");
  }
  DIR* d = ::fdopendir(dfd.get());
  if (!d) throw_errno("open `" + dir + "`");
  dfd.release();
  std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
  std::vector<std::string> refs;
  for (;;) {
    errno = 0;
    auto* e = ::readdir(d);
    if (!e) {
      if (errno != 0) throw_errno("read `" + dir + "`");
      break;
    }
    if (!detail::is_hex(e->d_name, 64)) continue;
    std::string ref_path = std::string(e->d_name) + "/" + kRef;
    UniqueFd fd(::openat(::dirfd(d), ref_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) continue;  // being created or removed
    char buf[kMaxRef + 1];
    ssize_t n;
    do n = ::read(fd.get(), buf, sizeof buf);
    while (n < 0 && errno == EINTR);
    if (n <= 0) continue;
    std::string ref(buf, static_cast<size_t>(n));
    if (key_of(ref) == e->d_name) refs.push_back(std::move(ref));
  }
  std::sort(refs.begin(), refs.end());
  return refs;
}

void Store::abort_ingest(const std::string& ref) {
  check_ref(ref);
  std::string path = root_ + "/ingest/" + key_of(ref);
  UniqueFd dir = lock_ingest(path, ref, /*create=*/false, /*wait=*/false);
  if (dir) remove_ingest(dir.get(), path, ref);
}

}  // namespace berth::content
