#include "network/netns.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <linux/magic.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"

namespace berth::network {

namespace {

void loopback_up() {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) throw_errno("socket");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) < 0) throw_errno("get flags of lo");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) < 0) throw_errno("set lo up");
}

}  // namespace

void create_netns(const std::string& path) {
  fs::mkdir_p(path.substr(0, path.rfind('/')), 0700);
  UniqueFd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
  if (!file) throw_errno("create `" + path + "`");
  file.reset();
  // unshare and setns act on the calling thread only: the rest of the process stays put.
  UniqueFd back(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!back) {
    ::unlink(path.c_str());
    throw_errno("open /proc/thread-self/ns/net");
  }
  std::string error;
  if (::unshare(CLONE_NEWNET) < 0) {
    error = std::string("new network namespace: ") + std::strerror(errno);
  } else {
    try {
      loopback_up();
      if (::mount("/proc/thread-self/ns/net", path.c_str(), nullptr, MS_BIND, nullptr) < 0)
        throw_errno("bind-mount the network namespace at `" + path + "`");
    } catch (const Error& e) {
      error = e.what();
    }
    if (::setns(back.get(), CLONE_NEWNET) < 0) {
      // Cannot happen for root; if it did, this thread would do the host's work in the wrong
      // namespace: stop here.
      std::abort();
    }
  }
  if (!error.empty()) {
    ::unlink(path.c_str());
    throw Error(error);
  }
}

void remove_netns(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    throw_errno("unmount `" + path + "`");
  if (::unlink(path.c_str()) < 0 && errno != ENOENT) throw_errno("remove `" + path + "`");
}

void bind_netns(const std::string& from, const std::string& path) {
  fs::mkdir_p(path.substr(0, path.rfind('/')), 0700);
  UniqueFd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
  if (!file) throw_errno("create `" + path + "`");
  file.reset();
  if (::mount(from.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) < 0) {
    int e = errno;
    ::unlink(path.c_str());
    throw_errno("bind-mount the network namespace `" + from + "` at `" + path + "`", e);
  }
}

bool is_netns(const std::string& path) {
  struct statfs st{};
  return ::statfs(path.c_str(), &st) == 0 && static_cast<unsigned long>(st.f_type) == NSFS_MAGIC;
}

bool link_exists(const std::string& name) { return ::if_nametoindex(name.c_str()) != 0; }

bool delete_link(const std::string& name) {
  unsigned index = ::if_nametoindex(name.c_str());
  if (index == 0) return false;
  UniqueFd s(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!s) throw_errno("netlink socket");
  struct {
    nlmsghdr h;
    ifinfomsg i;
  } req{};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = RTM_DELLINK;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req.h.nlmsg_seq = 1;
  req.i.ifi_family = AF_UNSPEC;
  req.i.ifi_index = static_cast<int>(index);
  if (::send(s.get(), &req, sizeof req, 0) < 0) throw_errno("netlink send");
  char buf[4096];
  ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
  if (n < 0) throw_errno("netlink recv");
  auto* h = reinterpret_cast<nlmsghdr*>(buf);
  if (NLMSG_OK(h, static_cast<unsigned>(n)) && h->nlmsg_type == NLMSG_ERROR) {
    int err = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
    if (err == ENODEV) return false;
    if (err != 0) throw_errno("delete link " + name, err);
  }
  return true;
}

std::vector<InterfaceUsage> parse_net_dev(std::string_view text) {
  std::vector<InterfaceUsage> out;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string line(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;  // the two header lines
    InterfaceUsage u;
    u.name = line.substr(0, colon);
    u.name.erase(0, u.name.find_first_not_of(' '));
    unsigned long long f[12] = {};
    // rx: bytes packets errs drop fifo frame compressed multicast, then tx: bytes packets errs drop …
    if (u.name == "lo" ||
        std::sscanf(line.c_str() + colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1],
                    &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10], &f[11]) != 12)
      continue;
    u.rx_bytes = f[0];
    u.rx_packets = f[1];
    u.rx_errors = f[2];
    u.rx_dropped = f[3];
    u.tx_bytes = f[8];
    u.tx_packets = f[9];
    u.tx_errors = f[10];
    u.tx_dropped = f[11];
    out.push_back(std::move(u));
  }
  return out;
}

}  // namespace berth::network
