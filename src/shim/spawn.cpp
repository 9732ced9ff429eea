#include "shim/spawn.hpp"

#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/error.hpp"
#include "common/fs.hpp"

extern char** environ;

namespace berth::shim {

PendingShim::~PendingShim() { reap(); }

void PendingShim::start(const std::string& path, const std::string& dir,
                        std::function<UniqueFd(const std::string&)> view) {
  int p[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0) throw_errno("socketpair");
  ctrl_.reset(p[0]);
  spawner_ = std::thread([this, theirs = UniqueFd(p[1]), path, dir, view = std::move(view)] {
    try {
      UniqueFd sealed = view ? view(path) : UniqueFd();
      const std::string exe = sealed ? "/proc/self/fd/" + std::to_string(sealed.get()) : path;
      const std::string ctrl_arg = std::to_string(theirs.get());
      // posix_spawn (vfork-like): no copy of this process's page tables, ~1.5 ms less than
      // fork+exec here. dup2 of an fd onto itself clears its close-on-exec flag (glibc >= 2.29).
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_adddup2(&fa, theirs.get(), theirs.get());
      char* args[] = {const_cast<char*>("berth-shim"), const_cast<char*>(dir.c_str()),
                      const_cast<char*>(ctrl_arg.c_str()), nullptr};
      pid_t pid = 0;
      const int err = ::posix_spawn(&pid, exe.c_str(), &fa, nullptr, args, environ);
      posix_spawn_file_actions_destroy(&fa);
      if (err != 0) throw Error("cannot run " + path + ": " + std::strerror(err));
      pid_ = pid;
    } catch (...) {
      error_ = std::current_exception();
    }
  });
}

void PendingShim::spawned() {
  if (spawner_.joinable()) spawner_.join();
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void PendingShim::go(int attach_fd, int gate_fd, bool attach_owner) {
  spawned();
  std::string word = "go";
  int fds[2];
  size_t n = 0;
  if (attach_fd >= 0) word += attach_owner ? 'a' : 'c', fds[n++] = attach_fd;
  if (gate_fd >= 0) word += 'g', fds[n++] = gate_fd;
  msghdr msg{};
  iovec iov{word.data(), word.size()};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof fds)] = {};
  if (n) {
    msg.msg_control = cbuf;
    msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(n * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds, n * sizeof(int));
  }
  while (::sendmsg(ctrl_.get(), &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

std::string PendingShim::answer() {
  std::string line = ctrl_ ? fs::read_line(ctrl_.get()) : "";
  reap();
  return line;
}

void PendingShim::reap() {
  if (spawner_.joinable()) spawner_.join();
  ctrl_.reset();  // not yet told to go: it exits
  if (pid_ <= 0) return;
  int status;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = 0;
}

bool receive_go(int ctrl, GoWord& out) {
  char word[8] = {};
  int fds[2] = {-1, -1};
  msghdr msg{};
  iovec iov{word, sizeof word - 1};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof fds)] = {};
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t r;
  while ((r = ::recvmsg(ctrl, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (r < 0) throw_errno("the word to go");
  if (r == 0) return false;
  size_t got = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      std::memcpy(fds, CMSG_DATA(c), std::min(got, size_t{2}) * sizeof(int));
    }
  UniqueFd owned[2] = {UniqueFd(fds[0]), UniqueFd(fds[1])};
  const std::string_view w(word, static_cast<size_t>(r));
  if (!w.starts_with("go") || w.size() - 2 != got || (msg.msg_flags & MSG_CTRUNC))
    throw Error("the word to go is garbled");
  for (size_t i = 0; i < got; ++i) {
    if (w[2 + i] == 'a' || w[2 + i] == 'c') {
      out.attach = std::move(owned[i]);
      out.attach_owner = w[2 + i] == 'a';
    }
    else if (w[2 + i] == 'g') out.gate = std::move(owned[i]);
    else throw Error("the word to go is garbled");
  }
  return true;
}

}  // namespace berth::shim
