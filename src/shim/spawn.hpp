// How berth starts a container's shim: ahead of the container's spec, so that the shim's
// exec and start-up run on another CPU while berth mounts the rootfs, makes the network
// namespace and writes the spec (~1 ms of `run --rm` here).
//
//   berth-shim STATE_DIR CTRL_FD
//
// CTRL_FD is one end of a unix stream socketpair. The shim detaches at once, then waits on it
// for the word to go: one message "go" + a letter per fd it carries — 'a': a connection
// already attached as the container's owner, 'c': one attached as a plain client (a
// foreground run whose restart policy leaves the container to the shim), 'g': the gate (the first start waits for a "g"
// on it after the container is created, berth attaching the networks meanwhile, and gives up
// at EOF). It answers on CTRL_FD with one line, "ok PID" or "error MSG" (error.hpp's encoding).
// At EOF before the word (berth failed to prepare the container), it exits, having made
// nothing.
#pragma once

#include <sys/types.h>

#include <exception>
#include <functional>
#include <string>
#include <thread>

#include "common/fd.hpp"

namespace berth::shim {

// A shim started, waiting for the word to go. Dropped without it, the shim exits; its first
// process (which exits once it has detached) is reaped here either way.
class PendingShim {
 public:
  PendingShim() = default;
  PendingShim(const PendingShim&) = delete;
  PendingShim& operator=(const PendingShim&) = delete;
  ~PendingShim();

  // Starts the shim binary at `path` for the container whose state directory is `dir`, on a
  // thread of its own (the exec, ~0.5 ms, blocks the spawner until it is done). `view`, if
  // given, makes a read-only view of the binary to run instead (runtime::sealed_view).
  void start(const std::string& path, const std::string& dir, std::function<UniqueFd(const std::string&)> view);

  // The word to go, with the fds it takes over (-1: none); the attached connection is the
  // owner's, or with !attach_owner a plain client's. Throws berth::Error when the shim
  // could not be run. Once it ran, errors are its to tell on the control socket (answer()).
  void go(int attach_fd, int gate_fd, bool attach_owner = true);
  // Its answer: "ok PID" or "error MSG" (empty at EOF: it died); then its first process reaped.
  std::string answer();

 private:
  void spawned();  // the spawning thread is done: its error thrown
  void reap();
  std::thread spawner_;
  std::exception_ptr error_;
  pid_t pid_ = 0;
  UniqueFd ctrl_;
};

// The shim's side: waits for the word on `ctrl`. False at EOF (nothing to start).
struct GoWord {
  UniqueFd attach, gate;
  bool attach_owner = true;
};
bool receive_go(int ctrl, GoWord& out);

}  // namespace berth::shim
