// linux.seccomp: the filter is compiled from the config (and every error reported) in the
// `create` process before clone(); the container's init only loads it, as late as possible.
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

 private:
  SeccompFilter() = default;
  // The libseccomp side: every rule checked and added to a filter context.
  static std::unique_ptr<SeccompFilter> compile_profile(const nlohmann::json& seccomp);
  void* ctx_ = nullptr;  // scmp_filter_ctx (null when the program came from the cache)
  std::string bpf_;      // the compiled program (struct sock_filter[]), loaded with seccomp(2)
  unsigned flags_ = 0;   // SECCOMP_FILTER_FLAG_*
  std::string listener_path_, listener_metadata_;
  bool notify_ = false;
};

}  // namespace berth::runtime
