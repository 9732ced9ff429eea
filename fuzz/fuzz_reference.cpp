// Image references: parse never crashes, valid() agrees with parse, and a parsed reference
// parses back to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/error.hpp"
#include "oci/reference.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool valid = berth::oci::Reference::valid(text);
  try {
    auto r = berth::oci::Reference::parse(text);
    if (!valid) std::abort();  // parse took what valid() refused
    auto again = berth::oci::Reference::parse(r.str());
    if (again.str() != r.str()) std::abort();
  } catch (const berth::Error&) {
    if (valid) std::abort();
  }
  return 0;
}
