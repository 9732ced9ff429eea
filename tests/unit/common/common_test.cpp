#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "runtime/signals.hpp"
#include "runtime/state_store.hpp"

using namespace berth;

TEST(GoDuration, ParsedAndPrintedAsGo) {
  EXPECT_EQ(parse_go_duration("0"), 0);
  EXPECT_EQ(parse_go_duration("1h30m"), 5400000000000);
  EXPECT_EQ(parse_go_duration("1.5s"), 1500000000);
  EXPECT_EQ(parse_go_duration("300ms"), 300000000);
  EXPECT_EQ(parse_go_duration("2us"), 2000);
  EXPECT_EQ(parse_go_duration("2\u00b5s"), 2000);
  EXPECT_EQ(parse_go_duration("-5s"), -5000000000);
  EXPECT_EQ(parse_go_duration("1m0.5s"), 60500000000);
  for (const char* bad : {"", "5", "s", "1x", "1.s5", ".", "5s-", "1e3s", "99999999999h"})
    EXPECT_FALSE(parse_go_duration(bad)) << bad;
  EXPECT_EQ(go_duration(0), "0s");
  EXPECT_EQ(go_duration(500), "500ns");
  EXPECT_EQ(go_duration(1500), "1.5\u00b5s");
  EXPECT_EQ(go_duration(200000000), "200ms");
  EXPECT_EQ(go_duration(30000000000), "30s");
  EXPECT_EQ(go_duration(90000000000), "1m30s");
  EXPECT_EQ(go_duration(3600000000000), "1h0m0s");
  EXPECT_EQ(go_duration(-1500000000), "-1.5s");
}

TEST(Fs, CleanPath) {
  EXPECT_EQ(fs::clean_path("/a//b/./c/.."), "/a/b");
  EXPECT_EQ(fs::clean_path("/../../x"), "/x");
  EXPECT_EQ(fs::clean_path("a/../../b"), "../b");
  EXPECT_EQ(fs::join("/root", "../../etc"), "/root/etc");
  EXPECT_EQ(fs::join("/", "/x"), "/x");
}

class RootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-fs-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    outside = dir + "-outside";
    ASSERT_EQ(mkdir(outside.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((dir + "/root").c_str(), 0755), 0);
    root.reset(open((dir + "/root").c_str(), O_PATH | O_DIRECTORY));
  }
  void TearDown() override {
    fs::remove_all(dir);
    fs::remove_all(outside);
  }
  std::string dir, outside;
  UniqueFd root;
};

TEST_F(RootTest, SymlinksStayInsideRoot) {
  // An absolute symlink and a ../ symlink both resolve inside the root, never to `outside`.
  ASSERT_EQ(symlink(outside.c_str(), (dir + "/root/abs").c_str()), 0);
  ASSERT_EQ(symlink("../../../../", (dir + "/root/up").c_str()), 0);
  auto d1 = fs::mkdir_in_root(root.get(), "/abs/made");
  auto d2 = fs::mkdir_in_root(root.get(), "/up/made2");
  EXPECT_TRUE(d1);
  EXPECT_TRUE(d2);
  EXPECT_FALSE(fs::exists(outside + "/made"));
  EXPECT_TRUE(fs::is_dir(dir + "/root" + outside + "/made"));
  EXPECT_TRUE(fs::is_dir(dir + "/root/made2"));
  auto f = fs::open_in_root(root.get(), "up/../../etc/passwd", O_RDONLY);
  EXPECT_FALSE(f);  // /etc/passwd of the root (absent), not the host's
}

TEST_F(RootTest, DiskUsageCountsTheTreeOnly) {
  // Files and directories below the root; a symlink to a directory outside is one entry.
  ASSERT_EQ(mkdir((dir + "/root/sub").c_str(), 0755), 0);
  fs::write_file_atomic(dir + "/root/sub/f", std::string(10000, 'x'));
  fs::write_file_atomic(outside + "/big", std::string(100000, 'y'));
  ASSERT_EQ(symlink(outside.c_str(), (dir + "/root/out").c_str()), 0);
  const fs::Usage u = fs::disk_usage(dir + "/root");
  EXPECT_EQ(u.inodes, 3);  // sub, sub/f, out
  EXPECT_EQ(u.apparent, 10000 + static_cast<int64_t>(outside.size()));
  EXPECT_EQ(fs::disk_usage(dir + "/missing").inodes, 0);
}

TEST(Fs, AtomicWrite) {
  char tmpl[] = "/tmp/berth-aw-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string p = std::string(tmpl) + "/f";
  fs::write_file_atomic(p, "one");
  fs::write_file_atomic(p, "two");
  EXPECT_EQ(fs::read_file(p), "two");
  fs::remove_all(tmpl);
  EXPECT_FALSE(fs::exists(tmpl));
}

TEST(Fs, RemoveAllTakesAnyDepth) {
  // 20,000 nested directories (a container made them): the recursive walk this replaced held
  // one fd per level and died of EMFILE, leaving the snapshot behind.
  char tmpl[] = "/tmp/berth-deep.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  int fd = ::open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(::mkdirat(fd, "d", 0755), 0);
    if (i % 1000 == 0) ::close(::openat(fd, "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    int next = ::openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(next, 0);
    ::close(fd);
    fd = next;
  }
  ::close(fd);
  fs::remove_all(tmpl);
  struct stat st;
  EXPECT_EQ(::lstat(tmpl, &st), -1);
  // A plain file, a missing path.
  std::string f = std::string(tmpl) + ".f";
  ::close(::open(f.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  fs::remove_all(f);
  EXPECT_EQ(::lstat(f.c_str(), &st), -1);
  fs::remove_all(f);
}

TEST(Signals, Parse) {
  EXPECT_EQ(runtime::parse_signal("KILL"), SIGKILL);
  EXPECT_EQ(runtime::parse_signal("SIGKILL"), SIGKILL);
  EXPECT_EQ(runtime::parse_signal("sigterm"), SIGTERM);
  EXPECT_EQ(runtime::parse_signal("9"), 9);
  EXPECT_EQ(runtime::parse_signal("RTMIN+1"), SIGRTMIN + 1);
  EXPECT_THROW(runtime::parse_signal("NOPE"), Error);
  EXPECT_THROW(runtime::parse_signal("0"), Error);
  EXPECT_THROW(runtime::parse_signal("99"), Error);
}

TEST(StateStore, ValidatesIds) {
  EXPECT_NO_THROW(runtime::validate_id("abc-1.2_x"));
  EXPECT_THROW(runtime::validate_id(""), Error);
  EXPECT_THROW(runtime::validate_id("../x"), Error);
  EXPECT_THROW(runtime::validate_id("a/b"), Error);
  EXPECT_THROW(runtime::validate_id(".."), Error);
}

TEST(StateStore, ProcessStartTime) {
  EXPECT_GT(runtime::process_start_time(getpid()), 0u);
  EXPECT_EQ(runtime::process_start_time(0), 0u);
}

// Errors cross berth's process boundaries (a container's init → the runtime → the shim →
// the engine) as one line that keeps the kind and errno.
TEST(ErrorWire, KeepsKindErrnoAndMessage) {
  Error e(ErrorKind::command_not_found, "exec `x`: No such file or directory", ENOENT);
  Error back = decode_error(encode_error(e));
  EXPECT_EQ(back.kind(), ErrorKind::command_not_found);
  EXPECT_EQ(back.code(), ENOENT);
  EXPECT_STREQ(back.what(), e.what());
  // Every kind survives; a line break in a message does not split the line.
  for (int k = 0; k <= static_cast<int>(ErrorKind::command_not_executable); ++k) {
    Error x(static_cast<ErrorKind>(k), "two\nlines");
    auto wire = encode_error(x);
    EXPECT_EQ(wire.find('\n'), std::string::npos);
    EXPECT_EQ(decode_error(wire).kind(), x.kind()) << wire;
    EXPECT_STREQ(decode_error(wire).what(), "two lines");
  }
  // A plain exception is internal; UsageError is an invalid argument.
  EXPECT_EQ(decode_error(encode_error(std::runtime_error("boom"))).kind(), ErrorKind::internal);
  EXPECT_EQ(UsageError("bad flag").kind(), ErrorKind::invalid_argument);
}

TEST(ErrorWire, AForeignTextIsAnInternalErrorCarryingIt) {
  for (const char* text : {"", "plain words", "not_found", "not_found x y", "not_found -1 y", "bogus 2 msg",
                           "conflict 2"}) {
    Error e = decode_error(text);
    EXPECT_EQ(e.kind(), ErrorKind::internal) << text;
    EXPECT_STREQ(e.what(), text);
  }
  EXPECT_EQ(decode_error("conflict 0 ").kind(), ErrorKind::conflict);
  EXPECT_STREQ(decode_error("conflict 0 ").what(), "");
}
