// apply_layer: metadata, node types, whiteouts, compressions and digests, hostile layers.
#include <gtest/gtest.h>

#include "common/digest.hpp"
#include "diff/layer.hpp"
#include "util.hpp"

using namespace difftest;
using berth::sha256_of;
using berth::diff::apply_layer;
using berth::diff::ApplyOptions;
using berth::diff::ApplyResult;
using berth::diff::Compression;

namespace {

class ApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp = std::make_unique<TempDir>("berth-diff-apply");
    outside = std::make_unique<TempDir>("berth-diff-outside");
    root = *tmp / "root";
    ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
    dest.reset(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(dest);
  }
  void TearDown() override {
    dest.reset();
    tmp.reset();
    outside.reset();
  }

  ApplyResult apply(const std::string& blob, Compression c = Compression::none,
                    ApplyOptions opt = {}, size_t chunk = SIZE_MAX) {
    return apply_layer(string_reader(blob, chunk), c, dest.get(), opt);
  }
  std::string apply_error(const std::string& blob, Compression c = Compression::none,
                          ApplyOptions opt = {}) {
    return error_of([&] { apply(blob, c, opt); });
  }
  std::string at(const std::string& rel) const { return root + "/" + rel; }
  static bool dir_empty(const std::string& p) {
    DIR* d = ::opendir(p.c_str());
    if (!d) return false;
    int n = 0;
    while (dirent* de = ::readdir(d))
      if (std::string_view(de->d_name) != "." && std::string_view(de->d_name) != "..") ++n;
    ::closedir(d);
    return n == 0;
  }

  std::unique_ptr<TempDir> tmp, outside;
  std::string root;
  berth::UniqueFd dest;
};

// A small layer with a bit of everything, used for the compression variants.
std::string sample_tar() {
  return TarBuilder()
      .dir("etc/", Meta{0755, 0, 0, 1500000000})
      .file("etc/hostname", "berth\n")
      .file("bin/tool", std::string(300000, 'x') + "end", Meta{0755})
      .symlink("bin/sh", "tool")
      .finish();
}

}  // namespace

TEST(Compression, OfMediaType) {
  using berth::diff::compression_of;
  EXPECT_EQ(compression_of("application/vnd.oci.image.layer.v1.tar"), Compression::none);
  EXPECT_EQ(compression_of("application/vnd.oci.image.layer.v1.tar+gzip"), Compression::gzip);
  EXPECT_EQ(compression_of("application/vnd.oci.image.layer.v1.tar+zstd"), Compression::zstd);
  EXPECT_EQ(compression_of("application/vnd.docker.image.rootfs.diff.tar.gzip"), Compression::gzip);
  EXPECT_EQ(compression_of("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
            Compression::gzip);
  EXPECT_EQ(compression_of("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"),
            Compression::zstd);
  EXPECT_EQ(error_of([] { compression_of("application/x-foo"); }),
            "unknown layer media type `application/x-foo`");
  EXPECT_EQ(berth::diff::layer_media_type(Compression::gzip),
            "application/vnd.oci.image.layer.v1.tar+gzip");
  EXPECT_EQ(compression_of(berth::diff::layer_media_type(Compression::zstd)), Compression::zstd);
}

TEST(Compression, Detect) {
  using berth::diff::detect_compression;
  const unsigned char gz[] = {0x1f, 0x8b, 8, 0};
  const unsigned char zs[] = {0x28, 0xb5, 0x2f, 0xfd};
  const char tar[] = "etc/passwd";
  EXPECT_EQ(detect_compression(gz, 4), Compression::gzip);
  EXPECT_EQ(detect_compression(zs, 4), Compression::zstd);
  EXPECT_EQ(detect_compression("BZh91AY&SY", 10), Compression::bzip2);
  EXPECT_EQ(detect_compression("\xfd" "7zXZ\0\0\x04", 8), Compression::xz);
  EXPECT_EQ(detect_compression("\xfd" "7zXZ", 5), Compression::none);
  EXPECT_EQ(detect_compression(tar, 10), Compression::none);
  EXPECT_EQ(detect_compression(gz, 1), Compression::none);
}

TEST_F(ApplyTest, RegularFilesKeepContentModesOwnersTimes) {
  std::string tar = TarBuilder()
                        .dir("usr/", Meta{0755, 0, 0, 1400000000})
                        .dir("usr/bin/", Meta{0711, 0, 0, 1500000000})
                        .file("usr/bin/su", "#!su\n", Meta{04755, 0, 0, 1600000000, 123456789})
                        .file("usr/bin/sg", "sg", Meta{02755, 0, 42, 1600000001})
                        .file("home/user/notes", "hello", Meta{0600, 1000, 1000, 1234567890})
                        .dir("tmp/", Meta{01777, 0, 0, 1300000000})
                        .file("empty", "", Meta{0000, 7, 8})
                        .finish();
  ApplyResult r = apply(tar);
  EXPECT_EQ(r.diff_id, sha256_of(tar));
  EXPECT_EQ(r.compressed, r.diff_id);
  EXPECT_EQ(r.size, static_cast<int64_t>(tar.size()));

  struct stat su = lstat_of(at("usr/bin/su"));
  EXPECT_EQ(slurp(at("usr/bin/su")), "#!su\n");
  EXPECT_EQ(su.st_mode, S_IFREG | 04755u);  // setuid survives: mode is set after chown
  EXPECT_EQ(su.st_mtim.tv_sec, 1600000000);
  EXPECT_EQ(su.st_mtim.tv_nsec, 123456789);
  struct stat sg = lstat_of(at("usr/bin/sg"));
  EXPECT_EQ(sg.st_mode, S_IFREG | 02755u);
  EXPECT_EQ(sg.st_gid, 42u);
  struct stat notes = lstat_of(at("home/user/notes"));
  EXPECT_EQ(notes.st_uid, 1000u);
  EXPECT_EQ(notes.st_gid, 1000u);
  EXPECT_EQ(notes.st_mode, S_IFREG | 0600u);
  EXPECT_EQ(notes.st_mtim.tv_sec, 1234567890);
  EXPECT_EQ(lstat_of(at("empty")).st_mode, S_IFREG | 0u);
  EXPECT_EQ(lstat_of(at("empty")).st_uid, 7u);
  // Directories: their mtime is the layer's even though files were created in them later.
  struct stat bin = lstat_of(at("usr/bin"));
  EXPECT_EQ(bin.st_mode, S_IFDIR | 0711u);
  EXPECT_EQ(bin.st_mtim.tv_sec, 1500000000);
  EXPECT_EQ(lstat_of(at("usr")).st_mtim.tv_sec, 1400000000);
  EXPECT_EQ(lstat_of(at("tmp")).st_mode, S_IFDIR | 01777u);
  // Parents the tar did not list are made 0755 root.
  EXPECT_EQ(lstat_of(at("home/user")).st_mode, S_IFDIR | 0755u);
  EXPECT_EQ(lstat_of(at("home/user")).st_uid, 0u);
}

TEST_F(ApplyTest, SymlinksKeptVerbatim) {
  std::string tar = TarBuilder()
                        .symlink("abs", "/etc/passwd", Meta{0777, 1000, 1000, 1111111111})
                        .symlink("rel", "../x/y")
                        .symlink("dangling", "nowhere/at/all")
                        .finish();
  apply(tar);
  char t[256];
  ssize_t n = ::readlink(at("abs").c_str(), t, sizeof t);
  EXPECT_EQ(std::string(t, static_cast<size_t>(n)), "/etc/passwd");
  n = ::readlink(at("rel").c_str(), t, sizeof t);
  EXPECT_EQ(std::string(t, static_cast<size_t>(n)), "../x/y");
  struct stat st = lstat_of(at("abs"));
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1000u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1111111111);
  EXPECT_TRUE(S_ISLNK(lstat_of(at("dangling")).st_mode));
}

TEST_F(ApplyTest, Hardlinks) {
  std::string tar = TarBuilder()
                        .file("bin/a", "shared", Meta{0755, 3, 4})
                        .hardlink("bin/b", "bin/a")
                        .hardlink("c", "./bin/a")
                        .finish();
  apply(tar);
  struct stat a = lstat_of(at("bin/a")), b = lstat_of(at("bin/b")), c = lstat_of(at("c"));
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_ino, c.st_ino);
  EXPECT_EQ(a.st_nlink, 3u);
  EXPECT_EQ(slurp(at("c")), "shared");
  EXPECT_EQ(b.st_mode, S_IFREG | 0755u);
}

// Docker's layer size: the files' sizes and the symlinks' target lengths, a hard link and a
// directory adding nothing.
TEST_F(ApplyTest, FilesSizeIsDockersLayerSize) {
  EXPECT_EQ(apply(sample_tar()).files_size, 6 + 300003 + 4);
  TempDir other("berth-diff-size");
  dest.reset(::open(other.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  EXPECT_EQ(apply(TarBuilder().file("a", "shared").hardlink("b", "a").dir("d/").finish()).files_size, 6);
}

TEST_F(ApplyTest, FifoAndDevices) {
  std::string tar = TarBuilder()
                        .fifo("run/fifo", Meta{0640, 5, 6, 1200000000})
                        .chr("dev/null", 1, 3, Meta{0666})
                        .finish();
  apply(tar);
  struct stat f = lstat_of(at("run/fifo"));
  EXPECT_TRUE(S_ISFIFO(f.st_mode));
  EXPECT_EQ(f.st_mode & 07777, 0640u);
  EXPECT_EQ(f.st_uid, 5u);
  EXPECT_EQ(f.st_mtim.tv_sec, 1200000000);
  struct stat d = lstat_of(at("dev/null"));
  EXPECT_TRUE(S_ISCHR(d.st_mode));
  EXPECT_EQ(d.st_rdev, makedev(1, 3));
  EXPECT_EQ(d.st_mode & 07777, 0666u);
}

TEST_F(ApplyTest, XattrsAndFileCapabilities) {
  Meta ping{0755, 1000, 1000};  // chown after the xattr would drop the capability
  ping.xattrs = {{"security.capability", cap_net_bind_service()}, {"user.note", "pong"}};
  Meta d{0755};
  d.xattrs = {{"user.dir", "yes"}, {"trusted.overlay.opaque", "y"}};
  std::string tar = TarBuilder().dir("data/", d).file("bin/ping", "ELF", ping).finish();
  apply(tar, Compression::none, ApplyOptions{.overlay = false});
  EXPECT_EQ(get_xattr(at("bin/ping"), "security.capability"), cap_net_bind_service());
  EXPECT_EQ(get_xattr(at("bin/ping"), "user.note"), "pong");
  EXPECT_EQ(lstat_of(at("bin/ping")).st_uid, 1000u);
  EXPECT_EQ(get_xattr(at("data"), "user.dir"), "yes");
  // Overlay metadata is never taken from a layer.
  EXPECT_EQ(get_xattr(at("data"), "trusted.overlay.opaque"), "<none>");
}

TEST_F(ApplyTest, OverlayWhiteoutsAndOpaqueDirs) {
  std::string tar = TarBuilder()
                        .dir("etc/")
                        .marker("etc/.wh.passwd")
                        .dir("var/")
                        .file("var/new", "n")
                        .marker("var/.wh..wh..opq")  // after a sibling of the same layer
                        .marker("deep/er/.wh.gone")  // parents not listed
                        .file("keep", "mine")
                        .marker(".wh.keep")      // hides lower layers only, not this one's `keep`
                        .marker(".wh..wh.plnk")  // aufs bookkeeping: ignored
                        .finish();
  apply(tar);
  struct stat wo = lstat_of(at("etc/passwd"));
  EXPECT_TRUE(S_ISCHR(wo.st_mode));
  EXPECT_EQ(wo.st_rdev, makedev(0, 0));
  EXPECT_TRUE(S_ISCHR(lstat_of(at("deep/er/gone")).st_mode));
  EXPECT_EQ(get_xattr(at("var"), "trusted.overlay.opaque"), "y");
  EXPECT_EQ(slurp(at("var/new")), "n");
  EXPECT_EQ(slurp(at("keep")), "mine");
  EXPECT_FALSE(exists(at("etc/.wh.passwd")));
  EXPECT_FALSE(exists(at("var/.wh..wh..opq")));
  EXPECT_FALSE(exists(at(".wh..wh.plnk")));
  EXPECT_FALSE(exists(at("plnk")));
}

TEST_F(ApplyTest, RootlessOverlayUsesUserXattr) {
  std::string tar = TarBuilder().dir("var/").marker("var/.wh..wh..opq").finish();
  apply(tar, Compression::none, ApplyOptions{.overlay = true, .rootless = true});
  EXPECT_EQ(get_xattr(at("var"), "user.overlay.opaque"), "y");
  EXPECT_EQ(get_xattr(at("var"), "trusted.overlay.opaque"), "<none>");
}

TEST_F(ApplyTest, NativeWhiteoutsDelete) {
  // The "parent snapshot": a copy of the lower layers.
  for (auto d : {"etc", "var", "var/sub", "var/lowerdir", "var/lowerdir/x"})
    ASSERT_EQ(::mkdir(at(d).c_str(), 0755), 0);
  for (auto f : {"etc/passwd", "etc/group", "var/old", "var/sub/oldfile", "var/lowerdir/x/f"})
    spit(at(f), "lower");
  std::string tar = TarBuilder()
                        .marker("etc/.wh.passwd")
                        .dir("var/")
                        .file("var/new", "new")
                        .dir("var/sub/")
                        .file("var/sub/newfile", "new")
                        .marker("var/.wh..wh..opq")
                        .file("var/after", "after")
                        .marker(".wh.nothing-there")
                        .finish();
  apply(tar, Compression::none, ApplyOptions{.overlay = false});
  EXPECT_FALSE(exists(at("etc/passwd")));
  EXPECT_EQ(slurp(at("etc/group")), "lower");
  EXPECT_FALSE(exists(at("var/old")));
  EXPECT_FALSE(exists(at("var/lowerdir")));
  EXPECT_FALSE(exists(at("var/sub/oldfile")));  // lower content of a re-listed dir is hidden too
  EXPECT_EQ(slurp(at("var/sub/newfile")), "new");
  EXPECT_EQ(slurp(at("var/new")), "new");
  EXPECT_EQ(slurp(at("var/after")), "after");
  EXPECT_FALSE(exists(at("etc/.wh.passwd")));
  EXPECT_FALSE(exists(at("var/.wh..wh..opq")));
  EXPECT_EQ(get_xattr(at("var"), "trusted.overlay.opaque"), "<none>");
}

TEST_F(ApplyTest, PlainTarKeepsWhiteoutNamesAsFiles) {
  // docker cp's input and build contexts are plain tars: `.wh.` names are files, and nothing
  // already in dest goes.
  ASSERT_EQ(::mkdir(at("d").c_str(), 0755), 0);
  spit(at("d/a"), "keep");
  spit(at("d/b"), "keep");
  std::string tar = TarBuilder()
                        .dir("d/")
                        .file("d/.wh.a", "file one")
                        .file("d/.wh..wh..opq", "file two")
                        .file("d/.wh..wh.plnk", "file three")
                        .finish();
  for (bool overlay : {true, false}) {
    apply(tar, Compression::none, ApplyOptions{.overlay = overlay, .whiteouts = false});
    EXPECT_EQ(slurp(at("d/a")), "keep");
    EXPECT_EQ(slurp(at("d/b")), "keep");
    EXPECT_EQ(slurp(at("d/.wh.a")), "file one");
    EXPECT_EQ(slurp(at("d/.wh..wh..opq")), "file two");
    EXPECT_EQ(slurp(at("d/.wh..wh.plnk")), "file three");
    EXPECT_EQ(get_xattr(at("d"), "trusted.overlay.opaque"), "<none>");
  }
}

TEST_F(ApplyTest, ReplacesExistingEntries) {
  ASSERT_EQ(::mkdir(at("dir-becomes-file").c_str(), 0755), 0);
  spit(at("dir-becomes-file/inner"), "x");
  spit(at("file-becomes-dir"), "x");
  ASSERT_EQ(::mkdir(at("dir-stays").c_str(), 0700), 0);
  spit(at("dir-stays/kept"), "x");
  std::string tar = TarBuilder()
                        .file("dir-becomes-file", "now a file")
                        .dir("file-becomes-dir/", Meta{0750})
                        .dir("dir-stays/", Meta{0755, 9, 9})
                        .file("twice", "first")
                        .file("twice", "second")
                        .finish();
  apply(tar, Compression::none, ApplyOptions{.overlay = false});
  EXPECT_EQ(slurp(at("dir-becomes-file")), "now a file");
  EXPECT_EQ(lstat_of(at("file-becomes-dir")).st_mode, S_IFDIR | 0750u);
  EXPECT_EQ(slurp(at("dir-stays/kept")), "x");
  EXPECT_EQ(lstat_of(at("dir-stays")).st_uid, 9u);
  EXPECT_EQ(lstat_of(at("dir-stays")).st_mode, S_IFDIR | 0755u);
  EXPECT_EQ(slurp(at("twice")), "second");
}

TEST_F(ApplyTest, CompressionsAndDigests) {
  std::string tar = sample_tar();
  std::string tar_digest = sha256_of(tar).str();
  // One gzip member, three concatenated members (as parallel compressors write them), zstd
  // in two frames, plain; each read in whole and in odd small pieces.
  size_t a = tar.size() / 3, b = 2 * tar.size() / 3;
  std::string multi =
      gzip(tar.substr(0, a), 1) + gzip(tar.substr(a, b - a), 9) + gzip(tar.substr(b));
  struct Case {
    const char* name;
    std::string blob;
    Compression c;
  } cases[] = {
      {"plain", tar, Compression::none},
      {"gzip", gzip(tar), Compression::gzip},
      {"gzip-multi", multi, Compression::gzip},
      {"zstd", zstd(tar.substr(0, a)) + zstd(tar.substr(a), 19), Compression::zstd},
      // bzip2 and xz (not layers: docker cp's and ADD's tars), each as two streams.
      {"bzip2", bzip2(tar.substr(0, a), 1) + bzip2(tar.substr(a)), Compression::bzip2},
      {"xz", xz(tar.substr(0, b)) + xz(tar.substr(b), 0), Compression::xz},
  };
  for (const auto& k : cases) {
    for (size_t chunk : {size_t{1} << 20, size_t{4093}, size_t{7}}) {
      SCOPED_TRACE(std::string(k.name) + " chunk " + std::to_string(chunk));
      TempDir d("berth-diff-variant");
      berth::UniqueFd fd(::open(d.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      ApplyResult r = apply_layer(string_reader(k.blob, chunk), k.c, fd.get());
      EXPECT_EQ(r.diff_id.str(), tar_digest);
      EXPECT_EQ(r.compressed, sha256_of(k.blob));
      EXPECT_EQ(r.size, static_cast<int64_t>(tar.size()));
      EXPECT_EQ(r.compressed_size, static_cast<int64_t>(k.blob.size()));
      EXPECT_EQ(slurp(d / "etc/hostname"), "berth\n");
      EXPECT_EQ(slurp(d / "bin/tool").size(), 300003u);
      EXPECT_EQ(lstat_of(d / "etc").st_mtim.tv_sec, 1500000000);
    }
  }
}

// A layer made by GNU tar and gzip (a `./` root entry, 10 KiB blocking, GNU long names, xattrs),
// digests checked against sha256sum of the files.
TEST_F(ApplyTest, GnuTarLayerAndSha256sum) {
  TempDir src("berth-diff-gnu");
  ASSERT_EQ(::mkdir((src / "d").c_str(), 0750), 0);
  spit(src / "d/file", "content", 0640);
  std::string longname(180, 'n');
  spit(src / ("d/" + longname), "long");
  ASSERT_EQ(::setxattr((src / "d/file").c_str(), "user.k", "v", 1, 0), 0);
  ASSERT_EQ(::symlink("d/file", (src / "link").c_str()), 0);
  {  // a sparse file: 16 MiB with 3 bytes of data at the end
    berth::UniqueFd f(::open((src / "sparse").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_EQ(::pwrite(f.get(), "end", 3, (16 << 20) - 3), 3);
  }
  std::string layer = *tmp / "layer.tar.gz";
  sh("tar --xattrs --sparse --numeric-owner -C " + src.path() + " -cf - . | gzip -c > " + layer);
  std::string blob = slurp(layer);
  auto sum = [](const std::string& cmd) { return "sha256:" + sh(cmd).substr(0, 64); };
  berth::UniqueFd in(::open(layer.c_str(), O_RDONLY | O_CLOEXEC));
  ApplyResult r = apply_layer(
      [&](void* buf, size_t n) {
        ssize_t k = ::read(in.get(), buf, n);
        if (k < 0) berth::throw_errno("read");
        return static_cast<size_t>(k);
      },
      Compression::gzip, dest.get());
  EXPECT_EQ(r.compressed.str(), sum("sha256sum " + layer));
  EXPECT_EQ(r.diff_id.str(), sum("gzip -dc " + layer + " | sha256sum"));
  EXPECT_EQ(slurp(at("d/file")), "content");
  EXPECT_EQ(slurp(at("d/" + longname)), "long");
  EXPECT_EQ(lstat_of(at("d")).st_mode, S_IFDIR | 0750u);
  EXPECT_EQ(get_xattr(at("d/file"), "user.k"), "v");
  struct stat sp = lstat_of(at("sparse"));
  EXPECT_EQ(sp.st_size, 16 << 20);
  EXPECT_LT(sp.st_blocks, 1024);  // the hole stayed a hole
  EXPECT_EQ(slurp(at("sparse")).substr((16 << 20) - 4), std::string(1, '\0') + "end");
}

TEST_F(ApplyTest, ReaderErrorsPropagate) {
  std::string gz = gzip(sample_tar());
  size_t calls = 0;
  auto reader = [&](void* buf, size_t n) -> size_t {
    if (++calls == 2) throw berth::Error("registry connection reset");
    size_t k = std::min<size_t>(n, 100);
    std::memcpy(buf, gz.data(), k);
    return k;
  };
  EXPECT_EQ(error_of([&] { apply_layer(reader, Compression::gzip, dest.get()); }),
            "registry connection reset");
}

TEST_F(ApplyTest, EmptyLayers) {
  ApplyResult r = apply(std::string(1024, '\0'));
  EXPECT_EQ(r.diff_id, sha256_of(std::string(1024, '\0')));
  r = apply("");
  EXPECT_EQ(r.diff_id, sha256_of(""));
  EXPECT_EQ(r.size, 0);
}

TEST_F(ApplyTest, NonAsciiNames) {
  std::string tar = TarBuilder().file("caf\xc3\xa9/\xe2\x98\x83", "snow").finish();
  apply(tar);
  EXPECT_EQ(slurp(at("caf\xc3\xa9/\xe2\x98\x83")), "snow");
}

// ---- hostile layers ----

TEST_F(ApplyTest, RejectsEscapingNames) {
  EXPECT_EQ(apply_error(TarBuilder().file("../evil", "x").finish()),
            "layer: ../evil: path leaves the root");
  EXPECT_EQ(apply_error(TarBuilder().file("/abs", "x").finish()),
            "layer: /abs: path leaves the root");
  EXPECT_EQ(apply_error(TarBuilder().file("a/../../b", "x").finish()),
            "layer: a/../../b: path leaves the root");
  EXPECT_EQ(apply_error(TarBuilder().marker("x/.wh..").finish()),
            "layer: x/.wh..: invalid whiteout");
  EXPECT_FALSE(exists(*tmp / "evil"));
  EXPECT_FALSE(exists("/abs"));
}

TEST_F(ApplyTest, RejectsPathsThroughSymlinks) {
  std::string tar = TarBuilder().symlink("a", outside->path()).file("a/file", "x").finish();
  EXPECT_EQ(apply_error(tar), "layer: a/file: path goes through symlink `a`");
  EXPECT_TRUE(dir_empty(outside->path()));

  // Relative, deeper, and a directory entry through it.
  tar = TarBuilder().dir("x/").symlink("x/up", "../../../..").dir("x/up/made/").finish();
  EXPECT_EQ(apply_error(tar), "layer: x/up/made/: path goes through symlink `x/up`");
  EXPECT_FALSE(exists(*tmp / "made"));
  EXPECT_FALSE(exists("/made"));
}

TEST_F(ApplyTest, RejectsBadHardlinks) {
  spit(outside->path() + "/secret", "secret", 0600);
  EXPECT_EQ(apply_error(TarBuilder().hardlink("h", "../x").finish()),
            "layer: h: hardlink target `../x`: path leaves the root");
  EXPECT_EQ(apply_error(TarBuilder().hardlink("h", "/etc/passwd").finish()),
            "layer: h: hardlink target `/etc/passwd`: path leaves the root");
  std::string tar = TarBuilder().symlink("a", outside->path()).hardlink("h", "a/secret").finish();
  EXPECT_EQ(apply_error(tar),
            "layer: h: hardlink target `a/secret`: path goes through symlink `a`");
  EXPECT_EQ(lstat_of(outside->path() + "/secret").st_nlink, 1u);
  EXPECT_FALSE(exists(at("h")));
  EXPECT_NE(apply_error(TarBuilder().hardlink("h2", "missing").finish()), "");
}

// containerd CVE-2021-32760: a hardlink to a symlink, with a mode, must not chmod the
// symlink's target.
TEST_F(ApplyTest, HardlinkToSymlinkNeverChmodsTarget) {
  std::string victim = outside->path() + "/victim";
  spit(victim, "v", 0600);
  std::string tar = TarBuilder().symlink("s", victim).hardlink("h", "s", Meta{0777}).finish();
  apply(tar);
  EXPECT_EQ(lstat_of(victim).st_mode & 07777, 0600u);
  EXPECT_TRUE(S_ISLNK(lstat_of(at("h")).st_mode));
}

// containerd CVE-2025-47290: a directory replaced by a symlink; later entries must not follow.
TEST_F(ApplyTest, DirectoryReplacedBySymlinkLater) {
  std::string tar = TarBuilder()
                        .dir("d/")
                        .file("d/f", "f")
                        .symlink("d", outside->path())
                        .file("d/g", "g")
                        .finish();
  EXPECT_EQ(apply_error(tar), "layer: d/g: path goes through symlink `d`");
  EXPECT_FALSE(exists(outside->path() + "/g"));
}

TEST_F(ApplyTest, FileReplacesSymlinkNotItsTarget) {
  std::string target = outside->path() + "/target";
  std::string tar = TarBuilder().symlink("s", target).file("s", "replaced").finish();
  apply(tar);
  EXPECT_TRUE(S_ISREG(lstat_of(at("s")).st_mode));
  EXPECT_EQ(slurp(at("s")), "replaced");
  EXPECT_FALSE(exists(target));
}

TEST_F(ApplyTest, WhiteoutThroughSymlink) {
  spit(outside->path() + "/secret", "s");
  std::string tar = TarBuilder().symlink("a", outside->path()).marker("a/.wh.secret").finish();
  EXPECT_EQ(apply_error(tar, Compression::none, ApplyOptions{.overlay = false}),
            "layer: a/.wh.secret: path goes through symlink `a`");
  EXPECT_TRUE(exists(outside->path() + "/secret"));
  berth::fs::remove_all(at("a"));
  EXPECT_EQ(apply_error(tar), "layer: a/.wh.secret: path goes through symlink `a`");
  EXPECT_TRUE(S_ISREG(lstat_of(outside->path() + "/secret").st_mode));
  tar = TarBuilder().symlink("b", outside->path()).marker("b/.wh..wh..opq").finish();
  EXPECT_EQ(apply_error(tar, Compression::none, ApplyOptions{.overlay = false}),
            "layer: b/.wh..wh..opq: path goes through symlink `b`");
  EXPECT_TRUE(exists(outside->path() + "/secret"));
}

TEST_F(ApplyTest, DevicesRefusedWhenRootless) {
  std::string tar = TarBuilder().chr("dev/null", 1, 3).finish();
  EXPECT_EQ(apply_error(tar, Compression::none, ApplyOptions{.overlay = true, .rootless = true}),
            "layer: dev/null: device nodes cannot be created in rootless mode");
  EXPECT_FALSE(exists(at("dev/null")));
}

TEST_F(ApplyTest, CorruptStreams) {
  std::string tar = sample_tar();
  std::string gz = gzip(tar);
  EXPECT_NE(apply_error(gz.substr(0, gz.size() / 2), Compression::gzip).find("layer: gzip: "),
            std::string::npos);
  // Cut just before the 8-byte trailer: the tar is complete, the stream is not.
  EXPECT_EQ(apply_error(gz.substr(0, gz.size() - 4), Compression::gzip),
            "layer: gzip: unexpected end of stream");
  std::string bad = gz;
  for (size_t i = bad.size() / 3; i < bad.size() / 3 + 64; ++i) bad[i] = static_cast<char>(~bad[i]);
  EXPECT_NE(apply_error(bad, Compression::gzip), "");
  std::string crc = gz;
  crc[crc.size() - 6] ^= 1;  // CRC32 of the trailer
  EXPECT_EQ(apply_error(crc, Compression::gzip), "layer: gzip: CRC or length mismatch");
  EXPECT_EQ(apply_error(gz + "junk", Compression::gzip),
            "layer: gzip: trailing garbage after the compressed stream");
  EXPECT_EQ(apply_error("", Compression::gzip), "layer: gzip: unexpected end of stream");
  EXPECT_EQ(apply_error("not gzip at all", Compression::gzip), "layer: gzip: invalid gzip header");
  std::string zs = zstd(tar);
  EXPECT_EQ(apply_error(zs.substr(0, zs.size() - 10), Compression::zstd),
            "layer: zstd: unexpected end of stream");
  EXPECT_NE(apply_error("garbage!", Compression::zstd).find("layer: zstd: "), std::string::npos);
  std::string bz = bzip2(tar);
  EXPECT_EQ(apply_error(bz.substr(0, bz.size() - 10), Compression::bzip2), "layer: bzip2: unexpected end of stream");
  EXPECT_EQ(apply_error(bz + "junk", Compression::bzip2), "layer: bzip2: corrupt stream (-5)");  // BZ_DATA_ERROR_MAGIC
  std::string bzbad = bz;
  for (size_t i = bzbad.size() / 3; i < bzbad.size() / 3 + 64; ++i) bzbad[i] = static_cast<char>(~bzbad[i]);
  EXPECT_NE(apply_error(bzbad, Compression::bzip2).find("layer: bzip2: "), std::string::npos);
  std::string x = xz(tar);
  EXPECT_EQ(apply_error(x.substr(0, x.size() - 10), Compression::xz), "layer: xz: unexpected end of stream");
  std::string xcheck = x;
  xcheck[xcheck.size() - 20] ^= 1;  // in the CRC64 of the block, or its index
  EXPECT_NE(apply_error(xcheck, Compression::xz).find("layer: xz: corrupt stream"), std::string::npos);
  EXPECT_EQ(apply_error(x + "junk", Compression::xz), "layer: xz: unexpected end of stream");  // a stream that has only begun
  EXPECT_NE(apply_error(x + std::string(16, 'j'), Compression::xz).find("layer: xz: corrupt stream"), std::string::npos);
  // A header asking for a 1.5 GiB dictionary (xz --lzma2=dict=1536MiB) is refused before
  // anything is allocated.
  {
    lzma_options_lzma o;
    lzma_lzma_preset(&o, 0);
    o.dict_size = 1536u << 20;
    lzma_filter f[] = {{LZMA_FILTER_LZMA2, &o}, {LZMA_VLI_UNKNOWN, nullptr}};
    std::string big(lzma_stream_buffer_bound(tar.size()), '\0');
    size_t n = 0;
    ASSERT_EQ(lzma_stream_buffer_encode(f, LZMA_CHECK_CRC32, nullptr, reinterpret_cast<const uint8_t*>(tar.data()),
                                        tar.size(), reinterpret_cast<uint8_t*>(big.data()), &n, big.size()),
              LZMA_OK);
    big.resize(n);
    EXPECT_EQ(apply_error(big, Compression::xz), "layer: xz: the stream needs more than 256 MiB of memory to decode");
  }
  // A tar cut in the middle of a file.
  EXPECT_NE(apply_error(tar.substr(0, 2048)).find("layer: "), std::string::npos);
  EXPECT_NE(apply_error(std::string(1024, 'x')).find("layer: tar: "), std::string::npos);
}

TEST_F(ApplyTest, PlainTarIntoAnExistingDirectoryKeepsItAndTakesAbsoluteNamesInside) {
  // ADD and cp - (Docker's untar): the tar's "./" leaves DEST's mode and owner alone, and
  // "/etc/f" (tar -P) lands at DEST/etc/f; a layer refuses such a name.
  ASSERT_EQ(::chmod(at("").c_str(), 0755), 0);
  std::string tar = TarBuilder().dir("./", Meta{0700, 7, 7}).file("/etc/f", "abs").finish();
  ApplyOptions plain{.overlay = false};
  plain.keep_root = true;
  plain.absolute_inside = true;
  apply(tar, Compression::none, plain);
  EXPECT_EQ(lstat_of(at("")).st_mode, S_IFDIR | 0755u);
  EXPECT_EQ(lstat_of(at("")).st_uid, 0u);
  EXPECT_EQ(slurp(at("etc/f")), "abs");
  EXPECT_THROW(apply(tar, Compression::none, ApplyOptions{.overlay = false}), berth::Error);
}

TEST(IsTar, ATarPlainOrCompressedButNotACompressedPlainFile) {
  const std::string tar = TarBuilder().file("a", "x").finish();
  EXPECT_TRUE(berth::diff::is_tar(string_reader(tar, 7)));
  EXPECT_TRUE(berth::diff::is_tar(string_reader(gzip(tar), 1 << 20)));
  EXPECT_TRUE(berth::diff::is_tar(string_reader(zstd(tar), 5)));
  EXPECT_TRUE(berth::diff::is_tar(string_reader(xz(tar), 1 << 20)));
  EXPECT_FALSE(berth::diff::is_tar(string_reader(gzip("plain text, not a tar\n"), 1 << 20)));
  EXPECT_FALSE(berth::diff::is_tar(string_reader(bzip2(std::string(600, 'x')), 1 << 20)));
  EXPECT_FALSE(berth::diff::is_tar(string_reader(std::string(512, '\0'), 1 << 20)));  // no checksum: an end block
  EXPECT_FALSE(berth::diff::is_tar(string_reader(std::string("\x1f\x8b garbage"), 1 << 20)));
  EXPECT_FALSE(berth::diff::is_tar(string_reader("", 1)));
}
