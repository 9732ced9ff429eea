// linux.resources of the OCI runtime spec (config-linux.md "Control groups"), typed.
// Absent fields stay std::nullopt so that only what the config asks for is written.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace berth::oci {

struct DeviceRule {
  bool allow = false;
  std::string type = "a";  // a, c, b
  std::optional<int64_t> major, minor;
  std::string access;  // rwm subset
};

struct MemoryResources {
  std::optional<int64_t> limit, reservation, swap, kernel, kernelTCP;
  std::optional<uint64_t> swappiness;
  std::optional<bool> disableOOMKiller, useHierarchy, checkBeforeUpdate;
};

struct CpuResources {
  std::optional<uint64_t> shares, period, realtimePeriod, burst;
  std::optional<int64_t> quota, realtimeRuntime, idle;
  std::string cpus, mems;
};

struct BlockIODevice {
  int64_t major = 0, minor = 0;
  std::optional<uint16_t> weight, leafWeight;
  uint64_t rate = 0;  // for throttle entries
};

struct BlockIOResources {
  std::optional<uint16_t> weight, leafWeight;
  std::vector<BlockIODevice> weightDevice;
  std::vector<BlockIODevice> throttleReadBpsDevice, throttleWriteBpsDevice;
  std::vector<BlockIODevice> throttleReadIOPSDevice, throttleWriteIOPSDevice;
};

struct HugepageLimit {
  std::string pageSize;  // "2MB", "1GB"
  uint64_t limit = 0;
};

struct LinuxResources {
  std::vector<DeviceRule> devices;
  std::optional<MemoryResources> memory;
  std::optional<CpuResources> cpu;
  std::optional<int64_t> pidsLimit;
  std::optional<BlockIOResources> blockIO;
  std::vector<HugepageLimit> hugepageLimits;
  std::map<std::string, std::string> unified;  // cgroup v2 files, written verbatim
};

// True when anything but device rules is set (device rules alone need no cgroup of our own
// in a user namespace, where no device can be created anyway).
bool has_limits(const LinuxResources& r);

// Parses and validates linux.resources; throws berth::Error naming the bad field
// ("linux.resources.memory.limit: must be an integer").
LinuxResources parse_resources(const nlohmann::json& j);

}  // namespace berth::oci
