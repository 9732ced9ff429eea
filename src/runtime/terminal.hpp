// Pseudo-terminals and fd passing for process.terminal / --console-socket.
#pragma once

#include <string>

#include "common/fd.hpp"

namespace berth::runtime {

// Connects to the unix socket at `path` (the --console-socket of the caller).
UniqueFd connect_unix(const std::string& path);
// Sends one fd with SCM_RIGHTS (and a small name payload, as runc does).
void send_fd(int sock, int fd, const std::string& name);
// Receives one fd sent with send_fd.
UniqueFd recv_fd(int sock);

struct Pty {
  UniqueFd master, slave;
};
// Opens a new pty pair from the given ptmx path (the container's /dev/ptmx), getting the
// slave with TIOCGPTPEER so that no /dev/pts path is ever resolved.
Pty open_pty(int ptmx_fd);
void set_winsize(int fd, unsigned rows, unsigned cols);
// Makes `slave` the controlling terminal and stdio of the calling process.
void make_controlling_tty(int slave);

}  // namespace berth::runtime
