#include "runtime/hooks.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "runtime/signals.hpp"
#include "runtime/process.hpp"

namespace berth::runtime {
namespace {

void run_hook(const oci::Hook& hook, const std::string& kind, const std::string& state) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) < 0) throw_errno("pipe");
  if (::pipe2(out, O_CLOEXEC) < 0) {
    ::close(in[0]);
    ::close(in[1]);
    throw_errno("pipe");
  }
  UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]);
  std::vector<std::string> args = hook.args;
  if (args.empty()) args.push_back(hook.path);
  std::vector<std::string> env = hook.env;
  auto argv = cstrings(args);
  auto envp = cstrings(env);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork for " + kind + " hook");
  if (pid == 0) {
    ::dup2(in_r.get(), 0);
    ::dup2(out_w.get(), 1);
    ::dup2(out_w.get(), 2);
    ::syscall(SYS_close_range, 3, ~0U, 0);
    reset_signals();
    ::execve(hook.path.c_str(), argv.data(), envp.data());
    dprintf(2, "exec: %s", std::strerror(errno));
    ::_exit(127);
  }
  in_r.reset();
  out_w.reset();
  // The hook may not read stdin at all: ignore EPIPE.
  auto old = ::signal(SIGPIPE, SIG_IGN);
  (void)::write(in_w.get(), state.data(), state.size());
  in_w.reset();
  ::signal(SIGPIPE, old);

  UniqueFd pidfd(pidfd_open(pid));
  std::string output;
  struct timespec start;
  ::clock_gettime(CLOCK_MONOTONIC, &start);
  bool timed_out = false;
  bool out_open = true;
  for (;;) {
    struct pollfd fds[2] = {{pidfd.get(), POLLIN, 0}, {out_open ? out_r.get() : -1, POLLIN, 0}};
    int timeout_ms = -1;
    if (hook.timeout) {
      struct timespec now;
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
      timeout_ms = static_cast<int>(std::max(0L, *hook.timeout * 1000L - elapsed));
    }
    int n = ::poll(fds, 2, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (fds[1].revents) {
      char buf[4096];
      ssize_t r = ::read(out_r.get(), buf, sizeof buf);
      if (r <= 0)
        out_open = false;
      else if (output.size() < 65536)
        output.append(buf, static_cast<size_t>(r));
    }
    if (fds[0].revents && !out_open) break;
    if (fds[0].revents && out_open) {
      // Drain what is left without waiting for grandchildren that keep the pipe open.
      ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
      char buf[4096];
      ssize_t r;
      while ((r = ::read(out_r.get(), buf, sizeof buf)) > 0 && output.size() < 65536)
        output.append(buf, static_cast<size_t>(r));
      break;
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  for (auto& c : output)
    if (c == '\n') c = ' ';
  std::string what = kind + " hook `" + hook.path + "`";
  if (timed_out)
    throw Error(what + " timed out after " + std::to_string(*hook.timeout) + "s");
  if (WIFSIGNALED(status))
    throw Error(what + " killed by signal " + std::to_string(WTERMSIG(status)) +
                (output.empty() ? "" : ": " + output));
  if (WEXITSTATUS(status) != 0)
    throw Error(what + " failed with exit status " + std::to_string(WEXITSTATUS(status)) +
                (output.empty() ? "" : ": " + output));
}

}  // namespace

void run_hooks(const std::vector<oci::Hook>& hooks, const std::string& kind,
               const std::string& state_json) {
  for (auto& h : hooks) run_hook(h, kind, state_json);
}

}  // namespace berth::runtime
