// The cgroup module: layout parsing, path rules and conversions on any host, and real cgroups
// on this one (as root): create, limit, join, list, destroy, in every hierarchy.
#include "runtime/cgroup.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "oci/resources.hpp"
#include "runtime/bpf_devices.hpp"
#include "runtime/cgroup_impl.hpp"
#include "runtime/container.hpp"
#include "temp_dir.hpp"

using namespace berth;
using namespace berth::runtime;
using namespace berth::runtime::cgroup_detail;

namespace {

// A hybrid layout with cpu and cpuacct co-mounted (as on most v1 distributions).
const char* kHybrid =
    "25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
    "26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
    "27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    "28 25 0:25 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
    "29 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    "30 1 0:24 /docker/abc /mnt/inner rw - cgroup cgroup rw,memory\n";

// This project's CI machines: cpu and cpuacct mounted separately, optional fields present.
const char* kSeparate =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime shared:9 - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime shared:10 - cgroup cgroup rw,cpu\n"
    "32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime shared:11 - cgroup cgroup rw,cpuacct\n"
    "33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime shared:12 master:3 - cgroup cgroup "
    "rw,cpuset,clone_children\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup "
    "rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
    "41 26 0:45 / /tmp rw - tmpfs tmpfs rw\n";

const char* kPureV2 =
    "24 1 0:21 / /proc rw - proc proc rw\n"
    "29 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// ---- Layout ----------------------------------------------------------------------------------

TEST(CgroupLayout, ParsesHybridMountinfo) {
  auto hs = parse_mountinfo(kHybrid, false);
  ASSERT_EQ(hs.size(), 4u);  // the bind of a sub-cgroup of memory is the same hierarchy
  EXPECT_EQ(hs[0].mountpoint, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(hs[0].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_EQ(hs[1].mountpoint, "/sys/fs/cgroup/memory");
  EXPECT_EQ(hs[1].root, "/");
  EXPECT_EQ(hs[2].controllers, (std::vector<std::string>{"name=systemd"}));
  EXPECT_TRUE(hs[3].v2);
  EXPECT_EQ(hs[3].mountpoint, "/sys/fs/cgroup/unified");
  EXPECT_EQ(mode_of(hs), CgroupMode::hybrid);
}

TEST(CgroupLayout, ParsesSeparateCpuAndCpuacct) {
  auto hs = parse_mountinfo(kSeparate, false);
  ASSERT_EQ(hs.size(), 7u);
  EXPECT_EQ(hs[0].controllers, (std::vector<std::string>{"cpu"}));
  EXPECT_EQ(hs[1].controllers, (std::vector<std::string>{"cpuacct"}));
  EXPECT_EQ(hs[2].controllers,
            (std::vector<std::string>{"cpuset"}));  // clone_children is an option
  EXPECT_EQ(hs[5].controllers, (std::vector<std::string>{"name=systemd"}));
  EXPECT_EQ(hs[5].mountpoint, "/sys/fs/cgroup/systemd");
  EXPECT_TRUE(hs[6].v2);
  EXPECT_TRUE(hs[6].controllers.empty());  // not read in tests
  EXPECT_EQ(mode_of(hs), CgroupMode::hybrid);
}

TEST(CgroupLayout, DetectsV2AndV1) {
  auto v2 = parse_mountinfo(kPureV2, false);
  ASSERT_EQ(v2.size(), 1u);
  EXPECT_EQ(v2[0].mountpoint, "/sys/fs/cgroup");
  EXPECT_EQ(mode_of(v2), CgroupMode::v2);
  // A named v1 hierarchy mounted on a v2 host (for an old distribution's systemd in a
  // container) does not make it hybrid: /sys/fs/cgroup itself is cgroup2.
  auto v2_named = parse_mountinfo(
      std::string(kPureV2) +
          "50 29 0:50 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n",
      false);
  EXPECT_EQ(v2_named.size(), 2u);
  EXPECT_EQ(mode_of(v2_named), CgroupMode::v2);
  auto v1 = parse_mountinfo(
      "26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
      "27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
      false);
  EXPECT_EQ(mode_of(v1), CgroupMode::v1);
  EXPECT_TRUE(parse_mountinfo("garbage\n\n1 2 3\n", false).empty());
}

TEST(CgroupLayout, EscapedMountpointsAndSubCgroupMounts) {
  // A path with a space, and a hierarchy that is only visible through a mount of a
  // sub-cgroup (what a container without a cgroup namespace sees).
  auto hs = parse_mountinfo(
      "40 30 0:37 / /run/my\\040cgroups rw - cgroup2 cgroup2 rw\n"
      "41 30 0:38 /docker/abc /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n",
      false);
  ASSERT_EQ(hs.size(), 2u);
  EXPECT_EQ(hs[0].mountpoint, "/run/my cgroups");
  EXPECT_EQ(hs[1].root, "/docker/abc");
  // The process's cgroup is reported from the hierarchy root; the mount shows /docker/abc.
  EXPECT_EQ(own_cgroup("5:pids:/docker/abc/sub\n", hs[1]), "/sub");
  EXPECT_EQ(own_cgroup("5:pids:/docker/abc\n", hs[1]), "/");
  EXPECT_EQ(own_cgroup("5:pids:/elsewhere\n", hs[1]), "/");
}

TEST(CgroupLayout, DetectsThisHost) {
  struct statfs sfs {};
  if (::statfs("/sys/fs/cgroup", &sfs) != 0) GTEST_SKIP() << "no /sys/fs/cgroup";
  CgroupMode expected = CgroupMode::v1;
  struct statfs unified {};
  if (sfs.f_type == CGROUP2_SUPER_MAGIC)
    expected = CgroupMode::v2;
  else if (::statfs("/sys/fs/cgroup/unified", &unified) == 0 &&
           unified.f_type == CGROUP2_SUPER_MAGIC)
    expected = CgroupMode::hybrid;
  EXPECT_EQ(host_cgroup_mode(), expected);
  for (auto& h : host_hierarchies()) {
    EXPECT_TRUE(fs::is_dir(h.mountpoint)) << h.mountpoint;
    if (h.v2) {
      // The v2 entry lists what the tree offers (on this project's hybrid machines: hugetlb
      // at most).
      std::string text;
      fs::read_file_if_exists(h.mountpoint + "/cgroup.controllers", text);
      std::string listed;
      for (auto& c : h.controllers) listed += (listed.empty() ? "" : " ") + c;
      while (!text.empty() && text.back() == '\n') text.pop_back();
      EXPECT_EQ(listed, text);
    } else {
      EXPECT_FALSE(h.controllers.empty()) << h.mountpoint;
    }
  }
}

TEST(CgroupLayout, OwnCgroupAndPaths) {
  auto hs = parse_mountinfo(kHybrid, false);
  const char* self = "4:memory:/user/x\n2:cpu,cpuacct:/a:b\n1:name=systemd:/\n0::/unified/y\n";
  EXPECT_EQ(own_cgroup(self, hs[1]), "/user/x");
  EXPECT_EQ(own_cgroup(self, hs[0]), "/a:b");  // a ':' in the path
  EXPECT_EQ(own_cgroup(self, hs[2]), "/");
  EXPECT_EQ(own_cgroup(self, hs[3]), "/unified/y");
  EXPECT_EQ(own_cgroup("4:memory:/m\n", hs[0]), "/");  // no line for the hierarchy
  // Co-mounted controllers may be listed in another order.
  EXPECT_EQ(own_cgroup("2:cpuacct,cpu:/c\n", hs[0]), "/c");

  EXPECT_EQ(resolve_path("", "c1", "/user/x"), "/berth/c1");
  EXPECT_EQ(resolve_path("/abs/p", "c1", "/user/x"), "/abs/p");
  EXPECT_EQ(resolve_path("//abs//p/./", "c1", "/"), "/abs/p");
  EXPECT_EQ(resolve_path("rel/p", "c1", "/user/x"), "/user/x/rel/p");
  EXPECT_EQ(resolve_path("rel", "c1", "/"), "/rel");
  for (const char* bad : {"/a/../../etc", "../x", "a/..", "/..", "a/../b"}) {
    std::string msg = error_of([&] { resolve_path(bad, "c1", "/user/x"); });
    EXPECT_NE(msg.find("cgroupsPath"), std::string::npos) << bad;
    EXPECT_NE(msg.find(".."), std::string::npos) << bad;
  }
  EXPECT_THROW(resolve_path("", "..", "/"), Error);  // an id cannot climb either
  EXPECT_THROW(resolve_path("/", "c1", "/"), Error);
  EXPECT_THROW(resolve_path(".", "c1", "/"), Error);  // the runtime's own (root) cgroup
  EXPECT_THROW(resolve_path("", "", "/"), Error);
}

// ---- Conversions -----------------------------------------------------------------------------

TEST(CgroupConversions, SharesToWeight) {
  EXPECT_EQ(shares_to_weight(0), 0u);  // unset
  EXPECT_EQ(shares_to_weight(2), 1u);
  EXPECT_EQ(shares_to_weight(1), 1u);  // clamped like v1 does
  EXPECT_EQ(shares_to_weight(512), 20u);
  EXPECT_EQ(shares_to_weight(1024), 39u);
  EXPECT_EQ(shares_to_weight(262144), 10000u);
  EXPECT_EQ(shares_to_weight(1000000), 10000u);
}

TEST(CgroupConversions, Swap) {
  // OCI swap is memory+swap; memory.swap.max is swap alone.
  EXPECT_EQ(v2_swap_max(100, -1), "max");
  EXPECT_EQ(v2_swap_max(100, 300), "200");
  EXPECT_EQ(v2_swap_max(100, 100), "0");  // swap off
  EXPECT_EQ(v2_swap_max(100, 0), "");     // not set: nothing to write
  EXPECT_EQ(v2_swap_max(-1, 0), "max");   // unlimited memory: unlimited swap too
  EXPECT_EQ(v2_swap_max(0, -1), "max");
  EXPECT_THROW(v2_swap_max(300, 100), Error);
  EXPECT_THROW(v2_swap_max(0, 100), Error);  // swap limit without a memory limit
  EXPECT_THROW(v2_swap_max(-1, 100), Error);
}

TEST(CgroupConversions, CpuMax) {
  EXPECT_EQ(v2_cpu_max(50000, 100000u, "max 100000"), "50000 100000");
  EXPECT_EQ(v2_cpu_max(-1, 100000u, "50000 100000"), "max 100000");
  EXPECT_EQ(v2_cpu_max(20000, std::nullopt, "max 100000"), "20000");  // period kept by the kernel
  EXPECT_EQ(v2_cpu_max(std::nullopt, 250000u, "30000 100000\n"), "30000 250000");  // quota kept
  EXPECT_EQ(v2_cpu_max(std::nullopt, 250000u, ""), "max 250000");
  EXPECT_EQ(v2_cpu_max(0, 0u, "max 100000"), "");
  EXPECT_EQ(v2_cpu_max(std::nullopt, std::nullopt, ""), "");
}

TEST(CgroupConversions, V1DeviceRulesAndKnobNames) {
  oci::DeviceRule r;
  EXPECT_EQ(v1_device_rule(r), "a *:* rwm");
  r.access = "r";  // type a is always all access, as runc writes it
  EXPECT_EQ(v1_device_rule(r), "a *:* rwm");
  r.type = "c";
  r.major = 1;
  r.minor = 3;
  r.access = "rw";
  EXPECT_EQ(v1_device_rule(r), "c 1:3 rw");
  r.minor = std::nullopt;
  r.access = "";
  EXPECT_EQ(v1_device_rule(r), "c 1:* rwm");
  r.type = "b";
  r.major = -1;
  r.minor = -1;
  r.access = "m";
  EXPECT_EQ(v1_device_rule(r), "b *:* m");

  EXPECT_TRUE(valid_knob_name("memory.high"));
  EXPECT_TRUE(valid_knob_name("cgroup.max.depth"));
  EXPECT_FALSE(valid_knob_name(""));
  EXPECT_FALSE(valid_knob_name("../memory.max"));
  EXPECT_FALSE(valid_knob_name("sub/memory.max"));
  EXPECT_FALSE(valid_knob_name(".."));
}

TEST(CgroupState, FromJsonRejectsGarbage) {
  EXPECT_THROW(Cgroup::from_json(nlohmann::json::object()), Error);
  EXPECT_THROW(Cgroup::from_json({{"version", "v3"}}), Error);
  EXPECT_THROW(Cgroup::from_json({{"version", "v1"}, {"path", 5}}), Error);
  EXPECT_THROW(Cgroup::from_json({{"version", "v2"}}), Error);
}

// ---- Real cgroups on this host ---------------------------------------------------------------

namespace {

class RealCgroup : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::getuid() != 0) GTEST_SKIP() << "needs root";
    if (host_hierarchies().empty()) GTEST_SKIP() << "no cgroups mounted";
    std::random_device rd;
    name_ = "berth-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
  }

  void TearDown() override {
    stop_child();
    // Whatever a failed test left: every place a test in this file creates directories.
    std::string self;
    fs::read_file_if_exists("/proc/self/cgroup", self);
    for (auto& h : host_hierarchies()) {
      for (const std::string& p :
           {"/" + name_, own_cgroup(self, h) + "/" + name_, "/berth/" + name_}) {
        try {
          remove_dir(fs::join(h.mountpoint, p), std::chrono::steady_clock::now());
        } catch (const Error&) {
        }
      }
    }
  }

  // A process that waits to be killed, in no cgroup of ours yet.
  pid_t start_child() {
    child_ = ::fork();
    if (child_ == 0) {
      for (;;) ::pause();
    }
    EXPECT_GT(child_, 0);
    return child_;
  }

  void stop_child() {
    if (child_ <= 0) return;
    ::kill(child_, SIGKILL);
    ::waitpid(child_, nullptr, 0);
    child_ = -1;
  }

  static std::string knob(const std::string& dir, const std::string& file) {
    return read_knob(dir, file);
  }

  static bool has_pid(const std::vector<pid_t>& pids, pid_t p) {
    return std::find(pids.begin(), pids.end(), p) != pids.end();
  }

  static bool in_procs(const std::string& dir, pid_t p) {
    std::string text;
    fs::read_file_if_exists(dir + "/cgroup.procs", text);
    return ("\n" + text).find("\n" + std::to_string(p) + "\n") != std::string::npos;
  }

  // Whether `path` exists in any hierarchy of the host.
  static std::vector<std::string> existing(const std::string& path) {
    std::vector<std::string> out;
    for (auto& h : host_hierarchies())
      if (fs::exists(fs::join(h.mountpoint, path))) out.push_back(fs::join(h.mountpoint, path));
    return out;
  }

  static const CgroupHierarchy* v2_tree() {
    for (auto& h : host_hierarchies())
      if (h.v2) return &h;
    return nullptr;
  }

  std::string name_;
  pid_t child_ = -1;
};

}  // namespace

// What the engine and the shim read of a cgroup another runtime (runc, crun, runsc) made: the
// path from the bundle's spec, its stats and OOM count by path, and its removal once empty.
TEST(ForeignCgroup, BundleCgroupsPath) {
  test::TempDir d;
  EXPECT_EQ(bundle_cgroups_path(d.path()), "");  // no config.json
  for (const auto& [text, want] : std::vector<std::pair<std::string, std::string>>{
           {R"({"linux": {"cgroupsPath": "/berth/abc"}})", "/berth/abc"},
           {R"({"linux": {"cgroupsPath": 7}})", ""},
           {R"({"linux": {}})", ""},
           {R"({"linux": "x"})", ""},
           {"not json", ""},
           {"[]", ""}}) {
    fs::write_file_atomic(d / "config.json", text);
    EXPECT_EQ(bundle_cgroups_path(d.path()), want) << text;
  }
}

TEST_F(RealCgroup, ForeignCgroupByPath) {
  const std::string path = "/" + name_;
  auto cg = Cgroup::create(path, "x");
  cg->add(start_child());
  test::TempDir bundle;
  fs::write_file_atomic(bundle / "config.json", nlohmann::json{{"linux", {{"cgroupsPath", path}}}}.dump());
  ASSERT_EQ(bundle_cgroups_path(bundle.path()), path);
  const nlohmann::json st = cgroup_stats_at(path);
  EXPECT_EQ(st["pids"].value("current", 0), 1) << st.dump();
  EXPECT_FALSE(cgroup_oom_killed(path));
  EXPECT_THROW(cgroup_stats_at("relative"), Error);
  // Busy: nothing is removed; empty: gone from every hierarchy.
  remove_empty_cgroup(path);
  EXPECT_FALSE(existing(path).empty());
  stop_child();
  for (int i = 0; i < 100 && !existing(path).empty(); ++i) {
    remove_empty_cgroup(path);
    ::usleep(10000);
  }
  EXPECT_TRUE(existing(path).empty());
}

// The round trip of the brief: memory 32 MiB, pids 10, cpu shares 512, a child joined, listed,
// killed, and every directory gone (every v1 hierarchy, name=systemd and the v2 tree).
TEST_F(RealCgroup, CreateSetAddListDestroy) {
  const std::string path = "/" + name_;
  auto cg = Cgroup::create(path, "x");
  EXPECT_EQ(cg->path(), path);
  // A directory in every hierarchy the container uses.
  for (const CgroupHierarchy* h : container_hierarchies())
    EXPECT_TRUE(fs::is_dir(fs::join(h->mountpoint, path))) << h->mountpoint;

  oci::LinuxResources r;
  r.memory = oci::MemoryResources{};
  r.memory->limit = 32 << 20;
  r.pidsLimit = 10;
  r.cpu = oci::CpuResources{};
  r.cpu->shares = 512;
  cg->set(r);

  const pid_t child = start_child();
  cg->add(child);
  EXPECT_TRUE(has_pid(cg->pids(), child));

  if (host_cgroup_mode() == CgroupMode::v2) {
    const std::string d = cg->host_dir("");
    EXPECT_EQ(knob(d, "memory.max"), "33554432");
    EXPECT_EQ(knob(d, "pids.max"), "10");
    EXPECT_EQ(knob(d, "cpu.weight"), "20");
    EXPECT_TRUE(in_procs(d, child));
  } else {
    EXPECT_EQ(knob(cg->host_dir("memory"), "memory.limit_in_bytes"), "33554432");
    EXPECT_EQ(knob(cg->host_dir("pids"), "pids.max"), "10");
    EXPECT_EQ(knob(cg->host_dir("cpu"), "cpu.shares"), "512");
    for (auto& h : host_hierarchies()) {
      const std::string d = fs::join(h.mountpoint, path);
      EXPECT_TRUE(in_procs(d, child)) << d;
    }
    EXPECT_EQ(cg->host_dir("").empty(), host_cgroup_mode() == CgroupMode::v1);
  }

  // What later commands do: reopen from the saved state, list, kill, destroy.
  auto again = Cgroup::from_json(nlohmann::json::parse(cg->to_json().dump()));
  EXPECT_EQ(again->pids(), cg->pids());
  EXPECT_EQ(again->path(), cg->path());
  EXPECT_EQ(again->host_dir("memory"), cg->host_dir("memory"));
  stop_child();
  EXPECT_TRUE(cg->pids().empty());
  again->destroy();
  EXPECT_EQ(existing(path), std::vector<std::string>{});
  again->destroy();  // already gone: fine
}

// The join that skips the kernel's global migration lock (Cgroup::FastJoin): a child born into
// the v2 directory by clone3, joining each v1 hierarchy itself, and what add() does for the
// rest. Afterwards the child is in every directory, as after add(pid).
TEST_F(RealCgroup, FastJoinPutsTheChildInEveryDirectory) {
  const std::string path = "/" + name_;
  auto cg = Cgroup::create(path, "x");
  Cgroup::FastJoin fast = cg->open_fast_join();
  EXPECT_EQ(static_cast<bool>(fast.v2_dir), host_cgroup_mode() != CgroupMode::v1);
  EXPECT_EQ(fast.v1_tasks.empty(), host_cgroup_mode() == CgroupMode::v2);
  int go[2];
  ASSERT_EQ(::pipe2(go, O_CLOEXEC), 0);
  Cgroup::Joined joined;
  joined.v1 = !fast.v1_tasks.empty();
  child_ = clone_into_cgroup(0, fast.v2_dir.get(), &joined.v2);
  if (child_ == 0) {
    ::close(go[1]);
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(2);
    try {
      join_self(fast.v1_tasks);
    } catch (const Error&) {
      ::_exit(3);
    }
    for (;;) ::pause();
  }
  ASSERT_GT(child_, 0);
  ::close(go[0]);
  EXPECT_EQ(joined.v2, static_cast<bool>(fast.v2_dir));  // this kernel has CLONE_INTO_CGROUP
  fast = {};
  cg->add(child_, joined);
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  ::close(go[1]);
  // The child joins its v1 hierarchies on its own time: wait for the last one.
  for (int i = 0; i < 200; ++i) {
    bool all = true;
    for (auto& h : host_hierarchies()) all = all && in_procs(fs::join(h.mountpoint, path), child_);
    if (all) break;
    ::usleep(5000);
  }
  for (auto& h : host_hierarchies())
    EXPECT_TRUE(in_procs(fs::join(h.mountpoint, path), child_)) << h.mountpoint;
  int status = 0;
  EXPECT_EQ(::waitpid(child_, &status, WNOHANG), 0) << "the child failed to join: " << status;
  stop_child();
  cg->destroy();
}

// A cgroup fd clone3 cannot use (here: not a directory) is a plain fork, the child placed
// nowhere, for add() to move.
TEST_F(RealCgroup, CloneIntoCgroupFallsBackToAPlainFork) {
  UniqueFd not_a_cgroup(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  bool placed = true;
  child_ = clone_into_cgroup(0, not_a_cgroup.get(), &placed);
  if (child_ == 0) ::_exit(0);
  ASSERT_GT(child_, 0);
  EXPECT_FALSE(placed);
  int status = 0;
  ASSERT_EQ(::waitpid(child_, &status, 0), child_);
  child_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(RealCgroup, DestroyWaitsForKilledTasksAndRefusesLiveOnes) {
  const std::string path = "/" + name_;
  auto cg = Cgroup::create(path, "x");
  const pid_t child = start_child();
  cg->add(child);
  // Alive: EBUSY until the deadline, with the directory named.
  auto t0 = std::chrono::steady_clock::now();
  std::string msg = error_of([&] { cg->destroy(); });
  EXPECT_NE(msg.find("remove cgroup /"), std::string::npos) << msg;
  EXPECT_NE(msg.find(name_), std::string::npos) << msg;
  EXPECT_NE(msg.find("busy"), std::string::npos) << msg;
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));
  // Killed but not yet gone: destroy retries until it has left.
  ::kill(child, SIGKILL);
  cg->destroy();
  stop_child();
  EXPECT_EQ(existing(path), std::vector<std::string>{});
}

TEST_F(RealCgroup, RelativePathIsBelowOwnCgroup) {
  auto cg = Cgroup::create(name_, "x");
  std::string self = fs::read_file("/proc/self/cgroup");
  for (const CgroupHierarchy* h : container_hierarchies()) {
    const std::string own = own_cgroup(self, *h);
    const std::string dir = fs::join(h->mountpoint, own + "/" + name_);
    EXPECT_TRUE(fs::is_dir(dir)) << dir;
    if (!h->v2) {
      EXPECT_EQ(cg->host_dir(h->controllers.front()), dir);
    }
  }
  const pid_t child = start_child();
  cg->add(child);
  EXPECT_TRUE(has_pid(cg->pids(), child));
  stop_child();
  cg->destroy();
  for (const CgroupHierarchy* h : container_hierarchies())
    EXPECT_FALSE(fs::exists(fs::join(h->mountpoint, own_cgroup(self, *h) + "/" + name_)));
}

TEST_F(RealCgroup, DotDotIsRejectedAndNothingIsCreated) {
  for (const std::string& p :
       {"/" + name_ + "/../../etc", "../" + name_, name_ + "/..", "/" + name_ + "/x/../y"}) {
    std::string msg = error_of([&] { Cgroup::create(p, "x"); });
    EXPECT_NE(msg.find("cgroupsPath"), std::string::npos) << p << ": " << msg;
    EXPECT_NE(msg.find("`..`"), std::string::npos) << p << ": " << msg;
  }
  EXPECT_EQ(existing("/" + name_), std::vector<std::string>{});
}

TEST_F(RealCgroup, EmptyPathIsBerthIdAndOnlyTheLeafIsRemoved) {
  const bool had_berth = !existing("/berth").empty();
  auto cg = Cgroup::create("", name_);
  EXPECT_EQ(cg->path(), "/berth/" + name_);
  EXPECT_FALSE(existing("/berth/" + name_).empty());
  cg->destroy();
  EXPECT_EQ(existing("/berth/" + name_), std::vector<std::string>{});
  // The shared parent stays (other containers live there).
  for (const CgroupHierarchy* h : container_hierarchies())
    EXPECT_TRUE(fs::is_dir(h->mountpoint + "/berth")) << h->mountpoint;
  if (!had_berth)
    for (auto& h : host_hierarchies()) ::rmdir((h.mountpoint + "/berth").c_str());
}

TEST_F(RealCgroup, NestedPathInitialisesCpusetAtEveryLevel) {
  const std::string path = "/" + name_ + "/a/b";
  auto cg = Cgroup::create(path, "x");
  oci::LinuxResources r;
  r.cpu = oci::CpuResources{};
  r.cpu->cpus = "0";
  r.cpu->mems = "0";
  cg->set(r);
  const pid_t child = start_child();
  cg->add(child);  // a cpuset without cpus/mems would refuse it (ENOSPC)
  EXPECT_TRUE(has_pid(cg->pids(), child));
  if (host_cgroup_mode() != CgroupMode::v2) {
    const std::string cpuset = cg->host_dir("cpuset");
    ASSERT_FALSE(cpuset.empty());
    EXPECT_EQ(knob(cpuset, "cpuset.cpus"), "0");
    const std::string middle = cpuset.substr(0, cpuset.size() - 2);  // .../a
    EXPECT_FALSE(knob(middle, "cpuset.cpus").empty());
    EXPECT_FALSE(knob(middle, "cpuset.mems").empty());
  }
  stop_child();
  cg->destroy();
  EXPECT_EQ(existing(path), std::vector<std::string>{});
  EXPECT_FALSE(existing("/" + name_ + "/a").empty());  // not the container's to remove
  for (auto& h : host_hierarchies()) {
    ::rmdir(fs::join(h.mountpoint, "/" + name_ + "/a").c_str());
    ::rmdir(fs::join(h.mountpoint, "/" + name_).c_str());
  }
}

TEST_F(RealCgroup, ErrorsNameTheFileAndValue) {
  auto cg = Cgroup::create("/" + name_, "x");
  oci::LinuxResources r;
  r.cpu = oci::CpuResources{};
  r.cpu->cpus = "4096";
  std::string msg = error_of([&] { cg->set(r); });
  EXPECT_NE(msg.find("write cgroup file /"), std::string::npos) << msg;
  EXPECT_NE(msg.find(name_ + "/cpuset.cpus = 4096: "), std::string::npos) << msg;

  oci::LinuxResources u;
  u.unified["../../escape"] = "1";
  msg = error_of([&] { cg->set(u); });
  EXPECT_NE(msg.find("linux.resources.unified"), std::string::npos) << msg;

  // Joining a process that does not exist names cgroup.procs and the pid.
  msg = error_of([&] { cg->add(999999999); });
  EXPECT_NE(msg.find("cgroup.procs = 999999999"), std::string::npos) << msg;
  cg->destroy();
}

TEST_F(RealCgroup, V1MemoryAndSwapCanBeRaisedAndLowered) {
  if (host_cgroup_mode() == CgroupMode::v2) GTEST_SKIP() << "v1 memory files";
  auto cg = Cgroup::create("/" + name_, "x");
  const std::string d = cg->host_dir("memory");
  ASSERT_FALSE(d.empty());
  const bool memsw = fs::exists(d + "/memory.memsw.limit_in_bytes");
  auto set = [&](int64_t limit, int64_t swap) {
    oci::LinuxResources r;
    r.memory = oci::MemoryResources{};
    r.memory->limit = limit;
    r.memory->swap = swap;
    cg->set(r);
  };
  const int64_t M = 1 << 20;
  if (memsw) {
    set(32 * M, 64 * M);
    EXPECT_EQ(knob(d, "memory.limit_in_bytes"), std::to_string(32 * M));
    EXPECT_EQ(knob(d, "memory.memsw.limit_in_bytes"), std::to_string(64 * M));
    set(128 * M, 256 * M);  // the new limit is above the old memsw: memsw must go first
    EXPECT_EQ(knob(d, "memory.limit_in_bytes"), std::to_string(128 * M));
    EXPECT_EQ(knob(d, "memory.memsw.limit_in_bytes"), std::to_string(256 * M));
    set(16 * M, 16 * M);  // the new memsw is below the old limit: the limit must go first
    EXPECT_EQ(knob(d, "memory.limit_in_bytes"), std::to_string(16 * M));
    EXPECT_EQ(knob(d, "memory.memsw.limit_in_bytes"), std::to_string(16 * M));
    set(64 * M, -1);
    EXPECT_EQ(knob(d, "memory.limit_in_bytes"), std::to_string(64 * M));
    // -1 reads back as the parent's "unlimited" (a page-rounded maximum).
    EXPECT_EQ(knob(d, "memory.memsw.limit_in_bytes"),
              knob(d.substr(0, d.rfind('/')), "memory.memsw.limit_in_bytes"));
  } else {
    set(32 * M, 32 * M);  // no swap accounting: fine when no swap is asked for
    std::string msg = error_of([&] { set(32 * M, 64 * M); });
    EXPECT_NE(msg.find("swap limit not supported by this kernel"), std::string::npos) << msg;
  }
  // The other memory knobs.
  oci::LinuxResources r;
  r.memory = oci::MemoryResources{};
  r.memory->reservation = 8 * M;
  r.memory->swappiness = 10;
  r.memory->disableOOMKiller = true;
  cg->set(r);
  EXPECT_EQ(knob(d, "memory.soft_limit_in_bytes"), std::to_string(8 * M));
  EXPECT_EQ(knob(d, "memory.swappiness"), "10");
  EXPECT_NE(knob(d, "memory.oom_control").find("oom_kill_disable 1"), std::string::npos);
  cg->destroy();
}

TEST_F(RealCgroup, V1CpuPidsBlkioDevices) {
  if (host_cgroup_mode() == CgroupMode::v2) GTEST_SKIP() << "v1 files";
  auto cg = Cgroup::create("/" + name_, "x");
  oci::LinuxResources r;
  r.cpu = oci::CpuResources{};
  r.cpu->quota = 50000;
  r.cpu->period = 100000;
  r.pidsLimit = 0;  // OCI: no limit
  oci::DeviceRule deny_all;
  oci::DeviceRule null_dev;
  null_dev.allow = true;
  null_dev.type = "c";
  null_dev.major = 1;
  null_dev.minor = 3;
  null_dev.access = "rwm";
  oci::DeviceRule zero_dev = null_dev;
  zero_dev.minor = 5;
  zero_dev.access = "rw";
  r.devices = {deny_all, null_dev, zero_dev};
  cg->set(r);
  const std::string cpu = cg->host_dir("cpu");
  EXPECT_EQ(knob(cpu, "cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(knob(cpu, "cpu.cfs_period_us"), "100000");
  EXPECT_EQ(knob(cg->host_dir("pids"), "pids.max"), "max");
  EXPECT_EQ(knob(cg->host_dir("devices"), "devices.list"), "c 1:3 rwm\nc 1:5 rw");

  // A shorter period with a quota that needs it: runc's retry order.
  r = {};
  r.cpu = oci::CpuResources{};
  r.cpu->quota = -1;
  r.cpu->period = 10000;
  cg->set(r);
  EXPECT_EQ(knob(cpu, "cpu.cfs_quota_us"), "-1");
  EXPECT_EQ(knob(cpu, "cpu.cfs_period_us"), "10000");

  // Throttling on the first block device of the host, if any.
  std::string parts;
  fs::read_file_if_exists("/proc/partitions", parts);
  std::istringstream is(parts);
  std::string line;
  int64_t major = -1, minor = -1;
  while (std::getline(is, line)) {
    std::istringstream ls(line);
    int64_t a, b;
    if (ls >> a >> b) {
      major = a;
      minor = b;
      break;
    }
  }
  if (major >= 0 && fs::exists(cg->host_dir("blkio") + "/blkio.throttle.read_bps_device")) {
    r = {};
    r.blockIO = oci::BlockIOResources{};
    oci::BlockIODevice dev;
    dev.major = major;
    dev.minor = minor;
    dev.rate = 1048576;
    r.blockIO->throttleReadBpsDevice = {dev};
    cg->set(r);
    EXPECT_EQ(knob(cg->host_dir("blkio"), "blkio.throttle.read_bps_device"),
              std::to_string(major) + ":" + std::to_string(minor) + " 1048576");
  }
  cg->destroy();
}

// On a hybrid host, hugetlb and `unified` go to the container's directory in the v2 tree.
TEST_F(RealCgroup, HybridHugetlbAndUnified) {
  if (host_cgroup_mode() != CgroupMode::hybrid) GTEST_SKIP() << "hybrid hosts only";
  auto cg = Cgroup::create("/" + name_, "x");
  const std::string unified = cg->host_dir("");
  ASSERT_FALSE(unified.empty());
  EXPECT_TRUE(fs::is_dir(unified));

  oci::LinuxResources u;
  u.unified["cgroup.max.depth"] = "3";
  cg->set(u);
  EXPECT_EQ(knob(unified, "cgroup.max.depth"), "3");
  u.unified = {{"no.such.file", "1"}};
  std::string msg = error_of([&] { cg->set(u); });
  EXPECT_NE(msg.find("linux.resources.unified.no.such.file"), std::string::npos) << msg;

  oci::LinuxResources r;
  r.hugepageLimits = {{"2MB", 4 << 20}, {"3KB", 1}};
  const bool v1_hugetlb = !cg->host_dir("hugetlb").empty();
  const CgroupHierarchy* tree = v2_tree();
  const bool v2_hugetlb = tree && std::find(tree->controllers.begin(), tree->controllers.end(),
                                            "hugetlb") != tree->controllers.end();
  if (!v1_hugetlb && !v2_hugetlb) {
    msg = error_of([&] { cg->set(r); });
    EXPECT_NE(msg.find("hugetlb cgroup controller is not available"), std::string::npos) << msg;
  } else if (!fs::exists("/sys/kernel/mm/hugepages/hugepages-2048kB")) {
    GTEST_SKIP() << "no 2 MB huge pages";
  } else {
    cg->set(r);
    if (v1_hugetlb)
      EXPECT_EQ(knob(cg->host_dir("hugetlb"), "hugetlb.2MB.limit_in_bytes"), "4194304");
    else
      EXPECT_EQ(knob(unified, "hugetlb.2MB.max"), "4194304");
    // 3KB is no page size anywhere: skipped with a warning, not an error.
    ASSERT_EQ(cg->warnings().size(), 1u);
    EXPECT_NE(cg->warnings()[0].find("3KB"), std::string::npos);
  }
  const pid_t child = start_child();
  cg->add(child);
  EXPECT_TRUE(in_procs(unified, child));
  stop_child();
  cg->destroy();
  EXPECT_FALSE(fs::exists(unified));
}

// The v2 backend, driven in the v2 tree of a hybrid host (no v2-only host to run on here):
// directories, limits of the controllers the tree has, errors for those it has not.
TEST_F(RealCgroup, V2BackendInTheUnifiedTree) {
  const CgroupHierarchy* tree = v2_tree();
  if (!tree) GTEST_SKIP() << "no cgroup v2 tree";
  if (host_cgroup_mode() == CgroupMode::v2) GTEST_SKIP() << "covered by the tests above";
  const std::string path = "/" + name_ + "/c";
  auto cg = make_v2_in(*tree, path, "x");
  const std::string dir = tree->mountpoint + path;
  EXPECT_EQ(cg->host_dir(""), dir);
  EXPECT_EQ(cg->path(), path);
  EXPECT_TRUE(fs::is_dir(dir));
  // Whatever the tree offers is enabled down to the container's parent, not in the leaf.
  for (auto& c : tree->controllers) EXPECT_TRUE(v2_has_controller(dir, c)) << c;
  EXPECT_EQ(knob(dir, "cgroup.subtree_control"), "");

  oci::LinuxResources r;
  r.memory = oci::MemoryResources{};
  r.memory->limit = 32 << 20;
  if (std::find(tree->controllers.begin(), tree->controllers.end(), "memory") ==
      tree->controllers.end()) {
    std::string msg = error_of([&] { cg->set(r); });
    EXPECT_NE(
        msg.find("linux.resources.memory.limit: the memory controller is not enabled for " + dir),
        std::string::npos)
        << msg;
  }
  oci::LinuxResources u;
  u.unified["cgroup.max.descendants"] = "7";
  u.devices = {oci::DeviceRule{}};
  cg->set(u);
  EXPECT_EQ(knob(dir, "cgroup.max.descendants"), "7");
  // Device rules are enforced by an eBPF program attached to the cgroup.
  EXPECT_TRUE(cg->warnings().empty());
  {
    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(dfd);
    EXPECT_EQ(berth::runtime::query_device_programs(dfd.get()).size(), 1u);
  }

  const pid_t child = start_child();
  cg->add(child);
  EXPECT_TRUE(in_procs(dir, child));
  auto again = Cgroup::from_json(cg->to_json());
  EXPECT_EQ(again->pids(), std::vector<pid_t>{child});
  stop_child();
  again->destroy();
  EXPECT_FALSE(fs::exists(dir));
  ::rmdir((tree->mountpoint + "/" + name_).c_str());
}
