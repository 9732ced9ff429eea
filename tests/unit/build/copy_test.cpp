// COPY/ADD planning and copying (build/copy.hpp) on real directories: what the sources name,
// the checksum's rules (content and mode count, mtimes do not), the hash cache, and writes
// that stay inside the destination root.
#include "build/copy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "temp_dir.hpp"

namespace berth::build {
namespace {

struct Context {
  test::TempDir dir{"berth-copy"};
  UniqueFd fd;
  Context() {
    fs::mkdir_p(dir / "ctx/src/sub");
    fs::write_file_atomic(dir / "ctx/a.txt", "alpha");
    fs::write_file_atomic(dir / "ctx/b.md", "beta");
    fs::write_file_atomic(dir / "ctx/c.md", "gamma");
    fs::write_file_atomic(dir / "ctx/src/main.c", "int main;");
    fs::write_file_atomic(dir / "ctx/src/sub/deep.c", "deep");
    fd.reset(::open((dir / "ctx").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  CopyPlan plan(std::vector<std::string> sources, std::string dest, const IgnoreRules* ignore = nullptr,
                HashCache* hashes = nullptr) {
    CopyRequest r;
    r.sources = std::move(sources);
    r.dest = std::move(dest);
    return plan_copy(fd.get(), ignore, r, hashes);
  }
};

std::vector<std::string> dests(const CopyPlan& p) {
  std::vector<std::string> out;
  for (auto& e : p.entries) out.push_back(e.dest);
  return out;
}

TEST(Copy, SourcesDirectoriesAndPatterns) {
  Context c;
  EXPECT_EQ(dests(c.plan({"a.txt"}, "/x")), (std::vector<std::string>{"/x"}));
  EXPECT_EQ(dests(c.plan({"a.txt"}, "/x/")), (std::vector<std::string>{"/x/a.txt"}));
  // A directory copies its contents, parents before children.
  EXPECT_EQ(dests(c.plan({"src"}, "/app/")),
            (std::vector<std::string>{"/app", "/app/main.c", "/app/sub", "/app/sub/deep.c"}));
  EXPECT_EQ(dests(c.plan({"*.md"}, "/docs/")), (std::vector<std::string>{"/docs/b.md", "/docs/c.md"}));
  EXPECT_EQ(c.plan({"*.md"}, "/docs/").label.substr(0, 6), "multi:");
  EXPECT_EQ(c.plan({"src"}, "/d/").label.substr(0, 4), "dir:");
  EXPECT_EQ(c.plan({"a.txt"}, "/d").label.substr(0, 5), "file:");
  // `..` and absolute names stay in the context.
  EXPECT_EQ(dests(c.plan({"../../a.txt"}, "/x")), (std::vector<std::string>{"/x"}));
  EXPECT_EQ(dests(c.plan({"/a.txt"}, "/x")), (std::vector<std::string>{"/x"}));
  EXPECT_THROW(c.plan({"b.md", "c.md"}, "/nodir"), Error);  // several: DEST must end in /
  EXPECT_THROW(c.plan({"*.none"}, "/x/"), Error);
  EXPECT_THROW(c.plan({"missing"}, "/x"), Error);
  EXPECT_THROW(c.plan({"http://example.com/x"}, "/x"), Error);
}

TEST(Copy, IgnoreRulesHideSources) {
  Context c;
  const IgnoreRules ignore = IgnoreRules::parse("*.md\n!c.md\nsrc/sub\n");
  EXPECT_NO_THROW(c.plan({"b.md"}, "/x"));
  EXPECT_THROW(c.plan({"b.md"}, "/x", &ignore), Error);
  EXPECT_EQ(dests(c.plan({"*.md"}, "/d/", &ignore)), (std::vector<std::string>{"/d/c.md"}));
  EXPECT_EQ(dests(c.plan({"src"}, "/app/", &ignore)), (std::vector<std::string>{"/app", "/app/main.c"}));
  try {
    c.plan({"b.md"}, "/x", &ignore);
    FAIL() << "an ignored source was found";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("excluded by .dockerignore"), std::string::npos);
  }
}

TEST(Copy, ChecksumCountsContentAndModeNotMtime) {
  Context c;
  const std::string first = c.plan({"src"}, "/app/").checksum;
  EXPECT_EQ(c.plan({"src"}, "/app/").checksum, first);
  struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (c.dir / "ctx/src/main.c").c_str(), old, 0), 0);
  EXPECT_EQ(c.plan({"src"}, "/app/").checksum, first);  // mtime alone: the same
  ASSERT_EQ(::chmod((c.dir / "ctx/src/main.c").c_str(), 0755), 0);
  const std::string moded = c.plan({"src"}, "/app/").checksum;
  EXPECT_NE(moded, first);
  fs::write_file_atomic(c.dir / "ctx/src/main.c", "int main=1;", 0755);
  EXPECT_NE(c.plan({"src"}, "/app/").checksum, moded);
  EXPECT_NE(c.plan({"src"}, "/other/").checksum, c.plan({"src"}, "/app/").checksum);  // the destination counts
}

TEST(Copy, HashCacheRemembersOldFilesOnly) {
  Context c;
  HashCache cache;
  // Just written: not remembered (a write in the same tick would not change the times).
  (void)c.plan({"a.txt"}, "/x", nullptr, &cache);
  struct stat st {};
  ASSERT_EQ(::stat((c.dir / "ctx/a.txt").c_str(), &st), 0);
  EXPECT_FALSE(cache.find(st));
  // An old stat is remembered, and a cache saved and loaded again answers the same.
  st.st_ctim.tv_sec -= 100;
  st.st_mtim.tv_sec -= 100;
  cache.put(st, std::string(64, 'a'));
  EXPECT_EQ(cache.find(st).value_or(""), std::string(64, 'a'));
  cache.save(c.dir / "hashes");
  HashCache again;
  again.load(c.dir / "hashes");
  EXPECT_EQ(again.find(st).value_or(""), std::string(64, 'a'));
  st.st_size += 1;
  EXPECT_FALSE(again.find(st));
  HashCache broken;
  fs::write_file_atomic(c.dir / "bad", "garbage\nno hex here\n");
  broken.load(c.dir / "bad");
  broken.load(c.dir / "missing");
}

TEST(Copy, WritesStayInsideTheDestinationRoot) {
  Context c;
  fs::mkdir_p(c.dir / "root/etc");
  fs::mkdir_p(c.dir / "outside");
  // The image's /escape points at a host directory by an absolute link.
  ASSERT_EQ(::symlink((c.dir / "outside").c_str(), (c.dir / "root/escape").c_str()), 0);
  UniqueFd root(::open((c.dir / "root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  CopyRequest r;
  r.sources = {"a.txt"};
  r.dest = "/escape/";
  r.uid = 123;
  r.gid = 456;
  r.mode = 0640;
  const CopyPlan p = plan_copy(c.fd.get(), nullptr, r);
  apply_copy(c.fd.get(), p, root.get(), r);
  EXPECT_FALSE(fs::exists(c.dir / "outside/a.txt"));
  struct stat st {};
  ASSERT_EQ(::stat((c.dir / "root" + c.dir.path() + "/outside/a.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 123u);
  EXPECT_EQ(st.st_gid, 456u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(fs::read_file(c.dir / "root" + c.dir.path() + "/outside/a.txt"), "alpha");
}

TEST(Copy, ChmodParsing) {
  EXPECT_EQ(parse_chmod("755"), 0755u);
  EXPECT_EQ(parse_chmod("0644"), 0644u);
  EXPECT_EQ(parse_chmod("4755"), 04755u);
  EXPECT_THROW(parse_chmod("u+x"), Error);
  EXPECT_THROW(parse_chmod("999"), Error);
  EXPECT_THROW(parse_chmod(""), Error);
}

}  // namespace
}  // namespace berth::build
