#include "common/digest.hpp"

// OpenSSL's SHA256_*/SHA512_* functions: the same assembly as the EVP interface, without
// OpenSSL 3's provider machinery — whose first fetch costs ~1 ms, paid by every berth command
// that reads a blob. Deprecated in 3.0, not removed.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cstring>

#include "common/error.hpp"

namespace berth {

Digest Digest::parse(std::string_view s) {
  auto bad = [&](const std::string& why) -> Error {
    return Error("invalid digest `" + std::string(s) + "`: " + why);
  };
  auto colon = s.find(':');
  if (colon == std::string_view::npos) throw bad("expected algorithm:hex");
  Digest d;
  d.algorithm = std::string(s.substr(0, colon));
  d.encoded = std::string(s.substr(colon + 1));
  size_t want;
  if (d.algorithm == "sha256") want = 64;
  else if (d.algorithm == "sha512") want = 128;
  else throw bad("unsupported algorithm `" + d.algorithm + "`");
  if (d.encoded.size() != want)
    throw bad("expected " + std::to_string(want) + " hex characters");
  for (char c : d.encoded)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) throw bad("not lowercase hex");
  return d;
}

struct Hasher::Impl {
  bool sha512 = false;
  SHA256_CTX c256;
  SHA512_CTX c512;
};

Hasher::Hasher(std::string_view algorithm) : impl_(std::make_unique<Impl>()), algorithm_(algorithm) {
  if (algorithm == "sha256") {
    SHA256_Init(&impl_->c256);
  } else if (algorithm == "sha512") {
    impl_->sha512 = true;
    SHA512_Init(&impl_->c512);
  } else {
    throw Error("unsupported digest algorithm `" + std::string(algorithm) + "`");
  }
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(const void* data, size_t n) {
  if (!n) return;
  if (impl_->sha512) SHA512_Update(&impl_->c512, data, n);
  else SHA256_Update(&impl_->c256, data, n);
}

Digest Hasher::digest() const {
  unsigned char out[SHA512_DIGEST_LENGTH];
  unsigned len = 0;
  // On a copy: the hasher can go on.
  if (impl_->sha512) {
    SHA512_CTX c = impl_->c512;
    SHA512_Final(out, &c);
    len = SHA512_DIGEST_LENGTH;
  } else {
    SHA256_CTX c = impl_->c256;
    SHA256_Final(out, &c);
    len = SHA256_DIGEST_LENGTH;
  }
  static const char hex[] = "0123456789abcdef";
  Digest d;
  d.algorithm = algorithm_;
  d.encoded.resize(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    d.encoded[2 * i] = hex[out[i] >> 4];
    d.encoded[2 * i + 1] = hex[out[i] & 15];
  }
  return d;
}

Digest sha256_of(std::string_view data) {
  Hasher h;
  h.update(data);
  return h.digest();
}

}  // namespace berth
