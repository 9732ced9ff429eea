// The CRI streaming server: what Exec, Attach and PortForward answer with is a URL on it, and
// the client (crictl, or the kubelet proxying kubectl) connects there and upgrades to SPDY/3.1
// (spdy.hpp) to speak Kubernetes' protocols:
//   exec, attach  remotecommand v4/v3/v2.channel.k8s.io: streams "error", "stdin", "stdout",
//                 "stderr", "resize" (JSON {"Width","Height"}); the end is a status on the
//                 error stream (v4: a metav1.Status with the exit code as an ExitCode cause)
//   port-forward  portforward.k8s.io: an "error" and a "data" stream per connection (headers
//                 port, requestid); data goes to localhost:PORT in the pod's network namespace
//
// A URL holds a one-time token (256 random bits) valid for a minute, as the kubelet's own
// streaming server does; at most 1000 wait at a time. HTTP/1.1 on TCP, no TLS: it listens on
// 127.0.0.1 by default (an ephemeral port, as containerd's), and a token is the only
// authority, so a wider address is the operator's choice (berthd --cri-streaming-address).
// One thread per connection.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace berth::cri {

struct StreamRequest {
  enum class Kind { exec, attach, port_forward } kind = Kind::exec;
  std::string container;          // exec, attach: the engine container's id
  std::vector<std::string> cmd;   // exec
  bool tty = false, in = false, out = false, err = false;
  std::string pod;                // port_forward: the pod's id (for messages)
  std::string netns;              // port_forward: its network namespace file ("": the host's)
};

class StreamingServer {
 public:
  explicit StreamingServer(engine::Engine& eng);
  ~StreamingServer();
  // Listens on `address` ("HOST:PORT", IPv4; port 0 = any free one). Throws berth::Error.
  void start(const std::string& address);
  // Stops accepting and ends the sessions in flight (their sockets are shut down).
  void stop();
  // "HOST:PORT" as bound.
  std::string address() const;
  // A one-time URL for `r`. unavailable when too many wait.
  std::string url(StreamRequest r);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace berth::cri
