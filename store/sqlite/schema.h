// Versioned schema migrations for main.db and the day partition files. The SQL comes from
// store/migrations/NNNN_<main|partition>_<what>.sql, embedded at build time.
#pragma once

#include <optional>

#include "store/sqlite/db.h"

namespace sb::store::sqlite {

enum class SchemaTarget { kMain, kPartition };

// The highest version the embedded migrations bring a database of this kind to.
int latestSchemaVersion(SchemaTarget target);
// The version recorded in the database's schema_version table; 0 for a new, empty file.
int schemaVersion(Db& db);
// Brings the database to `upTo` (default: the latest) in one write transaction per migration.
// Throws std::runtime_error when the database is newer than this binary knows, so an old binary
// never writes a schema it does not understand.
void migrate(Db& db, SchemaTarget target, std::optional<int> upTo = std::nullopt);
// Throws the same error as migrate when the database is newer than this binary; used by
// read-only opens, which must not write.
void checkSchemaVersion(Db& db, SchemaTarget target);

}  // namespace sb::store::sqlite
