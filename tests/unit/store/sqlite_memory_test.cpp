#include "store/sqlite/sqlite_memory.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace sb::store::sqlite {
namespace {

// The allocator is installed before SQLite's first use in this process (the store does it on
// open; this test binary may have opened a store already, or not yet).
class SqliteMemoryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { installSqliteMemory(); }
};

#if !defined(__SANITIZE_ADDRESS__)
TEST_F(SqliteMemoryTest, BlocksAreRoundedUpToTheirClassAndReportThatSize) {
  void* small = sqlite3_malloc(100);
  void* page = sqlite3_malloc(4096 + 200);
  void* large = sqlite3_malloc(20000);
  ASSERT_NE(small, nullptr);
  ASSERT_NE(page, nullptr);
  ASSERT_NE(large, nullptr);
  EXPECT_EQ(sqlite3_msize(small), 128u);
  EXPECT_EQ(sqlite3_msize(page), 4608u);
  EXPECT_EQ(sqlite3_msize(large), 20000u);
  sqlite3_free(small);
  sqlite3_free(page);
  sqlite3_free(large);
}

TEST_F(SqliteMemoryTest, AFreedBlockIsHandedOutAgainOnTheSameThread) {
  void* first = sqlite3_malloc(200);
  sqlite3_free(first);
  void* second = sqlite3_malloc(250);  // same 256-byte class
  EXPECT_EQ(second, first);
  sqlite3_free(second);
}
#endif

TEST_F(SqliteMemoryTest, ReallocKeepsTheContentAcrossClasses) {
  auto* p = static_cast<char*>(sqlite3_malloc(10));
  std::memcpy(p, "0123456789", 10);
  p = static_cast<char*>(sqlite3_realloc(p, 60));  // fits its block: same pointer or a copy
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(std::string(p, 10), "0123456789");
  p = static_cast<char*>(sqlite3_realloc(p, 3000));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(std::string(p, 10), "0123456789");
  std::memset(p + 10, 'x', 2990);
  p = static_cast<char*>(sqlite3_realloc(p, 50000));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(std::string(p, 10), "0123456789");
  EXPECT_EQ(std::string(p + 10, 2990), std::string(2990, 'x'));
  sqlite3_free(p);
}

// Blocks move between threads (pooled read connections are leased by any thread); a block
// freed by another thread, and blocks freed after their thread ended, are still good.
TEST_F(SqliteMemoryTest, BlocksFreedOnOtherThreadsAreReusable) {
  std::vector<void*> blocks;
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) {
      void* b = sqlite3_malloc(64 + (i % 40) * 100);
      std::memset(b, i & 0xff, 64);
      blocks.push_back(b);
    }
  });
  producer.join();
  std::thread consumer([&] {
    for (void* b : blocks) sqlite3_free(b);
    for (int i = 0; i < 1000; ++i) {
      void* b = sqlite3_malloc(64 + (i % 40) * 100);
      std::memset(b, 0xab, 64 + (i % 40) * 100);
      sqlite3_free(b);
    }
  });
  consumer.join();
  void* after = sqlite3_malloc(64);
  ASSERT_NE(after, nullptr);
  sqlite3_free(after);
}

}  // namespace
}  // namespace sb::store::sqlite
