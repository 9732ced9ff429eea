// OCI lifecycle hooks: each runs with the container state JSON on stdin, its own args and
// env, and an optional timeout. A hook that fails (non-zero exit, signal, timeout) throws
// an Error naming the hook kind, path and reason, including the hook's stderr.
#pragma once

#include <string>
#include <vector>

#include "oci/spec.hpp"

namespace berth::runtime {

void run_hooks(const std::vector<oci::Hook>& hooks, const std::string& kind,
               const std::string& state_json);

}  // namespace berth::runtime
