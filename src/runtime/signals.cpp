#include "runtime/signals.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cctype>
#include <charconv>

#include "common/error.hpp"

namespace berth::runtime {
namespace {
struct SigName {
  const char* name;
  int num;
};
constexpr SigName kSignals[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP},   {"ABRT", SIGABRT},     {"IOT", SIGIOT},     {"BUS", SIGBUS},
    {"FPE", SIGFPE},     {"KILL", SIGKILL},     {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},   {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},   {"CLD", SIGCHLD},    {"CONT", SIGCONT},
    {"STOP", SIGSTOP},   {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN},   {"TTOU", SIGTTOU},
    {"URG", SIGURG},     {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF},   {"WINCH", SIGWINCH},   {"IO", SIGIO},       {"POLL", SIGPOLL},
    {"PWR", SIGPWR},     {"SYS", SIGSYS},
};

bool to_int(std::string_view s, int& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}
}  // namespace

int parse_signal(std::string_view in) {
  std::string s(in);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  int n;
  if (to_int(s, n)) {
    if (n <= 0 || n > SIGRTMAX) throw Error(ErrorKind::invalid_argument, "invalid signal `" + std::string(in) + "`");
    return n;
  }
  std::string_view v = s;
  if (v.rfind("SIG", 0) == 0) v.remove_prefix(3);
  for (auto& e : kSignals)
    if (v == e.name) return e.num;
  if (v.rfind("RTMIN", 0) == 0 || v.rfind("RTMAX", 0) == 0) {
    bool min = v[3] == 'I';
    std::string_view rest = v.substr(5);
    int off = 0;
    if (!rest.empty()) {
      if ((min && rest[0] != '+') || (!min && rest[0] != '-') || !to_int(rest.substr(1), off))
        throw Error(ErrorKind::invalid_argument, "invalid signal `" + std::string(in) + "`");
    }
    int sig = min ? SIGRTMIN + off : SIGRTMAX - off;
    if (sig >= SIGRTMIN && sig <= SIGRTMAX) return sig;
  }
  throw Error(ErrorKind::invalid_argument, "invalid signal `" + std::string(in) + "`");
}

std::string signal_name(int sig) {
  for (auto& e : kSignals)
    if (e.num == sig) return std::string("SIG") + e.name;
  return std::to_string(sig);
}

void reset_signals() noexcept {
  // The raw call: glibc's sigaction refuses the two real-time signals it keeps for itself,
  // which a parent may still have left ignored. The kernel's sigaction has no restorer field
  // to fill for SIG_DFL.
  struct {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    uint64_t mask;
  } dfl{SIG_DFL, 0, nullptr, 0};
  for (int sig = 1; sig <= 64; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(uint64_t));
  uint64_t none = 0;
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof none);
}

}  // namespace berth::runtime
