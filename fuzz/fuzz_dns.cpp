// The embedded DNS server's handling of a packet from the container (shim/dns.hpp), against a
// hosts file the container may have written too: the first byte picks how much of the rest is
// the packet, the remainder is the hosts text. It never crashes; a reply is a response to the
// packet (its id, QR set, within the size limit — 512 for UDP, 65535 for TCP); a forward
// is only ever of a readable query; a response or a packet shorter than a header gets nothing.
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "shim/dns.hpp"

namespace dns = berth::shim::dns;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t cut = std::min(rest.size(), size_t{data[0]} * 4);
  const std::string_view packet = rest.substr(0, cut), hosts = rest.substr(cut);
  for (const size_t limit : {size_t{512}, size_t{65535}})
    for (bool may_forward : {true, false}) {
      const dns::Decision d = dns::decide(packet, hosts, may_forward, limit);
      const auto q = dns::parse_query(packet);
      if (d.forward && (!may_forward || !q)) std::abort();
      if (d.forward && !d.reply.empty()) std::abort();
      if (packet.size() < 12 || (packet[2] & 0x80)) {
        if (d.forward || !d.reply.empty()) std::abort();
        continue;
      }
      if (d.forward) continue;
      if (d.reply.size() < 12 || d.reply[0] != packet[0] || d.reply[1] != packet[1] || !(d.reply[2] & 0x80)) std::abort();
      if (q && d.reply.size() > std::max(limit, q->question_end)) std::abort();
      if (q && q->name.size() > 255) std::abort();
    }
  return 0;
}
