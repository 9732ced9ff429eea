#pragma once
#include <string>
#include <string_view>

namespace berth::runtime {
// "KILL", "SIGKILL", "9", "sigterm", "RTMIN+3" → signal number; throws on anything else.
int parse_signal(std::string_view s);
std::string signal_name(int sig);
// Every signal back to its default action and none blocked: what a process that is about to
// exec a program must do, since ignored signals (a shim ignores SIGINT and SIGHUP) and the
// blocked mask survive execve — a container would not die on Ctrl-C or `kill -INT`.
// Async-signal-safe (for use between fork and exec).
void reset_signals() noexcept;
}  // namespace berth::runtime
