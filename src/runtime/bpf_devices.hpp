// linux.resources.devices on cgroup v2: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE
// attached to the container's cgroup (v2 has no devices.allow/devices.deny files). The
// program is assembled here by hand and loaded with the raw bpf(2) syscall, so there is no
// libbpf dependency.
//
// Semantics (OCI, as on v1): rules are evaluated in order and the last matching rule wins;
// when no rule matches, access is denied. Each access bit of a request (r, w, m) is decided on
// its own: a rule matches a bit when its type ("a" = b and c), major and minor (absent or
// negative = any) match the device and its access (empty = "rwm") contains the bit, and the
// request is allowed only if every bit it asks for is. So "allow c 1:3 r" does not let
// /dev/null be opened read-write, and "deny c 1:3 w" after "allow a rwm" denies a read-write
// open. A request with no access bits (access(2) with X_OK on a node) is decided by the last
// rule naming the device at all. A major or minor above 2^31-1 matches no device (the kernel's
// device numbers are 12 and 20 bits).
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "oci/resources.hpp"

namespace berth::runtime {

// The name the program is loaded under; attach_device_program replaces programs of this
// name only, never those someone else attached to the cgroup.
inline constexpr const char* kDeviceProgramName = "berth_devices";

// The program for `rules` (pure). Input: struct bpf_cgroup_dev_ctx in r1. Returns 1 (allow) or
// 0 (deny). Throws berth::Error if the rules are too many for the program's jump offsets
// (thousands).
[[nodiscard]] std::vector<struct bpf_insn> compile_device_program(
    const std::vector<oci::DeviceRule>& rules);

// Loads the program for `rules` and makes it the cgroup's only berth device program:
// atomically replaces the one attached before (BPF_F_REPLACE), or on a kernel without that
// attaches the new one next to the old ones (BPF_F_ALLOW_MULTI: both then must allow, so there
// is no unfiltered moment) and detaches the old ones. Programs not named kDeviceProgramName
// are left alone. `cgroup_dir_fd` is an open v2 cgroup directory. Throws berth::Error, with
// the verifier's reason if the kernel rejects the program.
void attach_device_program(int cgroup_dir_fd, const std::vector<oci::DeviceRule>& rules);

// Ids of the device programs attached directly to the cgroup (BPF_PROG_QUERY), in run order.
[[nodiscard]] std::vector<uint32_t> query_device_programs(int cgroup_dir_fd);

}  // namespace berth::runtime
