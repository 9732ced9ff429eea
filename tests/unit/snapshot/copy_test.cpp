#include "snapshot/copy.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "temp_dir.hpp"

using namespace berth;

namespace {

class CopyTree : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::mkdir_p(dir_ + "/src");
    fs::mkdir_p(dir_ + "/dst");
  }
  UniqueFd open_dir(const std::string& rel) {
    return UniqueFd(::open((dir_ + "/" + rel).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  // `levels` nested directories "d" under src, built fd by fd (no path is ever that long);
  // a file "leaf" at the bottom.
  void nest(int levels) {
    UniqueFd cur = open_dir("src");
    for (int i = 0; i < levels; ++i) {
      ASSERT_EQ(::mkdirat(cur.get(), "d", 0755), 0);
      cur.reset(::openat(cur.get(), "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      ASSERT_TRUE(cur);
    }
    UniqueFd leaf(::openat(cur.get(), "leaf", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_TRUE(leaf);
  }
  // The depth of the chain of "d" under `rel`, and whether "leaf" is at its bottom.
  int depth(const std::string& rel, bool* leaf) {
    UniqueFd cur = open_dir(rel);
    int n = 0;
    for (;;) {
      UniqueFd next(::openat(cur.get(), "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!next) break;
      cur = std::move(next);
      ++n;
    }
    *leaf = ::faccessat(cur.get(), "leaf", F_OK, 0) == 0;
    return n;
  }
  test::TempDir tmp_{"berth-copy"};
  const std::string dir_ = tmp_.path();
};

TEST_F(CopyTree, KeepsFilesLinksModesOwnersXattrsAndDirectoryTimes) {
  const std::string s = dir_ + "/src";
  fs::mkdir_p(s + "/sub/deeper");
  fs::write_file_atomic(s + "/sub/file", "data", 0644, false);
  ASSERT_EQ(::chmod((s + "/sub/file").c_str(), 0640), 0);
  ASSERT_EQ(::chown((s + "/sub/file").c_str(), 1234, 5678), 0);
  ASSERT_EQ(::link((s + "/sub/file").c_str(), (s + "/hard").c_str()), 0);
  ASSERT_EQ(::symlink("../outside", (s + "/sub/link").c_str()), 0);
  ASSERT_EQ(::chmod((s + "/sub/deeper").c_str(), 0711), 0);
  const bool xattrs = ::setxattr((s + "/sub").c_str(), "user.k", "v", 1, 0) == 0;
  struct timespec t[2] = {{1000000, 0}, {1000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (s + "/sub").c_str(), t, 0), 0);

  UniqueFd src = open_dir("src"), dst = open_dir("dst");
  snapshot::copy_tree(src.get(), dst.get());

  const std::string d = dir_ + "/dst";
  EXPECT_EQ(fs::read_file(d + "/sub/file"), "data");
  struct stat a, b;
  ASSERT_EQ(::stat((d + "/sub/file").c_str(), &a), 0);
  EXPECT_EQ(a.st_mode & 07777, 0640u);
  EXPECT_EQ(a.st_uid, 1234u);
  EXPECT_EQ(a.st_gid, 5678u);
  ASSERT_EQ(::stat((d + "/hard").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);  // still one file
  char target[64] = {};
  ASSERT_GT(::readlink((d + "/sub/link").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "../outside");
  ASSERT_EQ(::stat((d + "/sub/deeper").c_str(), &a), 0);
  EXPECT_EQ(a.st_mode & 07777, 0711u);
  ASSERT_EQ(::stat((d + "/sub").c_str(), &a), 0);
  EXPECT_EQ(a.st_mtim.tv_sec, 1000000);  // set after its entries were made
  if (xattrs) {
    char v[8] = {};
    EXPECT_EQ(::getxattr((d + "/sub").c_str(), "user.k", v, sizeof v), 1);
    EXPECT_STREQ(v, "v");
  }
}

// 1500 levels (3000 bytes of path) copy whole, on a thread whose stack is 128 KiB: the copy
// holds its place in a list, not in stack frames (a recursive copy needs a frame per level).
TEST_F(CopyTree, ADeepTreeCopiesWithoutRecursion) {
  nest(1500);
  struct Job {
    int src, dst;
    std::string error;
  } job;
  UniqueFd src = open_dir("src"), dst = open_dir("dst");
  job.src = src.get();
  job.dst = dst.get();
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, 128 * 1024), 0);
  pthread_t th;
  ASSERT_EQ(pthread_create(
                &th, &attr,
                [](void* p) -> void* {
                  auto* j = static_cast<Job*>(p);
                  try {
                    snapshot::copy_tree(j->src, j->dst);
                  } catch (const std::exception& e) {
                    j->error = e.what();
                  }
                  return nullptr;
                },
                &job),
            0);
  pthread_join(th, nullptr);
  pthread_attr_destroy(&attr);
  EXPECT_EQ(job.error, "");
  bool leaf = false;
  EXPECT_EQ(depth("dst", &leaf), 1500);
  EXPECT_TRUE(leaf);
}

// Deeper than PATH_MAX bytes of path: refused with one line, not copied to the end with one fd
// pair per level (4200 fds here) or a crash.
TEST_F(CopyTree, ATreeDeeperThanPathMaxIsRefused) {
  nest(2100);
  UniqueFd src = open_dir("src"), dst = open_dir("dst");
  try {
    snapshot::copy_tree(src.get(), dst.get());
    FAIL() << "a 2100-level tree was copied";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too deep to copy"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

}  // namespace
