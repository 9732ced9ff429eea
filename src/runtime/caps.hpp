// Switches the calling (container init) process to the configured user and capability sets.
#pragma once

#include "oci/spec.hpp"

namespace berth::runtime {

// Drops the bounding set, changes gid/groups/uid keeping capabilities across the change, then
// sets effective/permitted/inheritable and raises ambient capabilities.
// `setgroups_allowed` is false in a user namespace whose setgroups is denied.
void apply_user_and_capabilities(const oci::Process& p, bool setgroups_allowed);

}  // namespace berth::runtime
