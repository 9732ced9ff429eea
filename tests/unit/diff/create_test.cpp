// create_layer: an overlay upper dir → layer → apply → the same tree; reproducibility; GNU tar.
#include <gtest/gtest.h>

#include "common/digest.hpp"
#include "diff/layer.hpp"
#include "util.hpp"

using namespace difftest;
using berth::sha256_of;
using berth::diff::apply_layer;
using berth::diff::ApplyResult;
using berth::diff::Compression;
using berth::diff::create_layer;
using berth::diff::CreateResult;

namespace {

void set_times(const std::string& p, time_t t) {
  timespec ts[2] = {{t, 0}, {t, 0}};
  if (::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0)
    berth::throw_errno("utimensat " + p);
}

void check(int r, const std::string& what) {
  if (r < 0) berth::throw_errno(what);
}

// An upper dir as overlayfs leaves it: new files, a whiteout, an opaque dir, overlay
// bookkeeping xattrs.
void make_upper(const std::string& u) {
  auto p = [&](const std::string& rel) { return u + "/" + rel; };
  for (auto d : {"etc", "bin", "var", "var/cache", "run", "dev", "empty"})
    check(::mkdir(p(d).c_str(), 0755), d);
  check(::chmod(p("var/cache").c_str(), 0700), "chmod");
  spit(p("etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
  spit(p("etc/shadow"), "root:*::0:::::\n", 0640);
  check(::chown(p("etc/shadow").c_str(), 0, 42), "chown");
  spit(p("bin/su"), std::string(200000, 's'));
  check(::chown(p("bin/su").c_str(), 1000, 1000), "chown");
  check(::chmod(p("bin/su").c_str(), 04755), "chmod");
  spit(p("bin/a"), "hardlinked", 0755);
  check(::link(p("bin/a").c_str(), p("bin/b").c_str()), "link");
  check(::link(p("bin/a").c_str(), p("etc/c").c_str()), "link");
  spit(p("bin/ping"), "ping", 0755);
  std::string cap = cap_net_bind_service();
  check(::setxattr(p("bin/ping").c_str(), "security.capability", cap.data(), cap.size(), 0), "cap");
  check(::setxattr(p("bin/ping").c_str(), "user.comment", "hi", 2, 0), "xattr");
  // overlayfs' own bookkeeping: never part of a layer
  check(::setxattr(p("etc/passwd").c_str(), "trusted.overlay.origin", "\0\xfb", 2, 0), "xattr");
  check(::symlink("/usr/lib", p("lib").c_str()), "symlink");
  check(::lchown(p("lib").c_str(), 1000, 1000), "lchown");
  check(::symlink("../bin/su", p("etc/su-link").c_str()), "symlink");
  check(::mkfifo(p("run/fifo").c_str(), 0600), "mkfifo");
  check(::mknod(p("dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), "mknod");
  check(::chmod(p("dev/null").c_str(), 0666), "chmod");
  check(::mknod(p("etc/removed").c_str(), S_IFCHR | 0, makedev(0, 0)), "whiteout");
  check(::setxattr(p("var").c_str(), "trusted.overlay.opaque", "y", 1, 0), "opaque");
  spit(p("var/cache/x"), "x");
  spit(p("\xe2\x98\x83"), "non-ascii");
  int i = 0;
  for (auto rel : {"etc/passwd", "etc/shadow", "bin/su", "bin/a", "bin/ping", "lib", "etc/su-link",
                   "run/fifo", "dev/null", "var/cache/x", "\xe2\x98\x83", "var/cache", "var", "run",
                   "dev", "bin", "etc", "empty"})
    set_times(p(rel), 1600000000 + 1000 * i++);
}

class CreateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp = std::make_unique<TempDir>("berth-diff-create");
    upper = *tmp / "upper";
    check(::mkdir(upper.c_str(), 0755), "mkdir");
    make_upper(upper);
    upper_fd.reset(::open(upper.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  void TearDown() override {
    upper_fd.reset();
    tmp.reset();
  }
  std::unique_ptr<TempDir> tmp;
  std::string upper;
  berth::UniqueFd upper_fd;
};

}  // namespace

TEST_F(CreateTest, RoundTripThroughApply) {
  auto before = snapshot(upper);
  for (Compression c : {Compression::none, Compression::gzip, Compression::zstd}) {
    SCOPED_TRACE(static_cast<int>(c));
    std::string blob;
    CreateResult cr = create_layer(upper_fd.get(), string_writer(blob), c);
    EXPECT_EQ(cr.compressed, sha256_of(blob));
    EXPECT_EQ(cr.compressed_size, static_cast<int64_t>(blob.size()));
    std::string tar = c == Compression::gzip   ? gunzip(blob)
                      : c == Compression::zstd ? unzstd(blob)
                                               : blob;
    EXPECT_EQ(cr.diff_id, sha256_of(tar));
    EXPECT_EQ(cr.size, static_cast<int64_t>(tar.size()));
    EXPECT_EQ(tar.size() % 512, 0u);

    TempDir out("berth-diff-roundtrip");
    berth::UniqueFd fd(::open(out.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ApplyResult ar = apply_layer(string_reader(blob), c, fd.get());
    EXPECT_EQ(ar.diff_id, cr.diff_id);
    EXPECT_EQ(ar.compressed, cr.compressed);
    EXPECT_GT(cr.files_size, 0);
    EXPECT_EQ(ar.files_size, cr.files_size);  // what the layer unpacks to, counted by both

    auto after = snapshot(out.path());
    // The origin xattr is dropped; all else is equal.
    auto expected = before;
    expected["etc/passwd"].xattrs.clear();
    ASSERT_EQ(after.size(), expected.size());
    for (const auto& [path, node] : expected) {
      SCOPED_TRACE(path);
      ASSERT_TRUE(after.count(path));
      EXPECT_TRUE(after[path] == node)
          << std::oct << after[path].mode << " vs " << node.mode << std::dec << " uid "
          << after[path].uid << " vs " << node.uid << " mtime " << after[path].mtime << " vs "
          << node.mtime << " xattrs " << after[path].xattrs.size() << " vs " << node.xattrs.size();
    }
    EXPECT_EQ(after["bin/a"].ino, after["bin/b"].ino);
    EXPECT_EQ(after["bin/a"].ino, after["etc/c"].ino);
    EXPECT_EQ(get_xattr(out / "var", "trusted.overlay.opaque"), "y");
    EXPECT_EQ(get_xattr(out / "bin/ping", "security.capability"), cap_net_bind_service());
  }
}

TEST_F(CreateTest, SameTreeSameDigests) {
  for (Compression c : {Compression::none, Compression::gzip, Compression::zstd}) {
    std::string a, b;
    CreateResult ra = create_layer(upper_fd.get(), string_writer(a), c);
    // Reading the tree (atimes) and another walk must not change a byte.
    CreateResult rb = create_layer(upper_fd.get(), string_writer(b), c);
    EXPECT_EQ(ra.diff_id, rb.diff_id);
    EXPECT_EQ(ra.compressed, rb.compressed);
    EXPECT_EQ(a, b);
  }
}

TEST_F(CreateTest, ReadableByGnuTar) {
  std::string gz, zs;
  create_layer(upper_fd.get(), string_writer(gz), Compression::gzip);
  create_layer(upper_fd.get(), string_writer(zs), Compression::zstd);
  spit(*tmp / "l.tar.gz", gz);
  spit(*tmp / "l.tar.zst", zs);
  sh("gzip -t " + (*tmp / "l.tar.gz"));
  std::string list = sh("tar -tvzf " + (*tmp / "l.tar.gz"));
  EXPECT_NE(list.find("etc/.wh.removed"), std::string::npos) << list;
  EXPECT_NE(list.find("var/.wh..wh..opq"), std::string::npos) << list;
  EXPECT_NE(list.find("bin/b link to bin/a"), std::string::npos) << list;
  EXPECT_NE(list.find("lib -> /usr/lib"), std::string::npos) << list;
  EXPECT_NE(list.find("-rwsr-xr-x 1000/1000"), std::string::npos) << list;
  std::string zlist = sh("zstd -dc " + (*tmp / "l.tar.zst") + " | tar -tf -");
  EXPECT_NE(zlist.find("etc/.wh.removed"), std::string::npos);
  // GNU tar reads the xattrs back (SCHILY.xattr).
  TempDir x("berth-diff-gnux");
  sh("tar --xattrs --xattrs-include='*' -xzf " + (*tmp / "l.tar.gz") + " -C " + x.path() +
     " bin/ping");
  EXPECT_EQ(get_xattr(x / "bin/ping", "user.comment"), "hi");
}

TEST_F(CreateTest, RefusesRedirectAndMetacopy) {
  check(::setxattr((upper + "/empty").c_str(), "trusted.overlay.redirect", "/old", 4, 0), "xattr");
  std::string out;
  EXPECT_EQ(error_of([&] { create_layer(upper_fd.get(), string_writer(out), Compression::none); }),
            "layer create: empty: overlayfs redirect is not supported (mount with "
            "redirect_dir=off,metacopy=off)");
}
