// The --format template engine (format/template.hpp): any string parses or fails with
// berth::Error, and renders against an inspect-like document within bounded time and memory
// or fails with berth::Error; nothing else escapes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "format/template.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::json doc = nlohmann::json::parse(R"({
    "Id": "4a86e009c228", "Name": "/web", "Count": 3, "Ratio": 0.25,
    "State": {"Status": "running", "ExitCode": 0, "Running": true, "Health": null},
    "Config": {"Labels": {"a": "1", "b": "2"}, "Env": ["A=1", "B=2"], "Cmd": ["sleep", "1"]},
    "Mounts": [{"Type": "volume", "Source": "/v"}, {"Type": "bind", "Source": "/etc"}]
  })");
  try {
    auto t = berth::format::Template::parse(std::string_view(reinterpret_cast<const char*>(data), size));
    (void)t.render(doc);
  } catch (const berth::Error&) {
  }
  return 0;
}
