// Running a helper program to its end (iptables, an external OCI runtime).
#pragma once

#include <string>
#include <vector>

namespace berth {

// Runs argv (argv[0] looked up on PATH) with `input` on its stdin; waits. Returns its exit
// status (128 + signal if killed), with what it wrote on stdout and stderr in `output`
// (trailing newlines cut). Throws berth::Error when it cannot be started at all; `what` names
// the tool in that message ("is iptables installed?").
int run_command(const std::vector<std::string>& argv, const std::string& input, std::string& output,
                const std::string& what = "");

}  // namespace berth
