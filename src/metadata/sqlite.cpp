#include "metadata/sqlite.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/error.hpp"

namespace berth::metadata::sql {

void fail(sqlite3* db, std::string_view path, int rc) {
  std::string msg = "metadata: ";
  msg += path;
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  int err = 0;
  int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    err = EBUSY;
  } else if ((primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN || primary == SQLITE_FULL) &&
             db && sqlite3_system_errno(db) != 0) {
    err = sqlite3_system_errno(db);
    msg += ": ";
    msg += std::strerror(err);
  }
  throw Error(msg, err);
}

void exec(sqlite3* db, std::string_view path, const char* sql) {
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(db, path, rc);
}

Stmt prepare(sqlite3* db, std::string_view path, std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(s);
    fail(db, path, rc);
  }
  return Stmt(s);
}

Query::Query(sqlite3* db, std::string_view path, sqlite3_stmt* stmt, bool* busy)
    : db_(db), path_(path), stmt_(stmt), busy_(busy) {
  if (busy_) *busy_ = true;
}

Query::Query(sqlite3* db, std::string_view path, Stmt owned)
    : db_(db), path_(path), stmt_(owned.get()), owned_(std::move(owned)) {}

Query::Query(Query&& o) noexcept
    : db_(o.db_),
      path_(o.path_),
      stmt_(std::exchange(o.stmt_, nullptr)),
      busy_(std::exchange(o.busy_, nullptr)),
      owned_(std::move(o.owned_)) {}

Query::~Query() {
  if (!stmt_) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  if (busy_) *busy_ = false;
}

void Query::bind(int i, std::string_view v) {
  int rc = sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) fail(db_, path_, rc);
}

void Query::bind(int i, int64_t v) {
  int rc = sqlite3_bind_int64(stmt_, i, v);
  if (rc != SQLITE_OK) fail(db_, path_, rc);
}

bool Query::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, path_, rc);
}

void Query::run() {
  while (step()) {
  }
}

std::string Query::text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (!p) return {};
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

int64_t Query::integer(int col) const {
  return sqlite3_column_int64(stmt_, col);
}

bool Query::is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

}  // namespace berth::metadata::sql
