// A SQLite VFS shim that coalesces the writes SQLite makes to a WAL file.
//
// SQLite appends each WAL frame as two writes (the 24-byte frame header, then the page), so a
// commit of n pages costs 2n pwrite calls, and every frame of 4096 + 24 bytes straddles two
// page-cache pages. The shim collects contiguous appends in memory and hands them to the file in
// one write when the commit frame has been appended (its header carries the database size), and
// before anything that must see the file (read, sync, truncate, size, file control, close) or a
// write elsewhere in the file. So when COMMIT returns the whole transaction is in the OS, exactly
// as without the shim: readers and the checkpointer, which read the WAL through their own file
// handles, only look at frames a commit has published, and a kill -9 of the process after COMMIT
// returned loses nothing. Write errors surface at the commit frame's write, so COMMIT fails as it
// would have.
#pragma once

namespace sb::store::sqlite {

// Registers the shim over the default VFS and makes it the default (once per process; later
// calls do nothing). Connections opened afterwards use it.
void installWalBuffer();

}  // namespace sb::store::sqlite
