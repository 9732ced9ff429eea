#include "shim/frames.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/error.hpp"

namespace berth::shim {

namespace {

void put_header(char* h, uint8_t type, size_t n) {
  const auto len = static_cast<uint32_t>(n);
  h[0] = static_cast<char>(type);
  h[1] = static_cast<char>(len >> 24);
  h[2] = static_cast<char>(len >> 16);
  h[3] = static_cast<char>(len >> 8);
  h[4] = static_cast<char>(len);
}

uint32_t length_of(const char* h) {
  auto b = [&](int i) { return uint32_t{static_cast<uint8_t>(h[i])}; };
  return (b(1) << 24) | (b(2) << 16) | (b(3) << 8) | b(4);
}

Error too_long(uint32_t len) {
  return Error("shim protocol: a frame of " + std::to_string(len) + " bytes (the limit is " +
               std::to_string(kMaxFrame) + ")");
}

}  // namespace

std::string encode_frame(uint8_t type, std::string_view data) {
  std::string f(5, '\0');
  put_header(f.data(), type, data.size());
  f += data;
  return f;
}

void FrameQueue::push(uint8_t type, std::string_view data) {
  do {
    const size_t n = std::min<size_t>(data.size(), kMaxFrame);
    char h[5];
    put_header(h, type, n);
    buf_.append(h, sizeof h);
    buf_.append(data.substr(0, n));
    data.remove_prefix(n);
  } while (!data.empty());
}

size_t FrameQueue::frame_size(size_t at) const {
  const auto* h = reinterpret_cast<const unsigned char*>(buf_.data() + at);
  return 5 + ((size_t{h[1]} << 24) | (size_t{h[2]} << 16) | (size_t{h[3]} << 8) | size_t{h[4]});
}

bool FrameQueue::flush(int fd) {
  while (pos_ < buf_.size()) {
    ssize_t w = ::send(fd, buf_.data() + pos_, buf_.size() - pos_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (w <= 0) {
      buf_.clear();
      pos_ = frame_ = 0;
      return false;
    }
    pos_ += static_cast<size_t>(w);
  }
  while (frame_ < pos_ && frame_ + frame_size(frame_) <= pos_) frame_ += frame_size(frame_);
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = frame_ = 0;
  } else if (frame_ > (1 << 20)) {  // what went, dropped at a frame's start
    buf_.erase(0, frame_);
    pos_ -= frame_;
    frame_ = 0;
  }
  return true;
}

bool FrameQueue::finish(int fd, int timeout_ms) {
  bool ok = true;
  if (pos_ > frame_) {
    const size_t end = frame_ + frame_size(frame_);
    while (pos_ < end) {
      ssize_t w = ::send(fd, buf_.data() + pos_, end - pos_, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) {
        pos_ += static_cast<size_t>(w);
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      pollfd p{fd, POLLOUT, 0};
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && ::poll(&p, 1, timeout_ms) > 0) continue;
      ok = false;
      break;
    }
  }
  buf_.clear();
  pos_ = frame_ = 0;
  return ok;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t w = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data.remove_prefix(static_cast<size_t>(w));
  }
  return true;
}

bool send_frame(int fd, uint8_t type, std::string_view data) {
  char h[5];
  put_header(h, type, data.size());
  iovec iov[2] = {{h, sizeof h}, {const_cast<char*>(data.data()), data.size()}};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  size_t left = sizeof h + data.size();
  for (;;) {
    ssize_t w = ::sendmsg(fd, &m, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    left -= static_cast<size_t>(w);
    if (left == 0) return true;
    // A partial send: step over what went.
    auto done = static_cast<size_t>(w);
    while (done >= m.msg_iov[0].iov_len) {
      done -= m.msg_iov[0].iov_len;
      ++m.msg_iov;
      --m.msg_iovlen;
    }
    m.msg_iov[0].iov_base = static_cast<char*>(m.msg_iov[0].iov_base) + done;
    m.msg_iov[0].iov_len -= done;
  }
}

void FrameReader::feed(std::string_view bytes) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);  // compacted now and then, not per frame
    pos_ = 0;
  }
  buf_.append(bytes);
}

std::optional<FrameData> FrameReader::next() {
  if (buf_.size() - pos_ < 5) return std::nullopt;
  const char* h = buf_.data() + pos_;
  const uint32_t len = length_of(h);
  if (len > kMaxFrame) throw too_long(len);
  if (buf_.size() - pos_ < 5 + size_t{len}) return std::nullopt;
  FrameData f{static_cast<uint8_t>(h[0]), buf_.substr(pos_ + 5, len)};
  pos_ += 5 + len;
  return f;
}

std::optional<FrameData> read_frame(int fd) {
  auto read_exact = [&](char* p, size_t n) {
    while (n > 0) {
      ssize_t r = ::read(fd, p, n);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw_errno("shim protocol: read");
      if (r == 0) return false;
      p += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  };
  char h[5];
  if (!read_exact(h, sizeof h)) return std::nullopt;
  const uint32_t len = length_of(h);
  if (len > kMaxFrame) throw too_long(len);
  FrameData f{static_cast<uint8_t>(h[0]), std::string(len, '\0')};
  if (!read_exact(f.data.data(), len)) return std::nullopt;
  return f;
}

}  // namespace berth::shim
