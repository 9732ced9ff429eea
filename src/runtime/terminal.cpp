#include "runtime/terminal.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

#include "common/error.hpp"
#include "common/fs.hpp"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

namespace berth::runtime {

UniqueFd connect_unix(const std::string& path) {
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) throw_errno("socket");
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  // Long paths (deep state dirs) are reached through an O_PATH fd of the directory.
  std::string target = path;
  UniqueFd dirfd;
  if (path.size() >= sizeof addr.sun_path) {
    auto slash = path.find_last_of('/');
    dirfd.reset(::open(path.substr(0, slash).c_str(), O_PATH | O_CLOEXEC));
    if (!dirfd) throw_errno("open the directory of `" + path + "`");
    target = fs::fd_path(dirfd.get()) + path.substr(slash);
  }
  if (target.size() >= sizeof addr.sun_path) throw Error("socket path too long: `" + path + "`");
  std::memcpy(addr.sun_path, target.c_str(), target.size() + 1);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    throw_errno("connect to `" + path + "`");
  return s;
}

void send_fd(int sock, int fd, const std::string& name) {
  struct msghdr msg {};
  char cbuf[CMSG_SPACE(sizeof(int))] = {};
  struct iovec iov;
  iov.iov_base = const_cast<char*>(name.c_str());
  iov.iov_len = name.size() + 1;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  while (::sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) throw_errno("send the terminal to the console socket");
  }
}

UniqueFd recv_fd(int sock) {
  struct msghdr msg {};
  char cbuf[CMSG_SPACE(sizeof(int))] = {};
  char name[4096];
  struct iovec iov = {name, sizeof name};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t n;
  while ((n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0) {
    if (errno != EINTR) throw_errno("receive fd");
  }
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) throw Error("receive fd: no fd in message");
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return UniqueFd(fd);
}

Pty open_pty(int ptmx_fd) {
  Pty p;
  p.master.reset(::openat(ptmx_fd, "", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!p.master) {
    // An O_PATH fd cannot be reopened with openat(""); go through /proc/self/fd.
    p.master.reset(::open(fs::fd_path(ptmx_fd).c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
  }
  if (!p.master) throw_errno("open /dev/ptmx");
  int unlock = 0;
  if (::ioctl(p.master.get(), TIOCSPTLCK, &unlock) < 0) throw_errno("unlockpt");
  int slave = ::ioctl(p.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) throw_errno("ioctl(TIOCGPTPEER)");
  p.slave.reset(slave);
  return p;
}

void set_winsize(int fd, unsigned rows, unsigned cols) {
  struct winsize ws {};
  ws.ws_row = static_cast<unsigned short>(rows);
  ws.ws_col = static_cast<unsigned short>(cols);
  if (::ioctl(fd, TIOCSWINSZ, &ws) < 0) throw_errno("set terminal size");
}

void make_controlling_tty(int slave) {
  if (::ioctl(slave, TIOCSCTTY, 0) < 0) throw_errno("ioctl(TIOCSCTTY)");
  for (int i = 0; i < 3; ++i)
    if (::dup2(slave, i) < 0) throw_errno("dup2 terminal");
}

}  // namespace berth::runtime
