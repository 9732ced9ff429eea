#include "oci/image.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"

using namespace berth;
using namespace berth::oci;

namespace {

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const std::string kD1 = "sha256:" + std::string(64, '1');
const std::string kD2 = "sha256:" + std::string(64, '2');

}  // namespace

TEST(Image, ParsesAManifestAndItsDescriptors) {
  std::string text = R"({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": ")" + kD1 + R"(", "size": 7},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": ")" + kD2 + R"(", "size": 9,
                "annotations": {"a": "b"}}]})";
  Manifest m = parse_manifest(text);
  EXPECT_EQ(m.config.digest.str(), kD1);
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].size, 9);
  EXPECT_EQ(m.layers[0].annotations.at("a"), "b");
  // Round trip through to_json.
  Manifest again = parse_manifest(to_json(m).dump());
  EXPECT_EQ(again.layers[0].digest, m.layers[0].digest);
  EXPECT_EQ(document_media_type(nlohmann::json::parse(text), "x"), media::kOciManifest);
}

TEST(Image, RejectsBadManifests) {
  EXPECT_NE(error_of([] { parse_manifest("{"); }).find("manifest: invalid JSON"), std::string::npos);
  EXPECT_NE(error_of([] { parse_manifest(R"({"schemaVersion": 1})"); }).find("schemaVersion: must be 2"),
            std::string::npos);
  std::string unknown = R"({"schemaVersion": 2, "config": {"mediaType": "x", "digest": ")" + kD1 +
                        R"(", "size": 1}, "layers": [{"mediaType": "application/x-weird", "digest": ")" +
                        kD2 + R"(", "size": 1}]})";
  EXPECT_NE(error_of([&] { parse_manifest(unknown); }).find("unknown layer media type `application/x-weird`"),
            std::string::npos);
  std::string baddigest = R"({"schemaVersion": 2, "config": {"mediaType": "x", "digest": "sha256:zz", "size": 1}, "layers": []})";
  EXPECT_NE(error_of([&] { parse_manifest(baddigest); }).find("manifest.config.digest"), std::string::npos);
  std::string negative = R"({"schemaVersion": 2, "config": {"mediaType": "x", "digest": ")" + kD1 + R"(", "size": -1}, "layers": []})";
  EXPECT_NE(error_of([&] { parse_manifest(negative); }).find("size: must not be negative"), std::string::npos);
}

TEST(Image, IndexAndPlatforms) {
  std::string text = R"({"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ")" + kD1 + R"(", "size": 1,
     "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ")" + kD2 + R"(", "size": 1,
     "platform": {"os": "linux", "architecture": "amd64"}}]})";
  Index idx = parse_index(text);
  ASSERT_EQ(idx.manifests.size(), 2u);
  EXPECT_EQ(document_media_type(nlohmann::json::parse(text), "x"), media::kOciIndex);
  EXPECT_TRUE(platform_matches(Platform::parse("linux/arm64"), *idx.manifests[0].platform));
  EXPECT_TRUE(platform_matches(Platform::parse("linux/arm64/v8"), *idx.manifests[0].platform));
  EXPECT_FALSE(platform_matches(Platform::parse("linux/arm64/v9"), *idx.manifests[0].platform));
  EXPECT_FALSE(platform_matches(Platform::parse("linux/amd64"), *idx.manifests[0].platform));
  EXPECT_TRUE(platform_matches(Platform::parse("x86_64"), *idx.manifests[1].platform));
  EXPECT_EQ(Platform::parse("linux/arm/v7").str(), "linux/arm/v7");
  // An os alone (docker run --platform linux): this machine's architecture.
  EXPECT_EQ(Platform::parse("linux").str(), host_platform().str());
  EXPECT_EQ(Platform::parse("windows").os, "windows");
  EXPECT_THROW(Platform::parse("a/b/c/d"), Error);
  EXPECT_THROW(Platform::parse("plan9/amd64"), Error);
  EXPECT_THROW(Platform::parse("linux//v7"), Error);
  EXPECT_FALSE(host_platform().architecture.empty());
}

TEST(Image, ConfigAndChainIds) {
  std::string text = R"({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
    "rootfs": {"type": "layers", "diff_ids": [")" + kD1 + R"(", ")" + kD2 + R"("]}})";
  ImageConfig c = parse_image_config(text);
  EXPECT_EQ(c.diff_ids.size(), 2u);
  EXPECT_EQ(c.config["Cmd"][0], "sh");
  // chainID(L0) = diffID(L0); chainID(L1) = sha256("<chain0> <diff1>").
  EXPECT_EQ(chain_id(c.diff_ids, 1).str(), kD1);
  EXPECT_EQ(chain_id(c.diff_ids), sha256_of(kD1 + " " + kD2));
  EXPECT_NE(error_of([] { parse_image_config(R"({"architecture": "amd64", "os": "linux"})"); })
                .find("rootfs: is required"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_image_config(R"({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["x"]}})");
            }).find("diff_ids[0]"),
            std::string::npos);
}
