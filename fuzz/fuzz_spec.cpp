// config.json parsing and validation (oci::parse_spec): anything but berth::Error escaping,
// or a crash, is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/error.hpp"
#include "oci/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    berth::oci::parse_spec(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const berth::Error&) {
  }
  return 0;
}
