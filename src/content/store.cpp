// The read side of the content store (lookup, read, walk, remove) and the helpers shared with
// the ingest side (ingest.cpp).
#include "content/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <utility>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "content/detail.hpp"

namespace berth::content {

namespace detail {

size_t hex_length(std::string_view algorithm) {
  if (algorithm == "sha256") return 64;
  if (algorithm == "sha512") return 128;
  return 0;
}

bool is_hex(std::string_view name, size_t len) {
  if (name.size() != len) return false;
  for (char c : name)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

void check_digest(const Digest& d) {
  size_t len = hex_length(d.algorithm);
  if (len == 0 || !is_hex(d.encoded, len))
    throw Error(ErrorKind::invalid_argument, "invalid digest " + quote(d.str()) + ": not a sha256 or sha512 digest");
}

std::string quote(std::string_view s) {
  static constexpr size_t kMax = 200;
  static const char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == kMax) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

int64_t hash_fd(int fd, Hasher& h, std::string_view what) {
  static constexpr size_t kChunk = 4 << 20;
  std::unique_ptr<char[]> buf(new char[kChunk]);
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  int64_t off = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf.get(), kChunk, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read " + std::string(what));
    }
    if (n == 0) return off;
    h.update(buf.get(), static_cast<size_t>(n));
    off += n;
  }
}

void fsync_dir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw_errno("open `" + path + "`");
  if (::fsync(fd.get()) < 0) throw_errno("fsync `" + path + "`");
}

}  // namespace detail

namespace {

std::string blob_name(const Digest& d) {
  return "blob " + d.str();
}

Info info_of(const Digest& d, const struct stat& st) {
  return Info{d, static_cast<int64_t>(st.st_size), static_cast<int64_t>(st.st_mtim.tv_sec)};
}

}  // namespace

Store::Store(std::string root) : root_(std::move(root)) {
  // 0700: a blob is an image's layer or config, whatever secrets its author baked in — no
  // other host user's to list or read (a store made by an older berth was 0755: closed here).
  fs::mkdir_p(root_, 0700);
  ::chmod(root_.c_str(), 0700);
  fs::mkdir_p(root_ + "/blobs/sha256", 0700);
  fs::mkdir_p(root_ + "/ingest", 0700);
}

std::string Store::blob_path(const Digest& d) const {
  detail::check_digest(d);
  return root_ + "/blobs/" + d.algorithm + "/" + d.encoded;
}

bool Store::exists(const Digest& d) const {
  struct stat st;
  return ::lstat(blob_path(d).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::optional<Info> Store::info(const Digest& d) const {
  struct stat st;
  std::string path = blob_path(d);
  if (::lstat(path.c_str(), &st) < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno("stat " + blob_name(d));
  }
  if (!S_ISREG(st.st_mode)) return std::nullopt;
  return info_of(d, st);
}

UniqueFd Store::open(const Digest& d) const {
  std::string path = blob_path(d);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) throw Error(ErrorKind::not_found, blob_name(d) + " not found", ENOENT);
    throw_errno("open " + blob_name(d));
  }
  return fd;
}

std::string Store::read(const Digest& d, size_t max_size) const {
  UniqueFd fd = open(d);
  struct stat st;
  if (::fstat(fd.get(), &st) < 0) throw_errno("stat " + blob_name(d));
  auto too_large = [&] {
    return Error(blob_name(d) + " is larger than " + std::to_string(max_size) + " bytes", EFBIG);
  };
  if (static_cast<uint64_t>(st.st_size) > max_size) throw too_large();
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read " + blob_name(d));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  // Small blobs (manifests, configs) are what get parsed and trusted: check them again, a
  // flipped bit on disk must not become a different image.
  Hasher h(d.algorithm);
  h.update(data);
  if (Digest got_digest = h.digest(); got_digest != d)
    throw Error(blob_name(d) + ": digest mismatch: got " + got_digest.str());
  return data;
}

bool Store::remove(const Digest& d) {
  if (::unlink(blob_path(d).c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  throw_errno("remove " + blob_name(d));
}

void Store::walk(const std::function<void(const Info&)>& fn) const {
  for (const char* algorithm : {"sha256", "sha512"}) {
    std::string dir = root_ + "/blobs/" + algorithm;
    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd) {
      if (errno == ENOENT) continue;
      throw_errno("open `" + dir + "`");
    }
    // Collect first, call afterwards: fn may well remove blobs (garbage collection).
    std::vector<Info> infos;
    {
      DIR* d = ::fdopendir(dfd.get());
      if (!d) throw_errno("open `" + dir + "`");
      dfd.release();
      std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
      size_t len = detail::hex_length(algorithm);
      for (;;) {
        errno = 0;
        auto* e = ::readdir(d);
        if (!e) {
          if (errno != 0) throw_errno("read `" + dir + "`");
          break;
        }
        std::string_view name = e->d_name;
        if (!detail::is_hex(name, len)) continue;
        struct stat st;
        if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
          if (errno == ENOENT) continue;  // removed meanwhile
          throw_errno("stat `" + dir + "/" + std::string(name) + "`");
        }
        if (S_ISREG(st.st_mode)) infos.push_back(info_of(Digest{algorithm, std::string(name)}, st));
      }
    }
    for (const Info& i : infos) fn(i);
  }
}

Digest Store::put(std::string_view data, const std::optional<Digest>& expected) {
  Hasher h(expected ? expected->algorithm : "sha256");
  h.update(data);
  Digest d = h.digest();
  if (expected && d != *expected)
    throw Error(blob_name(*expected) + ": digest mismatch: got " + d.str());
  if (exists(d)) return d;
  // Keyed by the digest: two puts of the same bytes take turns instead of failing.
  Writer w = writer("put " + d.str(), /*resume=*/false, /*wait=*/true);
  w.write(data);
  w.commit(d, static_cast<int64_t>(data.size()));
  return d;
}

}  // namespace berth::content
