// The network module without the kernel: subnets, -p specs, what a plugin is given, and the
// plugin protocol (results, errors, timeouts) with small shell-script plugins.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "common/fs.hpp"
#include "network/cni.hpp"
#include "network/netns.hpp"
#include "network/networks.hpp"

using namespace berth;
using namespace berth::network;
using nlohmann::json;

TEST(Subnet, ParsesAndOverlaps) {
  auto a = Subnet::parse("10.1.0.0/16");
  EXPECT_EQ(a.str(), "10.1.0.0/16");
  EXPECT_TRUE(a.overlaps(Subnet::parse("10.1.200.0/24")));
  EXPECT_TRUE(Subnet::parse("10.1.200.0/24").overlaps(a));
  EXPECT_FALSE(a.overlaps(Subnet::parse("10.2.0.0/16")));
  EXPECT_TRUE(a.contains(parse_ipv4("10.1.255.254")));
  EXPECT_FALSE(a.contains(parse_ipv4("10.0.255.255")));
  EXPECT_EQ(ipv4_str(a.first_host()), "10.1.0.1");
}

TEST(Subnet, RefusesNonsense) {
  for (const char* bad : {"10.1.0.0", "10.1.0.1/16", "10.1.0.0/33", "10.1.0.0/31", "x/8", "::1/64", "10.1.0.0/"})
    EXPECT_THROW(Subnet::parse(bad), Error) << bad;
  EXPECT_THROW(parse_ipv4("300.1.1.1"), Error);
}

TEST(NetDev, ParsesEveryInterfaceButLo) {
  const std::string text =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
      "    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n"
      "  eth0: 4294967296  1234    7    2    0     0          0         0      980      12    3    4    0     0       0          0\n"
      "eth1:5 1 0 0 0 0 0 0 6 1 0 0 0 0 0 0\n"
      "  bad0: 1 2 3\n"
      "short0: 1 2 3 4 5 6 7 8 9 10 11\n";
  auto ifs = parse_net_dev(text);
  ASSERT_EQ(ifs.size(), 2u);
  EXPECT_EQ(ifs[0].name, "eth0");
  EXPECT_EQ(ifs[0].rx_bytes, 4294967296u);
  EXPECT_EQ(ifs[0].rx_errors, 7u);
  EXPECT_EQ(ifs[0].tx_bytes, 980u);
  EXPECT_EQ(ifs[0].tx_errors, 3u);
  EXPECT_EQ(ifs[0].rx_packets, 1234u);
  EXPECT_EQ(ifs[0].rx_dropped, 2u);
  EXPECT_EQ(ifs[0].tx_packets, 12u);
  EXPECT_EQ(ifs[0].tx_dropped, 4u);
  EXPECT_EQ(ifs[1].name, "eth1");
  EXPECT_EQ(ifs[1].rx_bytes, 5u);
  EXPECT_EQ(ifs[1].tx_bytes, 6u);
  EXPECT_TRUE(parse_net_dev("").empty());
}

TEST(Publish, DockerForms) {
  auto p = parse_publish("80");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].container_port, 80);
  EXPECT_EQ(p[0].host_port, 0);
  EXPECT_EQ(p[0].protocol, "tcp");
  p = parse_publish("8080:80/udp");
  EXPECT_EQ(p[0].host_port, 8080);
  EXPECT_EQ(p[0].protocol, "udp");
  p = parse_publish("127.0.0.1:8080:80");
  EXPECT_EQ(p[0].host_ip, "127.0.0.1");
  p = parse_publish("127.0.0.1::80");
  EXPECT_EQ(p[0].host_port, 0);
  EXPECT_EQ(p[0].host_ip, "127.0.0.1");
  p = parse_publish("0.0.0.0:9000-9002:7000-7002");
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[2].host_port, 9002);
  EXPECT_EQ(p[2].container_port, 7002);
  EXPECT_EQ(p[2].host_ip, "");
  // A host range for one container port: one mapping, a free port of the range picked later.
  p = parse_publish("127.0.0.1:9000-9010:80");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].host_port, 9000);
  EXPECT_EQ(p[0].host_port_end, 9010);
  EXPECT_EQ(p[0].container_port, 80);
  EXPECT_EQ(parse_publish("9000-9000:80")[0].host_port_end, 0);
}

TEST(Publish, RefusesNonsense) {
  for (const char* bad : {"", "0", "70000", "80/icmp", "a:b", "1:2:3:4", "9000-9002:80-81", "x.y:80:80", "90-80", "91-90:80"})
    EXPECT_THROW(parse_publish(bad), Error) << bad;
  // IPv6 host addresses (Docker's `[::1]:8080:80`, `::1:8080:80`): refused as what they are.
  for (const char* v6 : {"[::1]:8080:80", "::1:8080:80", "[fe80::1]::80/udp"}) {
    try {
      parse_publish(v6);
      ADD_FAILURE() << v6;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("IPv4 addresses only"), std::string::npos) << e.what();
    }
  }
}

// berth's own DNAT rules (its bridge networks): a run of host ports that keeps its numbers is
// one rule of each kind, whatever its length; shifted ports are one rule each.
TEST(Publish, PortRulesCollapseRunsThatKeepTheirNumbers) {
  std::vector<PortMapping> ports = parse_publish("127.0.0.1:21000-21999:21000-21999");
  ASSERT_EQ(ports.size(), 1000u);
  PortRules r = port_rules("BERTH-DN-x", "10.77.0.0/16", "10.77.0.5", ports);
  ASSERT_EQ(r.jumps.size(), 1u);
  EXPECT_EQ(r.jumps[0], "-d 127.0.0.1 -p tcp -m tcp --dport 21000:21999 -j BERTH-DN-x");
  ASSERT_EQ(r.chain.size(), 3u);
  EXPECT_EQ(r.chain[0], "-s 10.77.0.0/16 -d 127.0.0.1 -p tcp -m tcp --dport 21000:21999 -j MARK --set-xmark 0x2000/0x2000");
  EXPECT_EQ(r.chain[1], "-s 127.0.0.0/8 -d 127.0.0.1 -p tcp -m tcp --dport 21000:21999 -j MARK --set-xmark 0x2000/0x2000");
  EXPECT_EQ(r.chain[2], "-d 127.0.0.1 -p tcp -m tcp --dport 21000:21999 -j DNAT --to-destination 10.77.0.5");

  // 8080:80 and 8081:81 (one jump, shifted: a DNAT each), 53/udp on every address, and a
  // port out of the run (9000:9000) on its own.
  ports = parse_publish("8080-8081:80-81");
  for (auto& p : parse_publish("53:53/udp")) ports.push_back(p);
  for (auto& p : parse_publish("0.0.0.0:9000:9000")) ports.push_back(p);
  r = port_rules("C", "", "10.1.0.2", ports);
  ASSERT_EQ(r.jumps.size(), 3u);
  EXPECT_EQ(r.jumps[0], "-p tcp -m tcp --dport 8080:8081 -j C");
  EXPECT_EQ(r.jumps[1], "-p tcp -m tcp --dport 9000 -j C");
  EXPECT_EQ(r.jumps[2], "-p udp -m udp --dport 53 -j C");
  std::vector<std::string> dnat;
  for (auto& l : r.chain)
    if (l.find(" -j DNAT ") != std::string::npos) dnat.push_back(l);
  ASSERT_EQ(dnat.size(), 4u);  // (no subnet: only the loopback's mark rules besides)
  EXPECT_EQ(dnat[0], "-p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80");
  EXPECT_EQ(dnat[1], "-p tcp -m tcp --dport 8081 -j DNAT --to-destination 10.1.0.2:81");
  EXPECT_EQ(dnat[2], "-p tcp -m tcp --dport 9000 -j DNAT --to-destination 10.1.0.2");
  EXPECT_EQ(dnat[3], "-p udp -m udp --dport 53 -j DNAT --to-destination 10.1.0.2");
  EXPECT_EQ(r.chain.size(), 8u);
  EXPECT_TRUE(port_rules("C", "10.0.0.0/8", "10.0.0.2", {}).jumps.empty());
}

TEST(Cni, PluginConfigCarriesNameVersionCapabilitiesAndPrevResult) {
  json list = {{"cniVersion", "1.0.0"}, {"name", "n"},
               {"plugins", {{{"type", "bridge"}, {"capabilities", {{"ips", true}}}}, {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}}}}};
  Attachment at;
  at.capability_args = {{"portMappings", json::array({{{"hostPort", 1}}})}, {"ips", json::array({"10.0.0.5/24"})}};
  json prev = {{"cniVersion", "1.0.0"}, {"ips", json::array()}};
  json c0 = Cni::plugin_config(list, list["plugins"][0], at, json());
  EXPECT_EQ(c0["name"], "n");
  EXPECT_EQ(c0["cniVersion"], "1.0.0");
  EXPECT_FALSE(c0.contains("capabilities"));
  EXPECT_FALSE(c0.contains("prevResult"));
  EXPECT_EQ(c0["runtimeConfig"], json({{"ips", json::array({"10.0.0.5/24"})}}));  // only what it declares
  json c1 = Cni::plugin_config(list, list["plugins"][1], at, prev);
  EXPECT_EQ(c1["prevResult"], prev);
  EXPECT_TRUE(c1["runtimeConfig"].contains("portMappings"));
  EXPECT_FALSE(c1["runtimeConfig"].contains("ips"));
  EXPECT_THROW(Cni::validate(json{{"name", "x"}}), Error);
  EXPECT_THROW(Cni::validate(json{{"name", "x"}, {"plugins", {{{"kind", "bridge"}}}}}), Error);
}

TEST(Cni, FirstIpv4OfAResult) {
  json r = {{"interfaces", {{{"name", "br"}}, {{"name", "eth0"}, {"mac", "aa:bb"}, {"sandbox", "/x"}}}},
            {"ips", {{{"address", "fd00::2/64"}, {"interface", 1}}, {{"address", "10.8.0.3/16"}, {"gateway", "10.8.0.1"}, {"interface", 1}}}}};
  auto a = first_ipv4(r);
  EXPECT_EQ(a.ip, "10.8.0.3");
  EXPECT_EQ(a.prefix, 16);
  EXPECT_EQ(a.gateway, "10.8.0.1");
  EXPECT_EQ(a.mac, "aa:bb");
  EXPECT_EQ(first_ipv4(json()).ip, "");
}

// Plugins as shell scripts in a temp dir.
class CniExec : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-cni-test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void plugin(const std::string& name, const std::string& body) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p) << "#!/bin/sh\n" << body;
    ::chmod(p.c_str(), 0755);
  }
  json list(std::initializer_list<const char*> types) {
    json plugins = json::array();
    for (auto* t : types) plugins.push_back({{"type", t}});
    return {{"cniVersion", "1.0.0"}, {"name", "t"}, {"plugins", plugins}};
  }
  Attachment at() {
    Attachment a;
    a.container_id = "c1";
    a.netns = "/nonexistent";
    a.ifname = "eth0";
    return a;
  }
  std::string dir_;
};

TEST_F(CniExec, ChainsResultsAndPassesTheEnvironment) {
  // `one` reports an address; `two` echoes its prevResult with what it was told.
  plugin("one", "cat >/dev/null\necho '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.2/24\"}]}'\n");
  plugin("two", "in=$(cat)\nprintf '{\"cniVersion\":\"1.0.0\",\"seen\":\"%s %s %s %s\",\"prev\":%s}' \"$CNI_COMMAND\" \"$CNI_CONTAINERID\" \"$CNI_IFNAME\" \"$CNI_NETNS\" \"$(echo \"$in\" | jq -c .prevResult)\"\n");
  Cni cni({dir_});
  json r = cni.add(list({"one", "two"}), at());
  EXPECT_EQ(r["seen"], "ADD c1 eth0 /nonexistent");
  EXPECT_EQ(r["prev"]["ips"][0]["address"], "10.0.0.2/24");
}

TEST_F(CniExec, AFailureUndoesThePluginsBeforeIt) {
  plugin("ok", "cat >/dev/null\necho \"$CNI_COMMAND\" >> " + dir_ + "/calls\necho '{\"cniVersion\":\"1.0.0\"}'\n");
  plugin("bad", "cat >/dev/null\necho '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"no way\",\"details\":\"really\"}'\nexit 1\n");
  Cni cni({dir_});
  try {
    cni.add(list({"ok", "bad"}), at());
    FAIL() << "no error";
  } catch (const PluginError& e) {
    EXPECT_STREQ(e.what(), "CNI plugin bad (ADD): no way: really");
    EXPECT_EQ(e.cni_code(), 7);
  }
  EXPECT_EQ(fs::read_file(dir_ + "/calls"), "ADD\nDEL\n");
}

TEST_F(CniExec, StderrOrStatusWhenThePluginSaysNothingUseful) {
  plugin("noisy", "cat >/dev/null\necho 'first line' >&2\necho 'the reason' >&2\nexit 3\n");
  plugin("silent", "cat >/dev/null\nexit 4\n");
  plugin("garbage", "cat >/dev/null\necho 'not json'\n");
  Cni cni({dir_});
  EXPECT_THROW(
      {
        try {
          cni.exec("ADD", {{"type", "noisy"}}, at());
        } catch (const Error& e) {
          EXPECT_STREQ(e.what(), "CNI plugin noisy (ADD): the reason");
          throw;
        }
      },
      PluginError);
  try {
    cni.exec("ADD", {{"type", "silent"}}, at());
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "CNI plugin silent (ADD): exit status 4");
  }
  try {
    cni.exec("ADD", {{"type", "garbage"}}, at());
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "CNI plugin garbage (ADD): its output is not JSON");
  }
}

TEST_F(CniExec, AHangingPluginIsKilledAfterTheTimeout) {
  plugin("hang", "cat >/dev/null\nsleep 30 &\nwait\n");
  Cni cni({dir_}, 300);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(cni.exec("ADD", {{"type", "hang"}}, at()), PluginError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST_F(CniExec, MissingPluginsAreFoundBeforeAnythingRuns) {
  plugin("ok", "cat >/dev/null\ntouch " + dir_ + "/ran\necho '{}'\n");
  Cni cni({dir_, "/nonexistent-dir"});
  try {
    cni.add(list({"ok", "absent"}), at());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "CNI plugin absent not found in " + dir_ + ":/nonexistent-dir");
  }
  EXPECT_FALSE(fs::exists(dir_ + "/ran"));
  EXPECT_THROW(cni.find("../bin/sh"), Error);
}

TEST_F(CniExec, DelCallsEveryPluginInReverseEvenAfterAFailure) {
  plugin("a", "cat >/dev/null\necho a >> " + dir_ + "/calls\n");
  plugin("b", "cat >/dev/null\necho b >> " + dir_ + "/calls\nexit 1\n");
  plugin("c", "cat >/dev/null\necho c >> " + dir_ + "/calls\n");
  Cni cni({dir_});
  EXPECT_THROW(cni.del(list({"a", "b", "c"}), at(), json()), PluginError);
  EXPECT_EQ(fs::read_file(dir_ + "/calls"), "c\nb\na\n");
}

TEST_F(CniExec, PortmapWithoutMappingsIsNotStarted) {
  plugin("portmap", "cat >/dev/null\ntouch " + dir_ + "/portmap-ran\necho '{}'\n");
  plugin("one", "cat >/dev/null\necho '{\"cniVersion\":\"1.0.0\"}'\n");
  json l = list({"one", "portmap"});
  l["plugins"][1]["capabilities"] = {{"portMappings", true}};
  Cni cni({dir_});
  cni.add(l, at());
  EXPECT_FALSE(fs::exists(dir_ + "/portmap-ran"));
  Attachment with = at();
  with.capability_args["portMappings"] = json::array({{{"hostPort", 8080}, {"containerPort", 80}}});
  cni.add(l, with);
  EXPECT_TRUE(fs::exists(dir_ + "/portmap-ran"));
}

TEST_F(CniExec, CheckRunsEveryPluginInOrderWithTheStoredResult) {
  plugin("a", "in=$(cat)\necho \"a $CNI_COMMAND $(echo \"$in\" | jq -c .prevResult.ips)\" >> " + dir_ + "/calls\n");
  plugin("b", "cat >/dev/null\necho b >> " + dir_ + "/calls\necho '{\"code\":3,\"msg\":\"eth0 is gone\"}'\nexit 1\n");
  Cni cni({dir_});
  json stored = {{"cniVersion", "1.0.0"}, {"ips", json::array({{{"address", "10.0.0.2/24"}}})}};
  try {
    cni.check(list({"a", "b"}), at(), stored);
    FAIL();
  } catch (const PluginError& e) {
    EXPECT_STREQ(e.what(), "CNI plugin b (CHECK): eth0 is gone");
  }
  EXPECT_EQ(fs::read_file(dir_ + "/calls"), "a CHECK [{\"address\":\"10.0.0.2/24\"}]\nb\n");
}

// A taken spare's ports: the chain's tail runs later, given the head's result; a failure
// there undoes the tail only.
TEST_F(CniExec, TheRestOfAChainGetsTheResultOfItsHead) {
  plugin("head", "cat >/dev/null\necho head >> " + dir_ + "/calls\necho '{\"cniVersion\":\"1.0.0\"}'\n");
  plugin("portmap", "in=$(cat)\necho \"portmap $CNI_COMMAND\" >> " + dir_ + "/calls\n"
                    "printf '{\"cniVersion\":\"1.0.0\",\"prev\":%s,\"pm\":%s}' \"$(echo \"$in\" | jq -c .prevResult)\" "
                    "\"$(echo \"$in\" | jq -c .runtimeConfig.portMappings)\"\n");
  json l = {{"cniVersion", "1.0.0"}, {"name", "t"},
            {"plugins", {{{"type", "head"}}, {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}}}}};
  EXPECT_EQ(Cni::port_tail(l), 1u);
  EXPECT_EQ(Cni::port_tail(list({"head", "head"})), 2u);  // no tail: nothing to publish later
  Cni cni({dir_});
  Attachment a = at();
  a.capability_args["portMappings"] = json::array({{{"hostPort", 8080}, {"containerPort", 80}, {"protocol", "tcp"}}});
  json head_result = {{"cniVersion", "1.0.0"}, {"ips", json::array({{{"address", "10.0.0.9/24"}}})}};
  json r = cni.add_from(l, a, head_result, Cni::port_tail(l));
  EXPECT_EQ(r["prev"], head_result);
  EXPECT_EQ(r["pm"][0]["hostPort"], 8080);
  EXPECT_EQ(fs::read_file(dir_ + "/calls"), "portmap ADD\n");  // the head did not run again
  plugin("portmap", "cat >/dev/null\necho \"portmap $CNI_COMMAND\" >> " + dir_ + "/calls\n"
                    "[ \"$CNI_COMMAND\" = DEL ] && exit 0\necho '{\"code\":11,\"msg\":\"port busy\"}'\nexit 1\n");
  ::unlink((dir_ + "/calls").c_str());
  EXPECT_THROW(cni.add_from(l, a, head_result, 1), PluginError);
  EXPECT_EQ(fs::read_file(dir_ + "/calls"), "portmap ADD\nportmap DEL\n");
}
