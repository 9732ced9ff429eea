// A thin RAII layer over the SQLite C API (internal to metadata/): owned connections and
// statements, a Query that binds, steps and always resets, and one-line errors.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace berth::metadata::sql {

struct CloseConnection {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct FinalizeStmt {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using Connection = std::unique_ptr<sqlite3, CloseConnection>;
using Stmt = std::unique_ptr<sqlite3_stmt, FinalizeStmt>;

// Throws berth::Error("metadata: <path>: <SQLite's message>"), e.g. "… database is locked".
// The Error's code() is EBUSY for a busy/locked database, the OS errno for an I/O failure.
[[noreturn]] void fail(sqlite3* db, std::string_view path, int rc);

// Runs SQL that returns no rows (schema, pragmas, BEGIN/COMMIT); several statements allowed.
void exec(sqlite3* db, std::string_view path, const char* sql);

// Compiles one statement (persistent: meant to be cached).
Stmt prepare(sqlite3* db, std::string_view path, std::string_view sql);

// One use of a prepared statement. The statement is reset and its bindings cleared when the
// Query ends, so that no read transaction stays open behind a cached statement.
class Query {
 public:
  // `busy` (optional) is the cache's in-use flag of a borrowed statement, cleared at the end.
  Query(sqlite3* db, std::string_view path, sqlite3_stmt* stmt, bool* busy);
  // A one-off statement that the Query owns.
  Query(sqlite3* db, std::string_view path, Stmt owned);
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query(Query&& o) noexcept;
  Query& operator=(Query&&) = delete;
  ~Query();

  // Parameters are numbered from 1; text is copied.
  void bind(int i, std::string_view v);
  void bind(int i, int64_t v);
  // Binds every argument in order (?1, ?2, …).
  template <class... A>
  Query& args(const A&... a) {
    int i = 1;
    (bind(i++, a), ...);
    return *this;
  }

  // Steps once: true when a row is available.
  bool step();
  // Steps to the end (statements without rows, or rows not wanted).
  void run();

  std::string text(int col) const;
  int64_t integer(int col) const;
  bool is_null(int col) const;

 private:
  sqlite3* db_;
  std::string_view path_;
  sqlite3_stmt* stmt_;
  bool* busy_ = nullptr;
  Stmt owned_;
};

}  // namespace berth::metadata::sql
