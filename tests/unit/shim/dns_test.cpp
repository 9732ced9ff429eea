// The embedded DNS server's message handling (shim/dns.hpp): what it answers from a hosts
// file, what it passes on, and what it does with packets that are not queries.
#include "shim/dns.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace berth::shim;

namespace {

std::string query(uint16_t id, const std::string& name, uint16_t type, uint16_t flags = 0x0100, uint16_t klass = 1) {
  std::string q;
  auto p16 = [&](uint16_t v) {
    q += static_cast<char>(v >> 8);
    q += static_cast<char>(v & 0xff);
  };
  p16(id), p16(flags), p16(1), p16(0), p16(0), p16(0);
  size_t start = 0;
  while (start <= name.size() && !name.empty()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q += static_cast<char>(dot - start);
    q += name.substr(start, dot - start);
    start = dot + 1;
  }
  q += '\0';
  p16(type), p16(klass);
  return q;
}

uint16_t u16(const std::string& s, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(s[at]) << 8) | static_cast<uint8_t>(s[at + 1]));
}

// The A/AAAA addresses of a reply of ours (answers follow the question, names are pointers).
std::vector<std::string> addresses(const std::string& reply, const std::string& q) {
  std::vector<std::string> out;
  size_t at = q.size();  // our reply repeats the question as sent
  for (int i = 0; i < u16(reply, 6); ++i) {
    EXPECT_EQ(u16(reply, at), 0xc00c);
    const uint16_t type = u16(reply, at + 2), len = u16(reply, at + 10);
    EXPECT_EQ(u16(reply, at + 4), dns::kClassIn);
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(type == dns::kTypeAaaa ? AF_INET6 : AF_INET, reply.data() + at + 12, text, sizeof text);
    out.push_back(text);
    at += 12 + len;
  }
  EXPECT_EQ(at, reply.size());
  return out;
}

const std::string kHosts =
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
    "10.78.0.3\tabc123\tclient\tclient.net1\n"
    "10.78.0.2\tweb\twww\tf00d\tweb.net1\twww.net1\n"
    "10.78.0.4\tweb2\twww\t# a comment web3\n"
    "fd00::2\tweb\n";

}  // namespace

TEST(ShimDns, AContainerNameIsAnsweredFromTheHostsFile) {
  const std::string q = query(0x1234, "web", dns::kTypeA);
  const auto d = dns::decide(q, kHosts, true);
  ASSERT_FALSE(d.forward);
  ASSERT_GE(d.reply.size(), 12u);
  EXPECT_EQ(u16(d.reply, 0), 0x1234);
  EXPECT_EQ(u16(d.reply, 2) & 0x8000, 0x8000);  // a response
  EXPECT_EQ(u16(d.reply, 2) & 0x0400, 0x0400);  // authoritative
  EXPECT_EQ(u16(d.reply, 2) & 0x000f, dns::kNoError);
  EXPECT_EQ(u16(d.reply, 4), 1);
  EXPECT_EQ(addresses(d.reply, q), std::vector<std::string>{"10.78.0.2"});
}

TEST(ShimDns, NamesMatchWithoutCaseAndWithATrailingDot) {
  const std::string q = query(7, "WWW.Net1", dns::kTypeA);
  EXPECT_EQ(addresses(dns::decide(q, kHosts, true).reply, q), std::vector<std::string>{"10.78.0.2"});
}

TEST(ShimDns, AnAliasOfSeveralContainersGivesEachAddressOnce) {
  const std::string q = query(8, "www", dns::kTypeA);
  EXPECT_EQ(addresses(dns::decide(q, kHosts, true).reply, q), (std::vector<std::string>{"10.78.0.2", "10.78.0.4"}));
}

TEST(ShimDns, AaaaOfANameWithoutIpv6IsNoDataNotAForward) {
  const std::string q = query(9, "client", dns::kTypeAaaa);
  const auto d = dns::decide(q, kHosts, true);
  ASSERT_FALSE(d.forward);
  EXPECT_EQ(u16(d.reply, 2) & 0x000f, dns::kNoError);
  EXPECT_EQ(u16(d.reply, 6), 0);
  const std::string q6 = query(10, "web", dns::kTypeAaaa);
  EXPECT_EQ(addresses(dns::decide(q6, kHosts, true).reply, q6), std::vector<std::string>{"fd00::2"});
}

TEST(ShimDns, ACommentIsNotAName) {
  EXPECT_FALSE(dns::host_known(kHosts, "web3"));
  EXPECT_TRUE(dns::decide(query(1, "web3", dns::kTypeA), kHosts, true).forward);
}

TEST(ShimDns, OtherNamesArePassedOnOrFailWithoutUpstreams) {
  const std::string q = query(11, "example.org", dns::kTypeA);
  EXPECT_TRUE(dns::decide(q, kHosts, true).forward);
  const auto d = dns::decide(q, kHosts, false);  // an --internal network
  ASSERT_FALSE(d.forward);
  EXPECT_EQ(u16(d.reply, 2) & 0x000f, dns::kServFail);
  EXPECT_EQ(u16(d.reply, 2) & 0x0400, 0);  // not ours to say
  // Another class, or another type of an unknown name: passed on as well.
  EXPECT_TRUE(dns::decide(query(12, "web", dns::kTypeA, 0x0100, 3), kHosts, true).forward);
}

TEST(ShimDns, ReverseLookupsGiveTheQualifiedName) {
  EXPECT_EQ(dns::reverse_ipv4("2.0.78.10.in-addr.arpa"), "10.78.0.2");
  EXPECT_EQ(dns::reverse_ipv4("2.0.78.10.IN-ADDR.ARPA."), "10.78.0.2");
  for (const char* bad : {"0.78.10.in-addr.arpa", "1.2.0.78.10.in-addr.arpa", "256.0.78.10.in-addr.arpa",
                          "02.0.78.10.in-addr.arpa", "a.0.78.10.in-addr.arpa", "in-addr.arpa", ".in-addr.arpa"})
    EXPECT_EQ(dns::reverse_ipv4(bad), "") << bad;
  const std::string q = query(13, "2.0.78.10.in-addr.arpa", dns::kTypePtr);
  const auto d = dns::decide(q, kHosts, true);
  ASSERT_FALSE(d.forward);
  ASSERT_EQ(u16(d.reply, 6), 1);
  const size_t rr = q.size();
  EXPECT_EQ(u16(d.reply, rr + 2), dns::kTypePtr);
  EXPECT_EQ(d.reply.substr(rr + 12), std::string("\x03web\x04net1\x00", 10));
  // An address no container has: passed on.
  EXPECT_TRUE(dns::decide(query(14, "9.0.78.10.in-addr.arpa", dns::kTypePtr), kHosts, true).forward);
}

TEST(ShimDns, ResponsesAndShortPacketsGetNoReply) {
  std::string resp = query(15, "web", dns::kTypeA, 0x8100);
  const auto d = dns::decide(resp, kHosts, true);
  EXPECT_FALSE(d.forward);
  EXPECT_TRUE(d.reply.empty());
  for (size_t n = 0; n < 12; ++n) {
    const auto s = dns::decide(std::string(n, '\0'), kHosts, true);
    EXPECT_FALSE(s.forward);
    EXPECT_TRUE(s.reply.empty());
  }
}

TEST(ShimDns, UnreadableQueriesGetFormErrAndOtherOpcodesNotImp) {
  std::string q = query(16, "web", dns::kTypeA);
  const auto cut = dns::decide(q.substr(0, q.size() - 3), kHosts, true);
  EXPECT_FALSE(cut.forward);
  EXPECT_EQ(cut.reply.size(), 12u);
  EXPECT_EQ(u16(cut.reply, 0), 16);
  EXPECT_EQ(u16(cut.reply, 2) & 0x000f, dns::kFormErr);
  // A compression pointer in a question.
  std::string ptr = q.substr(0, 12) + std::string("\xc0\x0c\x00\x01\x00\x01", 6);
  EXPECT_EQ(u16(dns::decide(ptr, kHosts, true).reply, 2) & 0x000f, dns::kFormErr);
  // Two questions.
  std::string two = q;
  two[5] = 2;
  EXPECT_EQ(u16(dns::decide(two, kHosts, true).reply, 2) & 0x000f, dns::kFormErr);
  // A name longer than 255 bytes.
  std::string longname;
  for (int i = 0; i < 5; ++i) longname += (i ? "." : "") + std::string(60, 'a');
  EXPECT_EQ(u16(dns::decide(query(17, longname, dns::kTypeA), kHosts, true).reply, 2) & 0x000f, dns::kFormErr);
  // An update (opcode 5).
  EXPECT_EQ(u16(dns::decide(query(18, "web", dns::kTypeA, 0x2800), kHosts, true).reply, 2) & 0x000f, dns::kNotImp);
}

TEST(ShimDns, OverUdpAnswersStayWithin512BytesMarkedTruncatedOverTcpAllOfThem) {
  std::string hosts;
  for (int i = 1; i < 200; ++i) hosts += "10.0.0." + std::to_string(i) + " many\n";
  const std::string q = query(19, "many", dns::kTypeA);
  const auto d = dns::decide(q, hosts, true);
  EXPECT_LE(d.reply.size(), 512u);
  EXPECT_GT(addresses(d.reply, q).size(), 20u);
  EXPECT_EQ(u16(d.reply, 2) & 0x0200, 0x0200);  // TC: ask again over TCP
  const auto t = dns::decide(q, hosts, true, 65535);
  EXPECT_EQ(addresses(t.reply, q).size(), 199u);
  EXPECT_EQ(u16(t.reply, 2) & 0x0200, 0);
  // A few: not truncated.
  EXPECT_EQ(u16(dns::decide(query(20, "web", dns::kTypeA), kHosts, true).reply, 2) & 0x0200, 0);
}
