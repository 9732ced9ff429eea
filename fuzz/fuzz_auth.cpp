// WWW-Authenticate challenges from a registry.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/error.hpp"
#include "distribution/auth.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    berth::distribution::parse_challenges(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const berth::Error&) {
  }
  return 0;
}
