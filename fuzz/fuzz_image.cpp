// Image index, manifest and config parsing (what a registry or an archive hands us).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/error.hpp"
#include "oci/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    berth::oci::parse_index(text);
  } catch (const berth::Error&) {
  }
  try {
    berth::oci::parse_manifest(text);
  } catch (const berth::Error&) {
  }
  try {
    berth::oci::parse_image_config(text);
  } catch (const berth::Error&) {
  }
  return 0;
}
