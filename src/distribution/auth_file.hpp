// Registry credentials on disk, in Docker's config.json format (what `berth login` writes and
// `docker login`/podman read):
//   {"auths": {"127.0.0.1:5000": {"auth": "<base64 of user:password>"}}}
// Entries with "username"/"password" fields are read too. Keys may be URLs
// ("https://index.docker.io/v1/", "http://host:5000/v2/"): they match by host[:port], and
// docker.io, index.docker.io and registry-1.docker.io are one registry (stored under
// "https://index.docker.io/v1/", as Docker does). Other keys of the file (credHelpers,
// credsStore, proxies, …) are kept as they are but not used: no credential helpers.
//
// The file is written atomically (temp file, fsync, rename) with mode 0600; a missing parent
// directory is created with mode 0700 (an existing one is left alone).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "distribution/auth.hpp"

namespace berth::distribution {

class AuthFile {
 public:
  // $BERTH_AUTH_FILE, else $XDG_CONFIG_HOME/berth/auth.json, else ~/.config/berth/auth.json.
  static std::string default_path();
  // Reads the file; a missing one is empty. Throws berth::Error("auth file `…`: …") when it
  // cannot be read or is not a JSON object.
  static AuthFile load(std::string path);

  const std::string& path() const { return path_; }
  // Credentials for a registry ("docker.io", "127.0.0.1:5000"), nullopt when none.
  std::optional<Credentials> get(std::string_view registry) const;
  // Replaces the registry's entry (all its spellings).
  void set(std::string_view registry, const Credentials& c);
  // Removes the registry's entries; false when there were none.
  bool erase(std::string_view registry);
  // The registries with entries (normalized names).
  std::vector<std::string> registries() const;
  void save() const;

 private:
  std::string path_;
  nlohmann::json doc_ = nlohmann::json::object();
};

// "https://index.docker.io/v1/" → "docker.io", "http://h:5000/v2/" → "h:5000", "H" → "h".
std::string normalize_registry(std::string_view key);

}  // namespace berth::distribution
