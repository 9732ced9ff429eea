// berthd-registry.so: the registry client (libcurl) for berthd, loaded with dlopen at the
// first pull, push or login. libcurl brings ~30 libraries (gnutls, krb5, ldap, …) that hold
// ~5 MiB of a daemon's memory from its start when linked; most daemons pull rarely. The module
// holds only the distribution client and takes everything else (errors, digests, logging)
// from berthd, which exports its symbols.
#include "distribution/client.hpp"

extern "C" berth::distribution::Repository* berthd_registry_open(const berth::distribution::RegistryOptions* options,
                                                                 const char* registry, const char* repository) {
  return new berth::distribution::Client(registry, repository, *options);
}
