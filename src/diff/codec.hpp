// Internal to diff/: the byte streams around the tar — decompression with both digests on the
// way in (apply), compression with both digests on the way out (create).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "common/digest.hpp"
#include "diff/layer.hpp"

namespace berth::diff::detail {

// 1 MiB: large enough that per-call overheads (libarchive callbacks, hasher updates,
// decompressor entry) vanish, small enough to stay in L2/L3.
inline constexpr size_t kBufSize = size_t{1} << 20;

// Pulls compressed bytes from a Reader (hashing them: the compressed digest) and writes
// uncompressed ones into the caller's buffers.
class Decoder {
 public:
  static std::unique_ptr<Decoder> make(const Reader& in, Compression c);
  virtual ~Decoder() = default;

  // Decompresses up to `cap` bytes into `out`; returns how many, 0 only at the end of the
  // stream (and on every call after). Throws berth::Error("layer: gzip: …") on a corrupt or
  // truncated stream.
  virtual size_t read(uint8_t* out, size_t cap) = 0;
  // true for Compression::none: what comes out is what came in, and is not hashed here.
  bool passthrough() const { return passthrough_; }
  // Of the input so far (not for passthrough decoders).
  Digest compressed_digest() const { return compressed_hasher_.digest(); }
  int64_t compressed_size() const { return compressed_size_; }

 protected:
  Decoder(const Reader& in, bool passthrough) : in_(in), passthrough_(passthrough) {}
  // Reads input into buf (hashing it unless passthrough); returns 0 at the end only.
  size_t pull(uint8_t* buf, size_t cap);

 private:
  const Reader& in_;
  bool passthrough_;
  Hasher compressed_hasher_;
  int64_t compressed_size_ = 0;
};

// The uncompressed stream of a layer, with its diffID: a Decoder run ahead of its consumer. On
// a machine with more than one CPU a helper thread reads and decompresses into a few kBufSize
// buffers while the consumer (tar parsing and extraction) works on the previous ones; the
// Reader is then called from that thread. The two sha256 are split to balance the threads:
// the helper hashes the compressed bytes, the consumer the uncompressed ones (for an
// uncompressed layer, whose single hash is both digests, the helper does it).
class DecodedStream {
 public:
  explicit DecodedStream(std::unique_ptr<Decoder> dec);
  // Stops the helper (after the Reader call in progress, if any) and waits for it.
  ~DecodedStream();
  DecodedStream(const DecodedStream&) = delete;
  DecodedStream& operator=(const DecodedStream&) = delete;

  // The next uncompressed bytes, valid until the next call; empty at the end of the stream
  // (and on every call after). Rethrows the Decoder's (or the Reader's) errors, in stream
  // order: the bytes decoded before a failure come first.
  std::span<const uint8_t> next();

  // Once next() has returned empty:
  Digest compressed_digest() const;
  int64_t compressed_size() const;
  Digest diff_id() const { return diff_hasher_.digest(); }
  int64_t size() const { return size_; }

 private:
  struct Shared;
  void run();
  void hash(const uint8_t* p, size_t n) {
    diff_hasher_.update(p, n);
    size_ += static_cast<int64_t>(n);
  }

  std::unique_ptr<Decoder> dec_;
  Hasher diff_hasher_;
  int64_t size_ = 0;
  std::unique_ptr<Shared> sh_;  // null: no helper thread, next() decodes inline
  bool hash_in_helper_ = false;
  std::unique_ptr<uint8_t[]> inline_buf_;
  bool inline_done_ = false;
};

// Takes the uncompressed tar stream, hashes it (diffID), compresses it and hands the
// compressed bytes (hashed too) to a Writer in chunks of up to kBufSize.
class Encoder {
 public:
  static std::unique_ptr<Encoder> make(const Writer& out, Compression c);
  virtual ~Encoder() = default;

  void write(const void* data, size_t n);
  // Flushes everything (trailers included); no write() afterwards.
  void finish();

  Digest compressed_digest() const {
    return passthrough_ ? diff_hasher_.digest() : compressed_hasher_.digest();
  }
  int64_t compressed_size() const { return compressed_size_; }
  Digest diff_id() const { return diff_hasher_.digest(); }
  int64_t size() const { return size_; }

 protected:
  // passthrough: the compressed bytes are the uncompressed ones (hashed once).
  Encoder(const Writer& out, bool passthrough);
  virtual void compress(const uint8_t* data, size_t n) = 0;
  virtual void end() = 0;
  // Hands compressed bytes to the Writer.
  void emit(const uint8_t* data, size_t n);

  std::unique_ptr<uint8_t[]> out_buf_;

 private:
  void flush_stage();

  const Writer& out_;
  bool passthrough_;
  Hasher compressed_hasher_, diff_hasher_;
  int64_t compressed_size_ = 0, size_ = 0;
  // Small writes (tar headers) gather here so that the compressor sees large inputs.
  std::unique_ptr<uint8_t[]> stage_;
  size_t staged_ = 0;
};

}  // namespace berth::diff::detail
