// linux.seccomp: the filter is compiled from the config (and every error reported) in the
// `create` process before clone(); the container's init only loads it, as late as possible.
//
// Two things libseccomp does not do, done here as runc and crun do them: a profile whose
// default refuses (an allow list) answers ENOSYS, not its default errno, for syscalls newer
// than the newest one it names — else libc cannot tell "this kernel lacks it" and never falls
// back — and names that this libseccomp does not know yet (newer than its release) still get
// their rule, from our own table of their numbers.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace berth::runtime {

class SeccompFilter {
 public:
  // Builds the filter; throws berth::Error naming the field ("linux.seccomp.syscalls[3].action:
  // unknown action `SCMP_ACT_NOPE`"). Returns nullptr when the config has no seccomp section.
  // With a cache_dir, the BPF program is kept there (keyed by the profile, libseccomp's version
  // and API level): the next container with the same profile skips libseccomp entirely
  // (compiling Docker's default profile costs ~4 ms per start).
  static std::unique_ptr<SeccompFilter> compile(const nlohmann::json& seccomp,
                                                const std::string& cache_dir = "");
  ~SeccompFilter();
  SeccompFilter(const SeccompFilter&) = delete;
  SeccompFilter& operator=(const SeccompFilter&) = delete;

  // Loads the filter into the calling process. Returns the notify fd when the filter uses
  // SCMP_ACT_NOTIFY, else -1. Throws on failure.
  int load();
  // listenerPath and listenerMetadata, for SCMP_ACT_NOTIFY.
  const std::string& listener_path() const { return listener_path_; }
  const std::string& listener_metadata() const { return listener_metadata_; }
  bool uses_notify() const { return notify_; }
  // The program as loaded (struct sock_filter[]): for tests that run it.
  const std::string& program() const { return bpf_; }

 private:
  SeccompFilter() = default;
  // The libseccomp side: every rule checked and added to a filter context.
  static std::unique_ptr<SeccompFilter> compile_profile(const nlohmann::json& seccomp);
  void* ctx_ = nullptr;  // scmp_filter_ctx (null when the program came from the cache)
  std::string bpf_;      // the compiled program (struct sock_filter[]), loaded with seccomp(2)
  unsigned flags_ = 0;   // SECCOMP_FILTER_FLAG_*
  std::string listener_path_, listener_metadata_;
  bool notify_ = false;
  // Run before libseccomp's program (see stub() in seccomp.cpp): the rules for syscalls that
  // libseccomp does not know by name yet, and ENOSYS above the newest syscall the profile
  // names, per architecture.
  std::string prefix_;
};

}  // namespace berth::runtime
