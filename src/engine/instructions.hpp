// Dockerfile instructions that change an image's configuration (the "config" object of an
// OCI image config: Cmd, Entrypoint, Env, ExposedPorts, Labels, User, WorkingDir, Volumes,
// StopSignal, OnBuild, Healthcheck) — what `commit --change` takes, Docker's list.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::engine {

// Applies one instruction ("CMD [\"echo\", \"hi\"]", "ENV A=1 B=\"two words\"", "EXPOSE 80/udp",
// …) to `config`. Throws a one-line error for an instruction that is not one of CMD,
// ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL, or
// is malformed.
void apply_instruction(nlohmann::json& config, const std::string& line);

// `import --change`'s editor of a new image's config: each of `changes` applied in order, a bad
// one an invalid_argument "import --change: …"; empty when there are none.
std::function<void(nlohmann::json& config)> import_changes(std::vector<std::string> changes);

// HEALTHCHECK's arguments ("--interval=5s --retries=3 CMD wget -q …", "CMD [\"true\"]", "NONE")
// as Docker's Healthcheck object over `base` (the fields not given keep base's, as a
// Dockerfile's HEALTHCHECK does here); durations at least 1ms or 0, retries at least 1.
nlohmann::json healthcheck(const std::string& args, const nlohmann::json& base);

// Words as a Dockerfile reads them: split on blanks, "…" and '…' quote, \ escapes.
std::vector<std::string> instruction_words(const std::string& s);

}  // namespace berth::engine
