// Go's time.Duration as text, the form Docker's flags, filters and messages use: "30s",
// "1m30s", "1.5h", "500ms".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth {

// time.ParseDuration: an optional sign, then decimal numbers each with a unit (ns, us, µs,
// ms, s, m, h); "0" alone needs none. Nanoseconds; nullopt when `s` is not one.
std::optional<int64_t> parse_go_duration(std::string_view s);

// time.Duration.String(): "0s", "500ms", "5s", "1m30s", "1h0m0s", "1.5s".
std::string go_duration(int64_t ns);

}  // namespace berth
