// The runtimes table: daemon.json's `runtimes` and `default-runtime`, name resolution, the
// capabilities an external runtime accepts — with small scripts as runtimes, nothing run.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "engine/runtimes.hpp"
#include "error_kind.hpp"
#include "temp_dir.hpp"

using namespace berth;
using berth::test::kind_of;
using nlohmann::json;

namespace {

std::string script(const std::string& dir, const std::string& name, const std::string& body, mode_t mode = 0755) {
  const std::string p = dir + "/" + name;
  fs::write_file_atomic(p, "#!/bin/sh\n" + body + "\n", mode);
  ::chmod(p.c_str(), mode);
  return p;
}

}  // namespace

TEST(Runtimes, BuiltinsAndConfigured) {
  test::TempDir d;
  const std::string rt = script(d.path(), "myrt", "echo 'myrt version 9'");
  engine::Runtimes r;
  EXPECT_TRUE(r.all().count("berth"));
  EXPECT_EQ(r.default_name(), "berth");
  EXPECT_FALSE(r.resolve("").external());  // the default: berth's own, in-process
  r.configure(json::parse(R"({"runtimes": {"my": {"path": ")" + rt + R"(", "runtimeArgs": ["--a", "--b=1"]}},
                              "default-runtime": "my", "debug": true})"),
              "d.json");
  EXPECT_EQ(r.default_name(), "my");
  const engine::Runtime got = r.resolve("");
  EXPECT_EQ(got.path, rt);
  EXPECT_EQ(got.args, (std::vector<std::string>{"--a", "--b=1"}));
  EXPECT_EQ(r.name_of(""), "my");
  EXPECT_EQ(engine::runtime_version(got), "myrt version 9");
  EXPECT_EQ(engine::runtime_argv(got, "/R", {"kill", "id", "15"}),
            (std::vector<std::string>{rt, "--a", "--b=1", "--root", "/R", "kill", "id", "15"}));
  // An absolute path works without a name (Podman's --runtime PATH).
  EXPECT_EQ(r.resolve(rt).path, rt);
  EXPECT_FALSE(got.own_kernel());
}

TEST(Runtimes, OwnKernelByTheBinarysName) {
  EXPECT_TRUE((engine::Runtime{"/usr/bin/runsc", {}, true}).own_kernel());
  EXPECT_TRUE((engine::Runtime{"/opt/kata/bin/kata-runtime", {}, true}).own_kernel());
  EXPECT_FALSE((engine::Runtime{"/usr/sbin/runc", {}, false}).own_kernel());
  EXPECT_FALSE((engine::Runtime{"/usr/bin/runsc-wrapper-not", {}, true}).own_kernel());
  EXPECT_FALSE(engine::Runtime{}.own_kernel());  // berth's own
}

TEST(Runtimes, UnknownMissingAndNotExecutable) {
  test::TempDir d;
  const std::string plain = script(d.path(), "plain", "true", 0644);
  engine::Runtimes r;
  r.configure(json::parse(R"({"runtimes": {"gone": {"path": "/no/such/rt"}, "plain": {"path": ")" + plain + R"("}}})"),
              "d.json");
  try {
    r.resolve("nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("unknown runtime `nope` (known: berth, "), std::string::npos) << e.what();
  }
  EXPECT_EQ(kind_of([&] { r.resolve("gone"); }), ErrorKind::invalid_argument);
  try {
    r.resolve("plain");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not an executable file"), std::string::npos) << e.what();
  }
  EXPECT_EQ(kind_of([&] { r.resolve(d.path()); }), ErrorKind::invalid_argument);  // a directory
}

TEST(Runtimes, BadConfigurations) {
  for (const char* bad : {R"({"runtimes": []})", R"({"runtimes": {"berth": {"path": "/bin/true"}}})",
                          R"({"runtimes": {"x": {}}})", R"({"runtimes": {"x": {"path": ""}}})",
                          R"({"runtimes": {"x": {"path": "/bin/true", "runtimeArgs": "--a"}}})",
                          R"({"runtimes": {"x": {"path": "/bin/true", "runtimeArgs": [1]}}})",
                          R"({"runtimes": {"x": {"path": "/bin/true", "runtimeType": "io.containerd.runc.v2"}}})",
                          R"({"runtimes": {"a/b": {"path": "/bin/true"}}})", R"({"default-runtime": "nope"})",
                          R"({"default-runtime": 3})"}) {
    engine::Runtimes r;
    try {
      r.configure(json::parse(bad), "d.json");
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_argument) << bad;
      EXPECT_EQ(std::string(e.what()).rfind("d.json: ", 0), 0u) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

TEST(Runtimes, CapabilitiesFromFeaturesOrTheClassicSet) {
  test::TempDir d;
  // A runtime with `features` accepts what it lists; one without accepts the caps before
  // CAP_PERFMON (what runsc 2022 knows).
  engine::Runtime listed{script(d.path(), "listed", R"(echo '{"linux": {"capabilities": ["CAP_CHOWN", "CAP_PERFMON"]}}')"), {}, true};
  engine::Runtime silent{script(d.path(), "silent", "exit 1"), {}, true};
  const engine::RuntimeCaps a(listed), b(silent);
  EXPECT_TRUE(a.accepts("CAP_CHOWN"));
  EXPECT_TRUE(a.accepts("CAP_PERFMON"));
  EXPECT_FALSE(a.accepts("CAP_SYS_ADMIN"));
  EXPECT_TRUE(b.accepts("CAP_SYS_ADMIN"));
  EXPECT_TRUE(b.accepts("CAP_AUDIT_READ"));
  EXPECT_FALSE(b.accepts("CAP_PERFMON"));
  EXPECT_FALSE(b.accepts("CAP_NOT_A_CAP"));
}

TEST(Runtimes, AHangingVersionIsCutShort) {
  test::TempDir d;
  engine::Runtime hang{script(d.path(), "hang", "sleep 30"), {}, true};
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(engine::runtime_version(hang), "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}
