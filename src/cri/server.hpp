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

#include "cri/service.hpp"
#include "engine/engine.hpp"

namespace berth::cri {

class Server final : public Service {
 public:
  Server(engine::Engine& eng, Settings s);
  ~Server() override;
  // Starts gRPC's server (its own threads, no listening port: berthd hands it the connections)
  // and the streaming server.
  void start();
  void adopt(int fd) override;
  std::string streaming_address() const override;
  void shutdown() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::cri
