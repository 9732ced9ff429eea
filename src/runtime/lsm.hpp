// process.apparmorProfile and process.selinuxLabel. A profile or label for a security module
// the host does not run is an error (as with runc), never silently dropped. When the module
// runs, the profile/label is set for the next execve by writing the process's attr file
// through the private procfs (CVE-2025-52881 class: never through the container's /proc).
#pragma once

#include "oci/spec.hpp"
#include "runtime/procfs.hpp"

namespace berth::runtime {

bool apparmor_enabled();
bool selinux_enabled();

// Throws when the process asks for a module this host does not have.
void validate_lsm(const oci::Process& p);
// True when apply_lsm has anything to do.
bool wants_lsm(const oci::Process& p);
// Sets the exec profile/label of the calling (single-threaded) process.
void apply_lsm(const oci::Process& p, const Procfs& procfs);

}  // namespace berth::runtime
