#include "store/sqlite/db.h"

#include <fmt/format.h>

#include <stdexcept>
#include <utility>

namespace sb::store::sqlite {

Db::Db(const std::filesystem::path& path, Mode mode) : name_(path.filename().string()) {
  int flags = SQLITE_OPEN_NOMUTEX;  // each connection is used by one thread at a time
  switch (mode) {
    case Mode::kCreate:
      flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
      break;
    case Mode::kReadWrite:
      flags |= SQLITE_OPEN_READWRITE;
      break;
    case Mode::kReadOnly:
      flags |= SQLITE_OPEN_READONLY;
      break;
  }
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw std::runtime_error(fmt::format("store: cannot open {}: {}", path.string(), msg));
  }
  sqlite3_extended_result_codes(db_, 1);
  // Another process (the CLI, or the engine while the CLI writes) may hold the write lock for
  // one short transaction; wait for it instead of failing.
  sqlite3_busy_timeout(db_, 10000);
}

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

void Db::fail(int rc, std::string_view what) const {
  throw std::runtime_error(fmt::format("store: {} on {}: {} ({})", what, name_, sqlite3_errmsg(db_),
                                       sqlite3_errstr(rc)));
}

void Db::exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    // The statement's start says which step failed (a PRAGMA at open, a migration, a COMMIT).
    const std::string_view head = std::string_view(sql).substr(0, 48);
    throw std::runtime_error(fmt::format("store: exec \"{}\" on {} failed: {} (code {})", head,
                                         name_, msg, sqlite3_extended_errcode(db_)));
  }
}

std::int64_t Db::dataVersion() {
  Stmt s(*this, "PRAGMA data_version");
  s.step();
  return s.int64(0);
}

Stmt::Stmt(Db& db, std::string_view sql) : db_(&db) {
  const int rc = sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) db.fail(rc, fmt::format("prepare \"{}\"", sql));
}

Stmt::~Stmt() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Stmt::Stmt(Stmt&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

Stmt& Stmt::operator=(Stmt&& other) noexcept {
  if (this != &other) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Stmt& Stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return *this;
}

Stmt& Stmt::bind(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) db_->fail(rc, "bind");
  return *this;
}

Stmt& Stmt::bind(int index, std::string_view value) {
  // A null pointer would bind SQL NULL; an empty string_view may have one.
  const char* data = value.data() ? value.data() : "";
  const int rc = sqlite3_bind_text64(stmt_, index, data, value.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (rc != SQLITE_OK) db_->fail(rc, "bind");
  return *this;
}

Stmt& Stmt::bindBlob(int index, std::string_view value) {
  // A zero-length blob with a null pointer would bind NULL; raw bytes are never NULL.
  static const char kEmpty = 0;
  const int rc = sqlite3_bind_blob64(stmt_, index, value.empty() ? &kEmpty : value.data(),
                                     value.size(), SQLITE_STATIC);
  if (rc != SQLITE_OK) db_->fail(rc, "bind");
  return *this;
}

Stmt& Stmt::bindNull(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) db_->fail(rc, "bind");
  return *this;
}

bool Stmt::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->fail(rc, "step");
}

void Stmt::run() {
  while (step()) {
  }
}

std::string Stmt::text(int col) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  const int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(p, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace sb::store::sqlite
