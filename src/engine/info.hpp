// Docker's /info document for an engine: what `berth info` prints and berthd's GET /info
// answers (one document, so that `info --format` templates and scripts that grep `docker info`
// read the same fields either way).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::engine {

class Engine;

struct InfoExtras {
  std::string server_version;          // berth's
  std::vector<std::string> mirrors;    // registry-mirrors (berthd's daemon.json)
  std::string log_driver = "json-file";  // the default log driver (berthd's daemon.json)
};

nlohmann::json docker_info(Engine& eng, const InfoExtras& extras);

// Docker's names for the host: GOARCH ("amd64"), the kernel release, /etc/os-release's
// PRETTY_NAME.
std::string go_arch();
std::string kernel_release();
std::string os_name();

// Docker's `docker info` text (the Server part) for the document.
std::string info_text(const nlohmann::json& info);

}  // namespace berth::engine
