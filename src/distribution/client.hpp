// A client for one repository of one registry, speaking the OCI distribution spec (and Docker's
// registry API v2) over libcurl.
//
// Transport. https with the system's CA bundle (or options.ca_file), unless the registry is
// insecure: options.insecure, listed in options.insecure_registries, or a loopback registry
// (localhost, 127.0.0.0/8, [::1]; Docker does the same). An insecure registry gets https without
// certificate verification first and plain http when the TLS handshake or connection fails
// (podman's --tls-verify=false); the scheme that worked is remembered for the process.
// "docker.io" is served by registry-1.docker.io.
//
// Every request has a connect timeout and a stall timeout (nothing received or sent for that
// long once connected). Failed requests are retried options.retries times with exponential
// backoff, for 5xx answers and connection-level failures only, never for 4xx; streamed upload
// bodies (put_blob) cannot be replayed and are not retried. Blob downloads resume where they
// stopped with a Range request.
//
// Auth. A 401 carries WWW-Authenticate: for Bearer, a token is fetched from the realm with the
// service and the scopes the operation needs (repository:NAME:pull, pull,push for pushes, plus
// pull on the source of a mount), with basic credentials when options.credentials has some;
// tokens are cached per scope set until they expire and sent proactively afterwards. For Basic,
// the credentials are sent from then on. A request is retried once after a 401.
//
// Redirects (blob GETs to storage) are followed by hand: the registry's Authorization header
// is sent only to the registry's own origin (scheme, host and port), never to another host.
//
// Errors are one-line berth::Error messages naming the registry, the request and the answer:
//   registry 127.0.0.1:5000: GET /v2/a/b/manifests/t: 404 Not Found: manifest unknown
//
// Threads: all methods may be called concurrently (each transfer has its own libcurl handle,
// taken from a pool so that connections are reused; the token cache is locked).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.hpp"
#include "distribution/auth.hpp"
#include "distribution/repository.hpp"
#include "oci/image.hpp"

namespace berth::distribution {

struct RegistryOptions {
  // Every registry insecure (--tls-verify=false): no certificate verification, http fallback.
  bool insecure = false;
  // Registries ("host[:port]", as in references) treated as insecure.
  std::vector<std::string> insecure_registries;
  // Loopback registries (localhost, 127.0.0.0/8, [::1]) insecure, as in Docker.
  bool loopback_insecure = true;
  // A CA bundle to verify registries with instead of the system's; empty: the system's.
  std::string ca_file;
  long connect_timeout_ms = 30'000;
  // No byte received or sent for this long (after connecting) fails the request; checked
  // about once a second, so the effective resolution is ~1 s.
  long stall_timeout_ms = 60'000;
  // Further attempts after a 5xx or connection failure; backoff doubles from retry_backoff_ms.
  int retries = 3;
  long retry_backoff_ms = 500;
  // Credentials for a registry (e.g. from an AuthFile), nullopt for anonymous access. Called
  // for each authenticated request, possibly from several threads at once.
  std::function<std::optional<Credentials>(const std::string& registry)> credentials;
  std::string user_agent = "berth/0.1";
  // For insecure registries: the scheme that worked last time (e.g. from a cache file kept
  // by the caller), tried first in a new process — "http" saves a failing TLS handshake on
  // every run; and a callback told which scheme answered, to remember it.
  std::function<std::string(const std::string& registry)> scheme_hint;
  std::function<void(const std::string& registry, const std::string& scheme)> on_scheme;
  // Concurrent layer transfers, for callers that run several (see parallel.hpp).
  int max_parallel = 3;
};

// Whether the registry gets the insecure treatment under these options (see above).
bool is_insecure_registry(const std::string& registry, const RegistryOptions& options);

class Client final : public Repository {
 public:
  // registry as in references ("docker.io", "127.0.0.1:5000"); repository "library/busybox"
  // (may be empty for ping()). Throws berth::Error on an invalid repository name.
  Client(std::string registry, std::string repository, RegistryOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& registry() const override;
  const std::string& repository() const override;

  // GET /v2/: reachability and, with credentials, authentication (a token is fetched when the
  // registry asks for one, so wrong credentials fail here). For `berth login`.
  void ping() override;

  // The manifest or index a tag or digest names. The Accept header offers OCI index/manifest
  // and Docker manifest list/schema 2. Refused: bodies over oci::kMaxManifestSize (the
  // transfer stops there), media types that are neither, content not matching the requested
  // digest, or a Docker-Content-Digest header not matching the content.
  Fetched get_manifest(std::string_view tag_or_digest) override;
  // HEAD of a manifest: its descriptor, nullopt on 404. Falls back to a GET when the registry
  // sends no Docker-Content-Digest.
  std::optional<oci::Descriptor> head_manifest(std::string_view tag_or_digest) override;
  // PUT of a manifest under a tag or its digest; returns the digest of body (checked against
  // the registry's Docker-Content-Digest, and against tag_or_digest when that is a digest).
  Digest put_manifest(std::string_view tag_or_digest, std::string_view media_type,
                      std::string_view body) override;
  // The repository's tags (following Link pagination).
  std::vector<std::string> list_tags() override;

  // HEAD of a blob: exists / its size (nullopt when absent).
  bool blob_exists(const Digest& digest) override;
  std::optional<int64_t> blob_size(const Digest& digest) override;

  // Streams a blob from `offset` on into sink (Range: bytes=offset-; a 200 that ignores the
  // Range is skipped up to offset). Redirects are followed. A connection that breaks or
  // stalls is resumed at the byte where it stopped (options.retries times, the count starting
  // again whenever bytes arrived). The bytes are not verified here: the sink's consumer (the
  // content store) verifies the digest. Exceptions from sink stop the transfer and propagate.
  void get_blob(const Digest& digest, int64_t offset, const Sink& sink,
                const Progress& progress = {}) override;
  // A whole small blob (an image config), refused beyond max_size, digest verified.
  std::string get_blob_bytes(const Digest& digest, size_t max_size) override;

  // Cross-repository mount from another repository of this registry: true when the registry
  // mounted it (201); false when it started an upload instead (202, which is cancelled).
  bool mount_blob(const Digest& digest, std::string_view from_repository) override;
  // Uploads a blob of `size` bytes read from `read`: one PUT (chunk_size <= 0), or PATCHes of
  // chunk_size bytes with Content-Range then a closing PUT ?digest=. Relative and absolute
  // Location headers are followed. Throws when read ends early or the registry disagrees on
  // the digest.
  void put_blob(const Digest& digest, int64_t size, const Source& read, int64_t chunk_size = 0,
                const Progress& progress = {}) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::distribution
