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
// --restart no|always|unless-stopped|on-failure[:N] as HostConfig.RestartPolicy.
nlohmann::json restart_flag(const std::string& restart);
// --env-file: its KEY=VALUE lines (comments and blank lines skipped).
std::vector<std::string> read_env_file(const std::string& path);
// -e KEY=VALUE as is; -e KEY takes KEY's value from our environment ("" when it is unset).
std::string env_entry(const std::string& e);

}  // namespace berth::cli
