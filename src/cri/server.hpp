// berthd's Kubernetes CRI server: runtime.v1's RuntimeService and ImageService over gRPC on
// a unix socket, on the engine of the CRI's own namespace (k8s.io, as containerd's): its
// containers and images are apart from the Docker API's, in the same store.
//
// Pods are pods.hpp's (pinned namespaces, no infra process); a container is an engine
// container that joins its pod's namespaces by path, logs in the kubelet's CRI format at the
// path the kubelet gives (the engine's k8s-file driver), and keeps what the CRI says of it
// (pod, metadata, annotations) in its record (data["CRI"]).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "image/service.hpp"

namespace berth::cri {

struct Settings {
  std::string berth_version;
  std::string root, state;                   // the store and state of berthd
  std::vector<std::string> cni_conf_dirs = {"/etc/cni/net.d"};
  std::vector<std::string> cni_plugin_dirs;  // default: the engine's, then /opt/cni/bin
  // The streaming server's address (Exec, Attach, PortForward URLs): IPv4 HOST:PORT, port 0
  // for any free one.
  std::string streaming_address = "127.0.0.1:0";
  // Registries: a Transfer for a pull, given the Docker API's X-Registry-Auth header form of
  // the request's credentials ("" for none).
  std::function<image::Transfer(const std::string& auth_header)> transfer;
};

class Server {
 public:
  Server(engine::Engine& eng, Settings s);
  ~Server();
  // Listens on the unix socket `path` (made 0660; an old socket file there is replaced) and
  // serves on gRPC's own threads until shutdown; starts the streaming server.
  void start(const std::string& path);
  // The streaming server's HOST:PORT (once started).
  std::string streaming_address() const;
  // Stops accepting and lets calls in flight end (up to a few seconds).
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::cri
