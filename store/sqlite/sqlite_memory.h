// A small-block allocator for SQLite.
//
// Debian's SQLite is built with SQLITE_OMIT_LOOKASIDE, so every small object a statement needs
// while it runs (cursors, unpacked records, memory cells) is a malloc and a free: measured with
// callgrind, about 100 of each per message on the store's writer thread, an eighth of its
// instructions. This allocator keeps freed blocks of up to 8 KB on per-thread lists by size
// class and hands them out again, without a lock; larger blocks, and blocks beyond a list's
// cap, go to malloc and free.
#pragma once

namespace sb::store::sqlite {

// Makes SQLite use the allocator. Only takes effect before SQLite's first use in the process
// (sqlite3_config), so the store calls it before opening anything; later calls do nothing.
// Under AddressSanitizer SQLite keeps the system allocator, so its memory stays checked.
void installSqliteMemory();

}  // namespace sb::store::sqlite
