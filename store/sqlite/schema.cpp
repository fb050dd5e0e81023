#include "store/sqlite/schema.h"

#include <fmt/format.h>

#include <stdexcept>
#include <string_view>

#include "common/log.h"
#include "store/sqlite/migrations_embedded.h"

namespace sb::store::sqlite {

namespace {

std::string_view targetName(SchemaTarget target) {
  return target == SchemaTarget::kMain ? "main" : "partition";
}

bool tableExists(Db& db, std::string_view table) {
  Stmt s(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
  s.bind(1, table);
  return s.step();
}

void refuseNewer(Db& db, SchemaTarget target, int found) {
  const int latest = latestSchemaVersion(target);
  if (found > latest) {
    throw std::runtime_error(fmt::format(
        "store: {} has schema version {} but this switchboard supports at most {} ({} schema); "
        "it was written by a newer switchboard: upgrade switchboard to open it",
        db.name(), found, latest, targetName(target)));
  }
}

}  // namespace

int latestSchemaVersion(SchemaTarget target) {
  int latest = 0;
  for (const auto& m : kEmbeddedMigrations) {
    if (m.target == targetName(target) && m.version > latest) latest = m.version;
  }
  return latest;
}

int schemaVersion(Db& db) {
  if (!tableExists(db, "schema_version")) return 0;
  Stmt s(db, "SELECT max(version) FROM schema_version");
  return s.step() && !s.isNull(0) ? s.int32(0) : 0;
}

void checkSchemaVersion(Db& db, SchemaTarget target) {
  refuseNewer(db, target, schemaVersion(db));
}

void migrate(Db& db, SchemaTarget target, std::optional<int> upTo) {
  const int goal = upTo.value_or(latestSchemaVersion(target));
  // Cheap check first: an up-to-date file (the common case) takes no write lock.
  const int current = schemaVersion(db);
  refuseNewer(db, target, current);
  if (current >= goal) return;

  for (const auto& m : kEmbeddedMigrations) {
    if (m.target != targetName(target) || m.version > goal) continue;
    // IMMEDIATE + re-reading the version inside the transaction: two processes opening the
    // same data directory at once apply each migration exactly once.
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
      const int now = schemaVersion(db);
      refuseNewer(db, target, now);
      if (m.version > now) {
        db.exec(m.sql);
        Stmt s(db, "INSERT INTO schema_version (version) VALUES (?)");
        s.bind(1, std::int64_t{m.version}).run();
        sb::log::at(sb::log::Level::kInfo, "store", "migrated {} to schema version {} ({})",
                    db.name(), m.version, m.name);
      }
      db.exec("COMMIT");
    } catch (...) {
      db.exec("ROLLBACK");
      throw;
    }
  }
}

}  // namespace sb::store::sqlite
