// Serializes setting up database files across processes sharing one data directory.
//
// Turning a new file into WAL mode is not safe to race: two processes that create main.db (or
// the same day file) at once can see "database is locked" from `PRAGMA journal_mode=WAL`
// without the busy handler being consulted, or an I/O error when one of them swaps the journal
// while the other inspects it. Holding an advisory lock on `<data dir>/setup.lock` while a file
// is opened and configured makes the second process wait for the first, then find a WAL file.
// Migrations run after the lock is released (they serialize themselves with BEGIN IMMEDIATE):
// nothing waits for an SQLite lock while holding this one, so a process inside a write
// transaction that asks for it cannot deadlock with the holder.
#pragma once

#include <filesystem>

namespace sb::store::sqlite {

class SetupLock {
 public:
  enum class Kind {
    kExclusive,  // writers: create, configure, migrate
    kShared,     // read-only openers: wait while a writer is setting a file up
  };
  // Blocks until the lock is held. A read-only opener that cannot open the lock file (a data
  // directory it may not write to, written by an older switchboard) goes on without it, and so
  // does anyone on a filesystem without flock (ENOLCK, EOPNOTSUPP: some network filesystems),
  // with a warning.
  SetupLock(const std::filesystem::path& dataDir, Kind kind);
  ~SetupLock();
  SetupLock(const SetupLock&) = delete;
  SetupLock& operator=(const SetupLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace sb::store::sqlite
