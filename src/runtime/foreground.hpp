// Running a container process in the foreground of the calling runtime (`run`, `exec`):
// signals are blocked before the process exists, then forwarded to it; with a pty the
// runtime relays between its own stdio and the pty master.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include "common/fd.hpp"

namespace berth::runtime {

// Blocks every catchable signal (when `active`) until restore() or destruction.
class SignalBlock {
 public:
  explicit SignalBlock(bool active);
  ~SignalBlock() { restore(); }
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;
  const sigset_t& set() const { return all_; }
  void restore();

 private:
  sigset_t all_{}, old_{};
  bool active_;
};

// Waits for `pid` (a child of the caller) while forwarding signals in `sigs` (which must be
// blocked) and relaying a pty master, if given, to stdin/stdout. Returns the exit status, or
// 128+signal when the process was killed.
int wait_foreground(pid_t pid, const sigset_t& sigs, UniqueFd master);

}  // namespace berth::runtime
