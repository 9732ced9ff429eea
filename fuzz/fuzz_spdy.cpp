// SPDY/3.1 frames as the CRI streaming server reads a client's bytes (cri/spdy.hpp): the first
// input byte picks the size of the pieces they arrive in; the codec never crashes, returns no
// data frame over its limit and no header block past its cap, and after a refusal (berth::Error)
// the connection is dropped, so the loop stops there.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/error.hpp"
#include "cri/spdy.hpp"

using namespace berth::cri;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = size_t{data[0]} + 1;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  spdy::Codec c;
  try {
    for (size_t fed = 0; fed < in.size();) {
      const size_t n = std::min(piece, in.size() - fed);
      c.feed(in.substr(fed, n));
      fed += n;
      while (auto f = c.next()) {
        if (f->data.size() > spdy::kMaxFrame) std::abort();
        size_t hb = 0;
        for (auto& [k, v] : f->headers) {
          if (k.empty()) std::abort();
          hb += k.size() + v.size() + 8;
        }
        if (hb > spdy::kMaxHeaderBlock) std::abort();
        // Answering with the codec's own writer works whatever was read.
        if (f->control && f->type == spdy::kSynStream) (void)c.syn_reply(f->stream, f->headers);
      }
    }
  } catch (const berth::Error&) {
  }
  return 0;
}
