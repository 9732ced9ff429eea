// Compression of layers: media types, and the streaming codecs. gzip is isa-l's igzip (several
// times zlib's speed in both directions; it streams, checks the CRC and length of every member,
// and we restart it on concatenated members). zstd is libzstd's streaming API, which handles
// concatenated frames itself. bzip2 (libbz2) and xz (liblzma) are decoded only, for tars
// that are not layers, and restarted on concatenated streams as gzip is.
#include "diff/codec.hpp"

#include <bzlib.h>
#include <isa-l/igzip_lib.h>
#include <lzma.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "common/error.hpp"

namespace berth::diff {

Compression compression_of(std::string_view media_type) {
  struct Known {
    std::string_view type;
    Compression c;
  };
  static constexpr Known known[] = {
      {"application/vnd.oci.image.layer.v1.tar", Compression::none},
      {"application/vnd.oci.image.layer.v1.tar+gzip", Compression::gzip},
      {"application/vnd.oci.image.layer.v1.tar+zstd", Compression::zstd},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar", Compression::none},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Compression::gzip},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", Compression::zstd},
      {"application/vnd.docker.image.rootfs.diff.tar", Compression::none},
      {"application/vnd.docker.image.rootfs.diff.tar.gzip", Compression::gzip},
      {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Compression::gzip},
  };
  for (const auto& k : known)
    if (k.type == media_type) return k.c;
  throw Error("unknown layer media type `" + std::string(media_type) + "`");
}

std::string_view layer_media_type(Compression c) {
  switch (c) {
    case Compression::gzip:
      return "application/vnd.oci.image.layer.v1.tar+gzip";
    case Compression::zstd:
      return "application/vnd.oci.image.layer.v1.tar+zstd";
    case Compression::bzip2:
    case Compression::xz:
      throw Error("layer: bzip2 and xz layers have no media type");
    case Compression::none:
      break;
  }
  return "application/vnd.oci.image.layer.v1.tar";
}

Compression detect_compression(const void* head, size_t n) {
  auto* p = static_cast<const uint8_t*>(head);
  if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) return Compression::gzip;
  if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
    return Compression::zstd;
  if (n >= 3 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h') return Compression::bzip2;
  if (n >= 6 && std::memcmp(p, "\xfd" "7zXZ\0", 6) == 0) return Compression::xz;
  return Compression::none;
}

bool is_tar(const Reader& in) {
  // The first bytes tell the compression; they are given back to the decoder.
  uint8_t head[8];
  size_t have = 0;
  while (have < sizeof head) {
    const size_t n = in(head + have, sizeof head - have);
    if (n == 0) break;
    have += n;
  }
  size_t given = 0;
  const Reader replay = [&](void* buf, size_t n) -> size_t {
    if (given < have) {
      const size_t k = std::min(n, have - given);
      std::memcpy(buf, head + given, k);
      given += k;
      return k;
    }
    return in(buf, n);
  };
  uint8_t block[512];
  size_t got = 0;
  try {
    auto dec = detail::Decoder::make(replay, detect_compression(head, have));
    while (got < sizeof block) {
      const size_t n = dec->read(block + got, sizeof block - got);
      if (n == 0) break;
      got += n;
    }
  } catch (const Error&) {
    return false;
  }
  if (got < sizeof block) return false;
  // The header's checksum: every byte, its own field counted as spaces (ustar, GNU and v7).
  unsigned sum = 0;
  for (size_t i = 0; i < sizeof block; ++i) sum += i >= 148 && i < 156 ? ' ' : block[i];
  unsigned want = 0;
  bool digits = false;
  for (size_t i = 148; i < 156; ++i) {
    if (block[i] >= '0' && block[i] <= '7') {
      want = want * 8 + (block[i] - '0');
      digits = true;
    } else if (digits || (block[i] != ' ' && block[i] != 0)) {
      break;
    }
  }
  return digits && sum == want;
}

namespace detail {

namespace {

std::unique_ptr<uint8_t[]> buffer() {
  return std::unique_ptr<uint8_t[]>(new uint8_t[kBufSize]);
}

// ---- apply side ----

class PlainDecoder final : public Decoder {
 public:
  explicit PlainDecoder(const Reader& in) : Decoder(in, true) {}

 private:
  size_t read(uint8_t* out, size_t cap) override {
    if (done_) return 0;
    size_t n = pull(out, cap);
    if (n == 0) done_ = true;
    return n;
  }
  bool done_ = false;
};

const char* isal_error(int r) {
  switch (r) {
    case ISAL_INVALID_BLOCK:
      return "invalid deflate block";
    case ISAL_INVALID_SYMBOL:
      return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK:
      return "invalid deflate distance";
    case ISAL_INVALID_WRAPPER:
      return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD:
      return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM:
      return "CRC or length mismatch";
    case ISAL_NEED_DICT:
      return "needs a dictionary";
    default:
      return "decompression failed";
  }
}

class GzipDecoder final : public Decoder {
 public:
  explicit GzipDecoder(const Reader& in)
      : Decoder(in, false), in_buf_(buffer()), st_(new inflate_state) {
    isal_inflate_init(st_.get());
    st_->crc_flag = ISAL_GZIP;  // parse the header, check CRC32 and ISIZE of the trailer
    st_->next_in = in_buf_.get();
    st_->avail_in = 0;
  }

 private:
  void refill() {
    size_t n = pull(in_buf_.get(), kBufSize);
    if (n == 0) eof_ = true;
    st_->next_in = in_buf_.get();
    st_->avail_in = static_cast<uint32_t>(n);
  }

  size_t read(uint8_t* out, size_t cap) override {
    if (done_) return 0;
    inflate_state& st = *st_;
    st.next_out = out;
    st.avail_out = static_cast<uint32_t>(std::min<size_t>(cap, UINT32_MAX));
    uint32_t avail = st.avail_out;
    while (st.avail_out > 0) {
      if (st.block_state == ISAL_BLOCK_FINISH) {
        // End of a member: isa-l has given back the bytes it read past the trailer. Another
        // member may follow (concatenated gzip, e.g. from parallel compressors).
        if (st.avail_in == 0 && !eof_) refill();
        if (st.avail_in == 0) {
          done_ = true;
          break;
        }
        if (st.next_in[0] != 0x1f)
          throw Error("layer: gzip: trailing garbage after the compressed stream");
        uint8_t* next_in = st.next_in;
        uint32_t avail_in = st.avail_in;
        isal_inflate_reset(&st);
        st.crc_flag = ISAL_GZIP;
        st.next_in = next_in;
        st.avail_in = avail_in;
      }
      if (st.avail_in == 0 && !eof_) refill();
      uint32_t in_before = st.avail_in, out_before = st.avail_out;
      int r = isal_inflate(&st);
      if (r != ISAL_DECOMP_OK) throw Error(std::string("layer: gzip: ") + isal_error(r));
      if (st.avail_in == in_before && st.avail_out == out_before &&
          st.block_state != ISAL_BLOCK_FINISH) {
        // No progress: only possible when the input is exhausted.
        if (eof_ && st.avail_in == 0) throw Error("layer: gzip: unexpected end of stream");
        throw Error("layer: gzip: decompressor made no progress");
      }
    }
    return avail - st.avail_out;
  }

  std::unique_ptr<uint8_t[]> in_buf_;
  std::unique_ptr<inflate_state> st_;  // ~100 KiB: on the heap
  bool eof_ = false, done_ = false;
};

struct DctxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
struct CctxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

class ZstdDecoder final : public Decoder {
 public:
  explicit ZstdDecoder(const Reader& in)
      : Decoder(in, false), in_buf_(buffer()), dctx_(ZSTD_createDCtx()) {
    if (!dctx_) throw Error("layer: zstd: cannot allocate a decompression context");
    // The default window limit (128 MiB) stays: a larger one lets a hostile layer make us
    // allocate up to 2 GiB.
  }

 private:
  size_t read(uint8_t* dst, size_t cap) override {
    if (done_) return 0;
    ZSTD_outBuffer out{dst, cap, 0};
    while (out.pos < out.size) {
      if (zin_.pos == zin_.size && !eof_) {
        size_t n = pull(in_buf_.get(), kBufSize);
        if (n == 0) eof_ = true;
        zin_ = ZSTD_inBuffer{in_buf_.get(), n, 0};
      }
      size_t out_before = out.pos, in_before = zin_.pos;
      size_t r = ZSTD_decompressStream(dctx_.get(), &out, &zin_);
      if (ZSTD_isError(r)) throw Error(std::string("layer: zstd: ") + ZSTD_getErrorName(r));
      // The hint of the last call that did something: 0 iff it completed a frame. (A call on
      // no input after a frame returns the size of the next frame header, not 0.)
      bool progress = out.pos != out_before || zin_.pos != in_before;
      if (progress) last_ = r;
      if (eof_ && zin_.pos == zin_.size && !progress) {
        // Nothing more to flush: the last frame must be complete.
        if (last_ != 0) throw Error("layer: zstd: unexpected end of stream");
        done_ = true;
        break;
      }
    }
    return out.pos;
  }

  std::unique_ptr<uint8_t[]> in_buf_;
  std::unique_ptr<ZSTD_DCtx, DctxFree> dctx_;
  ZSTD_inBuffer zin_{nullptr, 0, 0};
  size_t last_ = 1;  // ZSTD_decompressStream's hint; 0 once a frame is complete
  bool eof_ = false, done_ = false;
};

// bzip2: one or more streams back to back (pbzip2 writes one per block); what follows the last
// must be another stream.
class Bzip2Decoder final : public Decoder {
 public:
  explicit Bzip2Decoder(const Reader& in) : Decoder(in, false), in_buf_(buffer()) { init(); }
  ~Bzip2Decoder() override { BZ2_bzDecompressEnd(&s_); }

 private:
  void init() {
    s_ = bz_stream{};
    // small=0: the fast decoder (up to ~3.6 MiB for a 900k-block stream, bounded by the format).
    if (BZ2_bzDecompressInit(&s_, 0, 0) != BZ_OK) throw Error("layer: bzip2: cannot allocate a decoder");
  }
  size_t read(uint8_t* dst, size_t cap) override {
    if (done_) return 0;
    size_t got = 0;
    while (got < cap) {
      if (s_.avail_in == 0 && !eof_) {
        size_t n = pull(in_buf_.get(), kBufSize);
        if (n == 0) eof_ = true;
        s_.next_in = reinterpret_cast<char*>(in_buf_.get());
        s_.avail_in = static_cast<unsigned>(n);
      }
      if (!in_stream_) {
        if (s_.avail_in == 0) {  // the end, between streams
          done_ = true;
          break;
        }
        // Another stream: a fresh decoder on the same input.
        char* next = s_.next_in;
        unsigned avail = s_.avail_in;
        BZ2_bzDecompressEnd(&s_);
        init();
        s_.next_in = next;
        s_.avail_in = avail;
        in_stream_ = true;
      }
      const unsigned room = static_cast<unsigned>(std::min<size_t>(cap - got, UINT_MAX));
      s_.next_out = reinterpret_cast<char*>(dst + got);
      s_.avail_out = room;
      int r = BZ2_bzDecompress(&s_);
      got += room - s_.avail_out;
      if (r == BZ_STREAM_END) {
        in_stream_ = false;
        continue;
      }
      if (r != BZ_OK) throw Error("layer: bzip2: corrupt stream (" + std::to_string(r) + ")");
      if (eof_ && s_.avail_in == 0 && s_.avail_out == room) throw Error("layer: bzip2: unexpected end of stream");
    }
    return got;
  }

  std::unique_ptr<uint8_t[]> in_buf_;
  bz_stream s_{};
  bool in_stream_ = true, eof_ = false, done_ = false;
};

// xz: liblzma's stream decoder, concatenated streams and padding as xz(1) reads them, its
// integrity checks on, and a memory limit: a header may ask for a dictionary of up to 4 GiB
// (xz -9 needs 65 MiB to decode).
class XzDecoder final : public Decoder {
 public:
  explicit XzDecoder(const Reader& in) : Decoder(in, false), in_buf_(buffer()) {
    if (lzma_stream_decoder(&s_, kMemLimit, LZMA_CONCATENATED) != LZMA_OK)
      throw Error("layer: xz: cannot allocate a decoder");
  }
  ~XzDecoder() override { lzma_end(&s_); }

 private:
  static constexpr uint64_t kMemLimit = uint64_t{256} << 20;
  size_t read(uint8_t* dst, size_t cap) override {
    if (done_) return 0;
    s_.next_out = dst;
    s_.avail_out = cap;
    while (s_.avail_out > 0) {
      if (s_.avail_in == 0 && !eof_) {
        size_t n = pull(in_buf_.get(), kBufSize);
        if (n == 0) eof_ = true;
        s_.next_in = in_buf_.get();
        s_.avail_in = n;
      }
      lzma_ret r = lzma_code(&s_, eof_ ? LZMA_FINISH : LZMA_RUN);
      if (r == LZMA_STREAM_END) {
        done_ = true;
        break;
      }
      if (r == LZMA_OK) continue;
      if (r == LZMA_BUF_ERROR && eof_) throw Error("layer: xz: unexpected end of stream");
      if (r == LZMA_MEMLIMIT_ERROR) throw Error("layer: xz: the stream needs more than 256 MiB of memory to decode");
      throw Error("layer: xz: corrupt stream (" + std::to_string(static_cast<int>(r)) + ")");
    }
    return static_cast<size_t>(s_.next_out - dst);
  }

  std::unique_ptr<uint8_t[]> in_buf_;
  lzma_stream s_ = LZMA_STREAM_INIT;
  bool eof_ = false, done_ = false;
};

// ---- create side ----

class PlainEncoder final : public Encoder {
 public:
  explicit PlainEncoder(const Writer& out) : Encoder(out, true) {}

 private:
  void compress(const uint8_t* data, size_t n) override { emit(data, n); }
  void end() override {}
};

class GzipEncoder final : public Encoder {
 public:
  explicit GzipEncoder(const Writer& out)
      : Encoder(out, false), zs_(new isal_zstream), level_buf_(new uint8_t[kLevelBuf]) {
    isal_deflate_init(zs_.get());
    zs_->level = 1;
    zs_->level_buf = level_buf_.get();
    zs_->level_buf_size = kLevelBuf;
    zs_->gzip_flag = IGZIP_GZIP;  // isa-l writes a fixed header (no name, mtime 0): reproducible
    zs_->flush = NO_FLUSH;
    zs_->end_of_stream = 0;
    zs_->next_out = out_buf_.get();
    zs_->avail_out = static_cast<uint32_t>(kBufSize);
  }

 private:
  static constexpr uint32_t kLevelBuf = ISAL_DEF_LVL1_DEFAULT;

  void run() {
    int r = isal_deflate(zs_.get());
    if (r != COMP_OK)
      throw Error("layer create: gzip: compression failed (isa-l " + std::to_string(r) + ")");
    if (zs_->avail_out == 0) drain();
  }
  void drain() {
    size_t n = kBufSize - zs_->avail_out;
    if (n) emit(out_buf_.get(), n);
    zs_->next_out = out_buf_.get();
    zs_->avail_out = static_cast<uint32_t>(kBufSize);
  }
  void compress(const uint8_t* data, size_t n) override {
    zs_->next_in = const_cast<uint8_t*>(data);
    zs_->avail_in = static_cast<uint32_t>(n);
    while (zs_->avail_in > 0) run();
  }
  void end() override {
    zs_->end_of_stream = 1;
    zs_->avail_in = 0;
    while (zs_->internal_state.state != ZSTATE_END) run();
    drain();
  }

  std::unique_ptr<isal_zstream> zs_;
  std::unique_ptr<uint8_t[]> level_buf_;
};

class ZstdEncoder final : public Encoder {
 public:
  explicit ZstdEncoder(const Writer& out) : Encoder(out, false), cctx_(ZSTD_createCCtx()) {
    if (!cctx_) throw Error("layer create: zstd: cannot allocate a compression context");
    check(ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_compressionLevel, 3));
    check(ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_checksumFlag, 1));
  }

 private:
  static void check(size_t r) {
    if (ZSTD_isError(r)) throw Error(std::string("layer create: zstd: ") + ZSTD_getErrorName(r));
  }
  void compress(const uint8_t* data, size_t n) override {
    ZSTD_inBuffer in{data, n, 0};
    while (in.pos < in.size) {
      check(ZSTD_compressStream2(cctx_.get(), &out_, &in, ZSTD_e_continue));
      if (out_.pos == out_.size) drain();
    }
  }
  void end() override {
    ZSTD_inBuffer in{nullptr, 0, 0};
    for (;;) {
      size_t left = ZSTD_compressStream2(cctx_.get(), &out_, &in, ZSTD_e_end);
      check(left);
      if (left == 0) break;
      drain();
    }
    drain();
  }
  void drain() {
    if (out_.pos) emit(out_buf_.get(), out_.pos);
    out_.pos = 0;
  }

  std::unique_ptr<ZSTD_CCtx, CctxFree> cctx_;
  ZSTD_outBuffer out_{out_buf_.get(), kBufSize, 0};
};

}  // namespace

size_t Decoder::pull(uint8_t* buf, size_t cap) {
  size_t n = in_(buf, cap);
  if (n > cap) throw Error("layer: reader returned more bytes than asked for");
  if (n && !passthrough_) {
    compressed_hasher_.update(buf, n);
    compressed_size_ += static_cast<int64_t>(n);
  }
  return n;
}

std::unique_ptr<Decoder> Decoder::make(const Reader& in, Compression c) {
  switch (c) {
    case Compression::gzip:
      return std::make_unique<GzipDecoder>(in);
    case Compression::zstd:
      return std::make_unique<ZstdDecoder>(in);
    case Compression::bzip2:
      return std::make_unique<Bzip2Decoder>(in);
    case Compression::xz:
      return std::make_unique<XzDecoder>(in);
    case Compression::none:
      break;
  }
  return std::make_unique<PlainDecoder>(in);
}

// The helper thread and its consumer share kSlots buffers: the helper fills free ones, the
// consumer takes full ones in order and gives each back on its next call (libarchive keeps
// using a buffer until it asks for the next one).
struct DecodedStream::Shared {
  static constexpr int kSlots = 4;
  std::unique_ptr<uint8_t[]> buf[kSlots];
  size_t len[kSlots] = {};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> free;
  std::deque<int> full;
  int held = -1;          // the slot the consumer is reading
  bool ended = false;     // the helper is done (end of stream or error)
  bool stopping = false;  // the consumer is gone
  std::exception_ptr error;
  std::thread thread;
};

DecodedStream::DecodedStream(std::unique_ptr<Decoder> dec) : dec_(std::move(dec)) {
  hash_in_helper_ = dec_->passthrough();
  if (std::thread::hardware_concurrency() <= 1) {
    inline_buf_ = buffer();
    return;
  }
  sh_ = std::make_unique<Shared>();
  for (int i = 0; i < Shared::kSlots; ++i) {
    sh_->buf[i] = buffer();
    sh_->free.push_back(i);
  }
  try {
    sh_->thread = std::thread([this] { run(); });
  } catch (const std::system_error&) {  // no thread to be had: decode inline
    sh_.reset();
    inline_buf_ = buffer();
  }
}

DecodedStream::~DecodedStream() {
  if (!sh_) return;
  {
    std::lock_guard lk(sh_->mu);
    sh_->stopping = true;
  }
  sh_->cv.notify_all();
  sh_->thread.join();
}

void DecodedStream::run() {
  Shared& s = *sh_;
  for (;;) {
    int slot;
    {
      std::unique_lock lk(s.mu);
      s.cv.wait(lk, [&] { return s.stopping || !s.free.empty(); });
      if (s.stopping) return;
      slot = s.free.back();
      s.free.pop_back();
    }
    size_t n = 0;
    std::exception_ptr error;
    try {
      n = dec_->read(s.buf[slot].get(), kBufSize);
      if (hash_in_helper_) hash(s.buf[slot].get(), n);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard lk(s.mu);
      if (n) {
        s.len[slot] = n;
        s.full.push_back(slot);
      } else {
        s.free.push_back(slot);
        s.error = error;
        s.ended = true;
      }
    }
    s.cv.notify_all();
    if (!n) return;
  }
}

std::span<const uint8_t> DecodedStream::next() {
  if (!sh_) {
    if (inline_done_) return {};
    size_t n = dec_->read(inline_buf_.get(), kBufSize);
    if (!n) inline_done_ = true;
    hash(inline_buf_.get(), n);
    return {inline_buf_.get(), n};
  }
  Shared& s = *sh_;
  std::unique_lock lk(s.mu);
  if (s.held >= 0) {
    s.free.push_back(s.held);
    s.held = -1;
    s.cv.notify_all();
  }
  s.cv.wait(lk, [&] { return !s.full.empty() || s.ended; });
  if (!s.full.empty()) {
    int slot = s.held = s.full.front();
    s.full.pop_front();
    lk.unlock();  // the helper leaves a full slot alone
    std::span<const uint8_t> out{s.buf[slot].get(), s.len[slot]};
    if (!hash_in_helper_) hash(out.data(), out.size());
    return out;
  }
  if (s.error) std::rethrow_exception(s.error);
  return {};
}

Digest DecodedStream::compressed_digest() const {
  return dec_->passthrough() ? diff_hasher_.digest() : dec_->compressed_digest();
}

int64_t DecodedStream::compressed_size() const {
  return dec_->passthrough() ? size_ : dec_->compressed_size();
}

Encoder::Encoder(const Writer& out, bool passthrough)
    : out_buf_(buffer()), out_(out), passthrough_(passthrough), stage_(buffer()) {}

std::unique_ptr<Encoder> Encoder::make(const Writer& out, Compression c) {
  switch (c) {
    case Compression::gzip:
      return std::make_unique<GzipEncoder>(out);
    case Compression::zstd:
      return std::make_unique<ZstdEncoder>(out);
    case Compression::bzip2:
    case Compression::xz:
      throw Error("layer: berth does not write bzip2 or xz");
    case Compression::none:
      break;
  }
  return std::make_unique<PlainEncoder>(out);
}

void Encoder::write(const void* data, size_t n) {
  auto* p = static_cast<const uint8_t*>(data);
  if (staged_ + n <= kBufSize) {
    std::memcpy(stage_.get() + staged_, p, n);
    staged_ += n;
    if (staged_ == kBufSize) flush_stage();
    return;
  }
  flush_stage();
  if (n >= kBufSize / 2) {  // large: straight through, no copy
    diff_hasher_.update(p, n);
    size_ += static_cast<int64_t>(n);
    compress(p, n);
  } else {
    std::memcpy(stage_.get(), p, n);
    staged_ = n;
  }
}

void Encoder::flush_stage() {
  if (!staged_) return;
  diff_hasher_.update(stage_.get(), staged_);
  size_ += static_cast<int64_t>(staged_);
  compress(stage_.get(), staged_);
  staged_ = 0;
}

void Encoder::finish() {
  flush_stage();
  end();
}

void Encoder::emit(const uint8_t* data, size_t n) {
  if (!passthrough_) compressed_hasher_.update(data, n);
  compressed_size_ += static_cast<int64_t>(n);
  out_(data, n);
}

}  // namespace detail
}  // namespace berth::diff
