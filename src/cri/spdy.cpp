#include "cri/spdy.hpp"

#include <zlib.h>

#include <strings.h>

#include <cctype>

#include "common/error.hpp"

namespace berth::cri::spdy {

namespace {

// SPDY/3's header-compression dictionary, byte for byte as its specification gives it
// (draft-mbelshe-httpbis-spdy-00, 2.6.10.1): both zlib streams start from it.
constexpr char kDictionary[] =
    "\000\000\000\007options\000\000\000\004head\000\000\000\004post\000\000\000\003put\000"
    "\000\000\006delete\000\000\000\005trace\000\000\000\006accept\000\000\000\016accept-"
    "charset\000\000\000\017accept-encoding\000\000\000\017accept-language\000\000\000\015"
    "accept-ranges\000\000\000\003age\000\000\000\005allow\000\000\000\015authorization\000"
    "\000\000\015cache-control\000\000\000\012connection\000\000\000\014content-base\000\000"
    "\000\020content-encoding\000\000\000\020content-language\000\000\000\016content-leng"
    "th\000\000\000\020content-location\000\000\000\013content-md5\000\000\000\015content"
    "-range\000\000\000\014content-type\000\000\000\004date\000\000\000\004etag\000\000\000"
    "\006expect\000\000\000\007expires\000\000\000\004from\000\000\000\004host\000\000\000"
    "\010if-match\000\000\000\021if-modified-since\000\000\000\015if-none-match\000\000\000"
    "\010if-range\000\000\000\023if-unmodified-since\000\000\000\015last-modified\000\000"
    "\000\010location\000\000\000\014max-forwards\000\000\000\006pragma\000\000\000\022pr"
    "oxy-authenticate\000\000\000\023proxy-authorization\000\000\000\005range\000\000\000"
    "\007referer\000\000\000\013retry-after\000\000\000\006server\000\000\000\002te\000\000"
    "\000\007trailer\000\000\000\021transfer-encoding\000\000\000\007upgrade\000\000\000\012"
    "user-agent\000\000\000\004vary\000\000\000\003via\000\000\000\007warning\000\000\000"
    "\020www-authenticate\000\000\000\006method\000\000\000\003get\000\000\000\006status\000"
    "\000\000\006200 OK\000\000\000\007version\000\000\000\010HTTP/1.1\000\000\000\003url"
    "\000\000\000\006public\000\000\000\012set-cookie\000\000\000\012keep-alive\000\000\000"
    "\006origin10010120120220520630030230330430530630740240540640740840941041141241341441"
    "5416417502504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
    "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error50"
    "1 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov"
    " Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,imag"
    "e/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,pub"
    "licprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    ;
constexpr size_t kDictionarySize = sizeof kDictionary - 1;
static_assert(kDictionarySize == 1423);

constexpr uint16_t kVersion = 3;

void put32(std::string& s, uint32_t v) {
  char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  s.append(b, 4);
}

uint32_t get32(std::string_view s, size_t at) {
  auto b = reinterpret_cast<const unsigned char*>(s.data()) + at;
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
}

[[noreturn]] void bad(const std::string& why) { throw Error(ErrorKind::invalid_argument, "spdy: " + why); }

}  // namespace

std::string_view dictionary() { return {kDictionary, kDictionarySize}; }

std::string header(const Headers& h, std::string_view name) {
  for (auto& [k, v] : h)
    if (k.size() == name.size() && ::strncasecmp(k.data(), name.data(), name.size()) == 0) return v;
  return "";
}

struct Codec::Zlib {
  z_stream in{}, out{};
  bool in_ok = false, out_ok = false;
  Zlib() {
    if (inflateInit(&in) != Z_OK) throw Error("spdy: zlib inflateInit failed");
    in_ok = true;
    if (deflateInit(&out, Z_DEFAULT_COMPRESSION) != Z_OK) throw Error("spdy: zlib deflateInit failed");
    out_ok = true;
    if (deflateSetDictionary(&out, reinterpret_cast<const Bytef*>(kDictionary), kDictionarySize) != Z_OK)
      throw Error("spdy: zlib deflateSetDictionary failed");
  }
  ~Zlib() {
    if (in_ok) inflateEnd(&in);
    if (out_ok) deflateEnd(&out);
  }
};

Codec::Codec() : z_(std::make_unique<Zlib>()) {}
Codec::~Codec() = default;

void Codec::feed(std::string_view bytes) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (64 << 10)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

std::optional<Frame> Codec::next() {
  std::string_view in(buf_);
  in.remove_prefix(pos_);
  if (in.size() < 8) return std::nullopt;
  const uint32_t w0 = get32(in, 0), w1 = get32(in, 4);
  const uint32_t len = w1 & 0xffffff;
  if (len > kMaxFrame) bad("a frame of " + std::to_string(len) + " bytes (the limit is " + std::to_string(kMaxFrame) + ")");
  if (in.size() < 8 + size_t(len)) return std::nullopt;
  std::string_view p = in.substr(8, len);
  pos_ += 8 + len;
  Frame f;
  f.flags = uint8_t(w1 >> 24);
  if (!(w0 & 0x80000000u)) {
    f.stream = w0 & 0x7fffffff;
    f.data.assign(p);
    return f;
  }
  f.control = true;
  const uint16_t version = (w0 >> 16) & 0x7fff;
  if (version != kVersion) bad("version " + std::to_string(version) + " (only 3 is spoken)");
  f.type = uint16_t(w0 & 0xffff);
  auto need = [&](size_t n) {
    if (p.size() < n) bad("a control frame of type " + std::to_string(f.type) + " is too short");
  };
  switch (f.type) {
    case kSynStream:
      need(10);
      f.stream = get32(p, 0) & 0x7fffffff;
      f.headers = parse_header_block(p.substr(10));
      break;
    case kSynReply:
    case kHeaders:
      need(4);
      f.stream = get32(p, 0) & 0x7fffffff;
      f.headers = parse_header_block(p.substr(4));
      break;
    case kRstStream:
    case kWindowUpdate:
      need(8);
      f.stream = get32(p, 0) & 0x7fffffff;
      f.value = get32(p, 4) & (f.type == kWindowUpdate ? 0x7fffffff : 0xffffffff);
      break;
    case kGoAway:
      need(8);
      f.stream = get32(p, 0) & 0x7fffffff;
      f.value = get32(p, 4);
      break;
    case kPing:
      need(4);
      f.value = get32(p, 0);
      break;
    default:  // SETTINGS, NOOP, CREDENTIAL and unknown types: passed on, their payload unread
      break;
  }
  return f;
}

Headers Codec::parse_header_block(std::string_view compressed) {
  z_stream& z = z_->in;
  std::string raw;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  z.avail_in = static_cast<uInt>(compressed.size());
  char chunk[4096];
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    if (rc == Z_NEED_DICT) {
      if (inflateSetDictionary(&z, reinterpret_cast<const Bytef*>(kDictionary), kDictionarySize) != Z_OK)
        bad("the header block wants another dictionary");
      rc = inflate(&z, Z_SYNC_FLUSH);
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) bad("a header block that does not inflate");
    raw.append(chunk, sizeof chunk - z.avail_out);
    if (raw.size() > kMaxHeaderBlock) bad("a header block over " + std::to_string(kMaxHeaderBlock) + " bytes");
    if (z.avail_out != 0) break;  // all it can give of this input
  }
  if (z.avail_in != 0) bad("a header block with bytes past its end");
  Headers h;
  std::string_view r(raw);
  if (r.size() < 4) bad("a header block without its count");
  uint32_t n = get32(r, 0);
  size_t at = 4;
  auto str = [&]() {
    if (r.size() - at < 4) bad("a header block cut short");
    uint32_t l = get32(r, at);
    at += 4;
    if (r.size() - at < l) bad("a header block cut short");
    std::string s(r.substr(at, l));
    at += l;
    return s;
  };
  if (n > r.size() / 8) bad("a header block that counts more pairs than it holds");
  for (uint32_t i = 0; i < n; ++i) {
    std::string k = str();
    std::string v = str();
    if (k.empty()) bad("a header with no name");
    for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    h.emplace_back(std::move(k), std::move(v));
  }
  return h;
}

std::string Codec::header_block(const Headers& h) {
  std::string raw;
  put32(raw, static_cast<uint32_t>(h.size()));
  for (auto& [k, v] : h) {
    put32(raw, static_cast<uint32_t>(k.size()));
    for (char c : k) raw += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    put32(raw, static_cast<uint32_t>(v.size()));
    raw += v;
  }
  z_stream& z = z_->out;
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(raw.data());
  z.avail_in = static_cast<uInt>(raw.size());
  char chunk[4096];
  do {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    if (deflate(&z, Z_SYNC_FLUSH) == Z_STREAM_ERROR) throw Error("spdy: zlib deflate failed");
    out.append(chunk, sizeof chunk - z.avail_out);
  } while (z.avail_out == 0);
  return out;
}

std::string Codec::control(uint16_t type, uint8_t flags, std::string_view payload) {
  std::string f;
  put32(f, 0x80000000u | uint32_t(kVersion) << 16 | type);
  put32(f, uint32_t(flags) << 24 | static_cast<uint32_t>(payload.size()));
  f += payload;
  return f;
}

std::string Codec::syn_stream(uint32_t stream, const Headers& h, bool fin) {
  std::string p;
  put32(p, stream & 0x7fffffff);
  put32(p, 0);   // associated-to
  p += '\0';     // priority 0, unused bits
  p += '\0';     // slot
  p += header_block(h);
  return control(kSynStream, fin ? kFlagFin : 0, p);
}

std::string Codec::syn_reply(uint32_t stream, const Headers& h, bool fin) {
  std::string p;
  put32(p, stream & 0x7fffffff);
  p += header_block(h);
  return control(kSynReply, fin ? kFlagFin : 0, p);
}

std::string Codec::data(uint32_t stream, std::string_view bytes, bool fin) {
  if (bytes.size() > kMaxFrame) throw Error("spdy: a data frame over " + std::to_string(kMaxFrame) + " bytes");
  std::string f;
  f.reserve(8 + bytes.size());
  put32(f, stream & 0x7fffffff);
  put32(f, uint32_t(fin ? kFlagFin : 0) << 24 | static_cast<uint32_t>(bytes.size()));
  f += bytes;
  return f;
}

std::string Codec::rst_stream(uint32_t stream, uint32_t status) {
  std::string p;
  put32(p, stream & 0x7fffffff);
  put32(p, status);
  return control(kRstStream, 0, p);
}

std::string Codec::ping(uint32_t id) {
  std::string p;
  put32(p, id);
  return control(kPing, 0, p);
}

std::string Codec::goaway(uint32_t last_stream, uint32_t status) {
  std::string p;
  put32(p, last_stream & 0x7fffffff);
  put32(p, status);
  return control(kGoAway, 0, p);
}

}  // namespace berth::cri::spdy
