// X12 control numbers in the SQLite store: consecutive, never handed out twice, across threads,
// store instances, processes, restarts and a kill -9.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/message_store.h"
#include "store/sqlite/db.h"
#include "tests/support/test_support.h"

namespace sb::store {
namespace {

class ControlNumbersTest : public ::testing::Test {
 protected:
  std::unique_ptr<MessageStore> open(Durability durability = Durability::kProcess) {
    Options o;
    o.dataDir = dir_.path();
    o.durability = durability;
    return openSqliteStore(o);
  }
  test::TempDir dir_;
};

// Reads everything a child process wrote to the pipe, until it closes its end.
std::string readAll(int fd) {
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      return out;
    }
  }
}

void writeAll(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

std::vector<std::int64_t> parseNumbers(const std::string& text) {
  std::vector<std::int64_t> out;
  std::istringstream in(text);
  std::int64_t n = 0;
  while (in >> n) out.push_back(n);
  return out;
}

TEST_F(ControlNumbersTest, SequentialReservationsAreConsecutiveFromOne) {
  auto store = open();
  for (std::int64_t expected = 1; expected <= 20; ++expected) {
    EXPECT_EQ(store->reserveControlNumbers("ACME", "ISA"), expected);
  }
}

TEST_F(ControlNumbersTest, CountReservesABlock) {
  auto store = open();
  EXPECT_EQ(store->reserveControlNumbers("ACME", "ST", 5), 1);   // 1..5
  EXPECT_EQ(store->reserveControlNumbers("ACME", "ST", 1), 6);   // 6
  EXPECT_EQ(store->reserveControlNumbers("ACME", "ST", 10), 7);  // 7..16
  EXPECT_EQ(store->reserveControlNumbers("ACME", "ST"), 17);
}

TEST_F(ControlNumbersTest, SequencesAreSeparatePerPartnerAndKind) {
  auto store = open();
  EXPECT_EQ(store->reserveControlNumbers("ACME", "ISA"), 1);
  EXPECT_EQ(store->reserveControlNumbers("ACME", "ISA"), 2);
  EXPECT_EQ(store->reserveControlNumbers("ACME", "GS"), 1);
  EXPECT_EQ(store->reserveControlNumbers("ACME", "ST", 3), 1);
  EXPECT_EQ(store->reserveControlNumbers("GLOBEX", "ISA"), 1);
  EXPECT_EQ(store->reserveControlNumbers("GLOBEX", "GS"), 1);
  EXPECT_EQ(store->reserveControlNumbers("ACME", "GS"), 2);
  EXPECT_EQ(store->reserveControlNumbers("ACME", "ST"), 4);
  EXPECT_EQ(store->reserveControlNumbers("ACME", "ISA"), 3);
}

TEST_F(ControlNumbersTest, SurviveCloseAndReopen) {
  {
    auto store = open();
    EXPECT_EQ(store->reserveControlNumbers("ACME", "ISA", 3), 1);
    EXPECT_EQ(store->reserveControlNumbers("ACME", "GS"), 1);
    store->close();
  }
  auto store = open();
  EXPECT_EQ(store->reserveControlNumbers("ACME", "ISA"), 4);
  EXPECT_EQ(store->reserveControlNumbers("ACME", "GS"), 2);
}

TEST_F(ControlNumbersTest, SurviveKill9OfTheProcess) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    // Every number reported to the parent had been returned, i.e. was durable, before the kill.
    auto store = open();
    for (int i = 0; i < 30; ++i) {
      writeAll(fds[1], std::to_string(store->reserveControlNumbers("ACME", "ISA")) + "\n");
    }
    kill(getpid(), SIGKILL);
    _exit(1);
  }
  close(fds[1]);
  const auto handedOut = parseNumbers(readAll(fds[0]));
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_EQ(handedOut.size(), 30u);
  auto store = open();
  EXPECT_EQ(store->reserveControlNumbers("ACME", "ISA"), 31);
}

TEST_F(ControlNumbersTest, ConcurrentThreadsGetUniqueNumbers) {
  auto store = open();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::mutex m;
  std::vector<std::int64_t> all;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::vector<std::int64_t> mine;
      for (int i = 0; i < kPerThread; ++i)
        mine.push_back(store->reserveControlNumbers("ACME", "ST"));
      // Each thread sees its own numbers in increasing order.
      for (std::size_t i = 1; i < mine.size(); ++i) EXPECT_LT(mine[i - 1], mine[i]);
      std::lock_guard lock(m);
      all.insert(all.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  const std::set<std::int64_t> unique(all.begin(), all.end());
  ASSERT_EQ(unique.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(*unique.begin(), 1);
  EXPECT_EQ(*unique.rbegin(), kThreads * kPerThread);  // no gaps either
}

TEST_F(ControlNumbersTest, TwoStoresOnOneDataDirInterleave) {
  // Two store instances on the same directory have separate connections and writer threads,
  // exactly like the engine and the CLI in two processes.
  auto a = open();
  auto b = open(Durability::kPower);
  std::vector<std::int64_t> fromA, fromB;
  for (int i = 0; i < 50; ++i) {
    fromA.push_back(a->reserveControlNumbers("ACME", "GS"));
    fromB.push_back(b->reserveControlNumbers("ACME", "GS", 2));
  }
  std::set<std::int64_t> seen;
  for (auto n : fromA) EXPECT_TRUE(seen.insert(n).second) << n;
  for (auto n : fromB) {
    EXPECT_TRUE(seen.insert(n).second) << n;
    EXPECT_TRUE(seen.insert(n + 1).second) << n + 1;
  }
  EXPECT_EQ(seen.size(), 150u);
  EXPECT_EQ(*seen.rbegin(), 150);

  // And concurrently, from threads on both.
  std::mutex m;
  std::vector<std::int64_t> all;
  auto run = [&](MessageStore& s) {
    std::vector<std::int64_t> mine;
    for (int i = 0; i < 200; ++i) mine.push_back(s.reserveControlNumbers("ACME", "ST"));
    std::lock_guard lock(m);
    all.insert(all.end(), mine.begin(), mine.end());
  };
  std::thread ta([&] { run(*a); });
  std::thread tb([&] { run(*b); });
  ta.join();
  tb.join();
  const std::set<std::int64_t> unique(all.begin(), all.end());
  EXPECT_EQ(unique.size(), 400u);
  EXPECT_EQ(*unique.rbegin(), 400);
}

TEST_F(ControlNumbersTest, TwoProcessesGetUniqueNumbers) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    close(go[1]);
    int code = 0;
    try {
      auto store = open();
      char c = 0;
      if (read(go[0], &c, 1) != 1) _exit(3);  // start together with the parent
      std::string out;
      for (int i = 0; i < 200; ++i) {
        out += std::to_string(store->reserveControlNumbers("ACME", "ISA")) + "\n";
      }
      writeAll(fds[1], out);
      store->close();
    } catch (const std::exception& e) {
      fprintf(stderr, "child: %s\n", e.what());
      code = 2;
    }
    _exit(code);
  }
  close(fds[1]);
  close(go[0]);
  std::vector<std::int64_t> mine;
  {
    auto store = open();
    ASSERT_EQ(write(go[1], "g", 1), 1);
    close(go[1]);
    for (int i = 0; i < 200; ++i) mine.push_back(store->reserveControlNumbers("ACME", "ISA"));
  }
  const auto theirs = parseNumbers(readAll(fds[0]));
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ASSERT_EQ(theirs.size(), 200u);
  std::set<std::int64_t> unique(mine.begin(), mine.end());
  unique.insert(theirs.begin(), theirs.end());
  EXPECT_EQ(unique.size(), 400u);
  EXPECT_EQ(*unique.begin(), 1);
  EXPECT_EQ(*unique.rbegin(), 400);
}

TEST_F(ControlNumbersTest, PassingTheMaximumThrowsAndReservesNothing) {
  auto store = open();
  store->setNextControlNumber("ACME", "ISA", kMaxControlNumber - 2);
  EXPECT_EQ(store->reserveControlNumbers("ACME", "ISA", 2), kMaxControlNumber - 2);
  // One number left: a block of two does not fit, and takes nothing.
  try {
    store->reserveControlNumbers("ACME", "ISA", 2);
    FAIL() << "expected the reservation to be refused";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("ISA control numbers for partner \"ACME\" are exhausted"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("999999999"), std::string::npos) << what;
    EXPECT_NE(what.find("operator"), std::string::npos) << what;
  }
  EXPECT_EQ(store->reserveControlNumbers("ACME", "ISA"), kMaxControlNumber);
  EXPECT_THROW(store->reserveControlNumbers("ACME", "ISA"), std::runtime_error);
  // Still exhausted after a restart; other sequences are unaffected.
  store->close();
  store = open();
  EXPECT_THROW(store->reserveControlNumbers("ACME", "ISA"), std::runtime_error);
  EXPECT_EQ(store->reserveControlNumbers("ACME", "GS"), 1);
}

TEST_F(ControlNumbersTest, SetNextRefusesToGoBackwards) {
  auto store = open();
  EXPECT_EQ(store->reserveControlNumbers("ACME", "GS", 10), 1);  // next is 11
  store->setNextControlNumber("ACME", "GS", 1000);
  EXPECT_EQ(store->reserveControlNumbers("ACME", "GS"), 1000);
  try {
    store->setNextControlNumber("ACME", "GS", 500);
    FAIL() << "expected going backwards to be refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("refusing to move the next GS control number"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(store->setNextControlNumber("ACME", "GS", 1000), std::runtime_error);
  store->setNextControlNumber("ACME", "GS", 1001);  // the current next: nothing changes
  EXPECT_EQ(store->reserveControlNumbers("ACME", "GS"), 1001);
  // A sequence never used can start anywhere, and a refusal leaves it where it was.
  store->setNextControlNumber("GLOBEX", "ISA", 42);
  EXPECT_THROW(store->setNextControlNumber("GLOBEX", "ISA", 41), std::runtime_error);
  EXPECT_EQ(store->reserveControlNumbers("GLOBEX", "ISA"), 42);
  // Persisted like reservations.
  store->close();
  store = open();
  EXPECT_EQ(store->reserveControlNumbers("ACME", "GS"), 1002);
  EXPECT_EQ(store->reserveControlNumbers("GLOBEX", "ISA"), 43);
}

TEST_F(ControlNumbersTest, InvalidArgumentsAreRefused) {
  auto store = open();
  EXPECT_THROW(store->reserveControlNumbers("ACME", "XYZ"), std::invalid_argument);
  EXPECT_THROW(store->reserveControlNumbers("ACME", "isa"), std::invalid_argument);
  EXPECT_THROW(store->reserveControlNumbers("", "ISA"), std::invalid_argument);
  EXPECT_THROW(store->reserveControlNumbers("ACME", "ISA", 0), std::invalid_argument);
  EXPECT_THROW(store->reserveControlNumbers("ACME", "ISA", -3), std::invalid_argument);
  EXPECT_THROW(store->setNextControlNumber("ACME", "ISA", 0), std::invalid_argument);
  EXPECT_THROW(store->setNextControlNumber("ACME", "ISA", kMaxControlNumber + 1),
               std::invalid_argument);
  EXPECT_THROW(store->setNextControlNumber("ACME", "ZZ", 5), std::invalid_argument);
  // Nothing was taken by the refused calls.
  EXPECT_EQ(store->reserveControlNumbers("ACME", "ISA"), 1);
}

TEST_F(ControlNumbersTest, ReadOnlyStoreRefuses) {
  open()->reserveControlNumbers("ACME", "ISA");
  Options o;
  o.dataDir = dir_.path();
  o.readOnly = true;
  auto store = openSqliteStore(o);
  EXPECT_THROW(store->reserveControlNumbers("ACME", "ISA"), std::runtime_error);
  EXPECT_THROW(store->setNextControlNumber("ACME", "ISA", 10), std::runtime_error);
}

TEST_F(ControlNumbersTest, KeptInMainDb) {
  {
    auto store = open();
    store->reserveControlNumbers("ACME", "ST", 7);
  }
  sqlite::Db main(dir_.path() / "main.db", sqlite::Db::Mode::kReadOnly);
  sqlite::Stmt s(main, "SELECT partner, kind, next FROM control_numbers");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.text(0), "ACME");
  EXPECT_EQ(s.text(1), "ST");
  EXPECT_EQ(s.int64(2), 8);
  EXPECT_FALSE(s.step());
}

}  // namespace
}  // namespace sb::store
