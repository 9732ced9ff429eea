#include "runtime/lsm.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace berth::runtime {

namespace {

void write_attr(const Procfs& procfs, const std::string& rel, const std::string& value,
                const std::string& field) {
  UniqueFd f = procfs.open(rel, O_WRONLY);
  if (!f) throw_errno(field + ": open /proc/" + rel);
  if (::write(f.get(), value.data(), value.size()) < 0)
    throw_errno(field + ": write `" + value + "` to /proc/" + rel);
}

}  // namespace

bool apparmor_enabled() {
  std::string v;
  return fs::read_file_if_exists("/sys/module/apparmor/parameters/enabled", v) && !v.empty() &&
         v[0] == 'Y';
}

bool selinux_enabled() { return fs::exists("/sys/fs/selinux/enforce"); }

void validate_lsm(const oci::Process& p) {
  if (!p.apparmorProfile.empty() && !apparmor_enabled())
    throw Error("process.apparmorProfile: `" + p.apparmorProfile +
                "` requested, but AppArmor is not enabled on this host");
  if (!p.selinuxLabel.empty() && !selinux_enabled())
    throw Error("process.selinuxLabel: `" + p.selinuxLabel +
                "` requested, but SELinux is not enabled on this host");
}

bool wants_lsm(const oci::Process& p) {
  return !p.apparmorProfile.empty() || !p.selinuxLabel.empty();
}

void apply_lsm(const oci::Process& p, const Procfs& procfs) {
  // Our own task directory as this procfs numbers it (it was made in our pid namespace).
  const std::string self = std::to_string(::getpid()) + "/task/" + std::to_string(::gettid()) + "/attr/";
  if (!p.apparmorProfile.empty()) {
    // The AppArmor-specific file (LSM stacking); older kernels have only the shared one.
    const std::string value = "exec " + p.apparmorProfile;
    UniqueFd probe = procfs.open(self + "apparmor/exec", O_WRONLY);
    write_attr(procfs, self + (probe ? "apparmor/exec" : "exec"), value, "process.apparmorProfile");
  }
  if (!p.selinuxLabel.empty())
    write_attr(procfs, self + "exec", p.selinuxLabel, "process.selinuxLabel");
}

}  // namespace berth::runtime
