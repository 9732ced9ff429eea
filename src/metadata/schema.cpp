#include "metadata/schema.hpp"

#include <string>

#include "common/error.hpp"
#include "metadata/sqlite.hpp"

namespace berth::metadata::schema {

namespace {

// Times are unix nanoseconds; labels are JSON objects of strings. Every table is partitioned
// by `namespace`. Snapshot ids are AUTOINCREMENT: unique across namespaces and never reused,
// since they name directories on disk (snapshots/<id>).
constexpr std::string_view kV1 = R"sql(
CREATE TABLE images (
  namespace  TEXT NOT NULL,
  name       TEXT NOT NULL,
  media_type TEXT NOT NULL,
  digest     TEXT NOT NULL,
  size       INTEGER NOT NULL,
  labels     TEXT NOT NULL DEFAULT '{}',
  created    INTEGER NOT NULL,
  updated    INTEGER NOT NULL,
  PRIMARY KEY (namespace, name)
) WITHOUT ROWID;
CREATE INDEX images_by_target ON images (namespace, digest);

CREATE TABLE snapshots (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  namespace  TEXT NOT NULL,
  key        TEXT NOT NULL,
  parent_id  INTEGER REFERENCES snapshots (id) ON DELETE RESTRICT,
  kind       TEXT NOT NULL CHECK (kind IN ('active', 'view', 'committed')),
  labels     TEXT NOT NULL DEFAULT '{}',
  created    INTEGER NOT NULL,
  updated    INTEGER NOT NULL,
  UNIQUE (namespace, key)
);
CREATE INDEX snapshots_by_parent ON snapshots (parent_id);

CREATE TABLE content (
  namespace  TEXT NOT NULL,
  digest     TEXT NOT NULL,
  size       INTEGER NOT NULL,
  labels     TEXT NOT NULL DEFAULT '{}',
  created    INTEGER NOT NULL,
  updated    INTEGER NOT NULL,
  PRIMARY KEY (namespace, digest)
) WITHOUT ROWID;
CREATE INDEX content_by_digest ON content (digest);

CREATE TABLE leases (
  namespace  TEXT NOT NULL,
  id         TEXT NOT NULL,
  expires_at INTEGER NOT NULL DEFAULT 0,
  labels     TEXT NOT NULL DEFAULT '{}',
  created    INTEGER NOT NULL,
  PRIMARY KEY (namespace, id)
) WITHOUT ROWID;

CREATE TABLE lease_resources (
  namespace  TEXT NOT NULL,
  lease_id   TEXT NOT NULL,
  type       TEXT NOT NULL CHECK (type IN ('content', 'snapshot', 'ingest')),
  ref        TEXT NOT NULL,
  PRIMARY KEY (namespace, lease_id, type, ref),
  FOREIGN KEY (namespace, lease_id) REFERENCES leases (namespace, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX lease_resources_by_ref ON lease_resources (namespace, type, ref);
)sql";

// Containers of the engine: the record (name unique per namespace) and the engine's own JSON
// document (spec, host config, last known state). Their live state is in --state.
constexpr std::string_view kV2 = R"sql(
CREATE TABLE containers (
  namespace  TEXT NOT NULL,
  id         TEXT NOT NULL,
  name       TEXT NOT NULL,
  image      TEXT NOT NULL,
  snapshot   TEXT NOT NULL,
  data       TEXT NOT NULL,
  created    INTEGER NOT NULL,
  updated    INTEGER NOT NULL,
  PRIMARY KEY (namespace, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX containers_by_name ON containers (namespace, name);
)sql";

constexpr Migration kMigrations[] = {
    {1, kV1},
    {2, kV2},
};

}  // namespace

std::span<const Migration> migrations() {
  return kMigrations;
}

int latest_version() {
  return kMigrations[std::size(kMigrations) - 1].version;
}

int version(sqlite3* db, std::string_view path) {
  auto stmt = sql::prepare(db, path, "PRAGMA user_version");
  sql::Query q(db, path, std::move(stmt));
  return q.step() ? static_cast<int>(q.integer(0)) : 0;
}

void migrate(sqlite3* db, std::string_view path, std::span<const Migration> steps) {
  int target = steps.empty() ? 0 : steps.back().version;
  auto check = [&](int v) {
    if (v > target) {
      throw Error("metadata: " + std::string(path) + ": schema version " + std::to_string(v) +
                  " is newer than this berth understands (" + std::to_string(target) + ")");
    }
  };
  // Cheap path first: an up-to-date database needs no write lock.
  int v = version(db, path);
  check(v);
  if (v == target) return;

  sql::exec(db, path, "BEGIN IMMEDIATE");
  try {
    v = version(db, path);  // another process may have migrated meanwhile
    check(v);
    for (const auto& m : steps) {
      if (m.version <= v) continue;
      if (m.version != v + 1) {
        throw Error("metadata: " + std::string(path) + ": migration " + std::to_string(m.version) +
                    " does not follow version " + std::to_string(v));
      }
      try {
        sql::exec(db, path, std::string(m.sql).c_str());
      } catch (const Error& e) {
        throw Error(std::string(e.what()) + " (schema migration " + std::to_string(m.version) + ")",
                    e.code());
      }
      v = m.version;
    }
    sql::exec(db, path, ("PRAGMA user_version = " + std::to_string(v)).c_str());
    sql::exec(db, path, "COMMIT");
  } catch (...) {
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace berth::metadata::schema
