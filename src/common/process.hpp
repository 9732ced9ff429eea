// Running a helper program to its end (iptables, an external OCI runtime).
#pragma once

#include <string>
#include <vector>

namespace berth {

// Runs argv (argv[0] looked up on PATH) with `input` on its stdin; waits. Returns its exit
// status (128 + signal if killed), with what it wrote on stdout and stderr in `output`
// (trailing newlines cut). Throws berth::Error when it cannot be started at all; `what` names
// the tool in that message ("is iptables installed?").
// With timeout_ms > 0 a command still running then is killed (its process group: it runs in
// one of its own) and berth::Error says it did not finish.
int run_command(const std::vector<std::string>& argv, const std::string& input, std::string& output,
                const std::string& what = "", int timeout_ms = 0);

// Starts argv (argv[0] a path) in a session of its own with stdio on /dev/null and no signal
// blocked, and does not wait for it (the work an engine leaves behind: `network fill`).
// A failure to start is logged at debug level.
void spawn_detached(std::vector<std::string> argv);

}  // namespace berth
