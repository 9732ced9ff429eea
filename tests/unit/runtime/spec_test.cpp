#include <gtest/gtest.h>
#include <sys/resource.h>

#include "common/error.hpp"
#include "oci/spec.hpp"

using berth::Error;
using berth::oci::parse_spec;

namespace {

std::string minimal(const std::string& extra = "") {
  return R"({"ociVersion":"1.2.0","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"})" +
         extra + "}";
}

std::string error_of(const std::string& text) {
  try {
    parse_spec(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Spec, ParsesMinimal) {
  auto s = parse_spec(minimal());
  EXPECT_EQ(s.root.path, "rootfs");
  ASSERT_TRUE(s.process);
  EXPECT_EQ(s.process->args.at(0), "sh");
  EXPECT_EQ(s.process->cwd, "/");
}

TEST(Spec, ParsesFullProcess) {
  auto s = parse_spec(R"({"ociVersion":"1.0.2","root":{"path":"/r","readonly":true},
    "process":{"terminal":true,"consoleSize":{"height":24,"width":80},
      "user":{"uid":1000,"gid":100,"umask":18,"additionalGids":[5,6]},
      "args":["a","b"],"env":["A=1"],"cwd":"/tmp",
      "capabilities":{"bounding":["CAP_KILL","CAP_FUTURE_THING"],"effective":["CAP_CHOWN"]},
      "rlimits":[{"type":"RLIMIT_NOFILE","soft":10,"hard":20}],
      "noNewPrivileges":true,"oomScoreAdj":100},
    "hostname":"h","linux":{"namespaces":[{"type":"uts"},{"type":"mount"}]}})");
  EXPECT_TRUE(s.root.readonly);
  EXPECT_EQ(s.process->user.uid, 1000u);
  EXPECT_EQ(s.process->user.additionalGids.size(), 2u);
  ASSERT_TRUE(s.process->capabilities);
  EXPECT_EQ(s.process->capabilities->bounding.size(), 1u);  // unknown future cap skipped
  EXPECT_EQ(s.process->rlimits.at(0).resource, RLIMIT_NOFILE);
  EXPECT_EQ(*s.process->oomScoreAdj, 100);
}

TEST(Spec, RejectsBadInput) {
  EXPECT_NE(error_of("{not json").find("invalid JSON"), std::string::npos);
  EXPECT_NE(error_of(R"({"root":{"path":"r"}})").find("ociVersion"), std::string::npos);
  EXPECT_NE(error_of(minimal(R"(,"mounts":[{"destination":"rel","type":"tmpfs"}])"))
                .find("mounts[0].destination"),
            std::string::npos);
  EXPECT_NE(error_of(minimal(R"(,"linux":{"namespaces":[{"type":"bogus"}]})"))
                .find("unknown namespace type"),
            std::string::npos);
  EXPECT_NE(error_of(minimal(R"(,"linux":{"namespaces":[{"type":"pid"},{"type":"pid"}]})"))
                .find("duplicate namespace"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"ociVersion":"1.2.0","root":{"path":"r"},"process":{"args":[],"cwd":"/"}})")
                .find("process.args"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"ociVersion":"1.2.0","root":{"path":"r"},"process":{"args":["x"],"cwd":"tmp"}})")
                .find("process.cwd"),
            std::string::npos);
  EXPECT_NE(error_of(minimal(R"(,"hostname":"x")")).find("uts namespace"), std::string::npos);
  EXPECT_NE(error_of(R"({"ociVersion":"1.2.0","root":{"path":"r"},"process":{"args":["x"],"cwd":"/",
      "rlimits":[{"type":"RLIMIT_BOGUS","soft":1,"hard":1}]}})")
                .find("unknown rlimit"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"ociVersion":"1.2.0","root":{"path":"r"},"process":{"args":["x"],"cwd":"/",
      "user":{"uid":-1}}})")
                .find("process.user.uid"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"ociVersion":"2.0.0","root":{"path":"r"}})").find("unsupported version"),
            std::string::npos);
  EXPECT_NE(error_of(minimal(R"(,"linux":{"namespaces":[{"type":"user"}]})")).find("uidMappings"),
            std::string::npos);
}

TEST(Spec, Capabilities) {
  EXPECT_EQ(berth::oci::capability_from_name("CAP_SYS_ADMIN"), 21);
  EXPECT_EQ(berth::oci::capability_from_name("CAP_NOPE"), -1);
  EXPECT_EQ(berth::oci::capability_name(0), "CAP_CHOWN");
  EXPECT_GE(berth::oci::last_capability(), 37);
}

TEST(Spec, CpuListsAndSchedulerPolicies) {
  using berth::oci::parse_cpu_list;
  EXPECT_EQ(parse_cpu_list("0-3,7"), (std::vector<int>{0, 1, 2, 3, 7}));
  EXPECT_EQ(parse_cpu_list("5"), (std::vector<int>{5}));
  EXPECT_TRUE(parse_cpu_list("3-1").empty());
  EXPECT_TRUE(parse_cpu_list("1,").empty());
  EXPECT_TRUE(parse_cpu_list("a").empty());
  EXPECT_TRUE(parse_cpu_list("-1").empty());
  EXPECT_EQ(berth::oci::scheduler_policy("SCHED_BATCH"), 3);
  EXPECT_EQ(berth::oci::scheduler_policy("SCHED_DEADLINE"), 6);
  EXPECT_FALSE(berth::oci::scheduler_policy("SCHED_FAST"));
}
