#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "oci/resources.hpp"
#include "runtime/cgroup.hpp"
#include "runtime/cgroup_impl.hpp"

using namespace berth;
using namespace berth::runtime;
using namespace berth::runtime::cgroup_detail;

namespace {
// A hybrid layout like this project's CI machines, with cpu and cpuacct co-mounted.
const char* kHybrid =
    "25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
    "26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
    "27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    "28 25 0:25 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
    "29 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    "30 1 0:24 /docker/abc /mnt/inner rw - cgroup cgroup rw,memory\n";
}  // namespace

TEST(CgroupLayout, ParsesHybridMountinfo) {
  auto hs = parse_mountinfo(kHybrid, false);
  ASSERT_EQ(hs.size(), 4u);  // the bind of a sub-cgroup is skipped
  EXPECT_EQ(hs[0].mountpoint, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(hs[0].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_EQ(hs[2].controllers, (std::vector<std::string>{"name=systemd"}));
  EXPECT_TRUE(hs[3].v2);
  EXPECT_EQ(mode_of(hs), CgroupMode::hybrid);
  EXPECT_EQ(mode_of(parse_mountinfo("29 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", false)),
            CgroupMode::v2);
}

TEST(CgroupLayout, OwnCgroupAndPaths) {
  auto hs = parse_mountinfo(kHybrid, false);
  const char* self = "4:memory:/user/x\n2:cpu,cpuacct:/a:b\n1:name=systemd:/\n0::/unified/y\n";
  EXPECT_EQ(own_cgroup(self, hs[1]), "/user/x");
  EXPECT_EQ(own_cgroup(self, hs[0]), "/a:b");
  EXPECT_EQ(own_cgroup(self, hs[3]), "/unified/y");
  EXPECT_EQ(resolve_path("", "c1", "/user/x"), "/berth/c1");
  EXPECT_EQ(resolve_path("/abs/p", "c1", "/user/x"), "/abs/p");
  EXPECT_EQ(resolve_path("rel/p", "c1", "/user/x"), "/user/x/rel/p");
  EXPECT_THROW(resolve_path("/a/../../etc", "c1", "/"), Error);
  EXPECT_THROW(resolve_path("/", "c1", "/"), Error);
}

TEST(CgroupConversions, SharesToWeightAndSwap) {
  EXPECT_EQ(shares_to_weight(2), 1u);
  EXPECT_EQ(shares_to_weight(262144), 10000u);
  EXPECT_EQ(shares_to_weight(1024), 39u);
  EXPECT_EQ(v2_swap_max(100, -1), "max");
  EXPECT_EQ(v2_swap_max(100, 300), "200");
  EXPECT_THROW(v2_swap_max(300, 100), Error);
}

TEST(Resources, ParsesAndRejects) {
  auto r = oci::parse_resources(nlohmann::json::parse(R"({
    "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
    "memory": {"limit": 1000, "swap": 2000}, "cpu": {"shares": 512, "cpus": "0-1"},
    "pids": {"limit": 10}, "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
    "unified": {"memory.high": "100"}})"));
  EXPECT_EQ(r.devices.size(), 2u);
  EXPECT_EQ(r.devices[0].type, "a");
  EXPECT_EQ(*r.memory->limit, 1000);
  EXPECT_EQ(*r.cpu->shares, 512u);
  EXPECT_EQ(*r.pidsLimit, 10);
  EXPECT_EQ(r.unified.at("memory.high"), "100");
  auto err = [](const char* text) {
    try {
      oci::parse_resources(nlohmann::json::parse(text));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(err(R"({"memory": {"limit": "big"}})").find("linux.resources.memory.limit"), std::string::npos);
  EXPECT_NE(err(R"({"cpu": {"shares": -5}})").find("linux.resources.cpu.shares"), std::string::npos);
  EXPECT_NE(err(R"({"devices": [{"allow": true, "access": "rwx"}]})").find("access"), std::string::npos);
  EXPECT_NE(err(R"({"pids": {}})").find("pids.limit"), std::string::npos);
  EXPECT_NE(err(R"({"memory": {"limit": 200, "swap": 100}})").find("memory.swap"), std::string::npos);
}

// Real cgroups on this host: create, limit, join, list, destroy.
TEST(CgroupReal, CreateLimitJoinDestroy) {
  if (getuid() != 0) GTEST_SKIP() << "needs root";
  std::string path = "/berth-unit-" + std::to_string(getpid());
  auto cg = Cgroup::create(path, "x");
  oci::LinuxResources r;
  r.pidsLimit = 10;
  r.memory = oci::MemoryResources{};
  r.memory->limit = 32 << 20;
  cg->set(r);
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  cg->add(child);
  auto pids = cg->pids();
  EXPECT_NE(std::find(pids.begin(), pids.end(), child), pids.end());
  if (host_cgroup_mode() == CgroupMode::v2) {
    EXPECT_EQ(fs::read_file(cg->host_dir("") + "/pids.max"), "10\n");
  } else {
    EXPECT_EQ(fs::read_file(cg->host_dir("pids") + "/pids.max"), "10\n");
    EXPECT_EQ(fs::read_file(cg->host_dir("memory") + "/memory.limit_in_bytes"), "33554432\n");
  }
  // A saved and reloaded handle sees the same cgroup (what later commands do).
  auto again = Cgroup::from_json(cg->to_json());
  EXPECT_EQ(again->pids(), cg->pids());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  again->destroy();
  for (auto& h : host_hierarchies()) EXPECT_FALSE(fs::exists(h.mountpoint + path));
}
