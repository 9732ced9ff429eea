// berthd-registry.so: the registry client (libcurl) for berthd, loaded with dlopen at the
// first pull, push or login. libcurl brings ~30 libraries (gnutls, krb5, ldap, …) that hold
// ~5 MiB of a daemon's memory from its start when linked; most daemons pull rarely. The module
// holds only the distribution client and takes everything else (errors, digests, logging)
// from berthd, which exports its symbols.
#include "common/fs.hpp"
#include "distribution/client.hpp"
#include "distribution/http.hpp"

// ADD of a URL (POST /build): the body to `fd`; Last-Modified in *last_modified (0: none).
extern "C" void berthd_registry_fetch(const char* url, int fd, int64_t* last_modified) {
  const auto f = berth::distribution::http::fetch(url, [fd](const char* p, size_t n) {
    berth::fs::write_fd(fd, std::string_view(p, n), "the download");
  });
  *last_modified = f.last_modified;
}

extern "C" berth::distribution::Repository* berthd_registry_open(const berth::distribution::RegistryOptions* options,
                                                                 const char* registry, const char* repository) {
  return new berth::distribution::Client(registry, repository, *options);
}
