// The database schema as a list of migrations (internal to metadata/).
//
// The schema version is SQLite's `PRAGMA user_version`. Migration N turns a version N-1
// database into version N; a new table (containers, …) is a new entry at the end of the list,
// never an edit of an old one. Opening applies the missing migrations in one IMMEDIATE
// transaction, so concurrent first opens are safe and a failed step changes nothing.
#pragma once

#include <sqlite3.h>

#include <span>
#include <string_view>

namespace berth::metadata::schema {

struct Migration {
  int version;           // the user_version after this step (1, 2, …: consecutive)
  std::string_view sql;  // one or more statements
};

// Every migration of this berth, in order.
std::span<const Migration> migrations();
// The version of the newest migration.
int latest_version();

// The database's user_version.
int version(sqlite3* db, std::string_view path);

// Brings the database up to the last of `steps` (default: migrations()). A no-op when it is
// there already; throws berth::Error when the database is newer ("schema version 7 is newer
// than this berth understands (2)") or a step fails (nothing is changed then).
void migrate(sqlite3* db, std::string_view path, std::span<const Migration> steps);
inline void migrate(sqlite3* db, std::string_view path) {
  migrate(db, path, migrations());
}

}  // namespace berth::metadata::schema
