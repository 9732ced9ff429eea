#include "runtime/process.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "common/error.hpp"
#include "common/fs.hpp"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace berth::runtime {

static const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string env_value(const std::vector<std::string>& env, const std::string& key) {
  for (auto& e : env)
    if (e.compare(0, key.size() + 1, key + "=") == 0) return e.substr(key.size() + 1);
  return {};
}

// PATH lookup as execvp would do it, with runc's messages (engines map them to exit 126/127).
std::string find_executable(const std::string& name, const std::vector<std::string>& env) {
  auto check = [](const std::string& p) -> int {
    struct stat st;
    if (::stat(p.c_str(), &st) < 0) return errno;
    if (S_ISDIR(st.st_mode)) return EACCES;
    if (::access(p.c_str(), X_OK) < 0) return errno;
    return 0;
  };
  if (name.find('/') != std::string::npos) {
    int err = check(name);
    if (err)
      throw Error("exec: \"" + name + "\": stat " + name + ": " + std::strerror(err), err);
    return name;
  }
  std::string path = env_value(env, "PATH");
  if (path.empty()) path = kDefaultPath;
  int first_err = 0;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find(':', i);
    if (j == std::string::npos) j = path.size();
    std::string dir = path.substr(i, j - i);
    if (dir.empty()) dir = ".";
    std::string cand = dir + "/" + name;
    int err = check(cand);
    if (!err) return cand;
    if (err == EACCES && !first_err) first_err = err;
    i = j + 1;
  }
  if (first_err)
    throw Error("exec: \"" + name + "\": permission denied", EACCES);
  throw Error("exec: \"" + name + "\": executable file not found in $PATH", ENOENT);
}

void set_rlimits(const oci::Process& p) {
  for (auto& r : p.rlimits) {
    struct rlimit rl;
    rl.rlim_cur = r.soft;
    rl.rlim_max = r.hard;
    if (::setrlimit(r.resource, &rl) < 0)
      throw_errno("process.rlimits: set " + r.type + " to soft " + std::to_string(r.soft) +
                  " hard " + std::to_string(r.hard));
  }
}

bool setgroups_allowed() {
  std::string s;
  try {
    if (fs::read_file_if_exists("/proc/self/setgroups", s)) return s.rfind("deny", 0) != 0;
  } catch (const Error&) {
  }
  return true;
}

void enter_cwd(const std::string& cwd) {
  if (::chdir(cwd.c_str()) < 0) throw_errno("chdir to cwd `" + cwd + "`");
  char buf[4096];
  if (!::getcwd(buf, sizeof buf) || buf[0] != '/')
    throw Error("process.cwd `" + cwd + "` is outside the container's root");
}

void cloexec_from(int first) {
  ::syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, CLOSE_RANGE_CLOEXEC);
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::vector<char*> cstrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}


}  // namespace berth::runtime
