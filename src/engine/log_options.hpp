// A container's --log-driver/--log-opt (HostConfig.LogConfig): which options each driver
// takes, and the extra attributes json-file writes in every record (Docker's
// labels, labels-regex, env, env-regex and tag: "attrs":{…}, shown by `logs --details`).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "engine/container_config.hpp"
#include "logs/syslog.hpp"

namespace berth::engine {

// Go's strconv.ParseBool (Docker's --log-opt compress): nullopt for anything else.
std::optional<bool> parse_log_bool(const std::string& v);

// Throws invalid_argument naming the option for one a driver does not take or a value it
// cannot use: at create for every client, and by berthd for daemon.json's log-opts.
void check_log_options(const std::string& driver, const std::map<std::string, std::string>& opts);

// What the tag template (Docker's logger.Info fields) and the attributes are made from.
struct LogSubject {
  std::string id, name, image_id, image_name;  // image_id "sha256:…"
  const ContainerConfig* config = nullptr;
};

// The attributes of every record of a json-file log: the labels and environment variables the
// options name (a list, or a regular expression searched in the names), and `tag` rendered.
// Empty when no option asks for any.
std::map<std::string, std::string> log_attributes(const std::map<std::string, std::string>& opts, const LogSubject& s);

// --log-driver syslog: where and how the shim sends the lines (the address's host resolved now,
// the tag rendered; Docker's defaults: the local syslog, facility daemon, the short id).
// Throws invalid_argument for a bad option or a name that does not resolve.
logs::SyslogTarget syslog_target(const std::map<std::string, std::string>& opts, const LogSubject& s);

}  // namespace berth::engine
