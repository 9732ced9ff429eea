#include "runtime/foreground.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <string_view>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace berth::runtime {
namespace {

struct RawTerminal {
  int fd = -1;
  struct termios saved {};
  bool active = false;
  void enable(int f) {
    if (!::isatty(f) || ::tcgetattr(f, &saved) < 0) return;
    struct termios raw = saved;
    // Fully raw: the container's pty already turns \n into \r\n; doing it again here
    // would double every carriage return.
    ::cfmakeraw(&raw);
    if (::tcsetattr(f, TCSANOW, &raw) == 0) {
      fd = f;
      active = true;
    }
  }
  ~RawTerminal() {
    if (active) ::tcsetattr(fd, TCSANOW, &saved);
  }
};

void copy_winsize(int from, int to) {
  struct winsize ws;
  // A terminal that reports no size (0x0) keeps the container's consoleSize.
  if (::ioctl(from, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) ::ioctl(to, TIOCSWINSZ, &ws);
}

bool pump(int from, int to) {
  char buf[16384];
  ssize_t n = ::read(from, buf, sizeof buf);
  if (n <= 0) return n < 0 && (errno == EINTR || errno == EAGAIN);
  try {
    fs::write_fd(to, std::string_view(buf, static_cast<size_t>(n)), "terminal");
  } catch (const Error&) {
    return false;
  }
  return true;
}

}  // namespace

SignalBlock::SignalBlock(bool active) : active_(active) {
  ::sigfillset(&all_);
  for (int s : {SIGSEGV, SIGBUS, SIGILL, SIGFPE}) ::sigdelset(&all_, s);
  if (active_) ::sigprocmask(SIG_BLOCK, &all_, &old_);
}

void SignalBlock::restore() {
  if (active_) ::sigprocmask(SIG_SETMASK, &old_, nullptr);
  active_ = false;
}

int wait_foreground(pid_t pid, const sigset_t& sigs, UniqueFd master) {
  UniqueFd sfd(::signalfd(-1, &sigs, SFD_CLOEXEC));
  if (!sfd) throw_errno("signalfd");
  RawTerminal raw;
  if (master) {
    raw.enable(0);
    copy_winsize(0, master.get());
  }
  int status = 0;
  bool in_open = static_cast<bool>(master);
  for (;;) {
    struct pollfd fds[3] = {{sfd.get(), POLLIN, 0},
                            {master ? master.get() : -1, POLLIN, 0},
                            {in_open ? 0 : -1, POLLIN, 0}};
    int n = ::poll(fds, 3, -1);
    if (n < 0 && errno == EINTR) continue;
    if (fds[1].revents & POLLIN) pump(master.get(), 1);
    else if (fds[1].revents & (POLLHUP | POLLERR)) master.reset();
    if (fds[2].revents & (POLLIN | POLLHUP)) {
      if (!pump(0, master.get())) in_open = false;
    }
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (::read(sfd.get(), &si, sizeof si) != sizeof si) continue;
      int sig = static_cast<int>(si.ssi_signo);
      if (sig == SIGCHLD) {
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        // Reap anything else that was reparented to us.
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        if (r == pid) break;
        continue;
      }
      if (sig == SIGWINCH && master) {
        copy_winsize(0, master.get());
        continue;
      }
      ::kill(pid, sig);
    }
  }
  // Drain remaining terminal output.
  if (master) {
    ::fcntl(master.get(), F_SETFL, O_NONBLOCK);
    while (pump(master.get(), 1)) {
      struct pollfd p = {master.get(), POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) break;
    }
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace berth::runtime
