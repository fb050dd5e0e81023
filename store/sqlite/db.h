// Thin RAII wrappers over the SQLite C API used by the SQLite store backend. Errors throw
// std::runtime_error carrying SQLite's message and the file name (never row contents).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace sb::store::sqlite {

class Stmt;

class Db {
 public:
  enum class Mode { kCreate, kReadWrite, kReadOnly };
  // Throws when the file cannot be opened (kReadWrite/kReadOnly never create it).
  Db(const std::filesystem::path& path, Mode mode);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& name() const { return name_; }
  void exec(std::string_view sql);
  std::int64_t changes() const { return sqlite3_changes64(db_); }
  // The rowid of this connection's last successful INSERT.
  std::int64_t lastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }
  // Changes whenever another connection commits to this file (PRAGMA data_version).
  std::int64_t dataVersion();
  bool inTransaction() const { return sqlite3_get_autocommit(db_) == 0; }
  [[noreturn]] void fail(int rc, std::string_view what) const;

 private:
  sqlite3* db_ = nullptr;
  std::string name_;
};

// A prepared statement, reset on each bind cycle so it can be reused for the life of the
// connection (the writer's hot statements are prepared once).
class Stmt {
 public:
  Stmt() = default;
  Stmt(Db& db, std::string_view sql);
  ~Stmt();
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&& other) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  explicit operator bool() const { return stmt_ != nullptr; }
  // Resets the statement and clears its bindings; returns *this for chaining binds.
  Stmt& reset();
  // Text and blob binds do not copy (SQLITE_STATIC): the bytes must stay valid until the
  // statement has been stepped. Every caller binds and steps in one expression or block, and
  // skipping the copy matters for 1 KB+ messages on the writer thread.
  Stmt& bind(int index, std::int64_t value);
  Stmt& bind(int index, std::string_view value);  // as TEXT
  Stmt& bindBlob(int index, std::string_view value);
  Stmt& bindNull(int index);
  // Steps once: true when a row is available.
  bool step();
  // Steps to completion (for statements that return no rows).
  void run();

  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  int int32(int col) const { return sqlite3_column_int(stmt_, col); }
  bool isNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const;

 private:
  Db* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace sb::store::sqlite
