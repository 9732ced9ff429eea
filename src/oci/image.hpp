// OCI image-spec (and Docker schema 2) documents: index / manifest list, manifest, image
// config; descriptors, media types, platforms and chain IDs. Parsing validates what berth
// relies on and throws berth::Error("<document>: <field>: <reason>").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/digest.hpp"

namespace berth::oci {

namespace media {
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerForeignLayerGzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

bool is_index(std::string_view mt);
bool is_manifest(std::string_view mt);
bool is_config(std::string_view mt);
bool is_layer(std::string_view mt);
}  // namespace media

// Documents fetched by reference (manifests, indexes) larger than this are refused.
inline constexpr size_t kMaxManifestSize = 4 << 20;

struct Platform {
  std::string os = "linux", architecture, variant, os_version;
  std::vector<std::string> os_features;

  // "linux/arm64/v8", "linux/amd64", "arm64" (os defaults to linux). Throws on nonsense.
  static Platform parse(std::string_view s);
  std::string str() const;  // os/arch[/variant]
};
// The platform of this machine (linux/amd64 here; arm variants from the CPU).
Platform host_platform();
// Whether an image for `have` runs where `want` is asked (os and arch equal, variant equal
// or unspecified on either side, with arm64 ~ v8 and amd64 variants treated leniently).
bool platform_matches(const Platform& want, const Platform& have);

struct Descriptor {
  std::string mediaType;
  Digest digest;
  int64_t size = 0;
  std::vector<std::string> urls;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
  std::string artifactType;
};

struct Index {
  int schemaVersion = 2;
  std::string mediaType;
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;
};

struct Manifest {
  int schemaVersion = 2;
  std::string mediaType;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
};

struct ImageConfig {
  std::string created, author;
  Platform platform;
  nlohmann::json config;        // Docker's "config": User, Env, Entrypoint, Cmd, ... (object or null)
  std::vector<Digest> diff_ids; // rootfs.diff_ids, in layer order
  nlohmann::json history;       // array or null
  nlohmann::json raw;           // the whole document, as parsed
};

// mediaType of a JSON document: its "mediaType" field, else guessed from its shape
// ("manifests" → index, "layers" → manifest). Throws if neither tells.
std::string document_media_type(const nlohmann::json& doc, std::string_view what);

Descriptor parse_descriptor(const nlohmann::json& j, const std::string& field);
Index parse_index(std::string_view text);
Manifest parse_manifest(std::string_view text);
ImageConfig parse_image_config(std::string_view text);

nlohmann::json to_json(const Descriptor& d);
nlohmann::json to_json(const Manifest& m);
nlohmann::json to_json(const Index& i);
nlohmann::json to_json(const Platform& p);

// chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)).
Digest chain_id(const std::vector<Digest>& diff_ids, size_t n);
inline Digest chain_id(const std::vector<Digest>& diff_ids) {
  return chain_id(diff_ids, diff_ids.size());
}

}  // namespace berth::oci
