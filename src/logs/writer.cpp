#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <zlib.h>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "logs/json_file.hpp"

namespace berth::logs {

namespace {


void escape(const std::string& in, std::string& out) {
  for (unsigned char c : in) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);  // UTF-8 passes through (invalid bytes too, as Docker)
        }
    }
  }
}


}  // namespace

Writer::Writer(std::string path, int64_t max_size, int max_files, Format format,
               const std::map<std::string, std::string>& attrs, bool compress)
    : path_(std::move(path)), max_size_(max_size), max_files_(max_files), format_(format),
      compress_(compress && max_files > 1) {
  if (format_ == Format::json_file && !attrs.empty()) {
    attrs_ = ",\"attrs\":{";
    for (auto it = attrs.begin(); it != attrs.end(); ++it) {
      if (it != attrs.begin()) attrs_ += ',';
      attrs_ += '"';
      escape(it->first, attrs_);
      attrs_ += "\":\"";
      escape(it->second, attrs_);
      attrs_ += '"';
    }
    attrs_ += '}';
  }
  open_file();
}

void Writer::reopen() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  open_file();
}

Writer::~Writer() {
  if (gzip_.joinable()) gzip_.join();
  if (fd_ >= 0) ::close(fd_);
}

void Writer::flush(const char* stream, std::string& pending) {
  if (pending.empty()) return;
  std::string line;
  if (format_ == Format::cri) {
    const bool full = pending.back() == '\n';
    if (full) pending.pop_back();
    line = rfc3339_nano(now_ns());
    line += ' ';
    line += stream;
    line += full ? " F " : " P ";
    line += pending;
    line += '\n';
  } else {
    line = "{\"log\":\"";
    escape(pending, line);
    line += "\",\"stream\":\"";
    line += stream;
    line += '"';
    line += attrs_;
    line += ",\"time\":\"";
    line += rfc3339_nano(now_ns());
    line += "\"}\n";
  }
  pending.clear();
  if (fd_ < 0) return;
  if (max_size_ > 0 && size_ + static_cast<int64_t>(line.size()) > max_size_ && size_ > 0) rotate();
  // A full disk loses log lines, never the container: the error is noted once.
  if (!fs::write_all(fd_, line)) {
    if (!warned_) log::warn("log " + path_ + ": " + std::strerror(errno) + " (lines dropped)");
    warned_ = true;
    return;
  }
  size_ += static_cast<int64_t>(line.size());
}

void Writer::open_file() {
  if (path_.empty()) return;
  // Non-blocking: a fifo put in the log's place (a user's --log-opt path, a swap behind the
  // engine's back) fails here instead of holding the shim in open() until it has a reader.
  // A log must be a regular file.
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0640);
  struct stat st {};
  if (fd_ >= 0 && (::fstat(fd_, &st) < 0 || !S_ISREG(st.st_mode))) {
    log::warn("log " + path_ + ": not a regular file (lines dropped)");
    ::close(fd_);
    fd_ = -1;
  }
  if (fd_ >= 0) ::fcntl(fd_, F_SETFL, O_APPEND);  // a disk file: writes block as they always did
  size_ = fd_ >= 0 ? st.st_size : 0;
}

void Writer::rotate() {
  ::close(fd_);
  fd_ = -1;
  if (max_files_ <= 1) {
    if (::truncate(path_.c_str(), 0) < 0) log::warn("log " + path_ + ": truncate: " + std::strerror(errno));
  } else {
    // The last compression is done before its file moves on.
    if (gzip_.joinable()) gzip_.join();
    // Plain and compressed names alike: a file whose compression failed stays plain.
    for (const char* ext : {"", ".gz"}) ::unlink((path_ + "." + std::to_string(max_files_ - 1) + ext).c_str());
    for (int i = max_files_ - 1; i >= 1; --i)
      for (const char* ext : {"", ".gz"}) {
        if (i == 1 && *ext) continue;
        const std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1) + ext;
        ::rename(from.c_str(), (path_ + "." + std::to_string(i) + ext).c_str());
      }
    if (compress_) {
      const std::string one = path_ + ".1";
      gzip_ = std::thread([one] {
        if (!gzip_file(one, one + ".gz")) log::warn("log " + one + ": cannot compress it (kept as it is)");
      });
    }
  }
  open_file();
}

bool gzip_file(const std::string& from, const std::string& to) {
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return false;
  const std::string tmp = to + ".tmp";
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!out) return false;
  z_stream z{};
  // gzip framing (15 + 16), the default level: what Docker's compress writes.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  std::string ibuf(65536, '\0'), obuf(65536, '\0');
  bool ok = true;
  for (int flush = Z_NO_FLUSH; ok && flush != Z_FINISH;) {
    const ssize_t n = ::read(in.get(), ibuf.data(), ibuf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ok = false;
      break;
    }
    flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
    z.next_in = reinterpret_cast<Bytef*>(ibuf.data());
    z.avail_in = static_cast<uInt>(n);
    do {
      z.next_out = reinterpret_cast<Bytef*>(obuf.data());
      z.avail_out = static_cast<uInt>(obuf.size());
      if (deflate(&z, flush) == Z_STREAM_ERROR) ok = false;
      const size_t have = obuf.size() - z.avail_out;
      if (ok && have && !fs::write_all(out.get(), std::string_view(obuf.data(), have))) ok = false;
    } while (ok && z.avail_out == 0);
  }
  deflateEnd(&z);
  if (ok && ::fsync(out.get()) < 0) ok = false;
  out.reset();
  if (!ok || ::rename(tmp.c_str(), to.c_str()) < 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  ::unlink(from.c_str());
  return true;
}

}  // namespace berth::logs
