// Image config + flags → OCI spec (engine/spec.cpp), without running anything.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "engine/spec.hpp"
#include "error_kind.hpp"

using namespace berth;
using namespace berth::engine;
using nlohmann::json;

namespace {

class SpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-spec-test.XXXXXX";
    root = ::mkdtemp(tmpl);
    fs::mkdir_p(root + "/etc");
    fs::write_file_atomic(root + "/etc/passwd",
                   "root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1000::/home/app:/bin/sh\n"
                   "svc:x:1001:1001::/srv:/bin/sh\n");
    fs::write_file_atomic(root + "/etc/group", "root:x:0:\napp:x:1000:\nwheel:x:10:app,svc\naudio:x:29:app\n");
  }
  void TearDown() override { fs::remove_all(root); }

  json spec(json config, json host = json::object()) {
    if (!config.contains("Cmd")) config["Cmd"] = {"true"};
    const ContainerConfig c = parse_container_config(config);
    const HostConfig h = parse_host_config(host);
    SpecInputs in;
    in.config = &c;
    in.host = &h;
    in.rootfs = root;
    in.id = std::string(64, 'a');
    return make_spec(in);
  }
  static std::string error_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  static bool has(const json& arr, const std::string& v) {
    return std::find(arr.begin(), arr.end(), v) != arr.end();
  }
  std::string root;
};

TEST_F(SpecTest, ParseBytes) {
  EXPECT_EQ(parse_bytes("42", "--memory"), 42);
  EXPECT_EQ(parse_bytes("1k", "--memory"), 1024);
  EXPECT_EQ(parse_bytes("512m", "--memory"), 512LL << 20);
  EXPECT_EQ(parse_bytes("1.5g", "--memory"), 3LL << 29);
  EXPECT_EQ(parse_bytes("2GB", "--memory"), 2LL << 30);
  // Docker's RAMInBytes forms: KiB, a space before the unit, p.
  EXPECT_EQ(parse_bytes("1KiB", "--memory"), 1024);
  EXPECT_EQ(parse_bytes("3 mi", "--memory"), 3LL << 20);
  EXPECT_EQ(parse_bytes("1p", "--memory"), 1LL << 50);
  EXPECT_FALSE(error_of([] { parse_bytes("1kk", "--memory"); }).empty());
  EXPECT_FALSE(error_of([] { parse_bytes("1bi", "--memory"); }).empty());
  EXPECT_NE(error_of([] { parse_bytes("lots", "--memory"); }).find("invalid --memory value `lots`"), std::string::npos);
  EXPECT_FALSE(error_of([] { parse_bytes("", "--memory"); }).empty());
  EXPECT_FALSE(error_of([] { parse_bytes("5x", "--memory"); }).empty());
}

TEST_F(SpecTest, UsersAndGroupsFromTheImage) {
  auto app = resolve_user(root, "app");
  EXPECT_EQ(app.uid, 1000u);
  EXPECT_EQ(app.gid, 1000u);
  EXPECT_EQ(app.home, "/home/app");
  // Docker's (runc's) supplementary groups: the primary group too, in the file's order.
  EXPECT_EQ(app.groups, (std::vector<uint32_t>{1000, 10, 29}));
  auto byid = resolve_user(root, "1001");
  EXPECT_EQ(byid.uid, 1001u);
  EXPECT_EQ(byid.groups, (std::vector<uint32_t>{1001, 10}));  // its primary group first (Docker's)
  auto forced = resolve_user(root, "app:wheel");
  EXPECT_EQ(forced.gid, 10u);
  EXPECT_EQ(forced.groups, (std::vector<uint32_t>{10}));  // an explicit group replaces the memberships
  auto numeric = resolve_user(root, "4242:4343", {"audio"});
  EXPECT_EQ(numeric.uid, 4242u);
  EXPECT_EQ(numeric.gid, 4343u);
  EXPECT_EQ(numeric.groups, (std::vector<uint32_t>{4343, 29}));
  // A uid passwd does not know: group 0, and that group as the supplementary one (Docker's).
  auto unknown = resolve_user(root, "1234");
  EXPECT_EQ(unknown.gid, 0u);
  EXPECT_EQ(unknown.groups, (std::vector<uint32_t>{0}));
  EXPECT_NE(error_of([&] { resolve_user(root, "ghost"); }).find("unable to find user ghost"), std::string::npos);
  EXPECT_NE(error_of([&] { resolve_user(root, "app:ghosts"); }).find("unable to find group ghosts"), std::string::npos);
  EXPECT_FALSE(error_of([&] { resolve_user(root, "app:"); }).empty());
}

TEST_F(SpecTest, AShortPasswdLineGivesWhatItHas) {
  // runc's and Docker's reader: fields in order, the missing ones empty (gid 0, home "/").
  fs::write_file_atomic(root + "/etc/passwd", "short:x:4000:4001\nshorter:x:4002\nbroken:x\n");
  auto a = resolve_user(root, "short");
  EXPECT_EQ(a.uid, 4000u);
  EXPECT_EQ(a.gid, 4001u);
  EXPECT_EQ(a.home, "/");
  auto b = resolve_user(root, "shorter");
  EXPECT_EQ(b.uid, 4002u);
  EXPECT_EQ(b.gid, 0u);
  EXPECT_NE(error_of([&] { resolve_user(root, "broken"); }).find("unable to find user broken"), std::string::npos);
}

TEST_F(SpecTest, PasswdIsReadInsideTheRootfsOnly) {
  // /etc/passwd a symlink to the host's file: resolved inside the rootfs, where it is absent.
  fs::remove_all(root + "/etc/passwd");
  ASSERT_EQ(::symlink("/etc/passwd", (root + "/etc/passwd").c_str()), 0);
  fs::remove_all(root + "/etc/passwd-target");
  EXPECT_NE(error_of([&] { resolve_user(root, "root"); }).find("unable to find user root"), std::string::npos);
}

TEST_F(SpecTest, MergeConfigLikeDocker) {
  oci::ImageConfig img;
  img.config = {{"Env", {"PATH=/bin", "A=1"}}, {"Cmd", {"sh"}}, {"Entrypoint", {"/init"}},
                {"WorkingDir", "/app"}, {"User", "app"}, {"Labels", {{"x", "1"}}}};
  json c = to_json(merge_config(img, {{"Env", {"A=2", "B=3"}}, {"Labels", {{"y", "2"}}}}));
  EXPECT_EQ(c["Env"], json({"PATH=/bin", "A=2", "B=3"}));
  EXPECT_EQ(c["Cmd"], json({"sh"}));
  EXPECT_EQ(c["Entrypoint"], json({"/init"}));
  EXPECT_EQ(c["Labels"], json({{"x", "1"}, {"y", "2"}}));
  // --entrypoint resets the image's Cmd; a command given replaces Cmd only.
  c = to_json(merge_config(img, {{"Entrypoint", {"/bin/echo"}}}));
  EXPECT_EQ(c["Cmd"], json::array());
  c = to_json(merge_config(img, {{"Cmd", {"ls", "-l"}}, {"WorkingDir", "/tmp"}, {"User", "root"}}));
  EXPECT_EQ(c["Cmd"], json({"ls", "-l"}));
  EXPECT_EQ(c["Entrypoint"], json({"/init"}));
  EXPECT_EQ(c["WorkingDir"], "/tmp");
  EXPECT_EQ(c["User"], "root");
  // The image's health check: each field the request leaves unset (0, no test) is the image's;
  // NONE from the request turns it off. What is unset is left out (Docker's omitempty).
  img.config["Healthcheck"] = {{"Test", {"CMD", "probe"}}, {"Interval", 5000000000}, {"Retries", 2}};
  c = to_json(merge_config(img, json::object()));
  EXPECT_EQ(c["Healthcheck"], img.config["Healthcheck"]);
  c = to_json(merge_config(img, {{"Healthcheck", {{"Retries", 9}, {"Timeout", 1000000}}}}));
  EXPECT_EQ(c["Healthcheck"], json({{"Test", {"CMD", "probe"}}, {"Interval", 5000000000}, {"Timeout", 1000000}, {"Retries", 9}}));
  c = to_json(merge_config(img, {{"Healthcheck", {{"Test", {"NONE"}}}}}));
  EXPECT_EQ(c["Healthcheck"]["Test"], json({"NONE"}));
  EXPECT_EQ(c["Healthcheck"]["Interval"], 5000000000);
  EXPECT_THROW(merge_config(img, {{"Healthcheck", {{"Interval", "5s"}}}}), Error);  // Docker's are ns
  img.config.erase("Healthcheck");
  EXPECT_FALSE(to_json(merge_config(img, json::object())).contains("Healthcheck"));
}

TEST_F(SpecTest, DockerDefaults) {
  json s = spec({{"Cmd", {"sh", "-c", "x"}}, {"Hostname", "h1"}, {"User", "app"}, {"Env", {"A=1"}}});
  EXPECT_EQ(s["process"]["args"], json({"sh", "-c", "x"}));
  EXPECT_EQ(s["process"]["user"]["uid"], 1000);
  EXPECT_EQ(s["process"]["user"]["additionalGids"], json({1000, 10, 29}));
  auto env = s["process"]["env"];
  EXPECT_TRUE(has(env, "A=1"));
  EXPECT_TRUE(has(env, "HOSTNAME=h1"));
  EXPECT_TRUE(has(env, "HOME=/home/app"));
  EXPECT_TRUE(std::any_of(env.begin(), env.end(), [](auto& e) { return e.template get<std::string>().rfind("PATH=", 0) == 0; }));
  EXPECT_EQ(s["hostname"], "h1");
  auto& caps = s["process"]["capabilities"];
  EXPECT_EQ(caps["bounding"].size(), 14u);
  EXPECT_TRUE(has(caps["bounding"], "CAP_NET_RAW"));
  EXPECT_FALSE(has(caps["bounding"], "CAP_SYS_ADMIN"));
  EXPECT_TRUE(caps["effective"].empty());  // a non-root user
  EXPECT_FALSE(caps.contains("inheritable"));
  EXPECT_EQ(s["process"]["noNewPrivileges"], false);
  EXPECT_TRUE(has(s["linux"]["maskedPaths"], "/proc/kcore"));
  EXPECT_TRUE(has(s["linux"]["readonlyPaths"], "/proc/sys"));
  EXPECT_EQ(s["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(s["linux"]["seccomp"]["defaultErrnoRet"], 1);
  EXPECT_EQ(s["linux"]["cgroupsPath"], "/berth/" + std::string(64, 'a'));
  bool netns = false;
  for (auto& n : s["linux"]["namespaces"]) netns |= n["type"] == "network";
  EXPECT_TRUE(netns);
  auto& rules = s["linux"]["resources"]["devices"];
  EXPECT_EQ(rules[0], json({{"allow", false}, {"access", "rwm"}}));
}

TEST_F(SpecTest, SeccompGatesOnCapabilities) {
  // The unconditional allow list (seccomp_profile_test.cpp runs the compiled program).
  auto allowed = [](const json& profile) {
    std::vector<std::string> out;
    for (auto& r : profile["syscalls"])
      if (!r.contains("args") && r["action"] == "SCMP_ACT_ALLOW")
        for (auto& n : r["names"]) out.push_back(n);
    return out;
  };
  auto has = [](const std::vector<std::string>& v, const char* n) {
    return std::find(v.begin(), v.end(), n) != v.end();
  };
  auto a = allowed(default_seccomp({"CAP_CHOWN"}));
  EXPECT_TRUE(has(a, "read"));
  EXPECT_FALSE(has(a, "mount"));
  EXPECT_FALSE(has(a, "kexec_load"));
  EXPECT_FALSE(has(a, "clone3"));
  EXPECT_FALSE(has(a, "chroot"));
  a = allowed(default_seccomp({"CAP_SYS_ADMIN", "CAP_SYS_CHROOT"}));
  EXPECT_TRUE(has(a, "mount"));
  EXPECT_TRUE(has(a, "clone3"));
  EXPECT_TRUE(has(a, "chroot"));
  EXPECT_FALSE(has(a, "kexec_load"));  // no capability allows it
}

TEST_F(SpecTest, IpcUtsAndCgroupParentModes) {
  auto ns_of = [](const json& spec, const std::string& type) -> json {
    for (auto& n : spec["linux"]["namespaces"])
      if (n["type"] == type) return n;
    return nullptr;
  };
  auto shm_of = [](const json& spec) -> json {
    for (auto& m : spec["mounts"])
      if (m["destination"] == "/dev/shm") return m;
    return nullptr;
  };
  json s = spec({{"Hostname", "h"}});
  EXPECT_EQ(ns_of(s, "ipc"), json({{"type", "ipc"}}));
  EXPECT_EQ(shm_of(s)["type"], "tmpfs");
  EXPECT_EQ(s["hostname"], "h");
  EXPECT_EQ(s["linux"]["cgroupsPath"], "/berth/" + std::string(64, 'a'));
  s = spec({{"Hostname", "h"}}, {{"IpcMode", "host"}, {"UTSMode", "host"}, {"CgroupParent", "pods/p1"}});
  EXPECT_TRUE(ns_of(s, "ipc").is_null());
  EXPECT_TRUE(ns_of(s, "uts").is_null());
  EXPECT_FALSE(s.contains("hostname"));  // no UTS namespace of its own: nothing to name
  EXPECT_EQ(shm_of(s)["source"], "/dev/shm");
  EXPECT_EQ(s["linux"]["cgroupsPath"], "/pods/p1/" + std::string(64, 'a'));
  EXPECT_TRUE(shm_of(spec(json::object(), {{"IpcMode", "none"}})).is_null());
  for (const char* bad : {"bogus", "container:"})
    EXPECT_EQ(test::kind_of([&] { check_host_config(parse_host_config({{"IpcMode", bad}})); }), ErrorKind::invalid_argument) << bad;
  EXPECT_EQ(test::kind_of([&] { check_host_config(parse_host_config({{"UTSMode", "container:x"}})); }), ErrorKind::invalid_argument);
  EXPECT_EQ(test::kind_of([&] { check_host_config(parse_host_config({{"CgroupParent", "a/../../b"}})); }), ErrorKind::invalid_argument);
}

TEST_F(SpecTest, FlagsBecomeSpec) {
  ::mkdir((root + "/src").c_str(), 0755);
  json h = {{"Binds", {root + "/src:/data:ro"}},
            {"Tmpfs", {{"/run", "size=1m,exec"}}},
            {"ReadonlyRootfs", true},
            {"CapAdd", {"sys_admin"}},
            {"CapDrop", {"NET_RAW"}},
            {"Memory", 64 << 20},
            {"MemorySwap", 128 << 20},
            {"NanoCpus", 1500000000},
            {"PidsLimit", 10},
            {"Ulimits", {{{"Name", "nofile"}, {"Soft", 100}, {"Hard", 200}}}},
            {"SecurityOpt", {"no-new-privileges"}},
            {"NetworkMode", "host"}};
  json s = spec({{"Cmd", {"true"}}}, h);
  EXPECT_TRUE(s["root"]["readonly"]);
  auto& caps = s["process"]["capabilities"]["bounding"];
  EXPECT_TRUE(has(caps, "CAP_SYS_ADMIN"));
  EXPECT_FALSE(has(caps, "CAP_NET_RAW"));
  EXPECT_EQ(s["linux"]["resources"]["memory"]["limit"], 64 << 20);
  EXPECT_EQ(s["linux"]["resources"]["memory"]["swap"], 128 << 20);
  EXPECT_EQ(s["linux"]["resources"]["cpu"]["quota"], 150000);
  EXPECT_EQ(s["linux"]["resources"]["pids"]["limit"], 10);
  EXPECT_EQ(s["process"]["rlimits"][0], json({{"type", "RLIMIT_NOFILE"}, {"soft", 100}, {"hard", 200}}));
  EXPECT_TRUE(s["process"]["noNewPrivileges"]);
  for (auto& n : s["linux"]["namespaces"]) EXPECT_NE(n["type"], "network");
  bool bind = false, tmpfs = false;
  for (auto& m : s["mounts"]) {
    if (m["destination"] == "/data") {
      bind = true;
      EXPECT_EQ(m["source"], root + "/src");
      EXPECT_TRUE(has(m["options"], "ro"));
    }
    if (m["destination"] == "/run") {
      tmpfs = true;
      EXPECT_TRUE(has(m["options"], "size=1m"));
      EXPECT_FALSE(has(m["options"], "noexec"));
    }
  }
  EXPECT_TRUE(bind);
  EXPECT_TRUE(tmpfs);
}

TEST_F(SpecTest, BadFlagValuesAreOneLineErrors) {
  auto bad = [&](json h) {
    return error_of([&] { spec({{"Cmd", {"true"}}}, h); });
  };
  EXPECT_NE(bad({{"CapAdd", {"NOPE"}}}).find("unknown capability `NOPE`"), std::string::npos);
  // -v makes a missing source directory (Docker's); a path through a file cannot be made
  spec({{"Cmd", {"true"}}}, {{"Binds", {root + "/made/by-v:/x"}}});
  EXPECT_TRUE(fs::is_dir(root + "/made/by-v"));
  fs::write_file_atomic(root + "/a-file", "", 0600);
  EXPECT_NE(bad({{"Binds", {root + "/a-file/sub:/x"}}}).find("a-file"), std::string::npos);
  EXPECT_NE(bad({{"Binds", {root + ":relative"}}}).find("must be absolute"), std::string::npos);
  EXPECT_NE(bad({{"Binds", {root + ":/x:bogus"}}}).find("invalid mount option `bogus`"), std::string::npos);
  EXPECT_NE(bad({{"Memory", 1024}}).find("minimum memory limit"), std::string::npos);
  EXPECT_NE(bad({{"Memory", 64 << 20}, {"MemorySwap", 1 << 20}}).find("memoryswap"), std::string::npos);
  EXPECT_NE(bad({{"Ulimits", {{{"Name", "bogus"}}}}}).find("invalid --ulimit name"), std::string::npos);
  EXPECT_NE(bad({{"SecurityOpt", {"seccomp=/no/such/profile.json"}}}).find("cannot read"), std::string::npos);
  EXPECT_NE(bad({{"SecurityOpt", {"whatever"}}}).find("invalid --security-opt"), std::string::npos);
  EXPECT_NE(bad({{"Binds", {root + ":/x", root + ":/x"}}}).find("duplicate mount point"), std::string::npos);
  EXPECT_NE(error_of([&] { spec({{"Cmd", json::array()}}); }).find("no command"), std::string::npos);
  EXPECT_NE(error_of([&] { spec({{"WorkingDir", "rel"}}); }).find("must be absolute"), std::string::npos);
  for (auto* msg : {"unknown capability"}) EXPECT_EQ(std::string(msg).find('\n'), std::string::npos);
}

TEST_F(SpecTest, PortsRestartUlimitsAndCpusetsAreCheckedAtCreate) {
  auto check = [](json h) { return error_of([&] { check_host_config(parse_host_config(h)); }); };
  auto ports = [](const char* key, const char* host_port) {
    return json{{"PortBindings", {{key, {{{"HostIp", ""}, {"HostPort", host_port}}}}}}};
  };
  EXPECT_EQ(check(ports("80/tcp", "8080")), "");
  EXPECT_EQ(check(ports("53/udp", "")), "");
  EXPECT_EQ(check(ports("9", "0")), "");
  EXPECT_EQ(check(ports("80/tcp", "abc")), "invalid port specification: \"abc\"");
  EXPECT_EQ(check(ports("80/tcp", "65536")), "invalid port specification: \"65536\"");
  EXPECT_EQ(check(ports("80/tcp", "8000-8010")), "");  // one free port of the range
  EXPECT_EQ(check(ports("80/tcp", "8010-8000")), "invalid port specification: \"8010-8000\"");
  EXPECT_EQ(check(ports("80/tcp", "0-5")), "invalid port specification: \"0-5\"");
  for (const char* key : {"0/tcp", "x/tcp", "80/icmp", "/tcp", "123456"})
    EXPECT_EQ(check(ports(key, "")), "invalid port specification: " + json(key).dump()) << key;
  EXPECT_EQ(error_of([] { check_exposed_ports({"80/tcp", "53/udp", "9"}); }), "");
  EXPECT_EQ(error_of([] { check_exposed_ports({"99999/tcp"}); }), "invalid port specification: \"99999/tcp\"");
  EXPECT_EQ(check({{"ShmSize", -1}}), "SHM size can not be less than 0");
  EXPECT_EQ(check({{"RestartPolicy", {{"Name", "always"}, {"MaximumRetryCount", 2}}}}),
            "maximum retry count cannot be used with restart policy 'always'");
  EXPECT_EQ(check({{"RestartPolicy", {{"Name", "on-failure"}, {"MaximumRetryCount", 2}}}}), "");
  EXPECT_EQ(check({{"Ulimits", {{{"Name", "nofile"}, {"Soft", 10}, {"Hard", 5}}}}}),
            "ulimit soft limit must be less than or equal to hard limit: nofile=10:5");
  EXPECT_EQ(check({{"CpusetCpus", "0"}}), "");
  EXPECT_NE(check({{"CpusetCpus", "0-4096"}}).find("Requested CPUs are not available - requested 0-4096, available: "),
            std::string::npos);
  for (const char* bad : {"x", "1-", "3-1", "1,,2", "-1"})
    EXPECT_EQ(check({{"CpusetCpus", bad}}), std::string("invalid value ") + bad + " for cpuset cpus") << bad;
}

}  // namespace
