// SPDY/3.1 framing, as the Kubernetes streaming protocols use it (exec, attach and
// port-forward between kubectl/crictl/the kubelet and a CRI runtime's streaming server):
// control frames (SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS,
// WINDOW_UPDATE) and data frames, header blocks compressed by one zlib stream per direction
// primed with the SPDY/3 dictionary (spec section 2.6.10.1).
//
// Flow control is not done: the Kubernetes peers (moby/spdystream) neither send nor honour
// WINDOW_UPDATE, so windows are read and ignored, as theirs are.
//
// The input is the peer's and may be hostile: a frame longer than kMaxFrame, a header block
// that inflates past kMaxHeaderBlock, a malformed block or an unknown version throw
// berth::Error — the connection is to be dropped.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::cri::spdy {

enum ControlType : uint16_t {
  kSynStream = 1,
  kSynReply = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kHeaders = 8,
  kWindowUpdate = 9,
};

inline constexpr uint8_t kFlagFin = 0x01;
inline constexpr uint32_t kMaxFrame = 1 << 20;          // payload bytes a peer may send at once
inline constexpr size_t kMaxHeaderBlock = 64 << 10;      // inflated header block
inline constexpr uint32_t kRstProtocolError = 1;
inline constexpr uint32_t kRstRefusedStream = 3;
inline constexpr uint32_t kRstCancel = 5;

// Header names are lower case on the wire; several values of one name are NUL-separated.
using Headers = std::vector<std::pair<std::string, std::string>>;

// SPDY/3's header-compression dictionary (1423 bytes).
std::string_view dictionary();

// The value of header `name` (compared without case); "" if absent.
std::string header(const Headers& h, std::string_view name);

struct Frame {
  bool control = false;
  uint16_t type = 0;     // ControlType, for a control frame
  uint8_t flags = 0;
  uint32_t stream = 0;   // the stream of a data frame, SYN_*, RST_STREAM, HEADERS, WINDOW_UPDATE
  uint32_t value = 0;    // RST_STREAM/GOAWAY status, PING id, WINDOW_UPDATE delta
  Headers headers;       // SYN_STREAM, SYN_REPLY, HEADERS
  std::string data;      // a data frame's bytes
  bool fin() const { return flags & kFlagFin; }
};

// One connection's codec: frames out of the bytes received, bytes of the frames to send. The
// two zlib streams live as long as the connection (SPDY's rule), so one Codec per connection.
class Codec {
 public:
  Codec();
  ~Codec();
  Codec(const Codec&) = delete;
  Codec& operator=(const Codec&) = delete;

  void feed(std::string_view bytes);
  // The next whole frame; nullopt until one is complete. Throws berth::Error (see above).
  std::optional<Frame> next();

  std::string syn_stream(uint32_t stream, const Headers& h, bool fin = false);
  std::string syn_reply(uint32_t stream, const Headers& h, bool fin = false);
  std::string data(uint32_t stream, std::string_view bytes, bool fin = false);
  std::string rst_stream(uint32_t stream, uint32_t status);
  std::string ping(uint32_t id);
  std::string goaway(uint32_t last_stream, uint32_t status = 0);

 private:
  struct Zlib;
  std::string control(uint16_t type, uint8_t flags, std::string_view payload);
  std::string header_block(const Headers& h);
  Headers parse_header_block(std::string_view compressed);

  std::unique_ptr<Zlib> z_;
  std::string buf_;
  size_t pos_ = 0;
};

}  // namespace berth::cri::spdy
