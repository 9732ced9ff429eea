// SPDY/3.1 framing (cri/spdy.hpp): frames written by one codec read back by another (the two
// ends of a connection, one zlib stream per direction), in any pieces, and hostile input
// refused with berth::Error.
#include "cri/spdy.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "common/error.hpp"

namespace berth::cri::spdy {
namespace {

std::vector<Frame> all(Codec& c) {
  std::vector<Frame> out;
  while (auto f = c.next()) out.push_back(std::move(*f));
  return out;
}

TEST(Spdy, FramesRoundTripAndHeadersShareOneCompressionStream) {
  Codec client, server;
  std::string wire = client.syn_stream(1, {{"StreamType", "error"}, {"X-Other", std::string("a\0b", 3)}});
  wire += client.syn_stream(3, {{"streamtype", "stdout"}}, true);  // the second block leans on the first's window
  wire += client.data(3, "hello");
  wire += client.data(3, "", true);
  wire += client.ping(7);
  wire += client.rst_stream(1, kRstCancel);
  wire += client.goaway(3, 0);
  server.feed(wire);
  auto f = all(server);
  ASSERT_EQ(f.size(), 7u);
  EXPECT_TRUE(f[0].control);
  EXPECT_EQ(f[0].type, kSynStream);
  EXPECT_EQ(f[0].stream, 1u);
  EXPECT_FALSE(f[0].fin());
  EXPECT_EQ(header(f[0].headers, "streamtype"), "error");
  EXPECT_EQ(header(f[0].headers, "STREAMTYPE"), "error");
  EXPECT_EQ(f[0].headers[0].first, "streamtype");  // names travel in lower case
  EXPECT_EQ(header(f[0].headers, "x-other"), std::string("a\0b", 3));
  EXPECT_EQ(f[1].stream, 3u);
  EXPECT_TRUE(f[1].fin());
  EXPECT_EQ(header(f[1].headers, "streamtype"), "stdout");
  EXPECT_FALSE(f[2].control);
  EXPECT_EQ(f[2].stream, 3u);
  EXPECT_EQ(f[2].data, "hello");
  EXPECT_TRUE(f[3].fin());
  EXPECT_TRUE(f[3].data.empty());
  EXPECT_EQ(f[4].type, kPing);
  EXPECT_EQ(f[4].value, 7u);
  EXPECT_EQ(f[5].type, kRstStream);
  EXPECT_EQ(f[5].stream, 1u);
  EXPECT_EQ(f[5].value, kRstCancel);
  EXPECT_EQ(f[6].type, kGoAway);
  EXPECT_EQ(f[6].stream, 3u);

  // The other direction has its own stream: a reply from the server reads at the client.
  // (One statement per frame: the order of the two operands of a + is unspecified, and a
  // header block can only be read in the order its stream wrote it.)
  client.feed(server.syn_reply(1, {}));
  client.feed(server.syn_reply(3, {{"a", "b"}}, true));
  auto r = all(client);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].type, kSynReply);
  EXPECT_TRUE(r[0].headers.empty());
  EXPECT_EQ(header(r[1].headers, "a"), "b");
  EXPECT_TRUE(r[1].fin());
}

TEST(Spdy, BytesInAnyPiecesGiveTheSameFrames) {
  Codec a, b;
  std::string wire;
  for (uint32_t i = 1; i < 20; i += 2) {
    wire += a.syn_stream(i, {{"streamtype", "data"}, {"port", std::to_string(8000 + i)}, {"requestid", std::to_string(i)}});
    wire += a.data(i, std::string(i * 100, 'x'), i % 3 == 0);
  }
  for (char ch : wire) b.feed(std::string_view(&ch, 1));
  auto f = all(b);
  ASSERT_EQ(f.size(), 20u);
  for (uint32_t i = 0; i < 10; ++i) {
    EXPECT_EQ(header(f[2 * i].headers, "port"), std::to_string(8000 + 2 * i + 1));
    EXPECT_EQ(f[2 * i + 1].data.size(), (2 * i + 1) * 100);
  }
}

std::string control_frame(uint16_t version, uint16_t type, std::string payload, uint8_t flags = 0) {
  std::string f;
  f += char(0x80 | (version >> 8));
  f += char(version & 0xff);
  f += char(type >> 8);
  f += char(type & 0xff);
  f += char(flags);
  f += char(payload.size() >> 16);
  f += char(payload.size() >> 8);
  f += char(payload.size());
  return f + payload;
}

// A SYN_REPLY for stream 1 whose header block is `raw` as a peer's zlib would compress it.
std::string reply_with_block(std::string raw) {
  z_stream z{};
  EXPECT_EQ(deflateInit(&z, Z_DEFAULT_COMPRESSION), Z_OK);
  const std::string_view d = dictionary();
  EXPECT_EQ(deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(d.data()), static_cast<uInt>(d.size())), Z_OK);
  std::string out(256, '\0');
  z.next_in = reinterpret_cast<Bytef*>(raw.data());
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return control_frame(3, kSynReply, std::string("\0\0\0\x01", 4) + out);
}

TEST(Spdy, HostileInputIsRefused) {
  {  // a length over the limit, known from the header alone
    Codec c;
    c.feed(std::string("\x00\x00\x00\x01\x00\xff\xff\xff", 8));
    EXPECT_THROW(c.next(), Error);
  }
  {  // another version
    Codec c;
    c.feed(control_frame(2, kPing, std::string(4, '\0')));
    EXPECT_THROW(c.next(), Error);
  }
  {  // a control frame too short for its type
    Codec c;
    c.feed(control_frame(3, kRstStream, "abc"));
    EXPECT_THROW(c.next(), Error);
  }
  {  // a header block that is not zlib
    Codec c;
    c.feed(control_frame(3, kSynStream, std::string(10, '\0') + "not zlib at all"));
    EXPECT_THROW(c.next(), Error);
  }
  {  // a header block that inflates past the limit (a 1 MiB value compresses to ~1 KiB)
    Codec peer, c;
    c.feed(peer.syn_stream(1, {{"big", std::string(1 << 20, 'a')}}));
    EXPECT_THROW(c.next(), Error);
  }
  // Blocks compressed as a peer would (zlib primed with SPDY's dictionary), the block bad.
  using namespace std::string_literals;
  for (const std::string& raw : {"\0\0\x03\xe8" "\0\0\0\x01" "a" "\0\0\0\x01" "b"s,  // 1000 pairs promised, one there
                                 "\0\0\0\x01" "\0\0\0\x09" "ab"s,              // a name past the block's end
                                 "\0\0\0\x01" "\0\0\0\0" "\0\0\0\0"s,         // a pair without a name
                                 "\0\0"s}) {                                      // no count
    Codec c;
    c.feed(reply_with_block(raw));
    EXPECT_THROW(c.next(), Error) << "block of " << raw.size() << " bytes";
  }
  {  // the same way, a good block reads (what is refused above is the block, not its zlib)
    Codec c;
    c.feed(reply_with_block("\0\0\0\x01" "\0\0\0\x01" "k" "\0\0\0\x01" "v"s));
    auto f = c.next();
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(header(f->headers, "k"), "v");
  }
  {  // a frame cut short waits; nothing is returned, nothing thrown
    Codec peer, c;
    std::string f = peer.data(1, "abcdef");
    c.feed(f.substr(0, f.size() - 1));
    EXPECT_FALSE(c.next().has_value());
    c.feed(f.substr(f.size() - 1));
    auto got = c.next();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->data, "abcdef");
  }
  {  // unknown control types pass, unread
    Codec c;
    c.feed(control_frame(3, 42, "whatever") + control_frame(3, kSettings, std::string(4, '\0')));
    auto f = all(c);
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].type, 42);
    EXPECT_EQ(f[1].type, kSettings);
  }
}

}  // namespace
}  // namespace berth::cri::spdy
