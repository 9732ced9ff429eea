// The engine's typed model: one parser per field of the record.
#include "engine/model.hpp"

#include <functional>

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
  // Recursion: rbind by default; a read-only bind's submounts read-only where possible, always
  // with rro (which is read-only itself), never with norro.
  EXPECT_TRUE(parse_bind("/a:/b").recursive());
  EXPECT_FALSE(parse_bind("/a:/b:bind").recursive());
  EXPECT_TRUE(parse_bind("/a:/b:bind,rbind").recursive());
  EXPECT_EQ(parse_bind("/a:/b:ro").recursive_ro(), Bind::RecursiveRo::if_possible);
  EXPECT_EQ(parse_bind("/a:/b:ro,norro").recursive_ro(), Bind::RecursiveRo::off);
  EXPECT_TRUE(parse_bind("/a:/b:rro").read_only());
  EXPECT_EQ(parse_bind("/a:/b:rro").recursive_ro(), Bind::RecursiveRo::required);
  for (const char* bad : {"nocolon", ":/x", "/a:relative", "/a:/", "/a:/b:bogus", "/a:"})
    EXPECT_EQ(test::kind_of([&] { parse_bind(bad); }), ErrorKind::invalid_argument) << bad;
  const json host = {{"Binds", {"/a:/b", "nocolon", "v:/c:ro"}}};
  EXPECT_THROW(binds_of(parse_host_config(host)), Error);
  auto shown = shown_binds(host);  // inspect, ps: what parses
  ASSERT_EQ(shown.size(), 2u);
  EXPECT_EQ(shown[1].source, "v");
  EXPECT_TRUE(binds_of(parse_host_config(json::object())).empty());
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
  EXPECT_EQ(restart_policy(parse_host_config(json::object())).name, "no");
  auto p = restart_policy(parse_host_config({{"RestartPolicy", {{"Name", "on-failure"}, {"MaximumRetryCount", 3}}}}));
  EXPECT_EQ(p.name, "on-failure");
  EXPECT_EQ(p.max, 3);
  const json config = {{"ExposedPorts", {{"80/tcp", json::object()}, {"53/udp", json::object()}}}};
  const json host = {{"PortBindings", {{"80/tcp", {{{"HostIp", "127.0.0.1"}, {"HostPort", "8080"}}}}}},
                     {"PublishAllPorts", true}};
  auto m = port_mappings(parse_container_config(config), parse_host_config(host));
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].container_port, 80);
  EXPECT_EQ(m[0].host_ip, "127.0.0.1");
  EXPECT_EQ(m[0].host_port, 8080);
  EXPECT_EQ(m[1].container_port, 53);  // -P: every exposed port not bound, on a free one
  EXPECT_EQ(m[1].protocol, "udp");
  EXPECT_EQ(m[1].host_port, 0);
}

// What Docker's CLI sends for `docker create` (API 1.41): every field, empty ones as "" or null.
TEST(ContainerConfig, ParsesDockersCreateBodyAndKeepsWhatItDoesNotInterpret) {
  const json body = json::parse(R"({
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": true,
    "AttachStderr": true, "Tty": false, "OpenStdin": false, "StdinOnce": false, "Env": null,
    "Cmd": "echo hi", "Image": "busybox", "Volumes": {"/data": {}}, "WorkingDir": "",
    "Entrypoint": null, "OnBuild": null, "Labels": {"com.docker.compose.project": "p"},
    "Healthcheck": {"Test": ["CMD", "true"]}, "ArgsEscaped": false, "StopTimeout": 3})");
  const ContainerConfig c = parse_container_config(body);
  EXPECT_EQ(c.cmd, std::vector<std::string>{"echo hi"});  // strslice: one string is a list of one
  EXPECT_TRUE(c.entrypoint.empty());
  EXPECT_TRUE(c.env.empty());
  EXPECT_TRUE(c.attach_stdout);
  EXPECT_EQ(c.volumes, std::vector<std::string>{"/data"});
  EXPECT_EQ(c.labels.at("com.docker.compose.project"), "p");
  EXPECT_EQ(c.stop_timeout, 3);
  // Unknown fields come back as they came.
  const json out = to_json(c);
  EXPECT_EQ(out["Healthcheck"], body["Healthcheck"]);
  EXPECT_EQ(out["ArgsEscaped"], false);
  EXPECT_EQ(out["Volumes"], json({{"/data", json::object()}}));
  EXPECT_EQ(parse_container_config(out).cmd, c.cmd);
  EXPECT_TRUE(parse_container_config(json()).cmd.empty());
}

TEST(ContainerConfig, HostConfigRoundTripsAndDefaults) {
  const json body = json::parse(R"({
    "Binds": ["/srv:/srv:ro"], "NetworkMode": "default", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
    "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}, "AutoRemove": false,
    "CapAdd": null, "Dns": [], "Memory": 67108864, "NanoCpus": 5e8, "PidsLimit": null,
    "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}], "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
    "BlkioWeight": 0, "ShmSize": 0, "Tmpfs": {"/run": "size=1m"}, "Mounts": [{"Type": "tmpfs", "Target": "/x"}]})");
  const HostConfig h = parse_host_config(body);
  EXPECT_EQ(h.binds, std::vector<std::string>{"/srv:/srv:ro"});
  EXPECT_EQ(h.port_bindings.at("80/tcp").at(0).host_port, "8080");
  EXPECT_EQ(h.restart_policy.name, "on-failure");
  EXPECT_EQ(h.restart_policy.maximum_retry_count, 2);
  EXPECT_EQ(h.memory, 64 << 20);
  EXPECT_EQ(h.nano_cpus, 500000000);  // an integral float is an integer
  EXPECT_FALSE(h.pids_limit);
  EXPECT_EQ(h.ulimits.at(0).hard, 2048);
  EXPECT_EQ(h.log_config.config.at("max-size"), "1m");
  EXPECT_EQ(shm_size(h), 64 << 20);  // 0: Docker's default
  const json out = to_json(h);
  EXPECT_EQ(out["BlkioWeight"], 0);  // not interpreted, kept
  EXPECT_TRUE(out["PidsLimit"].is_null());
  EXPECT_EQ(out["Mounts"], body["Mounts"]);
  const HostConfig again = parse_host_config(out);
  EXPECT_EQ(to_json(again), out);
}

TEST(ContainerConfig, AWrongTypeIsInvalidArgumentNamingTheField) {
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message([] { parse_host_config({{"Memory", "1g"}}); }), "HostConfig.Memory: want an integer");
  EXPECT_EQ(message([] { parse_host_config({{"NanoCpus", 1.5}}); }), "HostConfig.NanoCpus: want an integer");
  EXPECT_EQ(message([] { parse_host_config({{"Binds", "/a:/b"}}); }), "HostConfig.Binds: want a list of strings");
  EXPECT_EQ(message([] { parse_host_config({{"RestartPolicy", {{"Name", 1}}}}); }), "HostConfig.RestartPolicy.Name: want a string");
  EXPECT_EQ(message([] { parse_host_config({{"PortBindings", {{"80/tcp", {{{"HostPort", 80}}}}}}}); }),
            "HostConfig.PortBindings.80/tcp[].HostPort: want a string");
  EXPECT_EQ(message([] { parse_host_config({{"Privileged", "yes"}}); }), "HostConfig.Privileged: want true or false");
  EXPECT_EQ(message([] { parse_container_config({{"Labels", {{"a", 1}}}}); }), "Config.Labels.a: want a string");
  EXPECT_EQ(message([] { parse_container_config({{"Env", {1}}}); }), "Config.Env: want a list of strings");
  EXPECT_EQ(message([] { parse_container_config({{"StopTimeout", 1e12}}); }), "Config.StopTimeout: want a 32-bit integer");
  EXPECT_EQ(message([] { parse_container_config(json::array()); }), "Config: want an object");
}

}  // namespace

TEST(Model, CommitConfigMergesAsDockersDoes) {
  const json container = json::parse(R"({
    "User": "daemon", "WorkingDir": "/srv", "StopSignal": "SIGINT",
    "Env": ["PATH=/bin", "A=container", "B=2"], "Labels": {"a": "container", "b": "2"},
    "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}},
    "Entrypoint": ["/entry"], "Cmd": ["serve"], "Hostname": "h",
    "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5000000000, "Retries": 3}})");
  // The user's values win; what they leave unset comes from the container.
  json m = merge_commit_config(json::parse(R"({"User": "", "Env": ["A=user", "C=3"], "Labels": {"a": "user"},
      "ExposedPorts": {"443/tcp": {}}, "Healthcheck": {"Interval": 1000000000, "Retries": 0}})"), container);
  EXPECT_EQ(m["User"], "daemon");
  EXPECT_EQ(m["WorkingDir"], "/srv");
  EXPECT_EQ(m["StopSignal"], "SIGINT");
  EXPECT_EQ(m["Env"], json::parse(R"(["A=user", "C=3", "PATH=/bin", "B=2"])"));
  EXPECT_EQ(m["Labels"], json::parse(R"({"a": "user", "b": "2"})"));
  EXPECT_EQ(m["ExposedPorts"], json::parse(R"({"443/tcp": {}, "80/tcp": {}})"));
  EXPECT_EQ(m["Volumes"], json::parse(R"({"/data": {}})"));
  EXPECT_EQ(m["Entrypoint"], json::parse(R"(["/entry"])"));
  EXPECT_EQ(m["Cmd"], json::parse(R"(["serve"])"));
  EXPECT_EQ(m["Healthcheck"], json::parse(R"({"Test": ["CMD", "true"], "Interval": 1000000000, "Retries": 3})"));
  EXPECT_FALSE(m.contains("Hostname"));  // not one of the merged fields
  // An entrypoint of the user's own keeps its own cmd, even none.
  m = merge_commit_config(json::parse(R"({"Entrypoint": "/other"})"), container);
  EXPECT_EQ(m["Entrypoint"], json::parse(R"(["/other"])"));
  EXPECT_FALSE(m.contains("Cmd"));
  // A cmd of its own, with the container's entrypoint.
  m = merge_commit_config(json::parse(R"({"Cmd": ["sh"]})"), container);
  EXPECT_EQ(m["Entrypoint"], json::parse(R"(["/entry"])"));
  EXPECT_EQ(m["Cmd"], json::parse(R"(["sh"])"));
  // Not an object, or a field of the wrong type: invalid_argument.
  for (const char* bad : {R"([1])", R"("x")", R"({"Env": {"A": "1"}})", R"({"Labels": ["a"]})", R"({"User": 0})"}) {
    try {
      merge_commit_config(json::parse(bad), container);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_argument) << bad;
    }
  }
}
