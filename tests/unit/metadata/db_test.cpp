#include "metadata/db.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "metadata/schema.hpp"

using namespace berth;
using namespace berth::metadata;
using Kind = Snapshot::Kind;
using RType = LeaseResource::Type;

namespace {

// The message of the berth::Error that f throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Image make_image(const std::string& name, const std::string& digest, Labels labels = {}) {
  return Image{name, Descriptor{"application/vnd.oci.image.index.v1+json", digest, 1234},
               std::move(labels)};
}

std::string digest_of(int i) {
  std::string hex = std::to_string(i);
  return "sha256:" + std::string(64 - hex.size(), 'a') + hex;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) < 0) return 0;
  return st.st_mode & 07777;
}

// A plain SQLite connection to look at the file behind Db's back.
class Raw {
 public:
  explicit Raw(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      throw std::runtime_error("sqlite3_open_v2 failed");
    }
  }
  ~Raw() { sqlite3_close_v2(db_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;
  int exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }
  std::string value(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      auto* p = sqlite3_column_text(s, 0);
      if (p) out = reinterpret_cast<const char*>(p);
    }
    sqlite3_finalize(s);
    return out;
  }
  sqlite3* get() { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

class MetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-metadata-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    path = dir + "/root/metadata.db";  // the parent directory does not exist yet
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string dir, path;
};

// ---- Opening, file, pragmas, schema

TEST_F(MetadataTest, OpenCreatesFile0600AndParentDir) {
  mode_t old = umask(0);  // SQLite alone would create 0666 & ~umask
  {
    Db db = Db::open(path);
    umask(old);
    EXPECT_EQ(mode_of(path), 0600u);
    EXPECT_EQ(mode_of(dir + "/root"), 0700u);
    db.put_image("default", make_image("a", digest_of(1)));
    // WAL and shared-memory files take the mode of the database file.
    EXPECT_TRUE(fs::exists(path + "-wal"));
    EXPECT_EQ(mode_of(path + "-wal"), 0600u);
    EXPECT_EQ(mode_of(path + "-shm"), 0600u);
    EXPECT_EQ(db.path(), path);
  }
  umask(old);
}

TEST_F(MetadataTest, PragmasAndWal) {
  Db db = Db::open(path);
  EXPECT_EQ(db.pragma("journal_mode"), "wal");
  EXPECT_EQ(db.pragma("busy_timeout"), "10000");
  EXPECT_EQ(db.pragma("foreign_keys"), "1");
  EXPECT_EQ(db.pragma("synchronous"), "1");  // NORMAL
  EXPECT_NE(error_of([&] { (void)db.pragma("user_version; DROP TABLE images"); }), "");
  // WAL is a property of the file: another connection sees it too.
  Raw raw(path);
  EXPECT_EQ(raw.value("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.value("PRAGMA user_version"), std::to_string(schema::latest_version()));
  Db db2 = Db::open(path, OpenOptions{std::chrono::milliseconds(1234)});
  EXPECT_EQ(db2.pragma("busy_timeout"), "1234");
}

TEST_F(MetadataTest, ReopenKeepsData) {
  {
    Db db = Db::open(path);
    db.put_image("default", make_image("alpine", digest_of(1), {{"k", "v"}}));
    db.add_snapshot("default", "s1", "", Kind::active);
    db.set_content("default", digest_of(2), 42, {{"berth.uncompressed", digest_of(3)}});
    db.create_lease("default", "pull-1");
  }
  Db db = Db::open(path);
  auto img = db.get_image("default", "alpine");
  ASSERT_TRUE(img);
  EXPECT_EQ(img->target.digest, digest_of(1));
  EXPECT_EQ(img->labels, (Labels{{"k", "v"}}));
  EXPECT_TRUE(db.get_snapshot("default", "s1"));
  EXPECT_EQ(db.get_content("default", digest_of(2))->labels.at("berth.uncompressed"), digest_of(3));
  EXPECT_TRUE(db.get_lease("default", "pull-1"));
}

TEST_F(MetadataTest, MigrationsAreIdempotent) {
  for (int i = 0; i < 3; i++) {
    Db db = Db::open(path);
    EXPECT_EQ(db.schema_version(), schema::latest_version());
    db.put_image("default", make_image("img" + std::to_string(i), digest_of(i)));
  }
  Db db = Db::open(path);
  EXPECT_EQ(db.list_images("default").size(), 3u);

  // A later berth adds a table with a new migration: applied once, then a no-op.
  Raw raw(path);
  std::vector<schema::Migration> steps(schema::migrations().begin(), schema::migrations().end());
  int v = schema::latest_version();
  steps.push_back({v + 1,
                   "CREATE TABLE future_things (namespace TEXT NOT NULL, id TEXT NOT NULL, "
                   "PRIMARY KEY (namespace, id))"});
  schema::migrate(raw.get(), path, steps);
  EXPECT_EQ(raw.value("PRAGMA user_version"), std::to_string(v + 1));
  EXPECT_EQ(raw.exec("INSERT INTO future_things VALUES ('default', 'c1')"), SQLITE_OK);
  schema::migrate(raw.get(), path, steps);  // again: nothing to do, the table is not recreated
  EXPECT_EQ(raw.value("SELECT count(*) FROM future_things"), "1");

  // A failing step changes nothing: neither its first statement nor the version.
  steps.push_back({v + 2, "CREATE TABLE volumes (name TEXT); CREATE TABLE broken (;"});
  auto err = error_of([&] { schema::migrate(raw.get(), path, steps); });
  EXPECT_NE(err.find("metadata: " + path + ": "), std::string::npos) << err;
  EXPECT_NE(err.find("(schema migration " + std::to_string(v + 2) + ")"), std::string::npos) << err;
  EXPECT_EQ(raw.value("PRAGMA user_version"), std::to_string(v + 1));
  EXPECT_EQ(raw.value("SELECT count(*) FROM sqlite_master WHERE name = 'volumes'"), "0");

  // This berth refuses a database from a newer one (version v + 1 now).
  err = error_of([&] { (void)Db::open(path); });
  EXPECT_EQ(err, "metadata: " + path + ": schema version " + std::to_string(v + 1) +
                     " is newer than this berth understands (" + std::to_string(v) + ")");
}

TEST_F(MetadataTest, OpenErrors) {
  EXPECT_NE(error_of([&] { (void)Db::open(""); }), "");
  // The parent is a file.
  ASSERT_EQ(Db::open(path).schema_version(), schema::latest_version());
  auto err = error_of([&] { (void)Db::open(path + "/x.db"); });
  EXPECT_NE(err.find("Not a directory"), std::string::npos) << err;
  // Not a database.
  fs::write_file_atomic(dir + "/junk.db", std::string(4096, 'x'), 0600);
  err = error_of([&] { (void)Db::open(dir + "/junk.db"); });
  EXPECT_EQ(err.rfind("metadata: " + dir + "/junk.db: ", 0), 0u) << err;
}

TEST_F(MetadataTest, MoveKeepsConnection) {
  Db a = Db::open(path);
  Db b = std::move(a);
  b.put_image("default", make_image("x", digest_of(1)));
  Db c = Db::open(dir + "/other.db");
  c = std::move(b);
  EXPECT_TRUE(c.get_image("default", "x"));
}

// ---- Namespaces

TEST(Namespace, Validation) {
  for (const char* ok : {"default", "a", "k8s.io", "my_ns-2", "0", "A.b_c-D"}) {
    EXPECT_NO_THROW(validate_namespace(ok)) << ok;
  }
  EXPECT_NO_THROW(validate_namespace(std::string(76, 'n')));
  EXPECT_EQ(error_of([] { validate_namespace(""); }), "invalid namespace \"\": empty");
  EXPECT_EQ(error_of([] { validate_namespace(std::string(77, 'n')); }),
            "invalid namespace \"" + std::string(77, 'n') + "\": longer than 76 characters");
  EXPECT_EQ(error_of([] { validate_namespace("-x"); }),
            "invalid namespace \"-x\": must start with a letter or digit");
  EXPECT_EQ(error_of([] { validate_namespace("a/b"); }),
            "invalid namespace \"a/b\": only letters, digits, '.', '_' and '-' are allowed");
  for (const char* bad : {".x", "_x", "a b", "a:b", "ä", "a\n"}) {
    EXPECT_NE(error_of([&] { validate_namespace(bad); }), "") << bad;
  }
}

TEST_F(MetadataTest, EveryOperationValidatesTheNamespace) {
  Db db = Db::open(path);
  const std::string bad = "../x";
  std::string want = "invalid namespace \"../x\": must start with a letter or digit";
  EXPECT_EQ(error_of([&] { db.put_image(bad, make_image("a", digest_of(1))); }), want);
  EXPECT_EQ(error_of([&] { (void)db.get_image(bad, "a"); }), want);
  EXPECT_EQ(error_of([&] { (void)db.list_images(bad); }), want);
  EXPECT_EQ(error_of([&] { db.delete_image(bad, "a"); }), want);
  EXPECT_EQ(error_of([&] { db.add_snapshot(bad, "k", "", Kind::active); }), want);
  EXPECT_EQ(error_of([&] { (void)db.list_snapshots(bad); }), want);
  EXPECT_EQ(error_of([&] { db.set_content(bad, digest_of(1), 1); }), want);
  EXPECT_EQ(error_of([&] { db.create_lease(bad, "l"); }), want);
  EXPECT_TRUE(db.list_namespaces().empty());
}

TEST_F(MetadataTest, ListNamespaces) {
  Db db = Db::open(path);
  EXPECT_TRUE(db.list_namespaces().empty());
  db.put_image("default", make_image("a", digest_of(1)));
  db.add_snapshot("snaps", "k", "", Kind::active);
  db.set_content("blobs", digest_of(1), 1);
  db.create_lease("leases", "l");
  db.put_image("default", make_image("b", digest_of(2)));
  EXPECT_EQ(db.list_namespaces(),
            (std::vector<std::string>{"blobs", "default", "leases", "snaps"}));
  db.remove_snapshot("snaps", "k");
  db.delete_lease("leases", "l");
  EXPECT_EQ(db.list_namespaces(), (std::vector<std::string>{"blobs", "default"}));
}

// ---- Images

TEST_F(MetadataTest, Images) {
  Db db = Db::open(path);
  EXPECT_FALSE(db.get_image("default", "alpine"));
  EXPECT_TRUE(db.list_images("default").empty());

  int64_t before = now_ns();
  Image put = db.put_image("default", make_image("alpine:3.19", digest_of(1), {{"a", "1"}}));
  EXPECT_GE(put.created, before);
  EXPECT_EQ(put.created, put.updated);

  auto got = db.get_image("default", "alpine:3.19");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->name, "alpine:3.19");
  EXPECT_EQ(got->target,
            (Descriptor{"application/vnd.oci.image.index.v1+json", digest_of(1), 1234}));
  EXPECT_EQ(got->labels, (Labels{{"a", "1"}}));
  EXPECT_EQ(got->created, put.created);
  EXPECT_EQ(got->updated, put.updated);

  // Update: new target and labels, created kept (even when the caller passes another one).
  Image upd = make_image("alpine:3.19", digest_of(2), {{"b", "2"}});
  upd.target.media_type = "application/vnd.oci.image.manifest.v1+json";
  upd.target.size = 99;
  upd.created = 5;
  Image put2 = db.put_image("default", upd);
  EXPECT_EQ(put2.created, put.created);
  EXPECT_GE(put2.updated, put.updated);
  got = db.get_image("default", "alpine:3.19");
  EXPECT_EQ(got->target,
            (Descriptor{"application/vnd.oci.image.manifest.v1+json", digest_of(2), 99}));
  EXPECT_EQ(got->labels, (Labels{{"b", "2"}}));
  EXPECT_EQ(got->created, put.created);
  EXPECT_EQ(got->updated, put2.updated);

  // A caller-given created is used for a new record.
  Image old = make_image("old", digest_of(3));
  old.created = 1000;
  EXPECT_EQ(db.put_image("default", old).created, 1000);
  EXPECT_EQ(db.get_image("default", "old")->created, 1000);

  db.put_image("default", make_image("alpine:latest", digest_of(2)));
  auto all = db.list_images("default");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].name, "alpine:3.19");
  EXPECT_EQ(all[1].name, "alpine:latest");
  EXPECT_EQ(all[2].name, "old");

  EXPECT_TRUE(db.delete_image("default", "old"));
  EXPECT_FALSE(db.delete_image("default", "old"));
  EXPECT_FALSE(db.get_image("default", "old"));
  EXPECT_EQ(db.list_images("default").size(), 2u);
}

TEST_F(MetadataTest, ImagesByTarget) {
  Db db = Db::open(path);
  std::string d1 = "sha256:4f2a" + std::string(60, '1');
  std::string d2 = "sha256:4f2b" + std::string(60, '2');
  db.put_image("default", make_image("a", d1));
  db.put_image("default", make_image("b", d1));
  db.put_image("default", make_image("c", d2));
  db.put_image("other", make_image("d", d1));

  auto byt = db.list_images_by_target("default", d1);
  ASSERT_EQ(byt.size(), 2u);
  EXPECT_EQ(byt[0].name, "a");
  EXPECT_EQ(byt[1].name, "b");
  EXPECT_TRUE(db.list_images_by_target("default", "sha256:none").empty());

  auto names = [](const std::vector<Image>& v) {
    std::vector<std::string> out;
    for (auto& i : v) out.push_back(i.name);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(db.find_images_by_target_prefix("default", "4f2")), (V{"a", "b", "c"}));
  EXPECT_EQ(names(db.find_images_by_target_prefix("default", "4f2a")), (V{"a", "b"}));
  EXPECT_EQ(names(db.find_images_by_target_prefix("default", "sha256:4f2b")), (V{"c"}));
  EXPECT_EQ(names(db.find_images_by_target_prefix("default", d2)), (V{"c"}));
  EXPECT_EQ(names(db.find_images_by_target_prefix("default", "sha")), (V{"a", "b", "c"}));
  EXPECT_TRUE(db.find_images_by_target_prefix("default", "4f2c").empty());
  EXPECT_TRUE(db.find_images_by_target_prefix("default", "%").empty());  // no LIKE wildcards
  EXPECT_TRUE(db.find_images_by_target_prefix("default", "_").empty());
  EXPECT_EQ(names(db.find_images_by_target_prefix("other", "4f2")), (V{"d"}));
  EXPECT_EQ(error_of([&] { (void)db.find_images_by_target_prefix("default", ""); }),
            "digest prefix is empty");
}

TEST_F(MetadataTest, ImageErrors) {
  Db db = Db::open(path);
  EXPECT_EQ(error_of([&] { db.put_image("default", make_image("", digest_of(1))); }),
            "image name is empty");
  EXPECT_EQ(error_of([&] { db.put_image("default", make_image("x", "")); }),
            "image \"x\": target digest is empty");
  Image i = make_image("x", digest_of(1));
  i.target.media_type.clear();
  EXPECT_EQ(error_of([&] { db.put_image("default", i); }),
            "image \"x\": target media type is empty");
  i = make_image("x", digest_of(1));
  i.target.size = -1;
  EXPECT_EQ(error_of([&] { db.put_image("default", i); }), "image \"x\": negative target size -1");
  EXPECT_TRUE(db.list_images("default").empty());
}

TEST_F(MetadataTest, Labels) {
  Db db = Db::open(path);
  Labels odd{{"containerd.io/gc.ref.content.l.0", digest_of(1)},
             {"quote\"and\\back", "new\nline"},
             {"unicode", "h\xc3\xa9llo"},
             {"empty", ""}};
  db.put_image("default", make_image("x", digest_of(1), odd));
  EXPECT_EQ(db.get_image("default", "x")->labels, odd);

  EXPECT_NO_THROW(validate_labels({{"k", std::string(4095, 'v')}}));
  EXPECT_EQ(error_of([] {
              validate_labels({{"k", std::string(4096, 'v')}});
            }),
            "label \"k\": key and value are longer than 4096 bytes");
  EXPECT_EQ(error_of([] { validate_labels({{"", "v"}}); }), "label with an empty key");
  EXPECT_NE(error_of([&] { db.add_snapshot("default", "s", "", Kind::active, {{"", "v"}}); }), "");
  EXPECT_FALSE(db.get_snapshot("default", "s"));
}

TEST_F(MetadataTest, ImageNamespacesAreIsolated) {
  Db db = Db::open(path);
  db.put_image("default", make_image("alpine", digest_of(1)));
  db.put_image("k8s.io", make_image("alpine", digest_of(2)));
  EXPECT_EQ(db.get_image("default", "alpine")->target.digest, digest_of(1));
  EXPECT_EQ(db.get_image("k8s.io", "alpine")->target.digest, digest_of(2));
  EXPECT_FALSE(db.get_image("other", "alpine"));
  EXPECT_TRUE(db.list_images_by_target("default", digest_of(2)).empty());
  EXPECT_TRUE(db.delete_image("k8s.io", "alpine"));
  EXPECT_TRUE(db.get_image("default", "alpine"));
  EXPECT_EQ(db.list_images("k8s.io").size(), 0u);
}

// ---- Snapshots

TEST_F(MetadataTest, SnapshotLifecycle) {
  Db db = Db::open(path);
  EXPECT_FALSE(db.get_snapshot("default", "l1"));

  Snapshot a = db.add_snapshot("default", "extract-l1", "", Kind::active, {{"x", "1"}});
  EXPECT_GT(a.id, 0);
  EXPECT_EQ(a.key, "extract-l1");
  EXPECT_EQ(a.parent, "");
  EXPECT_EQ(a.kind, Kind::active);
  EXPECT_EQ(a.labels, (Labels{{"x", "1"}}));
  auto got = db.get_snapshot("default", "extract-l1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, a.id);
  EXPECT_EQ(got->kind, Kind::active);
  EXPECT_EQ(got->created, a.created);

  // Commit: renamed, committed, same id, labels replaced.
  Snapshot c = db.commit_snapshot("default", "extract-l1", "sha256:chain1", {{"y", "2"}});
  EXPECT_EQ(c.id, a.id);
  EXPECT_EQ(c.key, "sha256:chain1");
  EXPECT_EQ(c.kind, Kind::committed);
  EXPECT_EQ(c.labels, (Labels{{"y", "2"}}));
  EXPECT_FALSE(db.get_snapshot("default", "extract-l1"));
  got = db.get_snapshot("default", "sha256:chain1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, a.id);
  EXPECT_EQ(got->kind, Kind::committed);
  EXPECT_EQ(got->labels, (Labels{{"y", "2"}}));
  EXPECT_EQ(got->created, a.created);
  EXPECT_GE(got->updated, a.updated);

  // A chain, an active container layer and a view on it.
  Snapshot l2 = db.add_snapshot("default", "extract-l2", "sha256:chain1", Kind::active);
  EXPECT_EQ(l2.parent, "sha256:chain1");
  db.commit_snapshot("default", "extract-l2", "sha256:chain2");
  Snapshot rw = db.add_snapshot("default", "container-1", "sha256:chain2", Kind::active);
  Snapshot view = db.add_snapshot("default", "view-1", "sha256:chain2", Kind::view);
  EXPECT_EQ(view.kind, Kind::view);
  EXPECT_EQ(db.get_snapshot("default", "view-1")->kind, Kind::view);
  EXPECT_EQ(db.get_snapshot("default", "container-1")->parent, "sha256:chain2");

  auto list = db.list_snapshots("default");
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[0].key, "sha256:chain1");  // creation order: parents first
  EXPECT_EQ(list[1].key, "sha256:chain2");
  EXPECT_EQ(list[1].parent, "sha256:chain1");
  EXPECT_EQ(list[2].key, "container-1");
  EXPECT_EQ(list[3].key, "view-1");

  auto kids = db.children("default", "sha256:chain2");
  ASSERT_EQ(kids.size(), 2u);
  EXPECT_EQ(kids[0].key, "container-1");
  EXPECT_EQ(kids[1].key, "view-1");
  EXPECT_EQ(kids[0].parent, "sha256:chain2");
  EXPECT_EQ(db.children("default", "sha256:chain1").size(), 1u);
  EXPECT_TRUE(db.children("default", "container-1").empty());
  EXPECT_TRUE(db.children("default", "nope").empty());

  // Labels.
  Snapshot lab = db.set_snapshot_labels("default", "container-1", {{"z", "3"}});
  EXPECT_EQ(lab.labels, (Labels{{"z", "3"}}));
  EXPECT_EQ(db.get_snapshot("default", "container-1")->labels, (Labels{{"z", "3"}}));
  EXPECT_EQ(error_of([&] { db.set_snapshot_labels("default", "nope", {}); }),
            "snapshot \"nope\" not found");

  // Removal: leaves first; the removed record says which directory to delete.
  EXPECT_EQ(error_of([&] { db.remove_snapshot("default", "sha256:chain2"); }),
            "snapshot \"sha256:chain2\" has 2 children");
  EXPECT_EQ(error_of([&] { db.remove_snapshot("default", "sha256:chain1"); }),
            "snapshot \"sha256:chain1\" has 1 child");
  auto removed = db.remove_snapshot("default", "container-1");
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->id, rw.id);
  EXPECT_FALSE(db.remove_snapshot("default", "container-1"));
  EXPECT_EQ(error_of([&] { db.remove_snapshot("default", "sha256:chain2"); }),
            "snapshot \"sha256:chain2\" has 1 child");
  EXPECT_TRUE(db.remove_snapshot("default", "view-1"));
  EXPECT_TRUE(db.remove_snapshot("default", "sha256:chain2"));
  EXPECT_TRUE(db.remove_snapshot("default", "sha256:chain1"));
  EXPECT_TRUE(db.list_snapshots("default").empty());
}

TEST_F(MetadataTest, SnapshotErrors) {
  Db db = Db::open(path);
  db.add_snapshot("default", "a", "", Kind::active);
  EXPECT_EQ(error_of([&] { db.add_snapshot("default", "a", "", Kind::active); }),
            "snapshot \"a\" already exists");
  EXPECT_EQ(error_of([&] { db.add_snapshot("default", "b", "p", Kind::active); }),
            "snapshot \"b\": parent \"p\" not found");
  EXPECT_EQ(error_of([&] { db.add_snapshot("default", "b", "a", Kind::active); }),
            "snapshot \"b\": parent \"a\" is not committed");
  db.add_snapshot("default", "v", "", Kind::view);
  EXPECT_EQ(error_of([&] { db.add_snapshot("default", "b", "v", Kind::view); }),
            "snapshot \"b\": parent \"v\" is not committed");
  EXPECT_EQ(error_of([&] { db.add_snapshot("default", "b", "", Kind::committed); }),
            "snapshot \"b\": a new snapshot is active or a view (commit it)");
  EXPECT_EQ(error_of([&] { db.add_snapshot("default", "", "", Kind::active); }),
            "snapshot key is empty");
  EXPECT_FALSE(db.get_snapshot("default", "b"));

  EXPECT_EQ(error_of([&] { db.commit_snapshot("default", "nope", "n"); }),
            "snapshot \"nope\" not found");
  EXPECT_EQ(error_of([&] { db.commit_snapshot("default", "v", "n"); }),
            "snapshot \"v\" is not active (it is view)");
  db.add_snapshot("default", "c", "", Kind::active);
  db.commit_snapshot("default", "c", "committed");
  EXPECT_EQ(error_of([&] { db.commit_snapshot("default", "committed", "n"); }),
            "snapshot \"committed\" is not active (it is committed)");
  EXPECT_EQ(error_of([&] { db.commit_snapshot("default", "a", "committed"); }),
            "snapshot \"committed\" already exists");
  EXPECT_EQ(error_of([&] { db.commit_snapshot("default", "a", ""); }), "snapshot name is empty");
  EXPECT_EQ(db.get_snapshot("default", "a")->kind, Kind::active);  // unchanged
  // Committing under its own key is allowed.
  EXPECT_EQ(db.commit_snapshot("default", "a", "a").kind, Kind::committed);
}

TEST_F(MetadataTest, SnapshotIdsAndNamespaces) {
  Db db = Db::open(path);
  Snapshot a = db.add_snapshot("default", "k", "", Kind::active);
  Snapshot b = db.add_snapshot("other", "k", "", Kind::active);  // same key, other namespace
  EXPECT_NE(a.id, b.id);
  db.commit_snapshot("other", "k", "base");
  // A parent in another namespace is invisible.
  EXPECT_EQ(error_of([&] { db.add_snapshot("default", "c", "base", Kind::active); }),
            "snapshot \"c\": parent \"base\" not found");
  EXPECT_EQ(db.list_snapshots("default").size(), 1u);
  EXPECT_EQ(db.list_snapshots("other").size(), 1u);
  EXPECT_EQ(db.children("default", "base").size(), 0u);
  EXPECT_EQ(db.snapshot_ids(), (std::vector<int64_t>{a.id, b.id}));

  // Ids are never reused, even after removing the newest.
  db.remove_snapshot("other", "base");
  Snapshot c = db.add_snapshot("default", "c", "", Kind::active);
  EXPECT_GT(c.id, b.id);
  EXPECT_EQ(db.snapshot_ids(), (std::vector<int64_t>{a.id, c.id}));
}

// ---- Content

TEST_F(MetadataTest, Content) {
  Db db = Db::open(path);
  EXPECT_FALSE(db.get_content("default", digest_of(1)));
  ContentInfo c = db.set_content("default", digest_of(1), 100,
                                 {{"containerd.io/gc.ref.content.config", digest_of(2)}});
  EXPECT_EQ(c.digest, digest_of(1));
  EXPECT_EQ(c.size, 100);
  EXPECT_EQ(c.created, c.updated);
  auto got = db.get_content("default", digest_of(1));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size, 100);
  EXPECT_EQ(got->labels.at("containerd.io/gc.ref.content.config"), digest_of(2));
  EXPECT_EQ(got->created, c.created);

  ContentInfo c2 = db.set_content("default", digest_of(1), 100, {{"berth.uncompressed", "x"}});
  EXPECT_EQ(c2.created, c.created);
  EXPECT_GE(c2.updated, c.updated);
  EXPECT_EQ(db.get_content("default", digest_of(1))->labels, (Labels{{"berth.uncompressed", "x"}}));

  db.set_content("default", digest_of(0), 5);
  db.set_content("other", digest_of(1), 100);
  auto list = db.list_content("default");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].digest, digest_of(0));
  EXPECT_EQ(list[1].digest, digest_of(1));
  EXPECT_EQ(db.content_namespaces(digest_of(1)), (std::vector<std::string>{"default", "other"}));

  EXPECT_TRUE(db.delete_content("default", digest_of(1)));
  EXPECT_FALSE(db.delete_content("default", digest_of(1)));
  EXPECT_FALSE(db.get_content("default", digest_of(1)));
  EXPECT_TRUE(db.get_content("other", digest_of(1)));
  EXPECT_EQ(db.content_namespaces(digest_of(1)), (std::vector<std::string>{"other"}));
  EXPECT_TRUE(db.content_namespaces(digest_of(9)).empty());

  EXPECT_EQ(error_of([&] { db.set_content("default", "", 1); }), "content digest is empty");
  EXPECT_EQ(error_of([&] { db.set_content("default", digest_of(3), -2); }),
            "content " + digest_of(3) + ": negative size -2");
}

// ---- Leases

TEST_F(MetadataTest, Leases) {
  Db db = Db::open(path);
  EXPECT_FALSE(db.get_lease("default", "pull"));
  int64_t exp = now_ns() + 3600'000'000'000;
  Lease l = db.create_lease("default", "pull", exp, {{"purpose", "pull alpine"}});
  EXPECT_EQ(l.id, "pull");
  EXPECT_EQ(l.expires_at, exp);
  EXPECT_FALSE(l.expired(now_ns()));
  EXPECT_TRUE(l.expired(exp));
  EXPECT_EQ(error_of([&] { db.create_lease("default", "pull"); }), "lease \"pull\" already exists");
  EXPECT_EQ(error_of([&] { db.create_lease("default", ""); }), "lease id is empty");
  db.create_lease("default", "forever");
  EXPECT_FALSE(db.get_lease("default", "forever")->expired(INT64_MAX));
  db.create_lease("other", "pull");

  auto got = db.get_lease("default", "pull");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->expires_at, exp);
  EXPECT_EQ(got->labels, (Labels{{"purpose", "pull alpine"}}));
  EXPECT_EQ(got->created, l.created);
  auto leases = db.list_leases("default");
  ASSERT_EQ(leases.size(), 2u);
  EXPECT_EQ(leases[0].id, "forever");
  EXPECT_EQ(leases[1].id, "pull");

  db.add_lease_resource("default", "pull", RType::snapshot, "extract-1");
  db.add_lease_resource("default", "pull", RType::content, digest_of(2));
  db.add_lease_resource("default", "pull", RType::content, digest_of(1));
  db.add_lease_resource("default", "pull", RType::ingest, digest_of(3));
  db.add_lease_resource("default", "pull", RType::content, digest_of(1));  // no-op
  EXPECT_EQ(db.lease_resources("default", "pull"),
            (std::vector<LeaseResource>{{RType::content, digest_of(1)},
                                        {RType::content, digest_of(2)},
                                        {RType::ingest, digest_of(3)},
                                        {RType::snapshot, "extract-1"}}));
  EXPECT_TRUE(db.lease_resources("other", "pull").empty());
  EXPECT_TRUE(db.lease_resources("default", "nope").empty());
  EXPECT_EQ(error_of([&] { db.add_lease_resource("default", "nope", RType::content, "x"); }),
            "lease \"nope\" not found");
  EXPECT_EQ(error_of([&] { db.add_lease_resource("other", "pull", RType::content, ""); }),
            "lease \"pull\": resource ref is empty");

  EXPECT_TRUE(db.remove_lease_resource("default", "pull", RType::ingest, digest_of(3)));
  EXPECT_FALSE(db.remove_lease_resource("default", "pull", RType::ingest, digest_of(3)));
  EXPECT_EQ(db.lease_resources("default", "pull").size(), 3u);

  // Deleting a lease drops its resources: a new lease of the same id starts empty.
  EXPECT_TRUE(db.delete_lease("default", "pull"));
  EXPECT_FALSE(db.delete_lease("default", "pull"));
  EXPECT_FALSE(db.get_lease("default", "pull"));
  EXPECT_TRUE(db.get_lease("other", "pull"));
  db.create_lease("default", "pull");
  EXPECT_TRUE(db.lease_resources("default", "pull").empty());
  Raw raw(path);
  EXPECT_EQ(raw.value("SELECT count(*) FROM lease_resources"), "0");
}

TEST(LeaseResourceType, Strings) {
  for (auto t : {RType::content, RType::snapshot, RType::ingest}) {
    EXPECT_EQ(parse_lease_resource_type(to_string(t)), t);
  }
  EXPECT_EQ(error_of([] { parse_lease_resource_type("blob"); }),
            "unknown lease resource type \"blob\" (content, snapshot or ingest)");
  EXPECT_EQ(to_string(Kind::active), "active");
  EXPECT_EQ(to_string(Kind::view), "view");
  EXPECT_EQ(to_string(Kind::committed), "committed");
}

// ---- Transactions

TEST_F(MetadataTest, TransactionCommitsAndReturns) {
  Db db = Db::open(path);
  int n = db.transaction([&] {
    db.put_image("default", make_image("a", digest_of(1)));
    db.set_content("default", digest_of(1), 1);
    return 7;
  });
  EXPECT_EQ(n, 7);
  EXPECT_TRUE(db.get_image("default", "a"));
  db.transaction([&] { db.delete_image("default", "a"); });
  EXPECT_FALSE(db.get_image("default", "a"));
}

TEST_F(MetadataTest, TransactionRollsBackOnException) {
  Db db = Db::open(path);
  db.put_image("default", make_image("keep", digest_of(0)));
  EXPECT_THROW(db.transaction([&] {
    db.put_image("default", make_image("a", digest_of(1)));
    db.add_snapshot("default", "s", "", Kind::active);
    db.delete_image("default", "keep");
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  EXPECT_FALSE(db.get_image("default", "a"));
  EXPECT_FALSE(db.get_snapshot("default", "s"));
  EXPECT_TRUE(db.get_image("default", "keep"));
  // A berth::Error from inside (a conflict) rolls back the earlier writes too.
  db.add_snapshot("default", "exists", "", Kind::active);
  auto err = error_of([&] {
    db.transaction([&] {
      db.put_image("default", make_image("b", digest_of(2)));
      db.add_snapshot("default", "exists", "", Kind::active);
    });
  });
  EXPECT_EQ(err, "snapshot \"exists\" already exists");
  EXPECT_FALSE(db.get_image("default", "b"));
  // The connection is usable afterwards.
  db.put_image("default", make_image("c", digest_of(3)));
  EXPECT_TRUE(db.get_image("default", "c"));
}

TEST_F(MetadataTest, NestedTransactions) {
  Db db = Db::open(path);
  db.transaction([&] {
    db.put_image("default", make_image("outer", digest_of(1)));
    // An inner failure that the outer catches undoes only the inner writes.
    try {
      db.transaction([&] {
        db.put_image("default", make_image("inner", digest_of(2)));
        throw std::runtime_error("inner");
      });
    } catch (const std::runtime_error&) {
    }
    db.transaction([&] { db.put_image("default", make_image("inner2", digest_of(3))); });
    // Not yet visible to another connection.
    Db other = Db::open(path);
    EXPECT_FALSE(other.get_image("default", "outer"));
  });
  EXPECT_TRUE(db.get_image("default", "outer"));
  EXPECT_FALSE(db.get_image("default", "inner"));
  EXPECT_TRUE(db.get_image("default", "inner2"));

  // An outer failure undoes the committed inner ones.
  EXPECT_THROW(db.transaction([&] {
    db.transaction([&] { db.put_image("default", make_image("x", digest_of(4))); });
    throw std::runtime_error("outer");
  }),
               std::runtime_error);
  EXPECT_FALSE(db.get_image("default", "x"));
}

// ---- Concurrency

TEST_F(MetadataTest, LockedDatabaseIsAClearError) {
  Db db = Db::open(path, OpenOptions{std::chrono::milliseconds(50)});
  Raw raw(path);
  ASSERT_EQ(raw.exec("BEGIN IMMEDIATE"), SQLITE_OK);
  try {
    db.put_image("default", make_image("a", digest_of(1)));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "metadata: " + path + ": database is locked");
    EXPECT_EQ(e.code(), EBUSY);
  }
  // Readers are not blocked by a writer in WAL mode.
  EXPECT_TRUE(db.list_images("default").empty());
  ASSERT_EQ(raw.exec("COMMIT"), SQLITE_OK);
  db.put_image("default", make_image("a", digest_of(1)));
  EXPECT_TRUE(db.get_image("default", "a"));
}

TEST_F(MetadataTest, WriterWaitsForAnotherWriter) {
  Db db = Db::open(path);
  Raw raw(path);
  ASSERT_EQ(raw.exec("BEGIN IMMEDIATE"), SQLITE_OK);
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    raw.exec("COMMIT");
  });
  auto start = std::chrono::steady_clock::now();
  EXPECT_NO_THROW(db.put_image("default", make_image("a", digest_of(1))));
  auto waited = std::chrono::steady_clock::now() - start;
  t.join();
  EXPECT_GE(waited, std::chrono::milliseconds(200));
  EXPECT_TRUE(db.get_image("default", "a"));
}

// Two processes open the (new) database at the same moment and each writes 200 images.
TEST_F(MetadataTest, ConcurrentProcesses) {
  constexpr int kEach = 200;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int rc = 0;
    try {
      Db db = Db::open(path);
      for (int i = 0; i < kEach; i++) {
        db.put_image("default", make_image("child-" + std::to_string(i), digest_of(i)));
        if (i % 50 == 0)
          db.add_snapshot("default", "child-snap-" + std::to_string(i), "", Kind::active);
      }
    } catch (const std::exception& e) {
      fprintf(stderr, "child: %s\n", e.what());
      rc = 1;
    }
    _exit(rc);
  }
  std::string parent_error;
  try {
    Db db = Db::open(path);
    for (int i = 0; i < kEach; i++) {
      db.put_image("default", make_image("parent-" + std::to_string(i), digest_of(i)));
      if (i % 50 == 0)
        db.add_snapshot("default", "parent-snap-" + std::to_string(i), "", Kind::active);
    }
  } catch (const std::exception& e) {
    parent_error = e.what();
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(parent_error, "");
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);

  Db db = Db::open(path);
  auto all = db.list_images("default");
  EXPECT_EQ(all.size(), 2u * kEach);
  std::set<std::string> names;
  for (auto& i : all) names.insert(i.name);
  for (int i = 0; i < kEach; i++) {
    EXPECT_TRUE(names.count("child-" + std::to_string(i)));
    EXPECT_TRUE(names.count("parent-" + std::to_string(i)));
  }
  auto ids = db.snapshot_ids();
  EXPECT_EQ(ids.size(), 8u);
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 8u);  // unique ids
}

// Two connections in one process (one per thread), writing in read-modify-write transactions.
TEST_F(MetadataTest, ConcurrentConnections) {
  constexpr int kEach = 200;
  Db::open(path).set_content("default", digest_of(0), 0);  // the counter
  std::atomic<int> failures{0};
  auto work = [&](const std::string& who) {
    try {
      Db db = Db::open(path);
      for (int i = 0; i < kEach; i++) {
        db.transaction([&] {
          auto c = db.get_content("default", digest_of(0));
          db.set_content("default", digest_of(0), c->size + 1);
          db.put_image("default", make_image(who + std::to_string(i), digest_of(i)));
        });
      }
    } catch (const std::exception& e) {
      fprintf(stderr, "%s: %s\n", who.c_str(), e.what());
      failures++;
    }
  };
  std::thread a(work, "a-"), b(work, "b-");
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  Db db = Db::open(path);
  EXPECT_EQ(db.list_images("default").size(), 2u * kEach);
  // No lost update: IMMEDIATE transactions serialize the read-modify-write.
  EXPECT_EQ(db.get_content("default", digest_of(0))->size, 2 * kEach);
}

// One Db shared by 8 threads (a daemon's engine): each thread gets its own connection, so
// their transactions are theirs — interleaved statements of one connection would have
// nested into each other's transactions or failed with "cannot start a transaction within a
// transaction".
TEST_F(MetadataTest, OneDbSharedByThreads) {
  constexpr int kThreads = 8, kEach = 50;
  Db db = Db::open(path);
  db.set_content("default", digest_of(0), 0);  // the counter
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      try {
        for (int i = 0; i < kEach; i++) {
          db.transaction([&] {
            auto c = db.get_content("default", digest_of(0));
            std::this_thread::yield();  // let the others run inside this transaction's span
            db.set_content("default", digest_of(0), c->size + 1);
            db.put_image("default", make_image("t" + std::to_string(t) + "-" + std::to_string(i), digest_of(i)));
          });
          if (i % 10 == 0) {
            // A failing inner transaction undoes its own writes only, on this thread.
            EXPECT_THROW(db.transaction([&] {
              db.put_image("default", make_image("never-" + std::to_string(t), digest_of(1)));
              throw std::runtime_error("undo");
            }),
                         std::runtime_error);
          }
        }
      } catch (const std::exception& e) {
        fprintf(stderr, "thread %d: %s\n", t, e.what());
        failures++;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(db.list_images("default").size(), size_t{kThreads} * kEach);
  EXPECT_EQ(db.get_content("default", digest_of(0))->size, kThreads * kEach);
}

}  // namespace

// ---- Containers

namespace {
Container make_container(const std::string& id, const std::string& name) {
  Container c;
  c.id = id;
  c.name = name;
  c.image = "sha256:" + std::string(64, 'a');
  c.snapshot = "container/" + id;
  c.data = R"({"Config":{}})";
  return c;
}
}  // namespace

TEST_F(MetadataTest, ContainersByIdNamePrefixAndNamespace) {
  Db db = Db::open(path);
  const std::string a(64, 'a'), b = "ab" + std::string(62, 'c');
  auto ca = db.add_container("default", make_container(a, "web"));
  EXPECT_GT(ca.created, 0);
  db.add_container("default", make_container(b, "db"));
  db.add_container("other", make_container(a, "web"));  // namespaces are separate
  EXPECT_EQ(db.get_container("default", a)->name, "web");
  EXPECT_EQ(db.get_container_by_name("default", "db")->id, b);
  EXPECT_EQ(db.find_containers_by_prefix("default", "a").size(), 2u);
  EXPECT_EQ(db.find_containers_by_prefix("default", "ab").size(), 1u);
  EXPECT_TRUE(db.find_containers_by_prefix("default", "a%").empty());  // not a LIKE pattern
  EXPECT_EQ(db.list_containers("default").size(), 2u);
  EXPECT_EQ(db.list_namespaces(), (std::vector<std::string>{"default", "other"}));

  auto err = error_of([&] { db.add_container("default", make_container(std::string(64, 'e'), "web")); });
  EXPECT_NE(err.find("container name \"web\" is already in use by container \"" + a + "\""), std::string::npos) << err;
  err = error_of([&] { db.add_container("default", make_container(a, "other-name")); });
  EXPECT_NE(err.find("already exists"), std::string::npos) << err;

  Container renamed = *db.get_container("default", b);
  renamed.name = "web";
  err = error_of([&] { db.update_container_if_unchanged("default", renamed); });
  EXPECT_NE(err.find("already in use"), std::string::npos) << err;
  renamed.name = "database";
  renamed.data = R"({"State":"exited"})";
  EXPECT_TRUE(db.update_container_if_unchanged("default", renamed));
  EXPECT_EQ(db.get_container("default", b)->data, renamed.data);
  EXPECT_FALSE(db.get_container_by_name("default", "db"));

  // Compare-and-swap: a writer holding an older version loses, and learns it.
  Container first = *db.get_container("default", b), second = first;
  first.data = R"({"State":"running"})";
  ASSERT_TRUE(db.update_container_if_unchanged("default", first));
  EXPECT_GT(first.updated, second.updated);
  second.data = R"({"State":"removing"})";
  EXPECT_FALSE(db.update_container_if_unchanged("default", second));  // read before `first` wrote
  EXPECT_EQ(db.get_container("default", b)->data, first.data);
  first.data = R"({"State":"paused"})";
  EXPECT_TRUE(db.update_container_if_unchanged("default", first));  // its own version moved on with it
  EXPECT_EQ(db.get_container("default", b)->updated, first.updated);

  EXPECT_TRUE(db.delete_container("default", a));
  EXPECT_FALSE(db.delete_container("default", a));
  Container gone = make_container(a, "gone");
  EXPECT_FALSE(db.update_container_if_unchanged("default", gone));
  EXPECT_EQ(db.list_containers("default").size(), 1u);
  EXPECT_TRUE(db.get_container("other", a));
}
