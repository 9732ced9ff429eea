// Ids of a host range taken back to the ids they stand for in a user namespace (a userns-remap
// container's files seen from the host, or through its idmapped mounts): an id in
// [start, start + size) becomes id - start; any other stays as it is.
#pragma once

#include <cstdint>

namespace berth {

struct IdShift {
  uint32_t uid = 0, gid = 0, size = 0;  // the range's first uid and gid; size 0: no shift
  uint32_t uid_of(uint32_t id) const { return id >= uid && id - uid < size ? id - uid : id; }
  uint32_t gid_of(uint32_t id) const { return id >= gid && id - gid < size ? id - gid : id; }
};

}  // namespace berth
