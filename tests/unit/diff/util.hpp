// Helpers for the diff tests: temp dirs, tar layers built with libarchive's writer, gzip (zlib,
// an implementation independent of the isa-l under test) and zstd, readers, tree snapshots.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <locale.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "diff/layer.hpp"
#include "temp_dir.hpp"

namespace difftest {

using Xattrs = std::vector<std::pair<std::string, std::string>>;

using TempDir = berth::test::TempDir;

struct Meta {
  mode_t perm = 0644;
  int64_t uid = 0, gid = 0;
  time_t mtime = 1700000000;
  long mtime_nsec = 0;
  Xattrs xattrs;
};

// A tar stream in memory, written by libarchive (pax, 10240-byte blocking like GNU tar, so
// zero padding follows the end-of-archive blocks).
class TarBuilder {
 public:
  TarBuilder() : a_(archive_write_new()) {
    archive_write_set_format_pax(a_);
    archive_write_set_format_option(a_, "pax", "xattrheader", "SCHILY");
    archive_write_open(a_, &out_, nullptr, &TarBuilder::write_cb, nullptr);
  }
  ~TarBuilder() { archive_write_free(a_); }

  TarBuilder& file(const std::string& name, const std::string& data, const Meta& m = {}) {
    return add(
        name, AE_IFREG, m, [&](archive_entry* e) { archive_entry_set_size(e, data.size()); }, data);
  }
  TarBuilder& dir(const std::string& name, Meta m = {}) {
    if (m.perm == 0644) m.perm = 0755;
    return add(name, AE_IFDIR, m, nullptr);
  }
  TarBuilder& symlink(const std::string& name, const std::string& target, const Meta& m = {}) {
    return add(name, AE_IFLNK, m,
               [&](archive_entry* e) { archive_entry_set_symlink(e, target.c_str()); });
  }
  TarBuilder& hardlink(const std::string& name, const std::string& target, const Meta& m = {}) {
    return add(name, AE_IFREG, m, [&](archive_entry* e) {
      archive_entry_set_hardlink(e, target.c_str());
      archive_entry_set_size(e, 0);
    });
  }
  TarBuilder& fifo(const std::string& name, const Meta& m = {}) {
    return add(name, AE_IFIFO, m, nullptr);
  }
  TarBuilder& chr(const std::string& name, unsigned maj, unsigned min, const Meta& m = {}) {
    return add(name, AE_IFCHR, m, [&](archive_entry* e) {
      archive_entry_set_rdevmajor(e, maj);
      archive_entry_set_rdevminor(e, min);
    });
  }
  // A whiteout or opaque marker as Docker writes them: an empty regular file.
  TarBuilder& marker(const std::string& name) { return file(name, "", Meta{0}); }

  std::string finish() {
    archive_write_close(a_);
    return std::move(out_);
  }

 private:
  template <typename F>
  TarBuilder& add(const std::string& name, int type, const Meta& m, F&& setup,
                  const std::string& data = {}) {
    // The test process stays in the "C" locale; libarchive needs a UTF-8 one to write
    // non-ASCII names unchanged (and crashes on set_pathname_utf8 in "C").
    locale_t utf8 = ::newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr);
    locale_t old = ::uselocale(utf8);
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, m.perm);
    archive_entry_set_uid(e, m.uid);
    archive_entry_set_gid(e, m.gid);
    archive_entry_set_mtime(e, m.mtime, m.mtime_nsec);
    for (const auto& [k, v] : m.xattrs)
      archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    if constexpr (!std::is_same_v<std::decay_t<F>, std::nullptr_t>) setup(e);
    if (archive_write_header(a_, e) != ARCHIVE_OK)
      throw std::runtime_error(std::string("tar header: ") + archive_error_string(a_));
    if (!data.empty()) archive_write_data(a_, data.data(), data.size());
    archive_entry_free(e);
    ::uselocale(old);
    ::freelocale(utf8);
    return *this;
  }
  static la_ssize_t write_cb(archive*, void* client, const void* buf, size_t n) {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  }

  archive* a_;
  std::string out_;
};

inline std::string gzip(const std::string& data, int level = 6) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

inline std::string gunzip(const std::string& data) {
  z_stream z{};
  inflateInit2(&z, 31);
  std::string out;
  char buf[65536];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    int r = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (r == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      inflateReset(&z);  // next member
      continue;
    }
    if (r != Z_OK) throw std::runtime_error("inflate");
  }
  inflateEnd(&z);
  return out;
}

inline std::string zstd(const std::string& data, int level = 3) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), level);
  if (ZSTD_isError(n)) throw std::runtime_error("ZSTD_compress");
  out.resize(n);
  return out;
}

inline std::string bzip2(const std::string& data, int block_100k = 9) {
  std::string out(data.size() + data.size() / 100 + 1024, '\0');
  unsigned n = static_cast<unsigned>(out.size());
  if (BZ2_bzBuffToBuffCompress(out.data(), &n, const_cast<char*>(data.data()), static_cast<unsigned>(data.size()),
                               block_100k, 0, 0) != BZ_OK)
    throw std::runtime_error("BZ2_bzBuffToBuffCompress");
  out.resize(n);
  return out;
}

inline std::string xz(const std::string& data, uint32_t preset = 6) {
  std::string out(lzma_stream_buffer_bound(data.size()), '\0');
  size_t n = 0;
  if (lzma_easy_buffer_encode(preset, LZMA_CHECK_CRC64, nullptr, reinterpret_cast<const uint8_t*>(data.data()),
                              data.size(), reinterpret_cast<uint8_t*>(out.data()), &n, out.size()) != LZMA_OK)
    throw std::runtime_error("lzma_easy_buffer_encode");
  out.resize(n);
  return out;
}

inline std::string unzstd(const std::string& data) {
  ZSTD_DCtx* d = ZSTD_createDCtx();
  std::string out;
  std::vector<char> buf(1 << 20);
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  while (in.pos < in.size) {
    ZSTD_outBuffer o{buf.data(), buf.size(), 0};
    size_t r = ZSTD_decompressStream(d, &o, &in);
    if (ZSTD_isError(r)) throw std::runtime_error("ZSTD_decompressStream");
    out.append(buf.data(), o.pos);
  }
  ZSTD_freeDCtx(d);
  return out;
}

// Reads `s` in pieces of at most `chunk` bytes (small chunks stress the stream boundaries).
inline berth::diff::Reader string_reader(const std::string& s, size_t chunk = SIZE_MAX) {
  auto pos = std::make_shared<size_t>(0);
  return [&s, pos, chunk](void* buf, size_t n) {
    size_t k = std::min({n, chunk, s.size() - *pos});
    std::memcpy(buf, s.data() + *pos, k);
    *pos += k;
    return k;
  };
}

inline berth::diff::Writer string_writer(std::string& out) {
  return [&out](const void* data, size_t n) { out.append(static_cast<const char*>(data), n); };
}

inline std::string slurp(const std::string& path) {
  return berth::fs::read_file(path);
}

inline void spit(const std::string& path, const std::string& data, mode_t mode = 0644) {
  berth::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) berth::throw_errno("create " + path);
  berth::fs::write_fd(fd.get(), data, path);
}

inline struct stat lstat_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) < 0) berth::throw_errno("lstat " + path);
  return st;
}

inline bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

inline std::string get_xattr(const std::string& path, const std::string& name) {
  char buf[4096];
  ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), buf, sizeof buf);
  if (n < 0) return "<none>";
  return std::string(buf, static_cast<size_t>(n));
}

inline Xattrs list_xattrs(const std::string& path) {
  Xattrs out;
  char names[65536];
  ssize_t n = ::llistxattr(path.c_str(), names, sizeof names);
  if (n <= 0) return out;
  for (ssize_t i = 0; i < n;) {
    std::string k(names + i);
    i += static_cast<ssize_t>(k.size()) + 1;
    out.emplace_back(k, get_xattr(path, k));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A v2 security.capability value: cap_net_bind_service (bit 10) permitted + effective.
inline std::string cap_net_bind_service() {
  uint32_t v[5] = {0x02000001u, 1u << 10, 0, 0, 0};
  return std::string(reinterpret_cast<const char*>(v), sizeof v);
}

// Runs a shell command; returns its stdout (throws if it fails).
inline std::string sh(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  if (rc != 0) throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + cmd);
  return out;
}

// What a tree looks like, for round-trip comparisons.
struct Node {
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  time_t mtime = 0;
  dev_t rdev = 0;
  std::string data;  // file contents or symlink target
  Xattrs xattrs;
  ino_t ino = 0;
  bool operator==(const Node& o) const {
    return mode == o.mode && uid == o.uid && gid == o.gid && mtime == o.mtime && rdev == o.rdev &&
           data == o.data && xattrs == o.xattrs;
  }
};

inline void snapshot_into(const std::string& root, const std::string& rel,
                          std::map<std::string, Node>& out) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(dir.c_str());
  if (!d) berth::throw_errno("opendir " + dir);
  std::vector<std::string> names;
  while (dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : names) {
    std::string r = rel.empty() ? n : rel + "/" + n;
    std::string p = root + "/" + r;
    struct stat st = lstat_of(p);
    Node node;
    node.mode = st.st_mode;
    node.uid = st.st_uid;
    node.gid = st.st_gid;
    node.mtime = st.st_mtim.tv_sec;
    node.rdev = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? st.st_rdev : 0;
    node.ino = st.st_ino;
    if (S_ISCHR(st.st_mode) && st.st_rdev == 0) node.mtime = 0;  // whiteouts carry no time
    if (S_ISREG(st.st_mode)) node.data = slurp(p);
    if (S_ISLNK(st.st_mode)) {
      char t[4096];
      ssize_t k = ::readlink(p.c_str(), t, sizeof t);
      node.data.assign(t, static_cast<size_t>(k));
    }
    for (auto& [k, v] : list_xattrs(p))
      if (!k.starts_with("trusted.overlay.") || k == "trusted.overlay.opaque")
        node.xattrs.emplace_back(k, v);
    out[r] = node;
    if (S_ISDIR(st.st_mode)) snapshot_into(root, r, out);
  }
}

inline std::map<std::string, Node> snapshot(const std::string& root) {
  std::map<std::string, Node> out;
  snapshot_into(root, "", out);
  return out;
}

// The error message of `f()`, or "" if it did not throw berth::Error.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const berth::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace difftest
