// berthd-cri.so: the Kubernetes CRI server (gRPC, protobuf and the ~50 libraries they bring),
// loaded with dlopen when a client first connects to berthd's CRI socket. Linked, those
// libraries held ~10 MiB of berthd from its start (their relocations and static constructors),
// CRI or not. The module holds the CRI's code only; the engine and everything else it calls
// are berthd's (which exports its symbols).
#include "cri/server.hpp"

extern "C" berth::cri::Service* berthd_cri_open(berth::engine::Engine* eng, const berth::cri::Settings* settings) {
  auto server = std::make_unique<berth::cri::Server>(*eng, *settings);
  server->start();
  return server.release();
}
