// Image references as Docker and containerd spell them: [registry[:port]/]path[:tag][@digest].
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace berth::oci {

struct Reference {
  std::string registry;    // "docker.io", "127.0.0.1:5000", "localhost"
  std::string repository;  // "library/busybox"
  std::string tag;         // "latest" (empty when only a digest was given)
  std::string digest;      // "sha256:…" or empty

  // Parses and normalizes like Docker: no registry → docker.io, a single-component Docker Hub
  // path → library/NAME, neither tag nor digest → :latest. Throws berth::Error("invalid
  // reference `…`: reason").
  static Reference parse(std::string_view s);
  // True when `s` parses (for telling references from image ids).
  static bool valid(std::string_view s);

  // registry/repository[:tag][@digest], fully qualified.
  std::string str() const;
  // registry/repository
  std::string name() const { return registry + "/" + repository; }
  // The short form Docker prints: docker.io/library/ dropped ("busybox:latest").
  std::string familiar() const;
};

}  // namespace berth::oci
