// VolumeStore: named and anonymous volumes of the local driver, their records and errors.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "engine/volumes.hpp"
#include "temp_dir.hpp"

using namespace berth;

namespace {

ErrorKind kind_of_create(engine::VolumeStore& vs, const std::string& name, bool must_be_new) {
  try {
    vs.create(name, {}, false, must_be_new);
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "create " << name << " succeeded";
  return ErrorKind::internal;
}

TEST(VolumeStore, NamedAndAnonymousVolumesWithTheirRecords) {
  test::TempDir d;
  engine::VolumeStore vs(d.path(), "default");
  auto v = vs.create("data", {{"k", "v"}});
  EXPECT_EQ(v.name, "data");
  EXPECT_EQ(v.mountpoint, d.path() + "/volumes/default/data/_data");
  EXPECT_TRUE(fs::is_dir(v.mountpoint));
  EXPECT_EQ(v.labels.at("k"), "v");
  EXPECT_FALSE(v.anonymous);
  EXPECT_GT(v.created, 1700000000);
  // Existing: the same volume back (its labels kept), unless it must be new.
  EXPECT_EQ(vs.create("data").labels.at("k"), "v");
  EXPECT_EQ(kind_of_create(vs, "data", true), ErrorKind::already_exists);
  auto anon = vs.create("", {}, true);
  EXPECT_EQ(anon.name.size(), 64u);
  EXPECT_EQ(anon.name.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_TRUE(anon.anonymous);
  auto all = vs.list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_TRUE(all[0].name < all[1].name);  // sorted
  auto j = vs.inspect(v);
  EXPECT_EQ(j["Name"], "data");
  EXPECT_EQ(j["Driver"], "local");
  EXPECT_EQ(j["Mountpoint"], v.mountpoint);
  EXPECT_EQ(j["Labels"]["k"], "v");
  EXPECT_EQ(j["CreatedAt"].get<std::string>().size(), 20u);  // 2026-12-03T10:00:00Z
  // Removed with its data; a second removal says there was none.
  fs::write_file_atomic(v.mountpoint + "/f", "x", 0644);
  EXPECT_TRUE(vs.remove("data"));
  EXPECT_FALSE(fs::exists(d.path() + "/volumes/default/data"));
  EXPECT_FALSE(vs.remove("data"));
  EXPECT_FALSE(vs.get("data"));
  // Namespaces are apart.
  engine::VolumeStore other(d.path(), "other");
  EXPECT_TRUE(other.list().empty());
}

TEST(VolumeStore, HostileNamesAreRefusedAndNeverReachOutside) {
  test::TempDir d;
  engine::VolumeStore vs(d.path(), "default");
  for (const char* bad : {"../x", "a/b", ".hidden", "-x", "a b", "x\n", "..", "."}) {
    EXPECT_EQ(kind_of_create(vs, bad, false), ErrorKind::invalid_argument) << bad;
    EXPECT_FALSE(vs.get(bad)) << bad;
    EXPECT_FALSE(vs.remove(bad)) << bad;
  }
  EXPECT_FALSE(fs::exists(d.path() + "/volumes/x"));
  EXPECT_TRUE(engine::VolumeStore::valid_name("a"));
  EXPECT_TRUE(engine::VolumeStore::valid_name("my_vol.1-a"));
  // A directory without its record is an incomplete volume: not listed, not returned.
  fs::mkdir_p(d.path() + "/volumes/default/broken/_data");
  EXPECT_FALSE(vs.get("broken"));
  EXPECT_TRUE(vs.list().empty());
}

}  // namespace
