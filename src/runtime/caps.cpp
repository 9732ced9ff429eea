#include "runtime/caps.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.hpp"

namespace berth::runtime {
namespace {

void set_bit(__u32 (&words)[2], int cap) { words[cap / 32] |= 1u << (cap % 32); }

void capset_sets(const oci::Capabilities& c) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  __u32 eff[2] = {}, perm[2] = {}, inh[2] = {};
  for (int cap : c.effective) set_bit(eff, cap);
  for (int cap : c.permitted) set_bit(perm, cap);
  for (int cap : c.inheritable) set_bit(inh, cap);
  for (int i = 0; i < 2; ++i) {
    data[i].effective = eff[i];
    data[i].permitted = perm[i];
    data[i].inheritable = inh[i];
  }
  if (::syscall(SYS_capset, &hdr, data) < 0) throw_errno("capset");
}

}  // namespace

void apply_user_and_capabilities(const oci::Process& p, bool setgroups_allowed) {
  const int last = oci::last_capability();
  if (p.capabilities) {
    std::vector<bool> keep(static_cast<size_t>(last) + 1, false);
    for (int cap : p.capabilities->bounding) keep[static_cast<size_t>(cap)] = true;
    for (int cap = 0; cap <= last; ++cap) {
      if (keep[static_cast<size_t>(cap)]) continue;
      if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
        throw_errno("drop " + oci::capability_name(cap) + " from the bounding set");
    }
  }
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) throw_errno("prctl(PR_SET_KEEPCAPS)");
  if (setgroups_allowed) {
    std::vector<gid_t> groups(p.user.additionalGids.begin(), p.user.additionalGids.end());
    if (::setgroups(groups.size(), groups.data()) < 0) throw_errno("setgroups");
  } else if (!p.user.additionalGids.empty()) {
    throw Error("process.user.additionalGids: cannot set groups: setgroups is denied in this user namespace");
  }
  if (::setresgid(p.user.gid, p.user.gid, p.user.gid) < 0)
    throw_errno("setgid " + std::to_string(p.user.gid));
  if (::setresuid(p.user.uid, p.user.uid, p.user.uid) < 0)
    throw_errno("setuid " + std::to_string(p.user.uid));
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) throw_errno("prctl(PR_SET_KEEPCAPS)");
  if (!p.capabilities) return;
  capset_sets(*p.capabilities);
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    throw_errno("clear ambient capabilities");
  for (int cap : p.capabilities->ambient) {
    // Like runc: an ambient capability that is not both permitted and inheritable cannot be
    // raised; the kernel says EPERM and the capability is left out.
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EPERM)
      throw_errno("raise ambient " + oci::capability_name(cap));
  }
}

}  // namespace berth::runtime
