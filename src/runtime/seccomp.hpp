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
  static std::unique_ptr<SeccompFilter> compile(const nlohmann::json& seccomp);
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
  void* ctx_ = nullptr;  // scmp_filter_ctx
  std::string listener_path_, listener_metadata_;
  bool notify_ = false;
};

}  // namespace berth::runtime
