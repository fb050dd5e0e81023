#include "store/sqlite/sqlite_memory.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace sb::store::sqlite {
namespace {

// Each block starts with a 16-byte header holding its capacity (what xSize reports); the
// caller's pointer follows it, so it keeps malloc's 16-byte alignment.
constexpr std::size_t kHeader = 16;

// Size classes: 64-byte steps up to 1 KB (statement objects), 512-byte steps up to 8 KB (page
// cache entries: a 4 KB page and its headers).
constexpr std::size_t kSmallStep = 64;
constexpr std::size_t kSmallMax = 1024;
constexpr std::size_t kLargeStep = 512;
constexpr std::size_t kLargeMax = 8192;
constexpr std::size_t kClasses = kSmallMax / kSmallStep + (kLargeMax - kSmallMax) / kLargeStep;
// A thread keeps at most this many bytes of free blocks per class; the rest goes back to free.
constexpr std::size_t kKeptBytesPerClass = 256 * 1024;

// The class index for a request of n bytes, or kClasses when it is larger than every class.
std::size_t classOf(std::size_t n) {
  if (n <= kSmallMax) return n == 0 ? 0 : (n - 1) / kSmallStep;
  if (n <= kLargeMax) return kSmallMax / kSmallStep + (n - kSmallMax - 1) / kLargeStep;
  return kClasses;
}

std::size_t capacityOf(std::size_t cls) {
  if (cls < kSmallMax / kSmallStep) return (cls + 1) * kSmallStep;
  return kSmallMax + (cls - kSmallMax / kSmallStep + 1) * kLargeStep;
}

struct FreeBlock {
  FreeBlock* next;
};

struct Cache {
  std::array<FreeBlock*, kClasses> heads{};
  std::array<std::size_t, kClasses> counts{};
  ~Cache();
};

// Set when this thread's cache is gone (thread exit): blocks freed afterwards, by destructors
// that run later, go straight to free. A trivially destructible thread_local stays readable.
thread_local bool cacheGone = false;
thread_local Cache cache;

Cache::~Cache() {
  for (std::size_t c = 0; c < kClasses; ++c) {
    while (heads[c] != nullptr) {
      FreeBlock* b = heads[c];
      heads[c] = b->next;
      std::free(reinterpret_cast<char*>(b) - kHeader);
    }
  }
  cacheGone = true;
}

std::size_t& capacityField(void* p) {
  return *reinterpret_cast<std::size_t*>(static_cast<char*>(p) - kHeader);
}

void* xMalloc(int requested) {
  const std::size_t n = requested > 0 ? static_cast<std::size_t>(requested) : 1;
  const std::size_t cls = classOf(n);
  if (cls < kClasses && !cacheGone) {
    if (FreeBlock* b = cache.heads[cls]) {
      cache.heads[cls] = b->next;
      --cache.counts[cls];
      return b;
    }
  }
  const std::size_t capacity = cls < kClasses ? capacityOf(cls) : (n + 15) / 16 * 16;
  char* raw = static_cast<char*>(std::malloc(kHeader + capacity));
  if (raw == nullptr) return nullptr;
  void* p = raw + kHeader;
  capacityField(p) = capacity;
  return p;
}

void xFree(void* p) {
  if (p == nullptr) return;
  const std::size_t capacity = capacityField(p);
  const std::size_t cls = classOf(capacity);
  if (cls < kClasses && !cacheGone &&
      (cache.counts[cls] + 1) * capacity <= std::max(kKeptBytesPerClass, capacity * 8)) {
    auto* b = static_cast<FreeBlock*>(p);
    b->next = cache.heads[cls];
    cache.heads[cls] = b;
    ++cache.counts[cls];
    return;
  }
  std::free(static_cast<char*>(p) - kHeader);
}

int xSize(void* p) {
  return p == nullptr ? 0 : static_cast<int>(capacityField(p));
}

void* xRealloc(void* p, int requested) {
  if (p == nullptr) return xMalloc(requested);
  const std::size_t n = requested > 0 ? static_cast<std::size_t>(requested) : 1;
  const std::size_t capacity = capacityField(p);
  if (n <= capacity) return p;
  void* grown = xMalloc(requested);
  if (grown == nullptr) return nullptr;
  std::memcpy(grown, p, capacity);
  xFree(p);
  return grown;
}

int xRoundup(int requested) {
  const std::size_t n = requested > 0 ? static_cast<std::size_t>(requested) : 1;
  const std::size_t cls = classOf(n);
  return static_cast<int>(cls < kClasses ? capacityOf(cls) : (n + 15) / 16 * 16);
}

int xInit(void*) {
  return SQLITE_OK;
}

void xShutdown(void*) {}

}  // namespace

void installSqliteMemory() {
#if defined(__SANITIZE_ADDRESS__)
  return;
#else
  static std::once_flag once;
  std::call_once(once, [] {
    static const sqlite3_mem_methods methods{xMalloc,  xFree, xRealloc,  xSize,
                                             xRoundup, xInit, xShutdown, nullptr};
    // SQLITE_MISUSE when SQLite is in use already: it keeps its allocator, which is correct too.
    sqlite3_config(SQLITE_CONFIG_MALLOC, &methods);
  });
#endif
}

}  // namespace sb::store::sqlite
