#include "network/conntrack.hpp"

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace berth::network {

namespace {

constexpr uint16_t kType = NFNL_SUBSYS_CTNETLINK << 8;

// Calls f(type, payload, payload length, whole attribute, its aligned length) for each netlink
// attribute in [p, p + len); stops at a malformed one.
template <class F>
void each_attr(const char* p, size_t len, F f) {
  while (len >= sizeof(nlattr)) {
    const auto* a = reinterpret_cast<const nlattr*>(p);
    if (a->nla_len < sizeof(nlattr) || a->nla_len > len) return;
    const size_t step = std::min<size_t>(NLA_ALIGN(a->nla_len), len);
    f(a->nla_type & NLA_TYPE_MASK, p + NLA_HDRLEN, a->nla_len - NLA_HDRLEN, p, step);
    p += step;
    len -= step;
  }
}

void send_request(int fd, uint16_t msg, uint16_t flags, uint32_t seq, const std::string& attrs) {
  std::string m(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg)), '\0');
  m += attrs;  // (before the header is written through pointers into the string)
  auto* h = reinterpret_cast<nlmsghdr*>(m.data());
  auto* g = reinterpret_cast<nfgenmsg*>(m.data() + NLMSG_HDRLEN);
  g->nfgen_family = AF_INET;
  g->version = NFNETLINK_V0;
  h->nlmsg_len = static_cast<uint32_t>(m.size());
  h->nlmsg_type = kType | msg;
  h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  h->nlmsg_seq = seq;
  if (::send(fd, m.data(), m.size(), 0) < 0) throw_errno("conntrack: netlink send");
}

// Reads from the socket and calls f(header) for each message, until f returns true.
template <class F>
void read_messages(int fd, std::string& buf, F f) {
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("conntrack: netlink recv");
    }
    size_t left = static_cast<size_t>(n);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buf.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left))
      if (f(h)) return;
  }
}

}  // namespace

int delete_udp_conntrack(const std::string& host_ip, const std::vector<uint16_t>& ports) {
  if (ports.empty()) return 0;
  const std::set<uint16_t> want(ports.begin(), ports.end());
  uint32_t dst_want = 0;  // network byte order; 0 = any
  if (!host_ip.empty() && host_ip != "0.0.0.0" && ::inet_pton(AF_INET, host_ip.c_str(), &dst_want) != 1)
    throw Error("conntrack: not an IPv4 address: " + host_ip);
  UniqueFd s(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
  if (!s) throw_errno("conntrack: netlink socket");
  // Every IPv4 entry; the tuples of those to delete kept whole (with their zone, if any).
  send_request(s.get(), IPCTNL_MSG_CT_GET, NLM_F_DUMP, 1, "");
  std::vector<std::string> doomed;
  std::string buf(1 << 16, '\0');
  bool no_table = false;
  read_messages(s.get(), buf, [&](const nlmsghdr* h) {
    if (h->nlmsg_type == NLMSG_DONE) return true;
    if (h->nlmsg_type == NLMSG_ERROR) {
      const int err = -reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
      if (err == 0) return false;
      if (err == ENOENT || err == EOPNOTSUPP) return no_table = true;  // no table to look in
      throw_errno("conntrack: dump", err);
    }
    const size_t off = NLMSG_ALIGN(sizeof(nfgenmsg));
    if (h->nlmsg_len < NLMSG_HDRLEN + off) return false;
    const char* attrs = static_cast<const char*>(NLMSG_DATA(h)) + off;
    const size_t attrs_len = h->nlmsg_len - NLMSG_HDRLEN - off;
    std::string orig, zone;
    bool match = false;
    each_attr(attrs, attrs_len, [&](int type, const char* p, size_t len, const char* whole, size_t whole_len) {
      if (type == CTA_ZONE) zone.assign(whole, whole_len);
      if (type != CTA_TUPLE_ORIG) return;
      orig.assign(whole, whole_len);
      uint32_t dst = 0;
      int proto = -1;
      uint16_t dport = 0;
      each_attr(p, len, [&](int t, const char* q, size_t qlen, const char*, size_t) {
        if (t == CTA_TUPLE_IP)
          each_attr(q, qlen, [&](int u, const char* r, size_t rlen, const char*, size_t) {
            if (u == CTA_IP_V4_DST && rlen >= 4) std::memcpy(&dst, r, 4);
          });
        if (t == CTA_TUPLE_PROTO)
          each_attr(q, qlen, [&](int u, const char* r, size_t rlen, const char*, size_t) {
            if (u == CTA_PROTO_NUM && rlen >= 1) proto = static_cast<unsigned char>(*r);
            if (u == CTA_PROTO_DST_PORT && rlen >= 2) {
              std::memcpy(&dport, r, 2);
              dport = ntohs(dport);
            }
          });
      });
      match = proto == IPPROTO_UDP && want.count(dport) && (dst_want == 0 || dst == dst_want);
    });
    if (match) doomed.push_back(orig + zone);
    return false;
  });
  if (no_table) return 0;
  int deleted = 0;
  uint32_t seq = 2;
  for (auto& tuple : doomed) {
    send_request(s.get(), IPCTNL_MSG_CT_DELETE, NLM_F_ACK, seq, tuple);
    read_messages(s.get(), buf, [&](const nlmsghdr* h) {
      if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq != seq) return false;
      const int err = -reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
      if (err == 0) ++deleted;
      else if (err != ENOENT) throw_errno("conntrack: delete", err);  // ENOENT: gone meanwhile
      return true;
    });
    ++seq;
  }
  return deleted;
}

}  // namespace berth::network
