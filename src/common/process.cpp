#include "common/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <thread>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"

extern char** environ;

namespace berth {

int run_command(const std::vector<std::string>& argv, const std::string& input, std::string& output,
                const std::string& what, int timeout_ms) {
  int in[2], outp[2];
  if (::pipe2(in, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (::pipe2(outp, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd out_r(outp[0]), out_w(outp[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);  // none of ours (a daemon's sockets, a shell's pipes)
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (timeout_ms > 0) {
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  }
  int rc = ::posix_spawnp(&pid, argv.at(0).c_str(), &fa, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw Error("cannot run " + argv[0] + ": " + std::strerror(rc) + (what.empty() ? "" : " (" + what + ")"));
  in_r.reset();
  out_w.reset();
  if (!input.empty()) fs::write_fd(in_w.get(), input, argv[0]);
  in_w.reset();
  char buf[4096];
  ssize_t n;
  if (timeout_ms > 0) {
    // Until EOF on its output or the deadline (a hung command keeps the pipe open).
    struct timespec t0 {};
    ::clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
      struct timespec t {};
      ::clock_gettime(CLOCK_MONOTONIC, &t);
      const long left = timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
      pollfd p{out_r.get(), POLLIN, 0};
      const int r = left > 0 ? ::poll(&p, 1, static_cast<int>(left)) : 0;
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        ::kill(-pid, SIGKILL);
        int st;
        while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        throw Error(argv[0] + " did not finish within " + std::to_string(timeout_ms / 1000) + " s: killed");
      }
      n = ::read(out_r.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      output.append(buf, static_cast<size_t>(n));
    }
  }
  while ((n = ::read(out_r.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) output.append(buf, static_cast<size_t>(n));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

void spawn_detached(std::vector<std::string> argv) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  for (int fd = 0; fd < 3; ++fd) posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", fd ? O_WRONLY : O_RDONLY, 0);
  // It outlives us: nothing of ours may stay open in it (a caller's `$(…)` would wait for it).
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  int err = ::posix_spawn(&pid, args[0], &fa, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0) {
    log::debug(argv[0] + ": " + std::strerror(err));
    return;
  }
  // Reaped when it ends: a daemon lives on after it (berthd gathered one zombie per fill); a
  // CLI that exits first leaves it to init, the thread going with the process.
  std::thread([pid] {
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }).detach();
}

}  // namespace berth
