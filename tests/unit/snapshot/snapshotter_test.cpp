#include "snapshot/snapshotter.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/error.hpp"
#include "common/fs.hpp"

using namespace berth;
using namespace berth::snapshot;

namespace {

void put(const std::string& path, const std::string& data) { fs::write_file_atomic(path, data, 0644, false); }

class SnapshotTest : public ::testing::TestWithParam<Driver> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-snap-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    db_ = std::make_unique<metadata::Db>(metadata::Db::open(dir_ + "/metadata.db"));
    sn_ = std::make_unique<Snapshotter>(GetParam(), dir_ + "/snapshots", *db_, "default");
    mnt_ = dir_ + "/mnt";
    fs::mkdir_p(mnt_);
  }
  void TearDown() override {
    while (::umount2(mnt_.c_str(), MNT_DETACH) == 0) {
    }
    sn_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }
  // A committed layer `name` on `parent` whose own files are written by `fill` into its dir.
  void layer(const std::string& name, const std::string& parent,
             const std::function<void(const std::string&)>& fill) {
    auto s = sn_->prepare("extract-" + name, parent);
    fill(sn_->fs_dir(s));
    sn_->commit(name, "extract-" + name);
  }
  std::string read(const std::string& p) { return fs::read_file(p); }

  std::string dir_, mnt_;
  std::unique_ptr<metadata::Db> db_;
  std::unique_ptr<Snapshotter> sn_;
};

}  // namespace

TEST_P(SnapshotTest, ChainOfLayersMountsAsOneTree) {
  const bool overlay = GetParam() == Driver::overlay;
  layer("l1", "", [](const std::string& d) {
    put(d + "/a", "one");
    put(d + "/gone", "x");
    fs::mkdir_p(d + "/dir");
    put(d + "/dir/old", "old");
  });
  layer("l2", "l1", [&](const std::string& d) {
    put(d + "/b", "two");
    if (overlay) {
      // What diff apply writes for a deletion and an opaque directory.
      ASSERT_EQ(::mknod((d + "/gone").c_str(), S_IFCHR | 0, makedev(0, 0)), 0);
      fs::mkdir_p(d + "/dir");
      ASSERT_EQ(::setxattr((d + "/dir").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
    } else {
      ::unlink((d + "/gone").c_str());
      ::unlink((d + "/dir/old").c_str());
    }
    put(d + "/dir/new", "new");
  });
  auto active = sn_->prepare("ctr", "l2");
  mount_all(sn_->mounts("ctr"), mnt_);
  EXPECT_EQ(read(mnt_ + "/a"), "one");
  EXPECT_EQ(read(mnt_ + "/b"), "two");
  EXPECT_FALSE(fs::exists(mnt_ + "/gone"));
  EXPECT_FALSE(fs::exists(mnt_ + "/dir/old"));
  EXPECT_EQ(read(mnt_ + "/dir/new"), "new");
  // Writes land in the active snapshot only.
  put(mnt_ + "/c", "three");
  ASSERT_EQ(::umount2(mnt_.c_str(), 0), 0);
  EXPECT_EQ(read(sn_->fs_dir(active) + "/c"), "three");
  EXPECT_FALSE(fs::exists(sn_->fs_dir("l2") + "/c"));

  // A view is read-only.
  sn_->view("v", "l2");
  mount_all(sn_->mounts("v"), mnt_);
  EXPECT_EQ(read(mnt_ + "/b"), "two");
  EXPECT_LT(::open((mnt_ + "/x").c_str(), O_CREAT | O_WRONLY, 0644), 0);
  EXPECT_EQ(errno, EROFS);
  ASSERT_EQ(::umount2(mnt_.c_str(), 0), 0);

  // Parents with children cannot go; leaves can, with their directories.
  EXPECT_THROW(sn_->remove("l1"), Error);
  const std::string ctr_dir = sn_->fs_dir("ctr");
  EXPECT_TRUE(sn_->remove("ctr"));
  EXPECT_FALSE(fs::exists(ctr_dir));
  EXPECT_FALSE(sn_->remove("ctr"));
  EXPECT_THROW(sn_->prepare("bad", "nope"), Error);
  EXPECT_THROW(sn_->prepare("bad2", "v"), Error);  // parent must be committed
}

TEST_P(SnapshotTest, CleanupRemovesOrphanDirectories) {
  layer("l1", "", [](const std::string& d) { put(d + "/a", "1"); });
  fs::mkdir_p(sn_->root() + "/9999/fs");
  fs::mkdir_p(sn_->root() + "/not-a-snapshot");
  EXPECT_EQ(sn_->cleanup(), 1);
  EXPECT_FALSE(fs::exists(sn_->root() + "/9999"));
  EXPECT_TRUE(fs::exists(sn_->fs_dir("l1") + "/a"));
  EXPECT_GT(sn_->usage("l1").inodes, 0);
}

INSTANTIATE_TEST_SUITE_P(Drivers, SnapshotTest, ::testing::Values(Driver::overlay, Driver::native),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(Snapshot, OverlayWithMoreThanAHundredAndFiftyLowersMounts) {
  char tmpl[] = "/tmp/berth-snap-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, mnt = dir + "/mnt";
  fs::mkdir_p(mnt);
  {
    auto db = metadata::Db::open(dir + "/metadata.db");
    Snapshotter sn(Driver::overlay, dir + "/a-rather-long-directory-name-for-snapshots/snapshots", db,
                   "default");
    std::string parent;
    for (int i = 0; i < 160; ++i) {
      const std::string name = "sha256:" + std::string(60, 'a') + std::to_string(1000 + i);
      auto s = sn.prepare("extract", parent);
      put(sn.fs_dir(s) + "/f" + std::to_string(i), std::to_string(i));
      sn.commit(name, "extract");
      parent = name;
    }
    sn.prepare("top", parent);
    auto m = sn.mounts("top");
    ASSERT_EQ(m.size(), 1u);
    EXPECT_GT(m[0].options[1].size(), 4096u);  // too long for one page as absolute paths
    mount_all(m, mnt);
    EXPECT_EQ(fs::read_file(mnt + "/f0"), "0");
    EXPECT_EQ(fs::read_file(mnt + "/f159"), "159");
    EXPECT_EQ(::umount2(mnt.c_str(), 0), 0);
  }
  fs::remove_all(dir);
}

TEST(Snapshot, DriverNames) {
  EXPECT_EQ(parse_driver("overlayfs"), Driver::overlay);
  EXPECT_EQ(parse_driver("vfs"), Driver::native);
  EXPECT_THROW(parse_driver("zfs"), Error);
}
