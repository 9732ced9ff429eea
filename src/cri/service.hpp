// The CRI server as berthd sees it. The server itself (gRPC, protobuf and their ~50 libraries,
// ~10 MiB of a process once loaded) lives in the module berthd-cri.so, loaded at the first
// connection to the CRI socket: berthd listens on that socket itself and hands each accepted
// connection to the server. This header is all the two share: plain types and an interface
// called through its vtable, so berthd links nothing of the module.
#pragma once

#include <functional>
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

class Service {
 public:
  virtual ~Service() = default;
  // Serves the runtime.v1 RuntimeService and ImageService on an accepted connection (a
  // connected, non-blocking stream socket; the service owns it from here).
  virtual void adopt(int fd) = 0;
  // The streaming server's HOST:PORT.
  virtual std::string streaming_address() const = 0;
  // Stops serving and lets calls in flight end (up to a few seconds).
  virtual void shutdown() = 0;
};

// berthd-cri.so's entry point: a started server on `eng` (an engine of the CRI's namespace).
using open_fn = Service* (*)(engine::Engine* eng, const Settings* settings);

}  // namespace berth::cri
