// The engine's typed model: one parser per field of the record.
#include "engine/model.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "error_kind.hpp"

using namespace berth;
using namespace berth::engine;
using nlohmann::json;

namespace {

TEST(Model, BindsParseOnceWithTheirOptions) {
  Bind b = parse_bind("/srv/data:/data//x/:ro,rshared");
  EXPECT_EQ(b.source, "/srv/data");
  EXPECT_EQ(b.destination, "/data/x");
  EXPECT_TRUE(b.host_path());
  EXPECT_TRUE(b.read_only());
  EXPECT_EQ(b.propagation(), "rshared");
  EXPECT_EQ(b.options_text(), "ro,rshared");
  b = parse_bind("cache:/var/cache");
  EXPECT_FALSE(b.host_path());
  EXPECT_FALSE(b.read_only());
  EXPECT_EQ(b.propagation(), "rprivate");
  EXPECT_FALSE(parse_bind("/a:/b:ro,rw").read_only());  // the last one wins
  for (const char* bad : {"nocolon", ":/x", "/a:relative", "/a:/", "/a:/b:bogus", "/a:"})
    EXPECT_EQ(test::kind_of([&] { parse_bind(bad); }), ErrorKind::invalid_argument) << bad;
  const json host = {{"Binds", {"/a:/b", "nocolon", "v:/c:ro"}}};
  EXPECT_THROW(binds_of(host), Error);
  auto shown = binds_of(host, false);  // inspect, ps: what parses
  ASSERT_EQ(shown.size(), 2u);
  EXPECT_EQ(shown[1].source, "v");
  EXPECT_TRUE(binds_of(json::object()).empty());
}

TEST(Model, CommandLineIsEntrypointThenCmd) {
  EXPECT_EQ(command_line({{"Entrypoint", {"/bin/sh", "-c"}}, {"Cmd", {"echo hi"}}}),
            (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(command_line({{"Entrypoint", nullptr}, {"Cmd", {"true"}}}), std::vector<std::string>{"true"});
  EXPECT_TRUE(command_line(json::object()).empty());
}

TEST(Model, StatusNamesRoundTrip) {
  for (Status s : {Status::created, Status::running, Status::paused, Status::restarting, Status::removing,
                   Status::exited, Status::dead})
    EXPECT_EQ(parse_status(status_name(s)), s);
  EXPECT_EQ(status_name(Status::restarting), "restarting");
  EXPECT_EQ(parse_status("from-the-future"), Status::created);
}

TEST(Model, EndpointConfigIsCheckedOnce) {
  auto e = endpoint_config({{"Aliases", {"db", "primary"}}, {"IPAMConfig", {{"IPv4Address", "10.88.0.9"}}},
                            {"MacAddress", "02:42:ac:11:00:09"}});
  EXPECT_EQ(e.aliases, (std::vector<std::string>{"db", "primary"}));
  EXPECT_EQ(e.ipv4, "10.88.0.9");
  EXPECT_EQ(e.mac, "02:42:ac:11:00:09");
  EXPECT_TRUE(endpoint_config(json::object()).ipv4.empty());
  EXPECT_THROW(endpoint_config({{"IPAMConfig", {{"IPv4Address", "10.88.0.300"}}}}), Error);
  EXPECT_THROW(endpoint_config({{"Aliases", {1}}}), Error);
  EXPECT_THROW(endpoint_config({{"MacAddress", "nope"}}), Error);
}

TEST(Model, RestartPolicyAndPorts) {
  EXPECT_EQ(restart_policy(json::object()).name, "no");
  auto p = restart_policy({{"RestartPolicy", {{"Name", "on-failure"}, {"MaximumRetryCount", 3}}}});
  EXPECT_EQ(p.name, "on-failure");
  EXPECT_EQ(p.max, 3);
  const json config = {{"ExposedPorts", {{"80/tcp", json::object()}, {"53/udp", json::object()}}}};
  const json host = {{"PortBindings", {{"80/tcp", {{{"HostIp", "127.0.0.1"}, {"HostPort", "8080"}}}}}},
                     {"PublishAllPorts", true}};
  auto m = port_mappings(config, host);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].container_port, 80);
  EXPECT_EQ(m[0].host_ip, "127.0.0.1");
  EXPECT_EQ(m[0].host_port, 8080);
  EXPECT_EQ(m[1].container_port, 53);  // -P: every exposed port not bound, on a free one
  EXPECT_EQ(m[1].protocol, "udp");
  EXPECT_EQ(m[1].host_port, 0);
}

}  // namespace
