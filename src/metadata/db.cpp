#include "metadata/db.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>
#include <utility>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/time.hpp"
#include "metadata/schema.hpp"
#include "metadata/sqlite.hpp"

namespace berth::metadata {

namespace {

constexpr size_t kMaxNamespace = 76;
constexpr size_t kMaxLabel = 4096;

std::string in_quotes(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

void require(std::string_view what, std::string_view value) {
  if (value.empty()) throw Error(std::string(what) + " is empty");
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string dump_labels(const Labels& labels) {
  return nlohmann::json(labels).dump();
}

Snapshot::Kind parse_kind(std::string_view s, std::string_view path) {
  if (s == "active") return Snapshot::Kind::active;
  if (s == "view") return Snapshot::Kind::view;
  if (s == "committed") return Snapshot::Kind::committed;
  throw Error("metadata: " + std::string(path) + ": unknown snapshot kind " + in_quotes(s));
}

std::string plural(int64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

}  // namespace

int64_t now_ns() { return berth::now_ns(); }

void validate_namespace(std::string_view ns) {
  auto bad = [&](std::string_view why) {
    throw Error(ErrorKind::invalid_argument, "invalid namespace " + in_quotes(ns) + ": " + std::string(why));
  };
  if (ns.empty()) bad("empty");
  if (ns.size() > kMaxNamespace) bad("longer than 76 characters");
  if (!is_alnum(ns[0])) bad("must start with a letter or digit");
  for (char c : ns) {
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') {
      bad("only letters, digits, '.', '_' and '-' are allowed");
    }
  }
}

void validate_labels(const Labels& labels) {
  for (const auto& [k, v] : labels) {
    if (k.empty()) throw Error(ErrorKind::invalid_argument, "label with an empty key");
    if (k.size() + v.size() > kMaxLabel) {
      throw Error(ErrorKind::invalid_argument, "label " + in_quotes(k) + ": key and value are longer than 4096 bytes");
    }
  }
}

std::string_view to_string(Snapshot::Kind kind) {
  switch (kind) {
    case Snapshot::Kind::active:
      return "active";
    case Snapshot::Kind::view:
      return "view";
    case Snapshot::Kind::committed:
      return "committed";
  }
  return "?";
}

std::string_view to_string(LeaseResource::Type type) {
  switch (type) {
    case LeaseResource::Type::content:
      return "content";
    case LeaseResource::Type::snapshot:
      return "snapshot";
    case LeaseResource::Type::ingest:
      return "ingest";
  }
  return "?";
}

LeaseResource::Type parse_lease_resource_type(std::string_view s) {
  if (s == "content") return LeaseResource::Type::content;
  if (s == "snapshot") return LeaseResource::Type::snapshot;
  if (s == "ingest") return LeaseResource::Type::ingest;
  throw Error("unknown lease resource type " + in_quotes(s) + " (content, snapshot or ingest)");
}

// ---- The connection

struct Db::Impl {
  std::string path;
  sql::Connection conn;  // declared before the cache: statements are finalized first
  struct Cached {
    sql::Stmt stmt;
    bool busy = false;
  };
  std::unordered_map<std::string, Cached> cache;
  int depth = 0;  // transaction nesting

  sqlite3* db() const { return conn.get(); }

  // A cached statement (compiled on first use). A statement already in use higher up the
  // stack is not shared: that use gets a one-off copy.
  sql::Query q(std::string_view text) {
    auto it = cache.find(std::string(text));
    if (it == cache.end()) {
      it = cache.emplace(std::string(text), Cached{sql::prepare(db(), path, text)}).first;
    }
    if (it->second.busy) return sql::Query(db(), path, sql::prepare(db(), path, text));
    return sql::Query(db(), path, it->second.stmt.get(), &it->second.busy);
  }

  int64_t changes() const { return sqlite3_changes64(db()); }

  Labels labels(const sql::Query& r, int col) const {
    std::string text = r.text(col);
    try {
      return nlohmann::json::parse(text).get<Labels>();
    } catch (const nlohmann::json::exception& e) {
      throw Error("metadata: " + path + ": corrupt labels " + text + ": " + e.what());
    }
  }

  // Columns: name, media_type, digest, size, labels, created, updated.
  Image image(const sql::Query& r) const {
    return Image{r.text(0), Descriptor{r.text(1), r.text(2), r.integer(3)}, labels(r, 4),
                 r.integer(5), r.integer(6)};
  }
  std::vector<Image> images(sql::Query q) const {
    std::vector<Image> out;
    while (q.step()) out.push_back(image(q));
    return out;
  }

  // Columns: id, key, parent key, kind, labels, created, updated.
  Snapshot snapshot(const sql::Query& r) const {
    return Snapshot{r.integer(0), r.text(1),    r.text(2),   parse_kind(r.text(3), path),
                    labels(r, 4), r.integer(5), r.integer(6)};
  }
  std::vector<Snapshot> snapshots(sql::Query q) const {
    std::vector<Snapshot> out;
    while (q.step()) out.push_back(snapshot(q));
    return out;
  }

  // Columns: digest, size, labels, created, updated.
  ContentInfo content(const sql::Query& r) const {
    return ContentInfo{r.text(0), r.integer(1), labels(r, 2), r.integer(3), r.integer(4)};
  }

  // Columns: id, name, image, snapshot, data, created, updated.
  Container container(const sql::Query& r) const {
    return Container{r.text(0), r.text(1), r.text(2), r.text(3),
                     r.text(4), r.integer(5), r.integer(6)};
  }
  std::vector<Container> containers(sql::Query q) const {
    std::vector<Container> out;
    while (q.step()) out.push_back(container(q));
    return out;
  }

  // Columns: id, expires_at, labels, created.
  Lease lease(const sql::Query& r) const {
    return Lease{r.text(0), r.integer(1), labels(r, 2), r.integer(3)};
  }
};

namespace {

// Sets WAL mode. Switching a fresh file to WAL takes an exclusive lock: when another process is
// opening it at the same moment, retry until the busy timeout.
void set_wal(sqlite3* db, const std::string& path, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string mode;
  for (;;) {
    try {
      sql::Query q(db, path, sql::prepare(db, path, "PRAGMA journal_mode = WAL"));
      if (q.step()) mode = q.text(0);
      break;
    } catch (const Error& e) {
      if (e.code() != EBUSY || std::chrono::steady_clock::now() >= deadline) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (mode != "wal") {
    throw Error("metadata: " + path + ": cannot use WAL mode (journal_mode is " + mode + ")");
  }
}

}  // namespace

struct Db::Shared {
  std::string path;
  OpenOptions opts;
  std::mutex mu;
  std::unordered_map<std::thread::id, std::unique_ptr<Impl>> conns;
};

Db Db::open(const std::string& path, const OpenOptions& opts) {
  require("metadata: database path", path);
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) fs::mkdir_p(path.substr(0, slash), 0700);
  // SQLite would create the file 0644 (less the umask); the WAL and shm files copy the mode of
  // the database file, so creating it 0600 here covers all three.
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd) {
    if (::fchmod(fd.get(), 0600) < 0) throw_errno("metadata: chmod `" + path + "`");
    fd.reset();
  } else if (errno != EEXIST) {
    throw_errno("metadata: create `" + path + "`");
  }
  auto impl = connect(path, opts);
  sqlite3* raw = impl->db();
  if (opts.on_new_store && schema::version(raw, path) == 0) opts.on_new_store();
  schema::migrate(raw, path);
  auto shared = std::make_unique<Shared>();
  shared->path = path;
  shared->opts = opts;
  shared->opts.on_new_store = nullptr;
  shared->conns.emplace(std::this_thread::get_id(), std::move(impl));
  return Db(std::move(shared));
}

std::unique_ptr<Db::Impl> Db::connect(const std::string& path, const OpenOptions& opts) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nullptr);
  impl->conn.reset(raw);
  if (rc != SQLITE_OK) sql::fail(raw, path, rc);
  sqlite3_busy_timeout(raw, static_cast<int>(opts.busy_timeout.count()));
  // Short-lived processes open and close the database all the time: keep the WAL file between
  // them and leave checkpoints to the automatic ones (below). Otherwise every `berth` command
  // pays a WAL creation, a checkpoint and three fsyncs (~4 ms here).
  int one = 1;
  sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  sqlite3_file_control(raw, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
  set_wal(raw, path, opts.busy_timeout);
  // Each process that opens the database after the last one closed it rebuilds the WAL index
  // by reading the WAL file: keep that file small (checkpoints every 64 pages, ~256 KiB).
  sql::exec(raw, path, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 64");
  return impl;
}

Db::Impl* Db::conn() const {
  std::lock_guard<std::mutex> lk(shared_->mu);
  auto& c = shared_->conns[std::this_thread::get_id()];
  if (!c) c = connect(shared_->path, shared_->opts);
  return c.get();
}

Db::Db(std::unique_ptr<Shared> shared) : shared_(std::move(shared)) {}
Db::Db(Db&&) noexcept = default;
Db& Db::operator=(Db&&) noexcept = default;
Db::~Db() = default;

const std::string& Db::path() const {
  return shared_->path;
}

int Db::schema_version() {
  return schema::version(conn()->db(), conn()->path);
}

std::string Db::pragma(std::string_view name) {
  if (name.empty()) throw Error("pragma name is empty");
  for (char c : name) {
    if (!is_alnum(c) && c != '_') throw Error("invalid pragma name " + in_quotes(name));
  }
  auto q = conn()->q("PRAGMA " + std::string(name));
  return q.step() ? q.text(0) : std::string();
}

// ---- Transactions

void Db::begin_tx() {
  int d = conn()->depth;
  if (d == 0) {
    sql::exec(conn()->db(), conn()->path, "BEGIN IMMEDIATE");
  } else {
    sql::exec(conn()->db(), conn()->path, ("SAVEPOINT berth_" + std::to_string(d)).c_str());
  }
  ++conn()->depth;
}

void Db::commit_tx() {
  int d = conn()->depth;
  if (d == 1) {
    sql::exec(conn()->db(), conn()->path, "COMMIT");
  } else {
    sql::exec(conn()->db(), conn()->path, ("RELEASE berth_" + std::to_string(d - 1)).c_str());
  }
  --conn()->depth;
}

void Db::rollback_tx() noexcept {
  int d = conn()->depth--;
  sqlite3* db = conn()->db();
  // After some errors (SQLITE_FULL, I/O) SQLite has rolled back the whole transaction itself.
  if (sqlite3_get_autocommit(db)) return;
  if (d == 1) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  } else {
    std::string sp = "berth_" + std::to_string(d - 1);
    sqlite3_exec(db, ("ROLLBACK TO " + sp + "; RELEASE " + sp).c_str(), nullptr, nullptr, nullptr);
  }
}

// ---- Namespaces

std::vector<std::string> Db::list_namespaces() {
  auto q = conn()->q(
      "SELECT namespace FROM images UNION SELECT namespace FROM snapshots "
      "UNION SELECT namespace FROM content UNION SELECT namespace FROM leases "
      "UNION SELECT namespace FROM containers ORDER BY 1");
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  return out;
}

// ---- Images

Image Db::put_image(std::string_view ns, const Image& img) {
  validate_namespace(ns);
  require("image name", img.name);
  require("image " + in_quotes(img.name) + ": target digest", img.target.digest);
  require("image " + in_quotes(img.name) + ": target media type", img.target.media_type);
  if (img.target.size < 0) {
    throw Error("image " + in_quotes(img.name) + ": negative target size " +
                std::to_string(img.target.size));
  }
  validate_labels(img.labels);
  return transaction([&] {
    Image out = img;
    out.updated = now_ns();
    auto q = conn()->q(
        "INSERT INTO images (namespace, name, media_type, digest, size, labels, created, updated) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (namespace, name) DO UPDATE SET "
        "media_type = excluded.media_type, digest = excluded.digest, size = excluded.size, "
        "labels = excluded.labels, updated = excluded.updated RETURNING created");
    q.args(ns, img.name, img.target.media_type, img.target.digest, img.target.size,
           dump_labels(img.labels), img.created != 0 ? img.created : out.updated, out.updated);
    if (q.step()) out.created = q.integer(0);
    q.run();
    return out;
  });
}

std::optional<Image> Db::get_image(std::string_view ns, std::string_view name) {
  validate_namespace(ns);
  auto q = conn()->q(
      "SELECT name, media_type, digest, size, labels, created, updated FROM images "
      "WHERE namespace = ?1 AND name = ?2");
  q.args(ns, name);
  if (!q.step()) return std::nullopt;
  return conn()->image(q);
}

std::vector<Image> Db::list_images(std::string_view ns) {
  validate_namespace(ns);
  auto q = conn()->q(
      "SELECT name, media_type, digest, size, labels, created, updated FROM images "
      "WHERE namespace = ?1 ORDER BY name");
  q.args(ns);
  return conn()->images(std::move(q));
}

std::vector<Image> Db::list_images_by_target(std::string_view ns, std::string_view digest) {
  validate_namespace(ns);
  auto q = conn()->q(
      "SELECT name, media_type, digest, size, labels, created, updated FROM images "
      "WHERE namespace = ?1 AND digest = ?2 ORDER BY name");
  q.args(ns, digest);
  return conn()->images(std::move(q));
}

std::vector<Image> Db::find_images_by_target_prefix(std::string_view ns, std::string_view prefix) {
  validate_namespace(ns);
  require("digest prefix", prefix);
  auto q = conn()->q(
      "SELECT name, media_type, digest, size, labels, created, updated FROM images "
      "WHERE namespace = ?1 AND (substr(digest, 1, length(?2)) = ?2 "
      "OR substr(digest, instr(digest, ':') + 1, length(?2)) = ?2) ORDER BY name");
  q.args(ns, prefix);
  return conn()->images(std::move(q));
}

bool Db::delete_image(std::string_view ns, std::string_view name) {
  validate_namespace(ns);
  return transaction([&] {
    conn()->q("DELETE FROM images WHERE namespace = ?1 AND name = ?2").args(ns, name).run();
    return conn()->changes() > 0;
  });
}

// ---- Snapshots

Snapshot Db::add_snapshot(std::string_view ns, std::string_view key, std::string_view parent,
                          Snapshot::Kind kind, const Labels& labels) {
  validate_namespace(ns);
  require("snapshot key", key);
  if (kind == Snapshot::Kind::committed) {
    throw Error("snapshot " + in_quotes(key) + ": a new snapshot is active or a view (commit it)");
  }
  validate_labels(labels);
  return transaction([&] {
    if (get_snapshot(ns, key)) throw Error(ErrorKind::already_exists, "snapshot " + in_quotes(key) + " already exists");
    int64_t parent_id = 0;
    if (!parent.empty()) {
      auto p = get_snapshot(ns, parent);
      if (!p)
        throw Error(ErrorKind::not_found, "snapshot " + in_quotes(key) + ": parent " + in_quotes(parent) + " not found");
      if (p->kind != Snapshot::Kind::committed) {
        throw Error("snapshot " + in_quotes(key) + ": parent " + in_quotes(parent) +
                    " is not committed");
      }
      parent_id = p->id;
    }
    Snapshot s{0, std::string(key), std::string(parent), kind, labels, now_ns(), 0};
    s.updated = s.created;
    auto q = conn()->q(
        "INSERT INTO snapshots (namespace, key, parent_id, kind, labels, created, updated) "
        "VALUES (?1, ?2, NULLIF(?3, 0), ?4, ?5, ?6, ?6) RETURNING id");
    q.args(ns, key, parent_id, to_string(kind), dump_labels(labels), s.created);
    if (q.step()) s.id = q.integer(0);
    q.run();
    return s;
  });
}

std::optional<Snapshot> Db::get_snapshot(std::string_view ns, std::string_view key) {
  validate_namespace(ns);
  auto q = conn()->q(
      "SELECT s.id, s.key, COALESCE(p.key, ''), s.kind, s.labels, s.created, s.updated "
      "FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id "
      "WHERE s.namespace = ?1 AND s.key = ?2");
  q.args(ns, key);
  if (!q.step()) return std::nullopt;
  return conn()->snapshot(q);
}

std::vector<Snapshot> Db::list_snapshots(std::string_view ns) {
  validate_namespace(ns);
  auto q = conn()->q(
      "SELECT s.id, s.key, COALESCE(p.key, ''), s.kind, s.labels, s.created, s.updated "
      "FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id "
      "WHERE s.namespace = ?1 ORDER BY s.id");
  q.args(ns);
  return conn()->snapshots(std::move(q));
}

std::vector<Snapshot> Db::children(std::string_view ns, std::string_view key) {
  validate_namespace(ns);
  auto q = conn()->q(
      "SELECT s.id, s.key, p.key, s.kind, s.labels, s.created, s.updated "
      "FROM snapshots s JOIN snapshots p ON p.id = s.parent_id "
      "WHERE p.namespace = ?1 AND p.key = ?2 ORDER BY s.id");
  q.args(ns, key);
  return conn()->snapshots(std::move(q));
}

Snapshot Db::commit_snapshot(std::string_view ns, std::string_view active_key,
                             std::string_view name, const Labels& labels) {
  validate_namespace(ns);
  require("snapshot name", name);
  validate_labels(labels);
  return transaction([&] {
    auto s = get_snapshot(ns, active_key);
    if (!s) throw Error(ErrorKind::not_found, "snapshot " + in_quotes(active_key) + " not found");
    if (s->kind != Snapshot::Kind::active) {
      throw Error("snapshot " + in_quotes(active_key) + " is not active (it is " +
                  std::string(to_string(s->kind)) + ")");
    }
    if (name != active_key && get_snapshot(ns, name)) {
      throw Error(ErrorKind::already_exists, "snapshot " + in_quotes(name) + " already exists");
    }
    s->key = name;
    s->kind = Snapshot::Kind::committed;
    s->labels = labels;
    s->updated = now_ns();
    conn()->q("UPDATE snapshots SET key = ?2, kind = ?3, labels = ?4, updated = ?5 WHERE id = ?1")
        .args(s->id, name, to_string(s->kind), dump_labels(labels), s->updated)
        .run();
    return *s;
  });
}

Snapshot Db::set_snapshot_labels(std::string_view ns, std::string_view key, const Labels& labels) {
  validate_namespace(ns);
  validate_labels(labels);
  return transaction([&] {
    auto s = get_snapshot(ns, key);
    if (!s) throw Error(ErrorKind::not_found, "snapshot " + in_quotes(key) + " not found");
    s->labels = labels;
    s->updated = now_ns();
    conn()->q("UPDATE snapshots SET labels = ?2, updated = ?3 WHERE id = ?1")
        .args(s->id, dump_labels(labels), s->updated)
        .run();
    return *s;
  });
}

std::optional<Snapshot> Db::remove_snapshot(std::string_view ns, std::string_view key) {
  validate_namespace(ns);
  return transaction([&]() -> std::optional<Snapshot> {
    auto s = get_snapshot(ns, key);
    if (!s) return std::nullopt;
    const int64_t n = count_snapshot_children(s->id);
    if (n > 0) throw Error(ErrorKind::conflict, "snapshot " + in_quotes(key) + " has " + plural(n, "child", "children"));
    conn()->q("DELETE FROM snapshots WHERE id = ?1").args(s->id).run();
    return s;
  });
}

int64_t Db::count_snapshot_children(int64_t id) {
  auto q = conn()->q("SELECT count(*) FROM snapshots WHERE parent_id = ?1");
  q.args(id);
  return q.step() ? q.integer(0) : 0;
}

std::vector<int64_t> Db::snapshot_ids() {
  auto q = conn()->q("SELECT id FROM snapshots ORDER BY id");
  std::vector<int64_t> out;
  while (q.step()) out.push_back(q.integer(0));
  return out;
}

// ---- Content

ContentInfo Db::set_content(std::string_view ns, std::string_view digest, int64_t size,
                            const Labels& labels) {
  validate_namespace(ns);
  require("content digest", digest);
  if (size < 0) {
    throw Error("content " + std::string(digest) + ": negative size " + std::to_string(size));
  }
  validate_labels(labels);
  return transaction([&] {
    ContentInfo c{std::string(digest), size, labels, 0, now_ns()};
    auto q = conn()->q(
        "INSERT INTO content (namespace, digest, size, labels, created, updated) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (namespace, digest) DO UPDATE SET "
        "size = excluded.size, labels = excluded.labels, updated = excluded.updated "
        "RETURNING created");
    q.args(ns, digest, size, dump_labels(labels), c.updated);
    if (q.step()) c.created = q.integer(0);
    q.run();
    return c;
  });
}

std::optional<ContentInfo> Db::get_content(std::string_view ns, std::string_view digest) {
  validate_namespace(ns);
  auto q = conn()->q(
      "SELECT digest, size, labels, created, updated FROM content "
      "WHERE namespace = ?1 AND digest = ?2");
  q.args(ns, digest);
  if (!q.step()) return std::nullopt;
  return conn()->content(q);
}

std::vector<ContentInfo> Db::list_content(std::string_view ns) {
  validate_namespace(ns);
  auto q = conn()->q(
      "SELECT digest, size, labels, created, updated FROM content "
      "WHERE namespace = ?1 ORDER BY digest");
  q.args(ns);
  std::vector<ContentInfo> out;
  while (q.step()) out.push_back(conn()->content(q));
  return out;
}

bool Db::delete_content(std::string_view ns, std::string_view digest) {
  validate_namespace(ns);
  return transaction([&] {
    conn()->q("DELETE FROM content WHERE namespace = ?1 AND digest = ?2").args(ns, digest).run();
    return conn()->changes() > 0;
  });
}

std::vector<std::string> Db::content_namespaces(std::string_view digest) {
  auto q = conn()->q("SELECT namespace FROM content WHERE digest = ?1 ORDER BY namespace");
  q.args(digest);
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  return out;
}

// ---- Leases

Lease Db::create_lease(std::string_view ns, std::string_view id, int64_t expires_at,
                       const Labels& labels) {
  validate_namespace(ns);
  require("lease id", id);
  if (expires_at < 0) throw Error("lease " + in_quotes(id) + ": negative expiry");
  validate_labels(labels);
  return transaction([&] {
    if (get_lease(ns, id)) throw Error(ErrorKind::already_exists, "lease " + in_quotes(id) + " already exists");
    Lease l{std::string(id), expires_at, labels, now_ns()};
    conn()
        ->q("INSERT INTO leases (namespace, id, expires_at, labels, created) "
            "VALUES (?1, ?2, ?3, ?4, ?5)")
        .args(ns, id, expires_at, dump_labels(labels), l.created)
        .run();
    return l;
  });
}

std::optional<Lease> Db::get_lease(std::string_view ns, std::string_view id) {
  validate_namespace(ns);
  auto q = conn()->q(
      "SELECT id, expires_at, labels, created FROM leases WHERE namespace = ?1 AND id = ?2");
  q.args(ns, id);
  if (!q.step()) return std::nullopt;
  return conn()->lease(q);
}

std::vector<Lease> Db::list_leases(std::string_view ns) {
  validate_namespace(ns);
  auto q = conn()->q(
      "SELECT id, expires_at, labels, created FROM leases WHERE namespace = ?1 ORDER BY id");
  q.args(ns);
  std::vector<Lease> out;
  while (q.step()) out.push_back(conn()->lease(q));
  return out;
}

void Db::add_lease_resource(std::string_view ns, std::string_view id, LeaseResource::Type type,
                            std::string_view ref) {
  validate_namespace(ns);
  require("lease " + in_quotes(id) + ": resource ref", ref);
  transaction([&] {
    if (!get_lease(ns, id)) throw Error(ErrorKind::not_found, "lease " + in_quotes(id) + " not found");
    conn()
        ->q("INSERT OR IGNORE INTO lease_resources (namespace, lease_id, type, ref) "
            "VALUES (?1, ?2, ?3, ?4)")
        .args(ns, id, to_string(type), ref)
        .run();
  });
}

bool Db::remove_lease_resource(std::string_view ns, std::string_view id, LeaseResource::Type type,
                               std::string_view ref) {
  validate_namespace(ns);
  return transaction([&] {
    conn()
        ->q("DELETE FROM lease_resources "
            "WHERE namespace = ?1 AND lease_id = ?2 AND type = ?3 AND ref = ?4")
        .args(ns, id, to_string(type), ref)
        .run();
    return conn()->changes() > 0;
  });
}

std::vector<LeaseResource> Db::lease_resources(std::string_view ns, std::string_view id) {
  validate_namespace(ns);
  auto q = conn()->q(
      "SELECT type, ref FROM lease_resources WHERE namespace = ?1 AND lease_id = ?2 "
      "ORDER BY type, ref");
  q.args(ns, id);
  std::vector<LeaseResource> out;
  while (q.step()) out.push_back({parse_lease_resource_type(q.text(0)), q.text(1)});
  return out;
}

bool Db::delete_lease(std::string_view ns, std::string_view id) {
  validate_namespace(ns);
  return transaction([&] {
    // lease_resources go with it (ON DELETE CASCADE).
    conn()->q("DELETE FROM leases WHERE namespace = ?1 AND id = ?2").args(ns, id).run();
    return conn()->changes() > 0;
  });
}

// ---- Containers

namespace {
constexpr std::string_view kContainerColumns =
    "SELECT id, name, image, snapshot, data, created, updated FROM containers ";
}  // namespace

Container Db::add_container(std::string_view ns, const Container& c) {
  validate_namespace(ns);
  require("container id", c.id);
  require("container name", c.name);
  return transaction([&] {
    if (auto other = get_container_by_name(ns, c.name))
      throw Error(ErrorKind::conflict, "container name " + in_quotes(c.name) + " is already in use by container " +
                  in_quotes(other->id));
    if (get_container(ns, c.id)) throw Error(ErrorKind::already_exists, "container id " + in_quotes(c.id) + " already exists");
    Container out = c;
    out.created = out.updated = now_ns();
    auto q = conn()->q(
        "INSERT INTO containers (namespace, id, name, image, snapshot, data, created, updated) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    q.args(ns, c.id, c.name, c.image, c.snapshot, c.data, out.created, out.updated);
    q.run();
    return out;
  });
}

bool Db::update_container_if_unchanged(std::string_view ns, Container& c) {
  validate_namespace(ns);
  require("container name", c.name);
  return transaction([&] {
    if (auto other = get_container_by_name(ns, c.name); other && other->id != c.id)
      throw Error(ErrorKind::conflict, "container name " + in_quotes(c.name) + " is already in use by container " +
                  in_quotes(other->id));
    // Versions only grow, even when two writes fall in one clock tick.
    const int64_t version = std::max(now_ns(), c.updated + 1);
    auto q = conn()->q(
        "UPDATE containers SET name = ?3, data = ?4, updated = ?5 "
        "WHERE namespace = ?1 AND id = ?2 AND updated = ?6");
    q.args(ns, c.id, c.name, c.data, version, c.updated);
    q.run();
    if (conn()->changes() == 0) return false;
    c.updated = version;
    return true;
  });
}

std::optional<Container> Db::get_container(std::string_view ns, std::string_view id) {
  validate_namespace(ns);
  auto q = conn()->q(std::string(kContainerColumns) + "WHERE namespace = ?1 AND id = ?2");
  q.args(ns, id);
  if (!q.step()) return std::nullopt;
  return conn()->container(q);
}

std::optional<Container> Db::get_container_by_name(std::string_view ns, std::string_view name) {
  validate_namespace(ns);
  auto q = conn()->q(std::string(kContainerColumns) + "WHERE namespace = ?1 AND name = ?2");
  q.args(ns, name);
  if (!q.step()) return std::nullopt;
  return conn()->container(q);
}

std::vector<Container> Db::find_containers_by_prefix(std::string_view ns, std::string_view prefix) {
  validate_namespace(ns);
  // Ids are hex: a prefix with anything else matches nothing (and cannot be a LIKE pattern).
  for (char c : prefix)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return {};
  auto q = conn()->q(std::string(kContainerColumns) +
                    "WHERE namespace = ?1 AND id >= ?2 AND id < ?2 || 'g' ORDER BY id");
  q.args(ns, prefix);
  return conn()->containers(std::move(q));
}

std::vector<Container> Db::list_containers(std::string_view ns) {
  validate_namespace(ns);
  auto q = conn()->q(std::string(kContainerColumns) + "WHERE namespace = ?1 ORDER BY created, id");
  q.args(ns);
  return conn()->containers(std::move(q));
}

bool Db::delete_container(std::string_view ns, std::string_view id) {
  validate_namespace(ns);
  return transaction([&] {
    auto q = conn()->q("DELETE FROM containers WHERE namespace = ?1 AND id = ?2");
    q.args(ns, id);
    q.run();
    return conn()->changes() > 0;
  });
}

}  // namespace berth::metadata
