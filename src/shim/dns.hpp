// The DNS server of a container on a user network (Docker's "embedded DNS" at 127.0.0.11): run
// by the container's shim, on UDP and TCP sockets made in the container's network namespace. It
// answers the names of the container's /etc/hosts — which the engine keeps to the members of
// its networks (names, aliases, NAME.NETWORK, links) — and passes every other query on to the
// upstream servers (the host's, or --dns), from the host's network namespace, as Docker's
// resolver does (a resolver on the host's loopback, 127.0.0.53, works). A container whose
// networks are all --internal gets no forwarding (Docker's rule too).
//
// Queries come from the container: hostile input. The parser reads one question, bounds every
// length, follows no compression pointer (a query has none), and answers what it cannot read
// with FORMERR, or not at all when even the header is short.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"

namespace berth::shim::dns {

inline constexpr uint16_t kTypeA = 1, kTypePtr = 12, kTypeAaaa = 28, kClassIn = 1;
inline constexpr uint32_t kTtl = 600;  // Docker's for its own names
inline constexpr uint8_t kNoError = 0, kFormErr = 1, kServFail = 2, kNxDomain = 3, kNotImp = 4;

struct Query {
  uint16_t id = 0;
  uint16_t flags = 0;
  std::string name;   // lower case, without the trailing dot ("" for the root)
  uint16_t type = 0, klass = 0;
  size_t question_end = 0;  // the bytes [12, question_end) are the question
};

// nullopt: the packet is not a query we can read (the reason in *why when asked). A packet
// shorter than a header, or a response, gives nullopt with *answerable false: no reply at all.
std::optional<Query> parse_query(std::string_view packet, bool* answerable = nullptr);

// The addresses /etc/hosts text gives `name` (case-insensitive), IPv4 or IPv6, in file order,
// each once.
std::vector<std::string> host_addresses(std::string_view hosts, std::string_view name, bool v6);
// Whether `name` is in the hosts text at all (any family).
bool host_known(std::string_view hosts, std::string_view name);
// The name of an IPv4 address for reverse lookups ("" if none): on its first line in the hosts
// text, the first qualified name (NAME.NETWORK, what Docker answers), else the first name.
std::string host_name_of(std::string_view hosts, std::string_view ip);
// "4.3.2.1.in-addr.arpa" → "1.2.3.4"; "" when the name is not an IPv4 reverse name.
std::string reverse_ipv4(std::string_view name);

// A reply to `q` (read from `packet`): its question, then the answers (A/AAAA: addresses in
// text; PTR: names), authoritative, recursion available. Answers that do not fit `limit`
// bytes (512: UDP without EDNS) are left out and the reply marked truncated (TC): the
// resolver asks again over TCP.
std::string reply(std::string_view packet, const Query& q, uint8_t rcode, const std::vector<std::string>& answers = {},
                  size_t limit = 512);
// A bare error reply to a packet whose question could not be read (header only).
std::string error_reply(std::string_view packet, uint8_t rcode);

// What to do with a query: a reply (from the hosts text, or an error), or pass it on.
struct Decision {
  bool forward = false;
  std::string reply;  // empty and !forward: drop it
};
Decision decide(std::string_view packet, std::string_view hosts, bool may_forward, size_t limit = 512);

// The server: the listening sockets (UDP and TCP), the hosts file it answers from, the
// queries it passed on. Single-threaded; the shim's loop polls its fds.
class Server {
 public:
  struct Options {
    std::string netns;                // the container's network namespace (a path)
    std::string hosts_file;           // its /etc/hosts, host side
    std::vector<std::string> servers; // upstream addresses (IPv4/IPv6, port 53); none: no forwarding
  };
  // Binds 127.0.0.11:53 (UDP and TCP) in the namespace (IP_FREEBIND: before its loopback is
  // up). Throws.
  explicit Server(Options o);

  // What to poll: the sockets, the TCP clients, the queries passed on.
  std::vector<pollfd> poll_fds() const;
  // Milliseconds until the first deadline (a query passed on, an idle TCP client), -1: none.
  int timeout_ms() const;
  // After a poll, with the entries poll_fds gave and their revents: reads what it can,
  // answers, passes on, times out.
  void step(const std::vector<pollfd>& polled);

  static constexpr size_t kMaxPending = 100;        // queries passed on at once (Docker's limit)
  static constexpr size_t kMaxTcpClients = 16;
  static constexpr int64_t kTryNs = 2'000'000'000;  // per upstream server
  static constexpr int64_t kTcpIdleNs = 10'000'000'000;

 private:
  struct Pending {
    UniqueFd sock;            // to servers_[server]: connected UDP, or TCP
    bool tcp = false;         // asked over TCP (by a TCP client): passed on over TCP
    uint64_t conn = 0;        // that client; 0: a UDP client at `client`
    sockaddr_storage client{};
    socklen_t client_len = 0;
    std::string query;
    size_t server = 0;
    int64_t deadline = 0;     // monotonic ns
    bool sent = false;        // TCP: the query is written (after the connect)
    bool fresh = true;        // made in this step: its fd may be a closed one's of the poll
    std::string in;           // TCP: the answer so far
  };
  struct Conn {
    uint64_t id = 0;
    UniqueFd fd;
    std::string in, out;
    int64_t deadline = 0;
    bool fresh = true;
  };
  void on_udp_query();
  void on_tcp_accept();
  void on_tcp_client(Conn& c, short revents);
  void answer(std::string_view packet, const sockaddr_storage* from, socklen_t from_len, uint64_t conn);
  void deliver(const Pending& p, std::string_view reply);
  void pass_on(Pending p);
  void on_upstream(Pending& p, short revents);
  const std::string& hosts_text();

  Options o_;
  UniqueFd udp_, tcp_;
  std::vector<sockaddr_storage> servers_;
  std::vector<Pending> pending_;
  std::vector<Conn> conns_;
  uint64_t next_conn_ = 1;
  std::string hosts_;
  struct stat_key {
    unsigned long long ino = 0, size = 0, mtime = 0;
    bool operator==(const stat_key&) const = default;
  } hosts_key_;
};

}  // namespace berth::shim::dns
