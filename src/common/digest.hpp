// Content digests (OCI image spec "algorithm:encoded"): parsing with validation, and streaming
// SHA-256 through OpenSSL (which uses the CPU's SHA extensions where present).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace berth {

struct Digest {
  std::string algorithm = "sha256";
  std::string encoded;  // lowercase hex

  // "sha256:<64 hex>"; throws berth::Error("invalid digest `...`: reason") otherwise.
  // Only sha256 (and sha512 with 128 hex) are accepted, as registries do.
  static Digest parse(std::string_view s);
  std::string str() const { return algorithm + ":" + encoded; }
  bool empty() const { return encoded.empty(); }
  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest&, const Digest&) = default;
};

// Incremental SHA-256 (or SHA-512 for Digest::algorithm "sha512").
class Hasher {
 public:
  explicit Hasher(std::string_view algorithm = "sha256");
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // The digest of everything so far; the hasher can go on afterwards.
  Digest digest() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string algorithm_;
};

Digest sha256_of(std::string_view data);

}  // namespace berth
