// The shim's frame codec (shim/frames.hpp), as both berth and berth-shim read a peer's bytes:
// the first input byte picks how the rest arrives (pieces of 1..256 bytes), the reader never
// crashes, returns exactly the frames the bytes hold (re-encoding them gives back the bytes
// it consumed), refuses a length over the limit, and keeps the rest pending.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "shim/frames.hpp"

using berth::shim::FrameReader;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = size_t{data[0]} + 1;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  FrameReader r;
  std::string consumed;
  bool refused = false;
  size_t fed = 0;
  try {
    while (fed < in.size()) {
      const size_t n = std::min(piece, in.size() - fed);
      r.feed(in.substr(fed, n));
      fed += n;
      while (auto f = r.next()) {
        if (f->data.size() > berth::shim::kMaxFrame) std::abort();
        consumed += berth::shim::encode_frame(f->type, f->data);
      }
    }
  } catch (const berth::Error&) {
    refused = true;
  }
  // What came out is what went in, in order.
  if (in.substr(0, consumed.size()) != consumed) std::abort();
  if (refused) {
    // Only for a header whose length is over the limit, right after the last whole frame.
    const std::string_view h = in.substr(consumed.size());
    if (h.size() < 5) std::abort();
    const uint32_t len = (uint32_t{uint8_t(h[1])} << 24) | (uint32_t{uint8_t(h[2])} << 16) |
                         (uint32_t{uint8_t(h[3])} << 8) | uint8_t(h[4]);
    if (len <= berth::shim::kMaxFrame) std::abort();
  } else if (consumed.size() + r.pending() != in.size()) {
    std::abort();  // every byte is a returned frame or pending
  }
  return 0;
}
