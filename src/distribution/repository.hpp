// One repository of a registry, as pull and push see it: its manifests and blobs. An
// interface, so that the image service (src/image/) does not link the client that implements
// it over libcurl (distribution::Client, in the registry module that `berth` loads only for
// the commands that talk to a registry) — and so that a test can give it another.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.hpp"
#include "oci/image.hpp"

namespace berth::distribution {

// A manifest or index as fetched: its descriptor (mediaType from Content-Type or the document,
// digest of the exact bytes, size) and those bytes.
struct Fetched {
  oci::Descriptor descriptor;
  std::string body;
};

using Sink = std::function<void(const char* data, size_t n)>;
// Fills the buffer with up to n bytes, returns how many; 0 only at the end.
using Source = std::function<size_t(char* buf, size_t n)>;
// Bytes so far (including a resume offset) and the total, -1 when unknown.
using Progress = std::function<void(int64_t done, int64_t total)>;

// What each call does, and its errors, are Client's (client.hpp). All methods may be called
// from several threads at once.
class Repository {
 public:
  virtual ~Repository() = default;
  virtual const std::string& registry() const = 0;
  virtual const std::string& repository() const = 0;
  virtual void ping() = 0;
  virtual Fetched get_manifest(std::string_view tag_or_digest) = 0;
  virtual std::optional<oci::Descriptor> head_manifest(std::string_view tag_or_digest) = 0;
  virtual Digest put_manifest(std::string_view tag_or_digest, std::string_view media_type, std::string_view body) = 0;
  virtual std::vector<std::string> list_tags() = 0;
  virtual bool blob_exists(const Digest& digest) = 0;
  virtual std::optional<int64_t> blob_size(const Digest& digest) = 0;
  virtual void get_blob(const Digest& digest, int64_t offset, const Sink& sink, const Progress& progress) = 0;
  virtual std::string get_blob_bytes(const Digest& digest, size_t max_size) = 0;
  virtual bool mount_blob(const Digest& digest, std::string_view from_repository) = 0;
  virtual void put_blob(const Digest& digest, int64_t size, const Source& read, int64_t chunk_size,
                        const Progress& progress) = 0;
};

}  // namespace berth::distribution
