#include "common/digest.hpp"

#include <gtest/gtest.h>

#include <string>

#include "common/error.hpp"

using berth::Digest;
using berth::Error;
using berth::Hasher;

namespace {

const std::string kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const std::string kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::string parse_error(const std::string& s) {
  try {
    Digest::parse(s);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Digest, ParseValid) {
  Digest d = Digest::parse("sha256:" + kAbc);
  EXPECT_EQ(d.algorithm, "sha256");
  EXPECT_EQ(d.encoded, kAbc);
  EXPECT_EQ(d.str(), "sha256:" + kAbc);
  EXPECT_FALSE(d.empty());
  EXPECT_EQ(Digest::parse("sha512:" + std::string(128, 'a')).algorithm, "sha512");
}

TEST(Digest, ParseWrongLength) {
  EXPECT_NE(parse_error("sha256:" + kAbc.substr(1)).find("expected 64 hex characters"),
            std::string::npos);
  EXPECT_THROW(Digest::parse("sha256:" + kAbc + "0"), Error);
  EXPECT_THROW(Digest::parse("sha256:"), Error);
  EXPECT_THROW(Digest::parse("sha512:" + kAbc), Error);  // a sha256's length
}

TEST(Digest, ParseUppercase) {
  std::string upper = kAbc;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_NE(parse_error("sha256:" + upper).find("not lowercase hex"), std::string::npos);
  EXPECT_THROW(Digest::parse("SHA256:" + kAbc), Error);
  EXPECT_THROW(Digest::parse("sha256:" + std::string(63, 'a') + "g"), Error);
}

TEST(Digest, ParseUnknownAlgorithm) {
  EXPECT_NE(parse_error("md5:" + kAbc).find("unsupported algorithm `md5`"), std::string::npos);
  EXPECT_THROW(Digest::parse(":" + kAbc), Error);
}

TEST(Digest, ParseMissingColon) {
  std::string msg = parse_error("sha256" + kAbc);
  EXPECT_NE(msg.find("invalid digest `sha256" + kAbc + "`"), std::string::npos) << msg;
  EXPECT_THROW(Digest::parse(""), Error);
  EXPECT_THROW(Digest::parse(kAbc), Error);
}

TEST(Digest, Ordering) {
  Digest a = Digest::parse("sha256:" + kAbc), b = Digest::parse("sha256:" + kEmpty);
  EXPECT_EQ(a, Digest::parse(a.str()));
  EXPECT_NE(a, b);
  EXPECT_LT(a, b);  // "ba…" < "e3…"
}

TEST(Hasher, KnownSha256) {
  EXPECT_EQ(Hasher().digest().str(), "sha256:" + kEmpty);
  EXPECT_EQ(berth::sha256_of("").encoded, kEmpty);
  Hasher h;
  h.update("abc");
  EXPECT_EQ(h.digest().str(), "sha256:" + kAbc);
  EXPECT_EQ(berth::sha256_of("abc").encoded, kAbc);
}

TEST(Hasher, KnownSha512) {
  Hasher h("sha512");
  h.update("abc");
  EXPECT_EQ(
      h.digest().str(),
      "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a8"
      "36ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  EXPECT_THROW(Hasher("md5"), Error);
}

TEST(Hasher, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data += static_cast<char>(i * 7919 % 251);
  Hasher inc;
  size_t pos = 0;
  for (size_t step = 1; pos < data.size(); step = step * 3 + 1) {
    size_t n = std::min(step, data.size() - pos);
    inc.update(data.data() + pos, n);
    pos += n;
    // digest() is a peek: the hasher goes on afterwards.
    EXPECT_EQ(inc.digest(), berth::sha256_of(std::string_view(data).substr(0, pos)));
  }
  EXPECT_EQ(inc.digest(), berth::sha256_of(data));
  inc.update(nullptr, 0);
  EXPECT_EQ(inc.digest(), berth::sha256_of(data));
}
