#include "store/sqlite/wal_buffer.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

namespace sb::store::sqlite {
namespace {

constexpr int kFrameHeaderBytes = 24;              // WAL_FRAME_HDRSIZE
constexpr std::size_t kMaxBuffered = 1024 * 1024;  // flush a huge transaction as it goes
constexpr std::size_t kMaxWrite = 64 * 1024;       // per write call to the real file

sqlite3_vfs* gReal = nullptr;  // the VFS underneath (unix)
sqlite3_vfs gVfs;              // the shim

// A WAL file: the real file object lives right behind this struct (same allocation).
struct WalFile {
  sqlite3_file base;  // first: SQLite sees a sqlite3_file*
  sqlite3_file* real = nullptr;
  std::string pending;          // contiguous bytes not yet written
  sqlite3_int64 pendingAt = 0;  // file offset of pending[0]
  bool committing = false;      // a commit frame's header was appended: write through
};

constexpr std::size_t realOffset() {
  return (sizeof(WalFile) + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) *
         alignof(std::max_align_t);
}

WalFile* walOf(sqlite3_file* f) {
  return reinterpret_cast<WalFile*>(f);
}

int flush(WalFile* w) {
  int rc = SQLITE_OK;
  // The unix VFS writes at most 128 KB - 1 per call (it masks the length), so larger runs go
  // in pieces.
  for (std::size_t done = 0; done < w->pending.size() && rc == SQLITE_OK; done += kMaxWrite) {
    const std::size_t n = std::min(kMaxWrite, w->pending.size() - done);
    rc = w->real->pMethods->xWrite(w->real, w->pending.data() + done, static_cast<int>(n),
                                   w->pendingAt + static_cast<sqlite3_int64>(done));
  }
  w->pending.clear();
  return rc;
}

int xClose(sqlite3_file* f) {
  WalFile* w = walOf(f);
  const int flushed = flush(w);
  const int rc = w->real->pMethods->xClose(w->real);
  w->~WalFile();
  return flushed != SQLITE_OK ? flushed : rc;
}

int xRead(sqlite3_file* f, void* out, int n, sqlite3_int64 at) {
  WalFile* w = walOf(f);
  if (const int rc = flush(w); rc != SQLITE_OK) return rc;
  return w->real->pMethods->xRead(w->real, out, n, at);
}

int xWrite(sqlite3_file* f, const void* data, int n, sqlite3_int64 at) {
  WalFile* w = walOf(f);
  if (!w->pending.empty() && at != w->pendingAt + static_cast<sqlite3_int64>(w->pending.size())) {
    if (const int rc = flush(w); rc != SQLITE_OK) return rc;
  }
  if (w->pending.empty()) w->pendingAt = at;
  w->pending.append(static_cast<const char*>(data), static_cast<std::size_t>(n));
  if (n == kFrameHeaderBytes) {
    // Bytes 4..7 of a frame header: the database size in pages for a commit frame, else 0.
    // From a commit frame's header on, every write goes out at once (its page, and any padding
    // frames SQLite adds after it), until the next transaction's first frame.
    const auto* h = static_cast<const unsigned char*>(data);
    w->committing = (h[4] | h[5] | h[6] | h[7]) != 0;
    return SQLITE_OK;
  }
  if (w->committing || w->pending.size() >= kMaxBuffered) return flush(w);
  return SQLITE_OK;
}

int xTruncate(sqlite3_file* f, sqlite3_int64 size) {
  WalFile* w = walOf(f);
  if (const int rc = flush(w); rc != SQLITE_OK) return rc;
  return w->real->pMethods->xTruncate(w->real, size);
}

int xSync(sqlite3_file* f, int flags) {
  WalFile* w = walOf(f);
  if (const int rc = flush(w); rc != SQLITE_OK) return rc;
  // A sync inside a commit (synchronous=FULL with sector padding) may split a frame; whatever
  // follows it up to the next transaction's first frame is written through too.
  w->committing = true;
  return w->real->pMethods->xSync(w->real, flags);
}

int xFileSize(sqlite3_file* f, sqlite3_int64* size) {
  WalFile* w = walOf(f);
  if (const int rc = flush(w); rc != SQLITE_OK) return rc;
  return w->real->pMethods->xFileSize(w->real, size);
}

int xLock(sqlite3_file* f, int level) {
  WalFile* w = walOf(f);
  return w->real->pMethods->xLock(w->real, level);
}

int xUnlock(sqlite3_file* f, int level) {
  WalFile* w = walOf(f);
  return w->real->pMethods->xUnlock(w->real, level);
}

int xCheckReservedLock(sqlite3_file* f, int* out) {
  WalFile* w = walOf(f);
  return w->real->pMethods->xCheckReservedLock(w->real, out);
}

int xFileControl(sqlite3_file* f, int op, void* arg) {
  WalFile* w = walOf(f);
  if (const int rc = flush(w); rc != SQLITE_OK) return rc;
  return w->real->pMethods->xFileControl(w->real, op, arg);
}

int xSectorSize(sqlite3_file* f) {
  WalFile* w = walOf(f);
  return w->real->pMethods->xSectorSize(w->real);
}

int xDeviceCharacteristics(sqlite3_file* f) {
  WalFile* w = walOf(f);
  return w->real->pMethods->xDeviceCharacteristics(w->real);
}

// A WAL file is never memory-mapped or used for shared memory (that is the -shm file, through
// the database file's methods), so version 1 methods are all it needs.
const sqlite3_io_methods kWalMethods = {1,
                                        xClose,
                                        xRead,
                                        xWrite,
                                        xTruncate,
                                        xSync,
                                        xFileSize,
                                        xLock,
                                        xUnlock,
                                        xCheckReservedLock,
                                        xFileControl,
                                        xSectorSize,
                                        xDeviceCharacteristics,
                                        nullptr,
                                        nullptr,
                                        nullptr,
                                        nullptr,
                                        nullptr,
                                        nullptr};

int xOpen(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* outFlags) {
  if ((flags & SQLITE_OPEN_WAL) == 0) {
    // Everything but WAL files is the real VFS's own object, in our (larger) allocation.
    return gReal->xOpen(gReal, name, file, flags, outFlags);
  }
  auto* w = new (file) WalFile();
  w->base.pMethods = nullptr;  // SQLite calls xClose only when set
  w->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + realOffset());
  std::memset(w->real, 0, static_cast<std::size_t>(gReal->szOsFile));
  const int rc = gReal->xOpen(gReal, name, w->real, flags, outFlags);
  if (rc != SQLITE_OK) {
    if (w->real->pMethods) w->real->pMethods->xClose(w->real);
    w->~WalFile();
    return rc;
  }
  w->base.pMethods = &kWalMethods;
  return SQLITE_OK;
}

int xDelete(sqlite3_vfs*, const char* name, int syncDir) {
  return gReal->xDelete(gReal, name, syncDir);
}
int xAccess(sqlite3_vfs*, const char* name, int flags, int* out) {
  return gReal->xAccess(gReal, name, flags, out);
}
int xFullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return gReal->xFullPathname(gReal, name, n, out);
}
void* xDlOpen(sqlite3_vfs*, const char* name) {
  return gReal->xDlOpen(gReal, name);
}
void xDlError(sqlite3_vfs*, int n, char* out) {
  gReal->xDlError(gReal, n, out);
}
void (*xDlSym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return gReal->xDlSym(gReal, handle, symbol);
}
void xDlClose(sqlite3_vfs*, void* handle) {
  gReal->xDlClose(gReal, handle);
}
int xRandomness(sqlite3_vfs*, int n, char* out) {
  return gReal->xRandomness(gReal, n, out);
}
int xSleep(sqlite3_vfs*, int micros) {
  return gReal->xSleep(gReal, micros);
}
int xCurrentTime(sqlite3_vfs*, double* out) {
  return gReal->xCurrentTime(gReal, out);
}
int xGetLastError(sqlite3_vfs*, int n, char* out) {
  return gReal->xGetLastError(gReal, n, out);
}
int xCurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return gReal->xCurrentTimeInt64(gReal, out);
}
int xSetSystemCall(sqlite3_vfs*, const char* name, sqlite3_syscall_ptr call) {
  return gReal->xSetSystemCall(gReal, name, call);
}
sqlite3_syscall_ptr xGetSystemCall(sqlite3_vfs*, const char* name) {
  return gReal->xGetSystemCall(gReal, name);
}
const char* xNextSystemCall(sqlite3_vfs*, const char* name) {
  return gReal->xNextSystemCall(gReal, name);
}

}  // namespace

void installWalBuffer() {
  static std::once_flag once;
  std::call_once(once, [] {
    gReal = sqlite3_vfs_find(nullptr);
    if (gReal == nullptr || gReal->iVersion < 3) return;  // keep SQLite's own default
    gVfs = *gReal;
    gVfs.szOsFile = static_cast<int>(realOffset()) + gReal->szOsFile;
    gVfs.pNext = nullptr;
    gVfs.zName = "sb-walbuffer";
    gVfs.pAppData = nullptr;
    gVfs.xOpen = xOpen;
    gVfs.xDelete = xDelete;
    gVfs.xAccess = xAccess;
    gVfs.xFullPathname = xFullPathname;
    gVfs.xDlOpen = xDlOpen;
    gVfs.xDlError = xDlError;
    gVfs.xDlSym = xDlSym;
    gVfs.xDlClose = xDlClose;
    gVfs.xRandomness = xRandomness;
    gVfs.xSleep = xSleep;
    gVfs.xCurrentTime = xCurrentTime;
    gVfs.xGetLastError = xGetLastError;
    gVfs.xCurrentTimeInt64 = xCurrentTimeInt64;
    gVfs.xSetSystemCall = xSetSystemCall;
    gVfs.xGetSystemCall = xGetSystemCall;
    gVfs.xNextSystemCall = xNextSystemCall;
    sqlite3_vfs_register(&gVfs, 1);
  });
}

}  // namespace sb::store::sqlite
