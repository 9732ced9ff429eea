// CRI pod sandboxes without an infra container (CRI-O's drop_infra_ctr model): a pod is its
// namespaces pinned by bind mounts — network (unless hostNetwork), IPC and UTS (the pod's
// hostname set in it), and PID when the pod shares one (then a `berth-shim --pause` process is
// its init: a PID namespace dies with its init) — a /dev/shm tmpfs its containers share, its resolv.conf and hostname
// files, and its CNI attachment (ADD at run, DEL at stop, the stored result passed back as
// prevResult). Its containers join these namespaces by path (the engine's "ns:PATH" modes).
//
// On disk:
//   <root>/cri/pods/<id>.json   the record: the PodSandboxConfig as the kubelet sent it (JSON),
//                               state, created, the CNI config list and result, the pod IP
//   <state>/cri/pods/<id>/      net, ipc, uts, pid (nsfs bind mounts), shm/ (tmpfs), resolv.conf,
//                               hostname — gone once the pod is stopped
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cri/api.pb.h"
#include "network/netns.hpp"

namespace berth::cri {

struct Pod {
  std::string id;
  runtime::v1::PodSandboxConfig config;
  int64_t created = 0;  // unix ns
  bool ready = false;
  std::string ip;
  std::string handler;  // the runtime handler asked for ("" = the default)
  nlohmann::json cni;   // {"conflist": …, "result": …} while attached; null otherwise
  int pause_pid = 0;     // the init of its shared PID namespace (0: none)
  bool host_network() const;
  bool host_ipc() const;
  bool host_pid() const;
  // Its containers share one PID namespace (NamespaceOption.pid POD, the CRI's default): a
  // pause process (`berth-shim --pause`) is its init, pinned at pidns().
  bool shared_pid() const;
};

struct PodSettings {
  std::string root, state;
  std::vector<std::string> cni_conf_dirs;    // searched in order for the first network config
  std::vector<std::string> cni_plugin_dirs;  // CNI_PATH
  int cni_timeout_ms = 60000;
  std::string pause;  // the berth-shim binary (run as `berth-shim --pause`)
};

class Pods {
 public:
  explicit Pods(PodSettings s);

  // Makes and records a ready pod; on failure nothing of it is left (namespaces, mounts,
  // CNI attachment, record). already_exists when a pod with the same metadata is recorded.
  Pod run(const runtime::v1::PodSandboxConfig& config, const std::string& handler);
  // Detaches the network and releases the namespaces; the record stays (not ready).
  // Idempotent. The caller has stopped the pod's containers.
  void stop(const std::string& id);
  // Removes the record (stopping first if needed). False if there was none.
  bool remove(const std::string& id);
  std::optional<Pod> find(const std::string& id_or_prefix);
  Pod get(const std::string& id_or_prefix);  // not_found otherwise
  std::vector<Pod> list();

  // The pod's pinned namespace files and shared files (valid while it is ready).
  std::string dir(const std::string& id) const;
  std::string netns(const std::string& id) const { return dir(id) + "/net"; }
  std::string ipcns(const std::string& id) const { return dir(id) + "/ipc"; }
  std::string utsns(const std::string& id) const { return dir(id) + "/uts"; }
  std::string pidns(const std::string& id) const { return dir(id) + "/pid"; }
  std::string shm(const std::string& id) const { return dir(id) + "/shm"; }

  // The interfaces of the pod's network namespace but lo (read in it by a thread of its own);
  // none once the pod is stopped.
  std::vector<network::InterfaceUsage> interfaces(const std::string& id) const;

  // Whether a network config list is found and its plugins exist (Status's NetworkReady);
  // `why` says what is missing otherwise.
  bool network_ready(std::string& why) const;

  // A per-pod lock: run/stop/remove and container creation in the pod take it.
  std::shared_ptr<std::mutex> lock(const std::string& id);

 private:
  void save(const Pod& p);
  std::optional<Pod> load(const std::string& id);
  nlohmann::json cni_config() const;  // the first config list of the conf dirs; null if none
  void release(Pod& p);               // CNI DEL, namespaces and files gone (never throws)
  std::string record_path(const std::string& id) const;

  PodSettings s_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;
};

}  // namespace berth::cri
