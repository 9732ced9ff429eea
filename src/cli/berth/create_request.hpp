// The flags of run and create into an engine::CreateRequest (create_request.cpp); update and
// exec use some of the same parsers.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/runtime/args.hpp"
#include "engine/engine.hpp"

namespace berth::cli {

// Docker's flags of run and create.
extern const std::vector<FlagSpec> kRunFlags;
// The request the flags of run/create make (its errors: bad values, one line each).
engine::CreateRequest build_request(const Args& a);
// --memory, --memory-swap, --cpus, --cpu-shares, --cpuset-cpus, --pids-limit into HostConfig
// (run, create, update).
void resource_flags(const Args& a, nlohmann::json& h);
// --ulimit NAME=SOFT[:HARD]… → HostConfig.Ulimits ([{"Name", "Soft", "Hard"}]).
nlohmann::json parse_ulimits(const std::vector<std::string>& specs);
// --restart no|always|unless-stopped|on-failure[:N] as HostConfig.RestartPolicy.
nlohmann::json restart_flag(const std::string& restart);
// The environment --env-file and -e give (run, create, exec): the files' KEY=VALUE lines
// first (comments and blank lines skipped), then the flags; KEY alone takes KEY's value from
// our environment, and is left out when it is unset there.
std::vector<std::string> env_flags(const Args& a);
// --add-host values as the API takes them (Docker's CLI): NAME:IP or NAME=IP, the address
// possibly in brackets ([::1]), become NAME:IP. The engine checks the name and address.
std::vector<std::string> extra_hosts(const std::vector<std::string>& specs);

}  // namespace berth::cli
