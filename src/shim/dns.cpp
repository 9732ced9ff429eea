#include "shim/dns.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "common/error.hpp"
#include "common/log.hpp"

namespace berth::shim::dns {

namespace {

uint16_t be16(std::string_view p, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[at]) << 8) | static_cast<uint8_t>(p[at + 1]));
}

void put16(std::string& out, uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}

void put32(std::string& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v & 0xffff));
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool same_name(std::string_view a, std::string_view b) {
  if (!a.empty() && a.back() == '.') a.remove_suffix(1);
  if (!b.empty() && b.back() == '.') b.remove_suffix(1);
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Each line of the hosts text as its words (comments cut), to `f(words)`; f returns false to stop.
template <typename F>
void each_line(std::string_view hosts, F f) {
  std::vector<std::string_view> words;
  while (!hosts.empty()) {
    size_t nl = hosts.find('\n');
    std::string_view line = hosts.substr(0, nl);
    hosts = nl == std::string_view::npos ? std::string_view{} : hosts.substr(nl + 1);
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    words.clear();
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && space(line[i])) ++i;
      size_t start = i;
      while (i < line.size() && !space(line[i])) ++i;
      if (i > start) words.push_back(line.substr(start, i - start));
    }
    if (words.size() >= 2 && !f(words)) return;
  }
}

// A name in DNS wire form (no compression): the labels of a dotted name.
bool put_name(std::string& out, std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  size_t total = 1;
  while (!name.empty()) {
    size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63 || (total += label.size() + 1) > 255) return false;
    out += static_cast<char>(label.size());
    out.append(label);
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  }
  out += '\0';
  return true;
}

int64_t mono_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

}  // namespace

std::optional<Query> parse_query(std::string_view p, bool* answerable) {
  if (answerable) *answerable = false;
  if (p.size() < 12) return std::nullopt;
  Query q;
  q.id = be16(p, 0);
  q.flags = be16(p, 2);
  if (q.flags & 0x8000) return std::nullopt;  // a response: never answered (no loops)
  if (answerable) *answerable = true;
  if (((q.flags >> 11) & 0xf) != 0) return std::nullopt;  // not a standard query
  if (be16(p, 4) != 1) return std::nullopt;               // one question, as every resolver sends
  size_t at = 12, total = 0;
  for (;;) {
    if (at >= p.size()) return std::nullopt;
    const auto len = static_cast<uint8_t>(p[at++]);
    if (len == 0) break;
    if (len & 0xc0) return std::nullopt;  // a pointer (or reserved): not in a question
    if (at + len > p.size() || (total += len + 1) > 255) return std::nullopt;
    if (!q.name.empty()) q.name += '.';
    for (size_t i = 0; i < len; ++i) q.name += lower(p[at + i]);
    at += len;
  }
  if (at + 4 > p.size()) return std::nullopt;
  q.type = be16(p, at);
  q.klass = be16(p, at + 2);
  q.question_end = at + 4;
  return q;
}

std::vector<std::string> host_addresses(std::string_view hosts, std::string_view name, bool v6) {
  std::vector<std::string> out;
  each_line(hosts, [&](const std::vector<std::string_view>& w) {
    if ((w[0].find(':') != std::string_view::npos) != v6) return true;
    for (size_t i = 1; i < w.size(); ++i)
      if (same_name(w[i], name)) {
        if (std::find(out.begin(), out.end(), w[0]) == out.end()) out.emplace_back(w[0]);
        break;
      }
    return true;
  });
  return out;
}

bool host_known(std::string_view hosts, std::string_view name) {
  bool found = false;
  each_line(hosts, [&](const std::vector<std::string_view>& w) {
    for (size_t i = 1; i < w.size() && !found; ++i) found = same_name(w[i], name);
    return !found;
  });
  return found;
}

std::string host_name_of(std::string_view hosts, std::string_view ip) {
  // Docker answers NAME.NETWORK: the line's first qualified name, else its first name.
  std::string out;
  each_line(hosts, [&](const std::vector<std::string_view>& w) {
    if (w[0] != ip) return true;
    out = std::string(w[1]);
    for (size_t i = 1; i < w.size(); ++i)
      if (w[i].find('.') != std::string_view::npos) {
        out = std::string(w[i]);
        break;
      }
    return false;
  });
  return out;
}

std::string reverse_ipv4(std::string_view name) {
  constexpr std::string_view suffix = ".in-addr.arpa";
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.size() <= suffix.size() || !same_name(name.substr(name.size() - suffix.size()), suffix)) return "";
  name = name.substr(0, name.size() - suffix.size());
  std::string parts[4];
  int n = 0;
  while (!name.empty()) {
    if (n == 4) return "";
    size_t dot = name.find('.');
    std::string_view part = name.substr(0, dot);
    if (part.empty() || part.size() > 3 || part.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoi(std::string(part)) > 255 || (part.size() > 1 && part[0] == '0'))
      return "";
    parts[n++] = std::string(part);
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  }
  if (n != 4) return "";
  return parts[3] + "." + parts[2] + "." + parts[1] + "." + parts[0];
}

std::string error_reply(std::string_view p, uint8_t rcode) {
  std::string out;
  put16(out, be16(p, 0));
  const uint16_t flags = be16(p, 2);
  put16(out, static_cast<uint16_t>(0x8000 | (flags & 0x7800) | (flags & 0x0100) | 0x0080 | rcode));
  put16(out, 0), put16(out, 0), put16(out, 0), put16(out, 0);
  return out;
}

std::string reply(std::string_view p, const Query& q, uint8_t rcode, const std::vector<std::string>& answers,
                  size_t limit) {
  std::string out;
  put16(out, q.id);
  const bool ours = rcode == kNoError || rcode == kNxDomain;
  put16(out, static_cast<uint16_t>(0x8000 | (q.flags & 0x7800) | (ours ? 0x0400 : 0) | (q.flags & 0x0100) | 0x0080 | rcode));
  put16(out, 1);
  const size_t ancount_at = out.size();
  put16(out, 0), put16(out, 0), put16(out, 0);
  out.append(p.substr(12, q.question_end - 12));
  uint16_t n = 0;
  for (const auto& a : answers) {
    std::string rr;
    put16(rr, 0xc00c);  // the question's name
    if (q.type == kTypePtr) {
      std::string target;
      if (!put_name(target, a)) continue;
      put16(rr, kTypePtr), put16(rr, kClassIn), put32(rr, kTtl), put16(rr, static_cast<uint16_t>(target.size()));
      rr += target;
    } else {
      unsigned char addr[16];
      const bool v6 = q.type == kTypeAaaa;
      if (::inet_pton(v6 ? AF_INET6 : AF_INET, a.c_str(), addr) != 1) continue;
      put16(rr, q.type), put16(rr, kClassIn), put32(rr, kTtl), put16(rr, v6 ? 16 : 4);
      rr.append(reinterpret_cast<const char*>(addr), v6 ? 16 : 4);
    }
    if (out.size() + rr.size() > limit) {  // the rest over TCP
      out[2] = static_cast<char>(out[2] | 0x02);
      break;
    }
    out += rr;
    ++n;
  }
  out[ancount_at] = static_cast<char>(n >> 8);
  out[ancount_at + 1] = static_cast<char>(n & 0xff);
  return out;
}

Decision decide(std::string_view packet, std::string_view hosts, bool may_forward, size_t limit) {
  bool answerable = false;
  auto q = parse_query(packet, &answerable);
  if (!q) {
    if (!answerable) return {};
    const uint16_t flags = be16(packet, 2);
    return {false, error_reply(packet, ((flags >> 11) & 0xf) != 0 ? kNotImp : kFormErr)};
  }
  if (q->klass == kClassIn) {
    if (q->type == kTypePtr) {
      if (const std::string ip = reverse_ipv4(q->name); !ip.empty())
        if (std::string name = host_name_of(hosts, ip); !name.empty())
          return {false, reply(packet, *q, kNoError, {name}, limit)};
    } else if (!q->name.empty() && host_known(hosts, q->name)) {
      // Ours: its addresses of the family asked, none (no data) for other types.
      std::vector<std::string> addrs;
      if (q->type == kTypeA || q->type == kTypeAaaa) addrs = host_addresses(hosts, q->name, q->type == kTypeAaaa);
      return {false, reply(packet, *q, kNoError, addrs, limit)};
    }
  }
  if (may_forward) return {true, {}};
  return {false, reply(packet, *q, kServFail)};
}

// ---- the server -----------------------------------------------------------------------------

namespace {

UniqueFd bind_dns(int type) {
  UniqueFd fd(::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("dns: socket");
  int one = 1;
  if (::setsockopt(fd.get(), IPPROTO_IP, IP_FREEBIND, &one, sizeof one) < 0) throw_errno("dns: IP_FREEBIND");
  if (type == SOCK_STREAM && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
    throw_errno("dns: SO_REUSEADDR");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(53);
  a.sin_addr.s_addr = htonl(0x7f00000b);  // 127.0.0.11
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
    throw_errno(std::string("dns: bind 127.0.0.11:53/") + (type == SOCK_STREAM ? "tcp" : "udp"));
  if (type == SOCK_STREAM && ::listen(fd.get(), 16) < 0) throw_errno("dns: listen");
  return fd;
}

std::string framed(std::string_view msg) {  // TCP: a 2-byte length first
  std::string out;
  put16(out, static_cast<uint16_t>(msg.size()));
  out.append(msg);
  return out;
}

short revents_of(const std::vector<pollfd>& polled, int fd) {
  for (const auto& p : polled)
    if (p.fd == fd) return p.revents;
  return 0;
}

}  // namespace

Server::Server(Options o) : o_(std::move(o)) {
  for (const auto& s : o_.servers) {
    sockaddr_storage ss{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (::inet_pton(AF_INET, s.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(53);
    } else if (::inet_pton(AF_INET6, s.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(53);
    } else {
      log::warn("dns: upstream server `" + s + "` is not an IP address: left out");
      continue;
    }
    servers_.push_back(ss);
  }
  UniqueFd self(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!self) throw_errno("dns: open /proc/self/ns/net");
  UniqueFd target(::open(o_.netns.c_str(), O_RDONLY | O_CLOEXEC));
  if (!target) throw_errno("dns: open " + o_.netns);
  if (::setns(target.get(), CLONE_NEWNET) < 0) throw_errno("dns: enter " + o_.netns);
  std::string failed;
  try {
    udp_ = bind_dns(SOCK_DGRAM);
    tcp_ = bind_dns(SOCK_STREAM);
  } catch (const std::exception& e) {
    failed = e.what();
  }
  // Back home before anything else: upstream sockets are made here, in the host's namespace.
  if (::setns(self.get(), CLONE_NEWNET) < 0) {
    log::error(std::string("dns: cannot return to the shim's network namespace: ") + std::strerror(errno));
    std::abort();
  }
  if (!failed.empty()) throw Error(failed + " (in " + o_.netns + ")");
}

std::vector<pollfd> Server::poll_fds() const {
  std::vector<pollfd> out = {{udp_.get(), POLLIN, 0}};
  if (conns_.size() < kMaxTcpClients) out.push_back({tcp_.get(), POLLIN, 0});
  for (const auto& c : conns_)
    out.push_back({c.fd.get(), static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
  for (const auto& p : pending_) out.push_back({p.sock.get(), static_cast<short>(p.tcp && !p.sent ? POLLOUT : POLLIN), 0});
  return out;
}

int Server::timeout_ms() const {
  int64_t first = -1;
  for (const auto& p : pending_) first = first < 0 ? p.deadline : std::min(first, p.deadline);
  for (const auto& c : conns_) first = first < 0 ? c.deadline : std::min(first, c.deadline);
  if (first < 0) return -1;
  return static_cast<int>(std::max<int64_t>(0, (first - mono_ns()) / 1'000'000 + 1));
}

const std::string& Server::hosts_text() {
  // The container may write its own hosts file: a regular file only, at most 1 MiB of it, and
  // never waiting on a lease the container holds on it.
  UniqueFd fd(::open(o_.hosts_file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode)) {
    hosts_.clear();
    hosts_key_ = {};
    return hosts_;
  }
  const stat_key key{static_cast<unsigned long long>(st.st_ino), static_cast<unsigned long long>(st.st_size),
                     static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1'000'000'000ULL +
                         static_cast<unsigned long long>(st.st_mtim.tv_nsec)};
  // File times move in the kernel's coarse ticks: two rewrites of the same size within one tick
  // leave the same key, so a file changed in the last 100 ms is read again whatever its key.
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  const int64_t age = (static_cast<int64_t>(now.tv_sec) - st.st_mtim.tv_sec) * 1'000'000'000 + (now.tv_nsec - st.st_mtim.tv_nsec);
  if (key == hosts_key_ && key.ino != 0 && age > 100'000'000) return hosts_;
  hosts_.clear();
  char buf[16384];
  while (hosts_.size() < (1u << 20)) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    hosts_.append(buf, static_cast<size_t>(n));
  }
  hosts_key_ = key;
  return hosts_;
}

void Server::step(const std::vector<pollfd>& polled) {
  // What is made below may take the fd of something closed below: only what was there at the
  // poll is matched with its results.
  for (auto& c : conns_) c.fresh = false;
  for (auto& p : pending_) p.fresh = false;
  if (revents_of(polled, udp_.get())) on_udp_query();
  if (revents_of(polled, tcp_.get())) on_tcp_accept();
  const int64_t now = mono_ns();
  for (size_t i = 0; i < conns_.size();) {
    Conn& c = conns_[i];
    if (const short ev = c.fresh ? 0 : revents_of(polled, c.fd.get())) on_tcp_client(c, ev);
    if (c.fd && c.deadline <= now) c.fd.reset();  // idle too long
    if (!c.fd) {
      conns_.erase(conns_.begin() + static_cast<long>(i));
      continue;
    }
    ++i;
  }
  for (size_t i = 0; i < pending_.size();) {
    Pending& p = pending_[i];
    if (const short ev = p.fresh ? 0 : revents_of(polled, p.sock.get())) on_upstream(p, ev);
    if (p.sock && p.deadline <= now) {  // no answer in time: the next server, or a failure
      Pending next = std::move(p);
      pending_.erase(pending_.begin() + static_cast<long>(i));
      next.sock.reset();
      next.sent = false;
      next.in.clear();
      next.fresh = true;
      ++next.server;
      pass_on(std::move(next));
      continue;
    }
    if (!p.sock) {
      pending_.erase(pending_.begin() + static_cast<long>(i));
      continue;
    }
    ++i;
  }
}

void Server::answer(std::string_view packet, const sockaddr_storage* from, socklen_t from_len, uint64_t conn) {
  const size_t limit = conn ? 65535 : 512;
  Decision d = decide(packet, hosts_text(), !servers_.empty(), limit);
  Pending p;
  p.tcp = conn != 0;
  p.conn = conn;
  if (from) p.client = *from, p.client_len = from_len;
  if (d.forward) {
    if (pending_.size() < kMaxPending) {
      p.query.assign(packet);
      pass_on(std::move(p));
      return;
    }
    d.reply = reply(packet, *parse_query(packet), kServFail);
  }
  if (!d.reply.empty()) deliver(p, d.reply);
}

void Server::deliver(const Pending& p, std::string_view r) {
  if (!p.conn) {
    ::sendto(udp_.get(), r.data(), r.size(), 0, reinterpret_cast<const sockaddr*>(&p.client), p.client_len);
    return;
  }
  for (auto& c : conns_)
    if (c.id == p.conn && c.fd) c.out += framed(r.substr(0, 65535));
}

void Server::on_udp_query() {
  char buf[4096];
  for (int turn = 0; turn < 64; ++turn) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = ::recvfrom(udp_.get(), buf, sizeof buf, MSG_TRUNC, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) return;  // EAGAIN: all read
    if (static_cast<size_t>(n) > sizeof buf) {  // larger than any query: cut, so not readable
      if (!(buf[2] & 0x80)) {
        const std::string r = error_reply(std::string_view(buf, sizeof buf), kFormErr);
        ::sendto(udp_.get(), r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
      }
      continue;
    }
    answer(std::string_view(buf, static_cast<size_t>(n)), &from, from_len, 0);
  }
}

void Server::on_tcp_accept() {
  for (int turn = 0; turn < 16 && conns_.size() < kMaxTcpClients; ++turn) {
    UniqueFd fd(::accept4(tcp_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    Conn c;
    c.id = next_conn_++;
    c.fd = std::move(fd);
    c.deadline = mono_ns() + kTcpIdleNs;
    conns_.push_back(std::move(c));
  }
}

void Server::on_tcp_client(Conn& c, short revents) {
  if (revents & POLLOUT) {
    const ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      c.fd.reset();
      return;
    }
    if (n > 0) c.out.erase(0, static_cast<size_t>(n));
  }
  if (!(revents & (POLLIN | POLLHUP | POLLERR))) return;
  char buf[4096];
  const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    c.fd.reset();  // its answers still on their way are dropped
    return;
  }
  if (n < 0) return;
  c.in.append(buf, static_cast<size_t>(n));
  c.deadline = mono_ns() + kTcpIdleNs;
  // Whole messages: a 2-byte length, then the message; a client that sends more than it has
  // taken answers for, or a message that cannot be a query, is cut off.
  const uint64_t id = c.id;
  for (;;) {
    if (c.in.size() < 2) break;
    const size_t len = be16(c.in, 0);
    if (len < 12 || len > 4096 || c.out.size() > 65536 * 4) {
      c.fd.reset();
      return;
    }
    if (c.in.size() < 2 + len) break;
    const std::string msg = c.in.substr(2, len);
    c.in.erase(0, 2 + len);
    answer(msg, nullptr, 0, id);  // adds to pending_ or to c.out, never to conns_
  }
}

void Server::pass_on(Pending p) {
  for (; p.server < servers_.size(); ++p.server) {
    const sockaddr_storage& to = servers_[p.server];
    UniqueFd s(::socket(to.ss_family, (p.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    const socklen_t len = to.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    if (!s || (::connect(s.get(), reinterpret_cast<const sockaddr*>(&to), len) < 0 && errno != EINPROGRESS)) continue;
    if (!p.tcp) {
      if (::send(s.get(), p.query.data(), p.query.size(), 0) < 0) continue;
      p.sent = true;
    }
    p.sock = std::move(s);
    p.deadline = mono_ns() + kTryNs;
    pending_.push_back(std::move(p));
    return;
  }
  // Every server tried: a failure the client sees at once (rather than its own timeout).
  if (auto q = parse_query(p.query)) deliver(p, reply(p.query, *q, kServFail));
}

void Server::on_upstream(Pending& p, short revents) {
  if (p.tcp && !p.sent) {
    int err = 0;
    socklen_t len = sizeof err;
    if (!(revents & POLLOUT) || ::getsockopt(p.sock.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
      p.deadline = 0;  // refused: the next server at once
      return;
    }
    const std::string out = framed(p.query);
    if (::send(p.sock.get(), out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
      p.deadline = 0;
      return;
    }
    p.sent = true;
    return;
  }
  static char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(p.sock.get(), buf, sizeof buf, 0);
    if (n < 0) {
      // ECONNREFUSED (nothing listens there): the next server at once.
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      p.deadline = 0;
      return;
    }
    if (p.tcp) {
      if (n == 0) {  // closed before a whole answer
        p.deadline = 0;
        return;
      }
      p.in.append(buf, static_cast<size_t>(n));
      if (p.in.size() > 65537) {
        p.deadline = 0;
        return;
      }
      if (p.in.size() < 2 || p.in.size() < 2 + static_cast<size_t>(be16(p.in, 0))) continue;
      const std::string_view msg = std::string_view(p.in).substr(2, be16(p.in, 0));
      if (msg.size() < 12 || msg[0] != p.query[0] || msg[1] != p.query[1]) {
        p.deadline = 0;
        return;
      }
      deliver(p, msg);
      p.sock.reset();
      return;
    }
    // The answer to our question (its id; a connected socket takes only that server's).
    if (n < 12 || buf[0] != p.query[0] || buf[1] != p.query[1] || !(buf[2] & 0x80)) continue;
    deliver(p, std::string_view(buf, static_cast<size_t>(n)));
    p.sock.reset();
    return;
  }
}

}  // namespace berth::shim::dns
