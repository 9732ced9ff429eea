#include "common/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

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
  EVP_MD_CTX* ctx = nullptr;
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Hasher::Hasher(std::string_view algorithm) : impl_(std::make_unique<Impl>()), algorithm_(algorithm) {
  // Digests need nothing from the system's openssl.cnf (providers, engines): skipping it saves
  // reading and parsing that file on every command (~1 ms here). Once per process.
  static const bool initialized = OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr) == 1;
  (void)initialized;
  // Fetched once: OpenSSL 3 looks the implementation up again at every init otherwise.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  static EVP_MD* const sha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  const EVP_MD* md = algorithm == "sha512" ? sha512 : algorithm == "sha256" ? sha256 : nullptr;
  if (!md) throw Error("unsupported digest algorithm `" + std::string(algorithm) + "`");
  impl_->ctx = EVP_MD_CTX_new();
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, md, nullptr) != 1)
    throw Error("OpenSSL: cannot initialise " + algorithm_);
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(const void* data, size_t n) {
  if (n && EVP_DigestUpdate(impl_->ctx, data, n) != 1) throw Error("OpenSSL: digest update failed");
}

Digest Hasher::digest() const {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  bool ok = copy && EVP_MD_CTX_copy_ex(copy, impl_->ctx) == 1 && EVP_DigestFinal_ex(copy, out, &len) == 1;
  EVP_MD_CTX_free(copy);
  if (!ok) throw Error("OpenSSL: digest final failed");
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
