// CNI (Container Network Interface, spec 1.0): running the plugins of a network configuration
// list the way libcni does — ADD in list order with each result passed on as `prevResult`,
// DEL in reverse order with the stored result, CHECK in list order — with the plugin binaries
// found in a list of directories, one timeout per plugin call and the plugin's own error
// message surfaced.
//
// A configuration list (`.conflist`) is the JSON the CNI spec defines:
//   {"cniVersion": "1.0.0", "name": "NET", "plugins": [{"type": "bridge", …}, …]}
// Runtime arguments (port mappings, static IPs, …) reach a plugin as `runtimeConfig` only when
// the plugin declares the capability in its "capabilities" object (CNI's conventions).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace berth::network {

// A plugin failed: its message (the "msg" and "details" of the CNI error it printed, or what it
// wrote to stderr), the plugin's type and the CNI error code (0 when it printed none).
class PluginError : public Error {
 public:
  PluginError(const std::string& msg, int cni_code) : Error(msg), cni_code_(cni_code) {}
  int cni_code() const { return cni_code_; }

 private:
  int cni_code_;
};

struct Attachment {
  std::string container_id;
  std::string netns;    // path of the network namespace (a bind mount)
  std::string ifname;   // "eth0", …
  std::string args;     // CNI_ARGS ("K=V;K=V")
  // Capability arguments, keyed by capability name ("portMappings", "ips", "mac", …).
  nlohmann::json capability_args = nlohmann::json::object();
};

class Cni {
 public:
  // `plugin_dirs`: searched in order for a plugin's binary (CNI_PATH). `timeout_ms` bounds
  // every plugin call: the plugin is killed after it.
  explicit Cni(std::vector<std::string> plugin_dirs, int timeout_ms = 60000);

  // ADD of every plugin; returns the last result. When a plugin fails, the ones before it are
  // deleted again (DEL in reverse order) and the failure is thrown.
  nlohmann::json add(const nlohmann::json& conflist, const Attachment& at) const;
  // ADD of the plugins from index `first` on, the first of them given `prev_result`: the rest
  // of a chain whose head ran earlier. On failure only these are deleted again.
  nlohmann::json add_from(const nlohmann::json& conflist, const Attachment& at, const nlohmann::json& prev_result,
                          size_t first) const;
  // The index from which the plugins of a list only publish ports (portmap: not run for an
  // attachment without portMappings); the list's size when it does not end with them.
  static size_t port_tail(const nlohmann::json& conflist);
  // DEL of every plugin in reverse order, each with `prev_result` (the stored ADD result; may
  // be null). Every plugin is called even when one fails; the first failure is thrown after.
  void del(const nlohmann::json& conflist, const Attachment& at, const nlohmann::json& prev_result) const;
  // CHECK of every plugin with `prev_result` (throws the first failure).
  void check(const nlohmann::json& conflist, const Attachment& at, const nlohmann::json& prev_result) const;

  // Kills the plugins still running an ADD for `container_id` (found by the CNI_COMMAND and
  // CNI_CONTAINERID of their environment, which the bridge plugin passes on to its IPAM
  // plugin) and waits until they are gone: a berth killed during ADD leaves them running,
  // and a DEL run before they end would leave what they make after it.
  static void stop_adds(const std::string& container_id);

  // The path of the plugin binary `type`; throws "plugin TYPE not found in DIR:DIR" if none.
  std::string find(const std::string& type) const;
  // Throws unless every plugin of the list can be found (before anything is done).
  void check_plugins(const nlohmann::json& conflist) const;
  const std::vector<std::string>& dirs() const { return dirs_; }

  // One plugin call: `command` (ADD/DEL/CHECK/VERSION) with `config` on stdin; the parsed
  // result (null for an empty output).
  nlohmann::json exec(const std::string& command, const nlohmann::json& config, const Attachment& at) const;

  // The config one plugin of the list receives: the plugin's object with the list's name and
  // cniVersion, `runtimeConfig` for the capabilities it declares, and `prev_result`.
  static nlohmann::json plugin_config(const nlohmann::json& conflist, const nlohmann::json& plugin,
                                      const Attachment& at, const nlohmann::json& prev_result);
  // Structural checks of a configuration list (name, cniVersion, plugins with types).
  static void validate(const nlohmann::json& conflist);

 private:
  std::vector<std::string> dirs_;
  int timeout_ms_;
};

// The address ("10.88.0.5/16") and gateway of the first IPv4 entry of a result, and the MAC of
// the interface it is on ("" when the result has none).
struct ResultAddress {
  std::string cidr, ip, gateway, mac;
  int prefix = 0;
};
ResultAddress first_ipv4(const nlohmann::json& result);

}  // namespace berth::network
