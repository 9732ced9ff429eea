#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "logs/json_file.hpp"

namespace berth::logs {

namespace {

constexpr size_t kMaxLine = 16 * 1024;  // Docker splits longer lines into several records

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
               const std::map<std::string, std::string>& attrs)
    : path_(std::move(path)), max_size_(max_size), max_files_(max_files), format_(format) {
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
  if (fd_ >= 0) ::close(fd_);
}

void Writer::add(const char* stream, const char* data, size_t n, std::string& pending) {
  for (size_t i = 0; i < n; ++i) {
    pending.push_back(data[i]);
    if (data[i] == '\n' || pending.size() >= kMaxLine) flush(stream, pending);
  }
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
    for (int i = max_files_ - 1; i >= 1; --i) {
      std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
      ::rename(from.c_str(), (path_ + "." + std::to_string(i)).c_str());
    }
  }
  open_file();
}

}  // namespace berth::logs
