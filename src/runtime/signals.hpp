#pragma once
#include <string>
#include <string_view>

namespace berth::runtime {
// "KILL", "SIGKILL", "9", "sigterm", "RTMIN+3" → signal number; throws on anything else.
int parse_signal(std::string_view s);
std::string signal_name(int sig);
}  // namespace berth::runtime
