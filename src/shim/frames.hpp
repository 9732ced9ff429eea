// The frames berth and berth-shim exchange on an attached connection (protocol.hpp): 1 byte
// type, 4 bytes big-endian length, the data. One codec for both sides.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shim/protocol.hpp"

namespace berth::shim {

struct FrameData {
  uint8_t type = 0;
  std::string data;
};

// The frame's bytes on the wire.
std::string encode_frame(uint8_t type, std::string_view data);

// Sends all of `data` on socket `fd`; false when the peer is gone (MSG_NOSIGNAL: an error
// here, not a SIGPIPE).
bool send_all(int fd, std::string_view data);
// Sends one frame whole (header and data in one sendmsg where the socket takes it).
bool send_frame(int fd, uint8_t type, std::string_view data);

// Frames to a shim, sent without blocking. A client that also reads the shim's output must never
// block writing to it: the shim may be blocked sending output to that client (and, with a
// full stdin, not reading it), and both would wait for ever. Frames wait here; flush() sends
// what the socket takes now; poll the socket for POLLOUT while pending(), and stop reading
// stdin while pending() is over kQueueHigh.
class FrameQueue {
 public:
  static constexpr size_t kQueueHigh = 1 << 20;
  // Appends the frame (data over kMaxFrame goes as several frames of the type).
  void push(uint8_t type, std::string_view data);
  // Sends what the socket takes now; false when the peer is gone (what waits is dropped).
  bool flush(int fd);
  size_t pending() const { return buf_.size() - pos_; }
  // Before the sender stops using the queue (the peer reads on): the frame partly sent goes
  // whole (waiting up to `timeout_ms` for room), the frames not begun are dropped. A frame cut
  // short would take the next frame anyone sends on the socket for its own bytes (an owner's
  // `done` lost behind a piece of stdin: its cleanup never ran). False when it could not.
  bool finish(int fd, int timeout_ms);

 private:
  // The length of the frame that starts at `at` (its header is whole in buf_).
  size_t frame_size(size_t at) const;
  std::string buf_;
  size_t pos_ = 0;    // what went
  size_t frame_ = 0;  // where the frame that holds pos_ starts (pos_ itself between frames)
};

// Frames out of a byte stream that arrives in pieces.
class FrameReader {
 public:
  void feed(std::string_view bytes);
  // The next whole frame; nullopt until one is complete. A length over kMaxFrame throws
  // berth::Error: the peer is broken or hostile, the connection is to be dropped.
  std::optional<FrameData> next();
  // Bytes received but not yet returned as frames.
  size_t pending() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  size_t pos_ = 0;  // start of the first frame not yet returned
};

// Reads one whole frame from blocking `fd`; nullopt at end of stream (or a frame cut by it).
// Throws berth::Error for a length over kMaxFrame or a read error.
std::optional<FrameData> read_frame(int fd);

}  // namespace berth::shim
