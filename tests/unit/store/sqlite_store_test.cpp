// Tests of the SQLite message store against real files in a temporary directory.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/message_store.h"
#include "store/sqlite/db.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sqlite_store.h"
#include "tests/support/test_support.h"

namespace sb::store {
namespace {

using sqlite::dayStartMillis;
using sqlite::kDayMillis;
using sqlite::partitionFileName;
using sqlite::utcDay;

// 2026-11-22T10:00:00Z
constexpr Millis kNow = 1795341600000;

Options optionsFor(const std::filesystem::path& dir) {
  Options o;
  o.dataDir = dir;
  o.retentionDays = 30;
  return o;
}

InboundRecord record(int n, Millis receivedAt = kNow) {
  InboundRecord r;
  r.channel = n % 2 == 0 ? "adt-in" : "lab-in";
  r.peer = "10.0.0.1:5000";
  r.receivedAt = receivedAt;
  r.raw = fmt::format("MSH|^~\\&|APP|FAC|||20261122||ADT^A01|C{}|P|2.5\r", n);
  r.messageType = n % 3 == 0 ? "ORU" : "ADT";
  r.triggerEvent = n % 3 == 0 ? "R01" : "A01";
  r.controlId = fmt::format("C{}", n);
  r.patientId = fmt::format("P{}", n % 4);
  r.sendingApplication = "APP";
  r.sendingFacility = "FAC";
  return r;
}

std::vector<MessageId> idsOf(const std::vector<MessageSummary>& v) {
  std::vector<MessageId> ids;
  for (const auto& s : v) ids.push_back(s.id);
  return ids;
}

std::vector<std::int64_t> queueIdsOf(const std::vector<QueueItem>& v) {
  std::vector<std::int64_t> ids;
  for (const auto& i : v) ids.push_back(i.queueId);
  return ids;
}

std::vector<MessageSummary> summariesOf(const std::vector<StoredMessage>& v) {
  std::vector<MessageSummary> out;
  for (const auto& m : v) out.push_back(m.summary);
  return out;
}

std::vector<MessageId> messageIdsOf(const std::vector<QueueItem>& v) {
  std::vector<MessageId> ids;
  for (const auto& i : v) ids.push_back(i.messageId);
  return ids;
}

RoutingOutcome routeTo(MessageId id, std::vector<std::string> destinations, int generation = 0) {
  RoutingOutcome o;
  o.messageId = id;
  o.generation = generation;
  o.decisions.push_back(RouteDecision{"r1", true, "type ADT"});
  for (auto& d : destinations) o.enqueue.push_back(Enqueue{d, std::nullopt});
  o.status = MessageStatus::kRouted;
  return o;
}

// Message `id` matched route "adt", whose transform steps made `steps` and queued `enqueue`.
RoutingOutcome transformed(MessageId id, std::vector<StepOutput> steps,
                           std::vector<Enqueue> enqueue) {
  RoutingOutcome o;
  o.messageId = id;
  o.decisions = {{"adt", true, "filter passed"}};
  o.steps = std::move(steps);
  o.enqueue = std::move(enqueue);
  return o;
}

DeliveryOutcome outcome(const QueueItem& item, DeliveryResult result, Millis at,
                        std::string response = "", std::string error = "",
                        Millis nextAttemptAt = 0) {
  DeliveryOutcome o;
  o.queueId = item.queueId;
  o.messageId = item.messageId;
  o.result = result;
  o.at = at;
  o.nextAttemptAt = nextAttemptAt;
  o.response = std::move(response);
  o.error = std::move(error);
  return o;
}

// Submits records 1..count and waits for each acknowledgement in turn; their ids.
std::vector<MessageId> submitAcked(MessageStore& store, int count) {
  std::vector<MessageId> ids;
  for (int i = 1; i <= count; ++i) {
    std::promise<MessageId> acked;
    store.submitInbound(record(i), [&](std::optional<MessageId> id, const std::string&) {
      acked.set_value(id.value_or(0));
    });
    ids.push_back(acked.get_future().get());
  }
  return ids;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<MessageStore> open(std::function<void(Options&)> tweak = {}) {
    Options o = optionsFor(dir_.path());
    if (tweak) tweak(o);
    return openSqliteStore(o);
  }

  // In a forked child: submits records 1..count, waits until every one is acknowledged (its
  // callback ran) while the fold is an hour away, then kill -9s itself. Returns once it died.
  void acknowledgeUnfoldedThenKill9(int count, std::function<void(Options&)> tweak = {}) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto store = open([&](Options& o) {
        if (tweak) tweak(o);
        o.journalFoldDelay = std::chrono::hours(1);
      });
      std::atomic<int> acked{0};
      for (int i = 1; i <= count; ++i) {
        store->submitInbound(record(i), [&](std::optional<MessageId> id, const std::string&) {
          if (id) ++acked;
        });
      }
      while (acked.load() < count) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      kill(getpid(), SIGKILL);
      _exit(1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_GT(std::filesystem::file_size(dir_.path() / "ingest.journal"), 0u);
  }

  test::TempDir dir_;
};

TEST(PartitionNames, UtcDayBoundaries) {
  EXPECT_EQ(utcDay(kNow), 20261122);
  EXPECT_EQ(utcDay(0), 19700101);
  EXPECT_EQ(utcDay(-1), 19691231);
  EXPECT_EQ(dayStartMillis(20261122), 1795305600000);
  EXPECT_EQ(utcDay(dayStartMillis(20261122) - 1), 20261121);
  EXPECT_EQ(partitionFileName(20261122), "messages-20261122.db");
}

TEST_F(SqliteStoreTest, IngestAssignsIncreasingIdsAndCallsEachCallbackOnce) {
  auto store = open();
  std::mutex m;
  std::vector<MessageId> ids;
  std::vector<std::promise<void>> done(10);
  for (int i = 0; i < 10; ++i) {
    store->submitInbound(record(i), [&, i](std::optional<MessageId> id, const std::string& err) {
      std::lock_guard lock(m);
      EXPECT_EQ(err, "");
      ids.push_back(id.value_or(-1));
      done[static_cast<std::size_t>(i)].set_value();
    });
  }
  for (auto& d : done) d.get_future().wait();
  EXPECT_EQ(ids, (std::vector<MessageId>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));

  auto d = store->get(4);
  ASSERT_TRUE(d.has_value());
  const auto& s = d->message.summary;
  EXPECT_EQ(s.id, 4);
  EXPECT_EQ(s.channel, "lab-in");
  EXPECT_EQ(s.peer, "10.0.0.1:5000");
  EXPECT_EQ(s.receivedAt, kNow);
  EXPECT_EQ(s.messageType, "ORU");
  EXPECT_EQ(s.triggerEvent, "R01");
  EXPECT_EQ(s.controlId, "C3");
  EXPECT_EQ(s.patientId, "P3");
  EXPECT_EQ(s.sendingApplication, "APP");
  EXPECT_EQ(s.sendingFacility, "FAC");
  EXPECT_EQ(s.status, MessageStatus::kReceived);
  EXPECT_EQ(s.error, "");
  EXPECT_EQ(s.sizeBytes, static_cast<std::int64_t>(record(3).raw.size()));
  EXPECT_EQ(s.generation, 0);
  EXPECT_EQ(d->message.raw, record(3).raw);
  EXPECT_TRUE(d->events.empty());
  EXPECT_TRUE(d->queue.empty());
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "main.db"));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "messages-20261122.db"));
  EXPECT_EQ(store->get(11), std::nullopt);
}

TEST_F(SqliteStoreTest, CallbackRunsAfterCommit) {
  auto store = open([](Options& o) { o.journalFoldDelay = std::chrono::hours(1); });
  std::promise<MessageId> acked;
  store->submitInbound(record(1), [&](std::optional<MessageId> id, const std::string&) {
    acked.set_value(id.value_or(0));
  });
  const MessageId id = acked.get_future().get();
  // Acknowledged from the journal (the fold is an hour away), yet readers of this process see
  // it at once: a read folds the journal first.
  auto d = store->get(id);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->message.summary.controlId, "C1");
  EXPECT_EQ(store->takeForRouting(10).size(), 1u);
}

TEST_F(SqliteStoreTest, JournaledMessagesSurviveKill9BeforeTheirFold) {
  // Acknowledged (callback ran) but never folded into SQLite before the kill.
  acknowledgeUnfoldedThenKill9(40);
  if (HasFatalFailure()) return;
  {
    // Before the engine reopens they are only in the journal, and the CLI still finds them.
    auto cli = open([](Options& o) { o.readOnly = true; });
    SearchQuery byControl;
    byControl.controlId = "C7";
    auto found = cli->search(byControl);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].id, 7);
    EXPECT_EQ(found[0].status, MessageStatus::kReceived);
    EXPECT_EQ(cli->get(7)->message.raw, record(7).raw);
  }
  auto store = open();
  SearchQuery all;
  all.limit = 100;
  auto found = store->search(all);
  ASSERT_EQ(found.size(), 40u);
  EXPECT_EQ(found.front().id, 40);
  EXPECT_EQ(found.front().controlId, "C40");
  EXPECT_EQ(found.back().id, 1);
  EXPECT_EQ(store->takeForRouting(100).size(), 40u);
  EXPECT_EQ(std::filesystem::file_size(dir_.path() / "ingest.journal"), 0u);
  EXPECT_EQ(store->insertInbound(record(41)), 41);
}

// The journal's two files take turns while folds run beside the appends (a tiny rotation size
// and fold delay make that happen every few messages): after a kill -9 every acknowledged message
// is there, once, with the id it was acknowledged with.
TEST_F(SqliteStoreTest, JournalFilesTakingTurnsLoseNothingAcrossKill9) {
  constexpr int kCount = 300;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = open([](Options& o) {
      o.journalRotateBytes = 1024;
      o.journalFoldDelay = std::chrono::milliseconds(1);
    });
    std::ofstream acks(dir_.path() / "acks.txt");
    for (int i = 1; i <= kCount; ++i) {
      // One at a time, as one MLLP connection sends: each is a batch of its own.
      std::promise<MessageId> acked;
      store->submitInbound(record(i), [&](std::optional<MessageId> id, const std::string&) {
        acked.set_value(id.value_or(0));
      });
      acks << i << ' ' << acked.get_future().get() << '\n' << std::flush;
    }
    kill(getpid(), SIGKILL);
    _exit(1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "ingest.journal.1"));
  auto store = open();
  std::ifstream acks(dir_.path() / "acks.txt");
  int n = 0;
  MessageId id = 0;
  int seen = 0;
  while (acks >> n >> id) {
    ++seen;
    ASSERT_GT(id, 0) << "record " << n << " was not acknowledged";
    auto got = store->get(id);
    ASSERT_TRUE(got.has_value()) << "message " << id << " (record " << n << ") lost";
    EXPECT_EQ(got->message.raw, record(n).raw);
  }
  EXPECT_EQ(seen, kCount);
  SearchQuery all;
  all.limit = 1000;
  EXPECT_EQ(store->search(all).size(), static_cast<std::size_t>(kCount));
}

// At durability power each append is synced (fdatasync) before the acknowledgement; the records
// read back after a kill -9 exactly as at process durability.
TEST_F(SqliteStoreTest, JournalAtDurabilityPowerSurvivesKill9) {
  acknowledgeUnfoldedThenKill9(25, [](Options& o) { o.durability = Durability::kPower; });
  if (HasFatalFailure()) return;
  auto store = open([](Options& o) { o.durability = Durability::kPower; });
  SearchQuery all;
  all.limit = 100;
  const auto found = store->search(all);
  ASSERT_EQ(found.size(), 25u);
  for (int i = 1; i <= 25; ++i) {
    EXPECT_EQ(store->get(i)->message.raw, record(i).raw) << i;
  }
  EXPECT_EQ(store->insertInbound(record(26)), 26);
}

// A second writer on the data directory (a `switchboard reprocess` next to the engine, or an
// engine started while one runs) cannot own the journal: it says so, and still commits.
TEST_F(SqliteStoreTest, ASecondWriterSaysItRunsWithoutTheJournal) {
  auto owner = open();
  EXPECT_EQ(owner->insertInbound(record(1)), 1);
  ::testing::internal::CaptureStderr();
  auto second = open();
  const std::string said = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(
      said.find("the ingest journal of " + dir_.path().string() + " is held by another process"),
      std::string::npos)
      << said;
  const MessageId id = second->insertInbound(record(2));
  EXPECT_GT(id, 1);
  EXPECT_EQ(owner->get(id)->message.raw, record(2).raw);
}

TEST_F(SqliteStoreTest, OtherProcessesSeeJournaledMessagesBeforeTheirFold) {
  auto engine = open([](Options& o) { o.journalFoldDelay = std::chrono::hours(1); });
  const std::vector<MessageId> ids = submitAcked(*engine, 3);
  // The CLI next to the engine: the journal is the engine's, the CLI only reads it.
  auto cli = open([](Options& o) { o.readOnly = true; });
  EXPECT_EQ(idsOf(cli->search(SearchQuery{})), (std::vector<MessageId>{3, 2, 1}));
  SearchQuery filtered;
  filtered.channel = "adt-in";  // even numbers
  EXPECT_EQ(idsOf(cli->search(filtered)), (std::vector<MessageId>{2}));
  SearchQuery routed;
  routed.status = MessageStatus::kRouted;
  EXPECT_TRUE(cli->search(routed).empty());
  SearchQuery paged;
  paged.limit = 1;
  paged.beforeId = 3;
  EXPECT_EQ(idsOf(cli->search(paged)), (std::vector<MessageId>{2}));
  auto d = cli->get(ids[0]);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->message.raw, record(1).raw);
  EXPECT_EQ(d->message.summary.status, MessageStatus::kReceived);
  // Once folded, each message is listed once.
  engine->takeForRouting(1);
  EXPECT_EQ(idsOf(cli->search(SearchQuery{})), (std::vector<MessageId>{3, 2, 1}));
}

TEST_F(SqliteStoreTest, WithoutTheJournalEachCommitGoesStraightToSqlite) {
  auto store = open([](Options& o) { o.ingestJournal = false; });
  std::promise<std::string> seen;
  store->submitInbound(record(1), [&](std::optional<MessageId> id, const std::string&) {
    // On the writer thread, before any fold could run: the row is already in SQLite.
    auto d = store->get(id.value_or(0));
    seen.set_value(d ? d->message.summary.controlId : "missing");
  });
  EXPECT_EQ(seen.get_future().get(), "C1");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "ingest.journal"));
}

// Submits records first..last one at a time, each after the journal thread had time to go idle,
// and returns how many were acknowledged on the submitting thread before submitInbound returned.
int acknowledgedOnTheCaller(MessageStore& store, int first, int last) {
  int here = 0;
  for (int i = first; i <= last; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const auto caller = std::this_thread::get_id();
    std::atomic<bool> returned{false};
    std::promise<std::pair<MessageId, bool>> acked;
    store.submitInbound(record(i), [&](std::optional<MessageId> id, const std::string&) {
      acked.set_value({id.value_or(0), !returned && std::this_thread::get_id() == caller});
    });
    returned = true;
    const auto [id, onCaller] = acked.get_future().get();
    EXPECT_EQ(id, i);
    if (onCaller) ++here;
  }
  return here;
}

TEST_F(SqliteStoreTest, AnIdleJournalIsAppendedByTheSubmitterAtDurabilityProcess) {
  auto store = open([](Options& o) { o.journalFoldDelay = std::chrono::hours(1); });
  EXPECT_EQ(store->insertInbound(record(1)), 1);  // reserves the ids the journal hands out
  // A lone connection's messages skip the two thread switches: most, if not all, are appended
  // and acknowledged on the caller's thread.
  EXPECT_GE(acknowledgedOnTheCaller(*store, 2, 21), 10);
  // Acknowledged, not folded (the fold is an hour away), and still found by readers.
  for (int i = 2; i <= 21; ++i) {
    auto d = store->get(i);
    ASSERT_TRUE(d.has_value()) << i;
    EXPECT_EQ(d->message.summary.controlId, fmt::format("C{}", i));
  }
}

// The submitter never empties a folded journal file (an ftruncate of megabytes on an I/O
// thread): it leaves that to the journal thread, which it wakes for it.
TEST_F(SqliteStoreTest, FilesAppendedByTheSubmitterAreEmptiedByTheJournalThread) {
  auto store = open([](Options& o) {
    o.journalRotateBytes = 1024;
    o.journalFoldDelay = std::chrono::milliseconds(1);
  });
  EXPECT_EQ(store->insertInbound(record(1)), 1);
  EXPECT_GE(acknowledgedOnTheCaller(*store, 2, 101), 50);
  const auto journalBytes = [&] {
    std::uintmax_t total = 0;
    for (const char* name : {"ingest.journal", "ingest.journal.1"}) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(dir_.path() / name, ec);
      if (!ec) total += size;
    }
    return total;
  };
  // A hundred records of ~150 bytes went through 1 KB files: had nobody emptied them, they
  // would hold them all.
  std::uintmax_t bytes = journalBytes();
  for (int i = 102; i < 400 && bytes > 4096; ++i) {
    store->search(SearchQuery{});  // folds what the journal holds
    acknowledgedOnTheCaller(*store, i, i);
    bytes = journalBytes();
  }
  EXPECT_LE(bytes, 4096u);
  SearchQuery all;
  all.limit = 1000;
  EXPECT_GE(store->search(all).size(), 101u);
}

TEST_F(SqliteStoreTest, AtDurabilityPowerTheSubmitterNeverWaitsForTheDisk) {
  auto store = open([](Options& o) { o.durability = Durability::kPower; });
  EXPECT_EQ(store->insertInbound(record(1)), 1);
  // Every append is followed by an fdatasync: never on the caller's (an I/O) thread.
  EXPECT_EQ(acknowledgedOnTheCaller(*store, 2, 11), 0);
}

TEST_F(SqliteStoreTest, CommittedMessagesSurviveKill9) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The "engine": every insertInbound returned, i.e. was acknowledged, before the kill.
    auto store = open();
    for (int i = 1; i <= 50; ++i) store->insertInbound(record(i));
    kill(getpid(), SIGKILL);
    _exit(1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "main.db-wal"));
  auto store = open();
  SearchQuery all;
  all.limit = 100;
  auto found = store->search(all);
  ASSERT_EQ(found.size(), 50u);
  EXPECT_EQ(found.front().id, 50);
  EXPECT_EQ(found.back().id, 1);
  EXPECT_EQ(found.front().controlId, "C50");
  EXPECT_EQ(store->takeForRouting(100).size(), 50u);
  EXPECT_EQ(store->insertInbound(record(51)), 51);
}

TEST_F(SqliteStoreTest, GroupCommitUnderConcurrentSubmitters) {
  auto store = open([](Options& o) { o.maxBatch = 64; });
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::mutex m;
  std::map<MessageId, int> calls;
  std::atomic<int> errors{0};
  std::atomic<int> remaining{kThreads * kPerThread};
  std::promise<void> all;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        store->submitInbound(record(t * kPerThread + i),
                             [&](std::optional<MessageId> id, const std::string& err) {
                               if (!id || !err.empty()) ++errors;
                               {
                                 std::lock_guard lock(m);
                                 ++calls[id.value_or(-1)];
                               }
                               if (--remaining == 0) all.set_value();
                             });
      }
    });
  }
  for (auto& t : threads) t.join();
  all.get_future().wait();
  EXPECT_EQ(errors.load(), 0);
  ASSERT_EQ(calls.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(calls.begin()->first, 1);
  EXPECT_EQ(calls.rbegin()->first, kThreads * kPerThread);
  for (const auto& [id, n] : calls) EXPECT_EQ(n, 1) << "id " << id;
  EXPECT_EQ(store->takeForRouting(10000).size(), static_cast<std::size_t>(kThreads * kPerThread));
}

TEST_F(SqliteStoreTest, RejectedMessageIsKeptButNeverRouted) {
  auto store = open();
  auto r = record(1);
  r.status = MessageStatus::kRejected;
  r.error = "SB-102 MSH-2: bad encoding characters";
  const MessageId rejected = store->insertInbound(r);
  const MessageId ok = store->insertInbound(record(2));
  EXPECT_EQ(rejected, 1);
  EXPECT_EQ(ok, 2);
  auto taken = store->takeForRouting(10);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].summary.id, 2);
  auto d = store->get(1);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->message.summary.status, MessageStatus::kRejected);
  EXPECT_EQ(d->message.summary.error, "SB-102 MSH-2: bad encoding characters");
}

TEST_F(SqliteStoreTest, SearchByEachKeyNewestFirstWithPaging) {
  auto store = open();
  // ids 1..12; receivedAt one second apart.
  for (int i = 1; i <= 12; ++i) store->insertInbound(record(i, kNow + i * 1000));
  auto ids = [&](SearchQuery q) { return idsOf(store->search(q)); };

  SearchQuery all;
  EXPECT_EQ(ids(all), (std::vector<MessageId>{12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}));

  SearchQuery byType;
  byType.messageType = "ORU";  // n % 3 == 0
  EXPECT_EQ(ids(byType), (std::vector<MessageId>{12, 9, 6, 3}));

  SearchQuery byTrigger;
  byTrigger.triggerEvent = "A01";
  EXPECT_EQ(ids(byTrigger), (std::vector<MessageId>{11, 10, 8, 7, 5, 4, 2, 1}));

  SearchQuery byControl;
  byControl.controlId = "C7";
  EXPECT_EQ(ids(byControl), (std::vector<MessageId>{7}));

  SearchQuery byPatient;
  byPatient.patientId = "P1";  // n % 4 == 1
  EXPECT_EQ(ids(byPatient), (std::vector<MessageId>{9, 5, 1}));

  SearchQuery byChannel;
  byChannel.channel = "adt-in";  // even n
  EXPECT_EQ(ids(byChannel), (std::vector<MessageId>{12, 10, 8, 6, 4, 2}));

  SearchQuery range;
  range.from = kNow + 3000;
  range.to = kNow + 6000;
  EXPECT_EQ(ids(range), (std::vector<MessageId>{5, 4, 3}));

  SearchQuery combined;
  combined.channel = "adt-in";
  combined.messageType = "ADT";
  EXPECT_EQ(ids(combined), (std::vector<MessageId>{10, 8, 4, 2}));

  SearchQuery page;
  page.limit = 5;
  EXPECT_EQ(ids(page), (std::vector<MessageId>{12, 11, 10, 9, 8}));
  page.beforeId = 8;
  EXPECT_EQ(ids(page), (std::vector<MessageId>{7, 6, 5, 4, 3}));
  page.beforeId = 3;
  EXPECT_EQ(ids(page), (std::vector<MessageId>{2, 1}));
  page.beforeId = 1;
  EXPECT_EQ(ids(page), (std::vector<MessageId>{}));

  store->recordRouting({routeTo(3, {"a"})});
  SearchQuery byStatus;
  byStatus.status = MessageStatus::kRouted;
  EXPECT_EQ(ids(byStatus), (std::vector<MessageId>{3}));
  byStatus.status = MessageStatus::kReceived;
  byStatus.limit = 3;
  EXPECT_EQ(ids(byStatus), (std::vector<MessageId>{12, 11, 10}));

  auto found = store->search(byControl);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].controlId, "C7");
  EXPECT_EQ(found[0].patientId, "P3");
  EXPECT_EQ(found[0].receivedAt, kNow + 7000);
}

TEST_F(SqliteStoreTest, SearchSpansDayPartitionsNewestFirst) {
  auto store = open();
  // Three days; ids interleave days so id order differs from partition creation order.
  const Millis day1 = kNow - 2 * kDayMillis, day2 = kNow - kDayMillis, day3 = kNow;
  EXPECT_EQ(store->insertInbound(record(1, day1)), 1);
  EXPECT_EQ(store->insertInbound(record(2, day3)), 2);
  EXPECT_EQ(store->insertInbound(record(3, day2)), 3);
  EXPECT_EQ(store->insertInbound(record(4, day1)), 4);
  EXPECT_EQ(store->insertInbound(record(5, day3)), 5);
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "messages-20261120.db"));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "messages-20261121.db"));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "messages-20261122.db"));

  SearchQuery q;
  q.limit = 2;
  EXPECT_EQ(idsOf(store->search(q)), (std::vector<MessageId>{5, 4}));
  q.beforeId = 4;
  EXPECT_EQ(idsOf(store->search(q)), (std::vector<MessageId>{3, 2}));
  q.beforeId = 2;
  EXPECT_EQ(idsOf(store->search(q)), (std::vector<MessageId>{1}));

  SearchQuery range;
  range.from = day2 - 1000;
  range.to = day3;
  EXPECT_EQ(idsOf(store->search(range)), (std::vector<MessageId>{3}));
  for (MessageId id = 1; id <= 5; ++id) {
    auto d = store->get(id);
    ASSERT_TRUE(d.has_value()) << id;
    EXPECT_EQ(d->message.summary.controlId, fmt::format("C{}", id));
  }
}

TEST_F(SqliteStoreTest, RoutingQueuesAndDeliveryCompletesMessage) {
  auto store = open();
  const MessageId id = store->insertInbound(record(1));
  auto taken = store->takeForRouting(10);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].summary.id, id);
  EXPECT_EQ(taken[0].raw, record(1).raw);
  // takeForRouting does not change anything by itself.
  EXPECT_EQ(store->takeForRouting(10).size(), 1u);

  const Millis before = nowMillis();
  RoutingOutcome o;
  o.messageId = id;
  o.generation = 0;
  o.decisions = {RouteDecision{"adt", true, "type ADT"}, RouteDecision{"lab", false, "not ORU"}};
  o.enqueue = {Enqueue{"ehr", std::nullopt}, Enqueue{"archive", std::string("transformed")}};
  o.status = MessageStatus::kRouted;
  store->recordRouting({o});
  const Millis after = nowMillis();
  EXPECT_TRUE(store->takeForRouting(10).empty());

  auto ehr = store->pendingDeliveries("ehr", 10);
  auto archive = store->pendingDeliveries("archive", 10);
  ASSERT_EQ(ehr.size(), 1u);
  ASSERT_EQ(archive.size(), 1u);
  EXPECT_EQ(ehr[0].messageId, id);
  EXPECT_EQ(ehr[0].destination, "ehr");
  EXPECT_EQ(ehr[0].attempts, 0);
  EXPECT_EQ(ehr[0].nextAttemptAt, 0);
  EXPECT_EQ(ehr[0].payload, record(1).raw);
  EXPECT_EQ(ehr[0].summary.id, id);
  EXPECT_EQ(ehr[0].summary.controlId, "C1");
  EXPECT_EQ(ehr[0].summary.status, MessageStatus::kRouted);
  EXPECT_EQ(archive[0].payload, "transformed");
  EXPECT_EQ(archive[0].queueId, ehr[0].queueId + 1);

  store->recordDeliveries({outcome(ehr[0], DeliveryResult::kDelivered, kNow + 1, "MSA|AA|C1")});
  EXPECT_EQ(store->get(id)->message.summary.status, MessageStatus::kRouted);
  EXPECT_TRUE(store->pendingDeliveries("ehr", 10).empty());
  store->recordDeliveries({outcome(archive[0], DeliveryResult::kDelivered, kNow + 2, "ok")});

  auto d = store->get(id);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->message.summary.status, MessageStatus::kDelivered);
  ASSERT_EQ(d->events.size(), 4u);
  EXPECT_EQ(d->events[0].step, "route");
  EXPECT_EQ(d->events[0].subject, "adt");
  EXPECT_EQ(d->events[0].outcome, "matched");
  EXPECT_EQ(d->events[0].detail, "type ADT");
  EXPECT_GE(d->events[0].at, before);
  EXPECT_LE(d->events[0].at, after);
  EXPECT_EQ(d->events[1].step, "filter");
  EXPECT_EQ(d->events[1].subject, "lab");
  EXPECT_EQ(d->events[1].outcome, "filtered");
  EXPECT_EQ(d->events[1].detail, "not ORU");
  EXPECT_EQ(d->events[2].step, "deliver");
  EXPECT_EQ(d->events[2].subject, "ehr");
  EXPECT_EQ(d->events[2].outcome, "delivered");
  EXPECT_EQ(d->events[2].detail, "MSA|AA|C1");
  EXPECT_EQ(d->events[2].at, kNow + 1);
  EXPECT_EQ(d->events[3].subject, "archive");
  EXPECT_EQ(d->events[3].detail, "ok");
  EXPECT_EQ(d->events[3].at, kNow + 2);
  ASSERT_EQ(d->queue.size(), 2u);
  EXPECT_EQ(d->queue[0].destination, "ehr");
  EXPECT_EQ(d->queue[0].status, QueueStatus::kDelivered);
  EXPECT_EQ(d->queue[0].attempts, 1);
  EXPECT_EQ(d->queue[1].destination, "archive");
  EXPECT_EQ(d->queue[1].status, QueueStatus::kDelivered);

  auto stats = store->queueStats("ehr");
  EXPECT_EQ(stats.pending, 0);
  EXPECT_EQ(stats.delivered, 1);
  EXPECT_EQ(stats.dead, 0);
}

std::string describe(const MessageSummary& s) {
  return fmt::format("{} {} {} {} {} {} {} {} {} {} {} '{}' {} {}", s.id, s.channel, s.peer,
                     s.receivedAt, s.messageType, s.triggerEvent, s.controlId, s.patientId,
                     s.sendingApplication, s.sendingFacility, toString(s.status), s.error,
                     s.sizeBytes, s.generation);
}

// The router and the senders read messages the store just took in from memory
// (sqlite/hot_messages.h); a store opened afterwards reads them from the files. Both must hand
// out the same thing.
TEST_F(SqliteStoreTest, MessagesReadFromMemoryEqualThoseReadFromTheFiles) {
  const auto stages = [](MessageStore& store, std::vector<std::string>& seen) {
    for (const auto& m : store.takeForRouting(10)) {
      seen.push_back(describe(m.summary) + " raw=" + m.raw);
    }
    store.recordRouting({routeTo(1, {"ehr"}), routeTo(2, {"ehr"})});
    for (const auto& i : store.pendingDeliveries("ehr", 10)) {
      seen.push_back(fmt::format("{} {} {} {} payload={}", i.queueId, i.messageId, i.part,
                                 describe(i.summary), i.payload));
    }
  };
  std::vector<std::string> fromMemory;
  {
    auto store = open();
    store->insertInbound(record(1));
    store->insertInbound(record(2));
    stages(*store, fromMemory);
  }
  test::TempDir other;
  std::vector<std::string> fromFiles;
  {
    Options o = optionsFor(other.path());
    openSqliteStore(o)->insertInbound(record(1));
    openSqliteStore(o)->insertInbound(record(2));  // each store is closed before the next opens
    auto store = openSqliteStore(o);
    stages(*store, fromFiles);
  }
  ASSERT_EQ(fromMemory.size(), 4u);
  EXPECT_EQ(fromMemory, fromFiles);
}

// The router takes journaled messages before their fold; the writer then inserts each routed
// one with its routing in one transaction (never as received, never in to_route), and folds
// the messages before it that are not routed yet as received.
TEST_F(SqliteStoreTest, MessagesRoutedBeforeTheirFoldAreWrittenOnceWithTheirRouting) {
  {
    auto store = open([](Options& o) { o.journalFoldDelay = std::chrono::hours(1); });
    const std::vector<MessageId> ids = submitAcked(*store, 3);
    auto taken = store->takeForRouting(10);
    ASSERT_EQ(taken.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(taken[i].summary.id, ids[i]);
      EXPECT_EQ(taken[i].summary.status, MessageStatus::kReceived);
      EXPECT_EQ(taken[i].raw, record(static_cast<int>(i) + 1).raw);
    }
    EXPECT_EQ(idsOf(summariesOf(store->takeForRouting(10, ids[0]))),
              (std::vector<MessageId>{ids[1], ids[2]}));
    // Taken from memory: nothing is folded yet, the day file does not even exist.
    EXPECT_FALSE(std::filesystem::exists(dir_.path() / partitionFileName(utcDay(kNow))));
    // Routes the second only: the first is folded as received ahead of it, the third waits.
    store->recordRouting({routeTo(ids[1], {"ehr"})});
    auto items = store->pendingDeliveries("ehr", 10);
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].messageId, ids[1]);
    EXPECT_EQ(items[0].payload, record(2).raw);
    EXPECT_EQ(items[0].summary.controlId, "C2");
    EXPECT_EQ(idsOf(summariesOf(store->takeForRouting(10))),
              (std::vector<MessageId>{ids[0], ids[2]}));
    // The detail (which folds the rest first) shows the second routed with its event.
    auto d = store->get(ids[1]);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->message.summary.status, MessageStatus::kRouted);
    ASSERT_EQ(d->events.size(), 1u);
    EXPECT_EQ(d->events[0].step, "route");
    ASSERT_EQ(d->queue.size(), 1u);
    EXPECT_EQ(store->get(ids[0])->message.summary.status, MessageStatus::kReceived);
    EXPECT_EQ(store->get(ids[2])->message.summary.status, MessageStatus::kReceived);
  }
  // A new process finds the routed one done and the other two waiting, once each.
  auto store = open();
  auto waiting = store->takeForRouting(10);
  ASSERT_EQ(waiting.size(), 2u);
  EXPECT_EQ(waiting[0].summary.controlId, "C1");
  EXPECT_EQ(waiting[1].summary.controlId, "C3");
  EXPECT_EQ(store->pendingDeliveries("ehr", 10).size(), 1u);
  sqlite::Db main(dir_.path() / "main.db", sqlite::Db::Mode::kReadOnly);
  sqlite::Stmt toRoute(main, "SELECT count(*) FROM to_route");
  ASSERT_TRUE(toRoute.step());
  EXPECT_EQ(toRoute.int64(0), 2);
}

// Filtered and failed routings of unfolded messages are written with their status and
// reasons; recording the same routing again changes nothing.
TEST_F(SqliteStoreTest, FilteredOrFailedBeforeTheirFoldKeepTheirReasons) {
  auto store = open([](Options& o) { o.journalFoldDelay = std::chrono::hours(1); });
  submitAcked(*store, 2);
  auto taken = store->takeForRouting(10);
  ASSERT_EQ(taken.size(), 2u);
  RoutingOutcome filtered;
  filtered.messageId = taken[0].summary.id;
  filtered.decisions = {RouteDecision{"adt", false, "type ORU not in [ADT]"}};
  filtered.status = MessageStatus::kFiltered;
  RoutingOutcome failed;
  failed.messageId = taken[1].summary.id;
  failed.decisions = {RouteDecision{"adt", true, "filter passed"}};
  failed.status = MessageStatus::kError;
  failed.error = "route 'adt' transform mappings/adt.lua: adt.lua:12: boom";
  store->submitRouting({filtered, failed}, [](std::exception_ptr) {});
  store->recordRouting({filtered, failed});  // the same again, after the first committed
  auto f = store->get(filtered.messageId);
  EXPECT_EQ(f->message.summary.status, MessageStatus::kFiltered);
  ASSERT_EQ(f->events.size(), 1u);
  EXPECT_EQ(f->events[0].detail, "type ORU not in [ADT]");
  auto e = store->get(failed.messageId);
  EXPECT_EQ(e->message.summary.status, MessageStatus::kError);
  EXPECT_EQ(e->message.summary.error, failed.error);
  ASSERT_EQ(e->events.size(), 2u);
  EXPECT_EQ(e->events[1].step, "error");
  EXPECT_TRUE(store->takeForRouting(10).empty());
}

TEST_F(SqliteStoreTest, FilteredAndErrorOutcomesSetStatus) {
  auto store = open();
  const MessageId a = store->insertInbound(record(1));
  const MessageId b = store->insertInbound(record(2));
  RoutingOutcome filtered;
  filtered.messageId = a;
  filtered.decisions = {RouteDecision{"adt", false, "no match"}};
  filtered.status = MessageStatus::kFiltered;
  RoutingOutcome error;
  error.messageId = b;
  error.status = MessageStatus::kError;
  error.error = "SB-301 transform failed";
  store->recordRouting({filtered, error});
  EXPECT_EQ(store->get(a)->message.summary.status, MessageStatus::kFiltered);
  auto db = store->get(b);
  EXPECT_EQ(db->message.summary.status, MessageStatus::kError);
  EXPECT_EQ(db->message.summary.error, "SB-301 transform failed");
  ASSERT_EQ(db->events.size(), 1u);
  EXPECT_EQ(db->events[0].step, "error");
  EXPECT_EQ(db->events[0].outcome, "error");
  EXPECT_EQ(db->events[0].detail, "SB-301 transform failed");
  EXPECT_TRUE(store->takeForRouting(10).empty());
}

TEST_F(SqliteStoreTest, RetryCountsAttemptsAndDeadSetsError) {
  auto store = open();
  const MessageId id = store->insertInbound(record(1));
  store->recordRouting({routeTo(id, {"ehr"})});
  auto items = store->pendingDeliveries("ehr", 10);
  ASSERT_EQ(items.size(), 1u);
  store->recordDeliveries(
      {outcome(items[0], DeliveryResult::kRetry, kNow, "", "connection refused", kNow + 5000)});
  items = store->pendingDeliveries("ehr", 10);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].attempts, 1);
  EXPECT_EQ(items[0].nextAttemptAt, kNow + 5000);
  EXPECT_EQ(store->get(id)->message.summary.status, MessageStatus::kRouted);
  auto q = store->get(id)->queue;
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].status, QueueStatus::kPending);
  EXPECT_EQ(q[0].attempts, 1);
  EXPECT_EQ(q[0].nextAttemptAt, kNow + 5000);
  EXPECT_EQ(q[0].lastError, "connection refused");

  store->recordDeliveries(
      {outcome(items[0], DeliveryResult::kDead, kNow + 6000, "MSA|AR|C1", "rejected AR")});
  EXPECT_TRUE(store->pendingDeliveries("ehr", 10).empty());
  auto d = store->get(id);
  EXPECT_EQ(d->message.summary.status, MessageStatus::kError);
  ASSERT_EQ(d->queue.size(), 1u);
  EXPECT_EQ(d->queue[0].status, QueueStatus::kDead);
  EXPECT_EQ(d->queue[0].attempts, 2);
  EXPECT_EQ(d->queue[0].lastError, "rejected AR");
  ASSERT_EQ(d->events.size(), 3u);
  EXPECT_EQ(d->events[1].outcome, "retry");
  EXPECT_EQ(d->events[1].detail, "connection refused");
  EXPECT_EQ(d->events[2].outcome, "dead");
  EXPECT_EQ(d->events[2].detail, "rejected AR | MSA|AR|C1");
  auto stats = store->queueStats("ehr");
  EXPECT_EQ(stats.pending, 0);
  EXPECT_EQ(stats.delivered, 0);
  EXPECT_EQ(stats.dead, 1);

  // Recording the same attempt again changes nothing.
  store->recordDeliveries({outcome(items[0], DeliveryResult::kDead, kNow + 7000, "", "again")});
  EXPECT_EQ(store->get(id)->events.size(), 3u);
  EXPECT_EQ(store->get(id)->queue[0].attempts, 2);
}

TEST_F(SqliteStoreTest, FifoOrderKeptAcrossRetriesAndPagedByLimit) {
  auto store = open();
  std::vector<MessageId> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(store->insertInbound(record(i)));
  std::vector<RoutingOutcome> outcomes;
  for (MessageId id : ids) outcomes.push_back(routeTo(id, {"ehr"}));
  store->recordRouting(outcomes);
  auto items = store->pendingDeliveries("ehr", 3);
  EXPECT_EQ(messageIdsOf(items), (std::vector<MessageId>{1, 2, 3}));
  const auto firstQueueIds = queueIdsOf(items);
  store->recordDeliveries(
      {outcome(items[0], DeliveryResult::kRetry, kNow, "", "timeout", kNow + 1000)});
  store->recordDeliveries(
      {outcome(items[0], DeliveryResult::kRetry, kNow + 1000, "", "timeout", kNow + 2000)});
  auto again = store->pendingDeliveries("ehr", 3);
  EXPECT_EQ(queueIdsOf(again), firstQueueIds);
  EXPECT_EQ(again[0].attempts, 2);
  store->recordDeliveries({outcome(again[0], DeliveryResult::kDelivered, kNow + 2000)});
  EXPECT_EQ(messageIdsOf(store->pendingDeliveries("ehr", 10)),
            (std::vector<MessageId>{2, 3, 4, 5}));
  EXPECT_EQ(store->queueStats("ehr").pending, 4);
  EXPECT_EQ(store->queueStats("ehr").delivered, 1);
}

TEST_F(SqliteStoreTest, RecordingTheSameRoutingTwiceQueuesOnce) {
  auto store = open();
  const MessageId id = store->insertInbound(record(1));
  store->recordRouting({routeTo(id, {"ehr", "archive"})});
  store->recordRouting({routeTo(id, {"ehr", "archive"})});
  EXPECT_EQ(store->pendingDeliveries("ehr", 10).size(), 1u);
  EXPECT_EQ(store->pendingDeliveries("archive", 10).size(), 1u);
  auto d = store->get(id);
  EXPECT_EQ(d->queue.size(), 2u);
  EXPECT_EQ(d->events.size(), 1u);
  // Both in one call (one batch) too.
  const MessageId id2 = store->insertInbound(record(2));
  store->recordRouting({routeTo(id2, {"ehr"}), routeTo(id2, {"ehr"})});
  EXPECT_EQ(messageIdsOf(store->pendingDeliveries("ehr", 10)), (std::vector<MessageId>{1, 2}));
}

// A transform split one message into several outputs for one destination: each is its own
// entry, in the order produced, and recording the routing again adds none.
TEST_F(SqliteStoreTest, SplitOutputsForOneDestinationAreQueuedInOrder) {
  auto store = open();
  const MessageId id = store->insertInbound(record(1));
  RoutingOutcome o;
  o.messageId = id;
  o.decisions = {{"labs", true, "filter passed"}};
  o.enqueue = {{"lis", std::string("result-1")},
               {"lis", std::string("result-2")},
               {"archive", std::nullopt},
               {"lis", std::string("result-3")}};
  store->recordRouting({o});
  store->recordRouting({o});
  const auto items = store->pendingDeliveries("lis", 10);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].payload, "result-1");
  EXPECT_EQ(items[1].payload, "result-2");
  EXPECT_EQ(items[2].payload, "result-3");
  EXPECT_EQ(store->pendingDeliveries("archive", 10).size(), 1u);
  // Dead-lettered parts come back as they were.
  store->recordDeliveries({outcome(items[0], DeliveryResult::kDead, kNow, "", "rejected"),
                           outcome(items[1], DeliveryResult::kDead, kNow, "", "rejected")});
  EXPECT_EQ(store->reprocessDeadLetters("lis"), 2u);
  const auto again = store->pendingDeliveries("lis", 10);
  ASSERT_EQ(again.size(), 3u);
  EXPECT_EQ(again[0].payload, "result-3");
  EXPECT_EQ(again[1].payload, "result-1");
  EXPECT_EQ(again[2].payload, "result-2");
}

TEST_F(SqliteStoreTest, TransformOutputsBecomeEventsOfTheMessage) {
  auto store = open();
  const MessageId id = store->insertInbound(record(1));
  RoutingOutcome o;
  o.messageId = id;
  o.decisions = {{"adt", true, "filter passed"}};
  o.steps = {{"adt", "mappings/adt.lua:patient", "{\"resourceType\":\"Patient\"}"}};
  o.enqueue = {{"pms", std::string("{\"resourceType\":\"Patient\"}")}};
  store->recordRouting({o});
  const auto d = store->get(id);
  ASSERT_EQ(d->events.size(), 2u);
  EXPECT_EQ(d->events[1].step, "transform");
  EXPECT_EQ(d->events[1].subject, "adt");
  EXPECT_EQ(d->events[1].outcome, "mappings/adt.lua:patient");
  EXPECT_EQ(d->events[1].detail, "{\"resourceType\":\"Patient\"}");
}

// An output queued unchanged is written once, as the step's event in the day file: the queue
// entry names that event instead of holding a copy in main.db. Senders get the same bytes from
// memory while the message is held and from the day file after a restart, and a dead letter
// reprocessed still sends them.
TEST_F(SqliteStoreTest, AQueuedTransformOutputIsWrittenOnceAsItsEvent) {
  const std::string patient = R"({"resourceType":"Patient","id":"p1"})";
  const std::string cut = std::string(40, 'x') + "... (9000 bytes in all)";
  MessageId id = 0;
  {
    auto store = open();
    id = store->insertInbound(record(1));
    // Two destinations send the Patient; the big output's event was cut, so it keeps its bytes.
    store->recordRouting({transformed(
        id, {{"adt", "mappings/adt.lua:patient", patient}, {"big", "mappings/big.lua:out", cut}},
        {{"pms", patient}, {"ehr", patient}, {"lake", std::string(9000, 'x')}})});
    for (const char* d : {"pms", "ehr"}) {
      const auto items = store->pendingDeliveries(d, 10);
      ASSERT_EQ(items.size(), 1u) << d;
      EXPECT_EQ(items[0].payload, patient) << d;
      EXPECT_EQ(items[0].summary.controlId, "C1") << d;
      EXPECT_EQ(items[0].unavailable, "") << d;
    }
    const auto lake = store->pendingDeliveries("lake", 10);
    ASSERT_EQ(lake.size(), 1u);
    EXPECT_EQ(lake[0].payload, std::string(9000, 'x'));
    // pms is dead-lettered, so that it is queued again after the restart.
    store->recordDeliveries({outcome(store->pendingDeliveries("pms", 1)[0], DeliveryResult::kDead,
                                     kNow, "", "rejected")});
  }
  {
    sqlite::Db main(dir_.path() / "main.db", sqlite::Db::Mode::kReadOnly);
    sqlite::Stmt q(main,
                   "SELECT destination, payload IS NULL, payload_event FROM queue ORDER BY "
                   "queue_id");
    std::vector<std::string> rows;
    while (q.step()) {
      rows.push_back(fmt::format("{} {} {}", q.text(0), q.int64(1),
                                 q.isNull(2) ? "-" : std::to_string(q.int64(2))));
    }
    sqlite::Db day(dir_.path() / partitionFileName(utcDay(kNow)), sqlite::Db::Mode::kReadOnly);
    sqlite::Stmt e(day, "SELECT seq FROM events WHERE step = 'transform' ORDER BY seq");
    ASSERT_TRUE(e.step());
    const std::int64_t patientEvent = e.int64(0);
    EXPECT_EQ(rows, (std::vector<std::string>{fmt::format("pms 1 {}", patientEvent),
                                              fmt::format("ehr 1 {}", patientEvent), "lake 0 -"}));
  }
  // After a restart nothing is held in memory: the bytes come from the day file.
  auto store = open();
  const auto ehr = store->pendingDeliveries("ehr", 10);
  ASSERT_EQ(ehr.size(), 1u);
  EXPECT_EQ(ehr[0].payload, patient);
  EXPECT_EQ(ehr[0].summary.controlId, "C1");
  EXPECT_EQ(store->reprocessDeadLetters("pms"), 1u);
  const auto pms = store->pendingDeliveries("pms", 10);
  ASSERT_EQ(pms.size(), 1u);
  EXPECT_EQ(pms[0].payload, patient);
  EXPECT_EQ(pms[0].messageId, id);
}

// Message 1, routed through a transform whose output `output` is queued as `enqueue` says, in a
// store closed again (what is read afterwards comes from the files).
MessageId routedThroughATransform(const std::filesystem::path& dir, const std::string& output,
                                  std::vector<Enqueue> enqueue) {
  auto store = openSqliteStore(optionsFor(dir));
  const MessageId id = store->insertInbound(record(1));
  store->recordRouting(
      {transformed(id, {{"adt", "mappings/adt.lua:patient", output}}, std::move(enqueue))});
  return id;
}

// Runs `sql` on the day file of kNow; returns the seq of its transform event as it was before.
std::int64_t editDayFile(const std::filesystem::path& dir, const std::string& sql) {
  sqlite::Db day(dir / partitionFileName(utcDay(kNow)), sqlite::Db::Mode::kReadWrite);
  sqlite::Stmt e(day, "SELECT seq FROM events WHERE step = 'transform'");
  const std::int64_t seq = e.step() ? e.int64(0) : 0;
  day.exec(sql);
  return seq;
}

std::string outputNotInDayFile(std::int64_t event, MessageId id) {
  return fmt::format(
      "the transform output this entry sends (event {} of message {}) is not in the message's "
      "day file",
      event, id);
}

// If the event an entry sends is gone from the day file (damaged or edited by hand), the entry
// is not sent empty: it says what is missing, and the engine dead-letters it with that reason.
TEST_F(SqliteStoreTest, AnEntryWhoseOutputEventIsGoneSaysSo) {
  const MessageId id = routedThroughATransform(dir_.path(), "{}", {{"pms", "{}"}});
  const std::int64_t event =
      editDayFile(dir_.path(), "DELETE FROM events WHERE step = 'transform'");
  auto store = open();
  const auto items = store->pendingDeliveries("pms", 10);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].payload, "");
  EXPECT_EQ(items[0].summary.controlId, "C1");
  EXPECT_EQ(items[0].unavailable, outputNotInDayFile(event, id));
}

// While the message is held in memory the output comes from there: the running store still
// sends it after its event is gone from the day file (a restart reads the file and says so).
TEST_F(SqliteStoreTest, AHeldOutputIsSentFromMemory) {
  auto store = open();
  const MessageId id = store->insertInbound(record(1));
  store->recordRouting({transformed(id, {{"adt", "mappings/adt.lua:patient", "{\"a\":1}"}},
                                    {{"pms", "{\"a\":1}"}})});
  editDayFile(dir_.path(), "DELETE FROM events WHERE step = 'transform'");
  const auto items = store->pendingDeliveries("pms", 10);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].payload, "{\"a\":1}");
  EXPECT_EQ(items[0].unavailable, "");
}

// A seq is unique only while its row exists: when the day file lost the output's event (here by
// hand; a power cut at synchronous=NORMAL can lose a file's last commit too), the next event
// takes the same seq. The entry must not send that event's text.
TEST_F(SqliteStoreTest, AnEntryNeverSendsAnotherEventThatTookItsSeq) {
  const MessageId id = routedThroughATransform(dir_.path(), "{\"a\":1}",
                                               {{"pms", "{\"a\":1}"}, {"archive", std::nullopt}});
  const std::int64_t event =
      editDayFile(dir_.path(), "DELETE FROM events WHERE step = 'transform'");
  auto store = open();
  // The archive's failed attempt is the message's next event: it takes the freed seq.
  store->recordDeliveries({outcome(store->pendingDeliveries("archive", 1)[0],
                                   DeliveryResult::kRetry, kNow, "", "timeout", kNow + 60000)});
  ASSERT_EQ(store->get(id)->events.back().step, "deliver");
  {
    sqlite::Db day(dir_.path() / partitionFileName(utcDay(kNow)), sqlite::Db::Mode::kReadOnly);
    sqlite::Stmt e(day, "SELECT max(seq) FROM events");
    ASSERT_TRUE(e.step());
    ASSERT_EQ(e.int64(0), event);  // the premise: the seq was taken again
  }
  const auto items = store->pendingDeliveries("pms", 10);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].payload, "");
  EXPECT_EQ(items[0].unavailable, outputNotInDayFile(event, id));
}

// The entry remembers the length and CRC of the output it was queued with: an event that holds
// other text under the same seq (taken by the next routing of the message after the day file lost
// its last commit, or edited by hand as here) is not sent.
TEST_F(SqliteStoreTest, AnEntryNeverSendsAnOutputOtherThanTheOneItWasQueuedWith) {
  const MessageId id = routedThroughATransform(dir_.path(), "{\"a\":1}", {{"pms", "{\"a\":1}"}});
  const std::int64_t event =
      editDayFile(dir_.path(), "UPDATE events SET detail = '{\"a\":2}' WHERE step = 'transform'");
  auto store = open();
  const auto items = store->pendingDeliveries("pms", 10);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].payload, "");
  EXPECT_EQ(items[0].unavailable, outputNotInDayFile(event, id));
}

// A day file that is there but cannot be opened is not a lost message: reading the queue fails
// (the delivery worker reads it again after a pause) instead of dead-lettering the entry.
TEST_F(SqliteStoreTest, ADayFileThatCannotBeOpenedFailsTheReadInsteadOfLosingTheEntry) {
  MessageId id = 0;
  {
    auto store = open();
    id = store->insertInbound(record(1));
    store->recordRouting({routeTo(id, {"ehr"})});
  }
  auto store = open();
  // Swapped under the running store (its writer keeps the file it has open): the day file
  // exists, but a reader cannot open it.
  const auto file = dir_.path() / partitionFileName(utcDay(kNow));
  std::filesystem::rename(file, dir_.path() / "aside.db");
  std::filesystem::create_directory(file);
  try {
    store->pendingDeliveries("ehr", 10);
    FAIL() << "expected the read to fail";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              fmt::format("store: cannot open the day file of message {} (queue entry 1)", id));
  }
}

// Only a message that is not in any day file makes an entry unavailable; a raw entry whose
// message is gone is not sent empty either.
TEST_F(SqliteStoreTest, ARawEntryWhoseMessageIsGoneSaysSo) {
  MessageId id = 0;
  {
    auto store = open();
    id = store->insertInbound(record(1));
    store->recordRouting({routeTo(id, {"ehr"})});
  }
  {
    sqlite::Db day(dir_.path() / partitionFileName(utcDay(kNow)), sqlite::Db::Mode::kReadWrite);
    day.exec("DELETE FROM messages");
    day.exec("DELETE FROM bodies");
  }
  auto store = open();
  const auto items = store->pendingDeliveries("ehr", 10);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].payload, "");
  EXPECT_EQ(items[0].summary.id, id);
  EXPECT_EQ(items[0].unavailable, fmt::format("message {} is not in the store's day files", id));
}

TEST_F(SqliteStoreTest, ReprocessStartsANewGeneration) {
  auto store = open();
  const MessageId id = store->insertInbound(record(1));
  store->recordRouting({routeTo(id, {"ehr"})});
  store->recordDeliveries(
      {outcome(store->pendingDeliveries("ehr", 1)[0], DeliveryResult::kDelivered, kNow)});
  EXPECT_EQ(store->get(id)->message.summary.status, MessageStatus::kDelivered);

  EXPECT_EQ(store->reprocess({id, 999}), 1u);
  auto taken = store->takeForRouting(10);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].summary.id, id);
  EXPECT_EQ(taken[0].summary.status, MessageStatus::kReceived);
  EXPECT_EQ(taken[0].summary.generation, 1);

  // The stale routing of generation 0 arriving late queues nothing new.
  store->recordRouting({routeTo(id, {"ehr"}, 0)});
  EXPECT_TRUE(store->pendingDeliveries("ehr", 10).empty());
  EXPECT_EQ(store->takeForRouting(10).size(), 1u);

  store->recordRouting({routeTo(id, {"ehr"}, 1)});
  auto items = store->pendingDeliveries("ehr", 10);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].summary.generation, 1);
  EXPECT_EQ(store->get(id)->message.summary.status, MessageStatus::kRouted);
  store->recordDeliveries({outcome(items[0], DeliveryResult::kDelivered, kNow + 1)});
  auto d = store->get(id);
  EXPECT_EQ(d->message.summary.status, MessageStatus::kDelivered);
  EXPECT_EQ(d->queue.size(), 2u);
  std::vector<std::string> steps;
  for (const auto& e : d->events) steps.push_back(e.step + "/" + e.outcome);
  EXPECT_EQ(steps,
            (std::vector<std::string>{"route/matched", "deliver/delivered", "reprocess/reprocessed",
                                      "route/matched", "route/matched", "deliver/delivered"}));
  EXPECT_EQ(d->events[2].detail, "generation 1");
}

TEST_F(SqliteStoreTest, ReprocessDeadLettersAppendsAtTailInOriginalOrder) {
  auto store = open();
  std::vector<RoutingOutcome> outcomes;
  for (int i = 1; i <= 4; ++i)
    outcomes.push_back(routeTo(store->insertInbound(record(i)), {"ehr"}));
  store->recordRouting(outcomes);
  auto items = store->pendingDeliveries("ehr", 10);
  ASSERT_EQ(items.size(), 4u);
  // 1 and 3 die; 2 and 4 stay pending.
  store->recordDeliveries({outcome(items[0], DeliveryResult::kDead, kNow, "", "AR"),
                           outcome(items[2], DeliveryResult::kDead, kNow, "", "AR")});
  EXPECT_EQ(store->get(1)->message.summary.status, MessageStatus::kError);
  EXPECT_EQ(store->queueStats("ehr").dead, 2);
  EXPECT_EQ(store->reprocessDeadLetters("other"), 0u);

  EXPECT_EQ(store->reprocessDeadLetters("ehr"), 2u);
  auto after = store->pendingDeliveries("ehr", 10);
  EXPECT_EQ(messageIdsOf(after), (std::vector<MessageId>{2, 4, 1, 3}));
  EXPECT_GT(after[2].queueId, items[3].queueId);
  EXPECT_LT(after[2].queueId, after[3].queueId);
  EXPECT_EQ(after[2].attempts, 0);
  EXPECT_EQ(after[3].attempts, 0);
  EXPECT_EQ(after[2].payload, record(1).raw);
  auto stats = store->queueStats("ehr");
  EXPECT_EQ(stats.pending, 4);
  EXPECT_EQ(stats.dead, 0);
  auto d = store->get(1);
  EXPECT_EQ(d->message.summary.status, MessageStatus::kRouted);
  ASSERT_EQ(d->events.size(), 3u);
  EXPECT_EQ(d->events[2].step, "reprocess");
  EXPECT_EQ(d->events[2].subject, "ehr");
  EXPECT_EQ(d->events[2].outcome, "requeued");
  ASSERT_EQ(d->queue.size(), 1u);
  EXPECT_EQ(d->queue[0].status, QueueStatus::kPending);
  EXPECT_EQ(d->queue[0].lastError, "");
}

TEST_F(SqliteStoreTest, RetentionDropsOldPartitionsButKeepsPendingOnes) {
  auto store = open();
  const MessageId old1 = store->insertInbound(record(1, kNow - 40 * kDayMillis));
  const MessageId old2 = store->insertInbound(record(2, kNow - 35 * kDayMillis));
  const MessageId recent = store->insertInbound(record(3, kNow - 29 * kDayMillis));
  const MessageId today = store->insertInbound(record(4, kNow));
  store->recordRouting({routeTo(old1, {"ehr"}), routeTo(old2, {"ehr"})});
  store->recordDeliveries(
      {outcome(store->pendingDeliveries("ehr", 1)[0], DeliveryResult::kDelivered, kNow)});
  const auto file1 = dir_.path() / partitionFileName(utcDay(kNow - 40 * kDayMillis));
  const auto file2 = dir_.path() / partitionFileName(utcDay(kNow - 35 * kDayMillis));
  const auto file3 = dir_.path() / partitionFileName(utcDay(kNow - 29 * kDayMillis));
  ASSERT_TRUE(std::filesystem::exists(file1));
  ASSERT_TRUE(std::filesystem::exists(file2));

  EXPECT_EQ(store->applyRetention(kNow), 1u);  // old2 is still pending for ehr
  EXPECT_FALSE(std::filesystem::exists(file1));
  EXPECT_FALSE(std::filesystem::exists(file1.string() + "-wal"));
  EXPECT_TRUE(std::filesystem::exists(file2));
  EXPECT_TRUE(std::filesystem::exists(file3));
  EXPECT_EQ(store->get(old1), std::nullopt);
  EXPECT_TRUE(store->get(old2).has_value());
  EXPECT_EQ(idsOf(store->search(SearchQuery{})), (std::vector<MessageId>{today, recent, old2}));
  EXPECT_EQ(store->queueStats("ehr").delivered, 0);  // queue rows of the dropped day are gone
  EXPECT_EQ(store->queueStats("ehr").pending, 1);

  store->recordDeliveries(
      {outcome(store->pendingDeliveries("ehr", 1)[0], DeliveryResult::kDelivered, kNow)});
  EXPECT_EQ(store->applyRetention(kNow), 1u);
  EXPECT_FALSE(std::filesystem::exists(file2));
  EXPECT_TRUE(std::filesystem::exists(file3));
  EXPECT_EQ(store->applyRetention(kNow), 0u);
  EXPECT_EQ(idsOf(store->search(SearchQuery{})), (std::vector<MessageId>{today, recent}));
  // Ids stay global and increasing after partitions are dropped.
  EXPECT_EQ(store->insertInbound(record(5, kNow)), today + 1);
}

TEST_F(SqliteStoreTest, PowerDurabilityCommitsAndReopens) {
  {
    auto store = open([](Options& o) { o.durability = Durability::kPower; });
    EXPECT_EQ(store->insertInbound(record(1)), 1);
    EXPECT_EQ(store->insertInbound(record(2)), 2);
  }
  auto store = open([](Options& o) { o.durability = Durability::kPower; });
  EXPECT_EQ(idsOf(store->search(SearchQuery{})), (std::vector<MessageId>{2, 1}));
}

TEST_F(SqliteStoreTest, StagesRunConcurrentlyFromManyThreads) {
  auto store = open([](Options& o) { o.maxBatch = 32; });
  constexpr int kMessages = 600;
  std::atomic<bool> stop{false};
  std::thread router([&] {
    std::size_t routed = 0;
    while (routed < kMessages) {
      auto batch = store->takeForRouting(50);
      std::vector<RoutingOutcome> outcomes;
      for (const auto& m : batch) outcomes.push_back(routeTo(m.summary.id, {"a", "b"}));
      if (!outcomes.empty()) store->recordRouting(outcomes);
      if (batch.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      routed += batch.size();
    }
  });
  auto sender = [&](std::string destination) {
    std::size_t delivered = 0;
    while (delivered < kMessages) {
      auto items = store->pendingDeliveries(destination, 40);
      std::vector<DeliveryOutcome> outcomes;
      for (const auto& i : items) {
        outcomes.push_back(outcome(i, DeliveryResult::kDelivered, kNow, "AA"));
      }
      if (!outcomes.empty()) store->recordDeliveries(outcomes);
      if (items.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      delivered += items.size();
    }
  };
  std::thread a(sender, "a"), b(sender, "b");
  std::thread searcher([&] {
    while (!stop) {
      store->search(SearchQuery{});
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::vector<std::thread> listeners;
  for (int t = 0; t < 3; ++t) {
    listeners.emplace_back([&, t] {
      for (int i = 0; i < kMessages / 3; ++i) store->insertInbound(record(t * 1000 + i));
    });
  }
  for (auto& t : listeners) t.join();
  router.join();
  a.join();
  b.join();
  stop = true;
  searcher.join();
  SearchQuery delivered;
  delivered.status = MessageStatus::kDelivered;
  delivered.limit = 1000;
  EXPECT_EQ(store->search(delivered).size(), static_cast<std::size_t>(kMessages));
  EXPECT_EQ(store->queueStats("a").delivered, kMessages);
  EXPECT_EQ(store->queueStats("b").delivered, kMessages);
  EXPECT_EQ(store->queueStats("a").pending, 0);
}

// A message's status and events live in its day's file, its queue entries in main.db, and the
// writer commits the two one after the other. A reader deciding from both (the CORE RealTime
// waiter: "routed, but not queued to the payer" answers 502) must never see one file's commit
// without the other's.
TEST_F(SqliteStoreTest, DetailIsOneCommittedStateAcrossFiles) {
  auto store = open();
  constexpr int kMessages = 400;
  for (int i = 1; i <= kMessages; ++i) store->insertInbound(record(i));
  std::atomic<MessageId> routing{1};
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::vector<std::string> torn;
  std::thread reader([&] {
    while (!done) {
      const MessageId id = routing.load();
      const auto d = store->get(id);
      ++reads;
      if (!d) continue;
      const bool routed = d->message.summary.status == MessageStatus::kRouted;
      const bool routeEvent = !d->events.empty();
      if (routed != !d->queue.empty() || routed != routeEvent) {
        torn.push_back(fmt::format("message {}: status {}, {} events, {} queue entries", id,
                                   toString(d->message.summary.status), d->events.size(),
                                   d->queue.size()));
      }
    }
  });
  for (MessageId id = 1; id <= kMessages; ++id) {
    routing = id;
    // Let the reader start on this message before it is routed, so reads cross the commit.
    const int seen = reads.load();
    while (reads.load() < seen + 2) std::this_thread::yield();
    store->recordRouting({routeTo(id, {"payer"})});
  }
  done = true;
  reader.join();
  EXPECT_EQ(torn, std::vector<std::string>{});
  EXPECT_GE(reads.load(), 2 * kMessages);
}

TEST_F(SqliteStoreTest, RetentionZeroKeepsEverything) {
  auto store = open([](Options& o) { o.retentionDays = 0; });
  store->insertInbound(record(1, kNow - 400 * kDayMillis));
  EXPECT_EQ(store->applyRetention(kNow), 0u);
  EXPECT_TRUE(store->get(1).has_value());
}

TEST_F(SqliteStoreTest, ReopenKeepsEverythingAndContinuesIds) {
  {
    auto store = open();
    store->insertInbound(record(1));
    store->insertInbound(record(2, kNow - kDayMillis));
    const MessageId three = store->insertInbound(record(3));
    store->recordRouting({routeTo(three, {"ehr"})});
    store->search(SearchQuery{});  // leaves pooled read connections open until close
    store->close();
    store->close();  // idempotent
    // The last connection to close checkpointed and removed the WAL files.
    for (const char* name :
         {"main.db-wal", "main.db-shm", "messages-20261122.db-wal", "messages-20261121.db-shm"}) {
      EXPECT_FALSE(std::filesystem::exists(dir_.path() / name)) << name;
    }
    EXPECT_THROW(store->insertInbound(record(9)), std::runtime_error);
    EXPECT_THROW(store->reprocess({1}), std::runtime_error);
  }
  {
    // The CLI reading a directory no engine has open.
    auto cli = open([](Options& o) { o.readOnly = true; });
    EXPECT_EQ(idsOf(cli->search(SearchQuery{})), (std::vector<MessageId>{3, 2, 1}));
    EXPECT_EQ(cli->get(3)->queue.size(), 1u);
  }
  auto store = open();
  EXPECT_EQ(idsOf(store->search(SearchQuery{})), (std::vector<MessageId>{3, 2, 1}));
  EXPECT_EQ(store->get(2)->message.raw, record(2).raw);
  EXPECT_EQ(store->takeForRouting(10).size(), 2u);
  EXPECT_EQ(messageIdsOf(store->pendingDeliveries("ehr", 10)), (std::vector<MessageId>{3}));
  EXPECT_EQ(store->insertInbound(record(4)), 4);
}

TEST_F(SqliteStoreTest, OpenRepairsStateLeftByACrashBetweenFileCommits) {
  {
    auto store = open();
    store->insertInbound(record(1));
    store->insertInbound(record(2));
  }
  {
    // Simulate a crash after the partition commit but before main.db's: main.db does not know
    // message 2 (no inbox row, catalog range and id counter behind).
    sqlite::Db main(dir_.path() / "main.db", sqlite::Db::Mode::kReadWrite);
    main.exec("DELETE FROM to_route WHERE message_id = 2");
    main.exec("UPDATE partitions SET max_id = 1");
    main.exec("UPDATE meta SET value = 2 WHERE key = 'next_message_id'");
  }
  auto store = open();
  auto taken = store->takeForRouting(10);
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[1].summary.id, 2);
  EXPECT_EQ(store->get(2)->message.summary.controlId, "C2");
  EXPECT_EQ(store->insertInbound(record(3)), 3);
}

// The router and the senders submit outcomes without waiting and read on past what they
// submitted: the callback runs once the outcomes are committed, and `after` skips what is in
// flight.
// A message folded together with its routing is written `routed` in its day file, and its queue
// entries go to main.db, which commits after it. A crash in between leaves it routed with
// nothing queued and nothing waiting for the router: opening the store routes it again.
TEST_F(SqliteStoreTest, OpenRoutesAgainAMessageRoutedWhoseQueueEntriesDidNotCommit) {
  {
    auto store = open();
    const MessageId a = store->insertInbound(record(1));
    const MessageId b = store->insertInbound(record(2));
    store->recordRouting({routeTo(a, {"ehr"}), routeTo(b, {"ehr"})});
  }
  {
    sqlite::Db main(dir_.path() / "main.db", sqlite::Db::Mode::kReadWrite);
    main.exec("DELETE FROM queue WHERE message_id = 2");
  }
  auto store = open();
  auto taken = store->takeForRouting(10);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].summary.id, 2);
  EXPECT_EQ(taken[0].summary.status, MessageStatus::kReceived);
  EXPECT_EQ(store->get(1)->message.summary.status, MessageStatus::kRouted);  // left alone
  store->recordRouting({routeTo(2, {"ehr"})});
  EXPECT_EQ(messageIdsOf(store->pendingDeliveries("ehr", 10)), (std::vector<MessageId>{1, 2}));
}

TEST_F(SqliteStoreTest, SubmittedOutcomesCommitThenCallBack) {
  auto store = open();
  for (int i = 1; i <= 3; ++i) store->insertInbound(record(i));
  EXPECT_EQ(idsOf(summariesOf(store->takeForRouting(10, 1))), (std::vector<MessageId>{2, 3}));

  std::promise<std::exception_ptr> routed;
  store->submitRouting({routeTo(1, {"ehr"}), routeTo(2, {"ehr"}), routeTo(3, {"ehr"})},
                       [&](std::exception_ptr e) { routed.set_value(e); });
  EXPECT_EQ(routed.get_future().get(), nullptr);
  EXPECT_TRUE(store->takeForRouting(10).empty());
  const auto pending = store->pendingDeliveries("ehr", 10);
  ASSERT_EQ(pending.size(), 3u);
  EXPECT_EQ(messageIdsOf(store->pendingDeliveries("ehr", 10, pending[0].queueId)),
            (std::vector<MessageId>{2, 3}));
  EXPECT_TRUE(store->pendingDeliveries("ehr", 10, pending[2].queueId).empty());

  std::promise<std::exception_ptr> delivered;
  store->submitDeliveries({outcome(pending[0], DeliveryResult::kDelivered, kNow),
                           outcome(pending[1], DeliveryResult::kDelivered, kNow)},
                          [&](std::exception_ptr e) { delivered.set_value(e); });
  EXPECT_EQ(delivered.get_future().get(), nullptr);
  EXPECT_EQ(store->get(1)->message.summary.status, MessageStatus::kDelivered);
  EXPECT_EQ(store->get(2)->message.summary.status, MessageStatus::kDelivered);
  EXPECT_EQ(messageIdsOf(store->pendingDeliveries("ehr", 10)), (std::vector<MessageId>{3}));

  // A closed store answers at once, with the reason.
  store->close();
  std::string error;
  store->submitDeliveries({outcome(pending[2], DeliveryResult::kDelivered, kNow)},
                          [&](std::exception_ptr e) {
                            try {
                              if (e) std::rethrow_exception(e);
                            } catch (const std::exception& x) {
                              error = x.what();
                            }
                          });
  EXPECT_EQ(error, "store: closed");
}

TEST_F(SqliteStoreTest, SecondInstanceSeesCommittedData) {
  auto engine = open();
  const MessageId id = engine->insertInbound(record(1));
  engine->recordRouting({routeTo(id, {"ehr"})});

  auto cli = open([](Options& o) { o.readOnly = true; });
  SearchQuery q;
  q.controlId = "C1";
  EXPECT_EQ(idsOf(cli->search(q)), (std::vector<MessageId>{id}));
  const MessageId id2 = engine->insertInbound(record(2));
  EXPECT_EQ(idsOf(cli->search(SearchQuery{})), (std::vector<MessageId>{id2, id}));
  EXPECT_EQ(cli->get(id)->queue.size(), 1u);
  EXPECT_EQ(cli->queueStats("ehr").pending, 1);
  EXPECT_THROW(cli->reprocess({id}), std::runtime_error);
  EXPECT_THROW(cli->insertInbound(record(3)), std::runtime_error);

  // A writing CLI (`switchboard reprocess`) next to the running engine.
  auto writer = open();
  EXPECT_EQ(writer->reprocess({id}), 1u);
  auto taken = engine->takeForRouting(10);
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0].summary.id, id);
  EXPECT_EQ(taken[0].summary.generation, 1);
  EXPECT_EQ(taken[1].summary.id, id2);
  // The engine notices the other process's commit and keeps allocating fresh ids. The writer
  // has no journal (the engine owns it) and allocates above the block the engine reserved.
  const MessageId id3 = engine->insertInbound(record(3));
  const MessageId id4 = writer->insertInbound(record(4));
  const MessageId id5 = engine->insertInbound(record(5));
  EXPECT_EQ(id3, id2 + 1);
  EXPECT_GT(id4, id3);
  EXPECT_GT(id5, id4);
  EXPECT_EQ(idsOf(cli->search(SearchQuery{})), (std::vector<MessageId>{id5, id4, id3, id2, id}));
}

TEST_F(SqliteStoreTest, ReadOnlyOpenOfMissingStoreFails) {
  Options o = optionsFor(dir_.path() / "nothing");
  o.readOnly = true;
  EXPECT_THROW(openSqliteStore(o), std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "nothing"));
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  open()->insertInbound(record(1));
  {
    sqlite::Db main(dir_.path() / "main.db", sqlite::Db::Mode::kReadWrite);
    main.exec("INSERT INTO schema_version (version) VALUES (99)");
  }
  try {
    open();
    FAIL() << "expected the newer schema to be refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("main.db has schema version 99"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("upgrade switchboard"), std::string::npos);
  }
  EXPECT_THROW(open([](Options& o) { o.readOnly = true; }), std::runtime_error);
}

TEST_F(SqliteStoreTest, OlderSchemaIsMigrated) {
  {
    sqlite::Db main(dir_.path() / "main.db", sqlite::Db::Mode::kCreate);
    sqlite::migrate(main, sqlite::SchemaTarget::kMain, 1);
    EXPECT_EQ(sqlite::schemaVersion(main), 1);
  }
  auto store = open();
  EXPECT_EQ(store->insertInbound(record(1)), 1);
  store->close();
  sqlite::Db main(dir_.path() / "main.db", sqlite::Db::Mode::kReadOnly);
  EXPECT_EQ(sqlite::schemaVersion(main), sqlite::latestSchemaVersion(sqlite::SchemaTarget::kMain));
  EXPECT_EQ(sqlite::latestSchemaVersion(sqlite::SchemaTarget::kMain), 5);
  sqlite::Stmt s(main, "SELECT count(*) FROM sqlite_master WHERE name = 'queue_pending'");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.int64(0), 1);
  sqlite::Stmt part(main, "SELECT count(*) FROM pragma_table_info('queue') WHERE name = 'part'");
  ASSERT_TRUE(part.step());
  EXPECT_EQ(part.int64(0), 1);
  sqlite::Stmt control(main, "SELECT count(*) FROM sqlite_master WHERE name = 'control_numbers'");
  ASSERT_TRUE(control.step());
  EXPECT_EQ(control.int64(0), 1);
  sqlite::Stmt event(
      main, "SELECT count(*) FROM pragma_table_info('queue') WHERE name = 'payload_event'");
  ASSERT_TRUE(event.step());
  EXPECT_EQ(event.int64(0), 1);
  sqlite::Stmt check(
      main, "SELECT count(*) FROM pragma_table_info('queue') WHERE name = 'payload_check'");
  ASSERT_TRUE(check.step());
  EXPECT_EQ(check.int64(0), 1);
}

// The WAL is copied back into the database file by the checkpoint thread once it passes its
// threshold (32 MB), not left to grow until the writer's 128 MB backstop.
TEST_F(SqliteStoreTest, CheckpointThreadCopiesTheWalIntoTheDatabaseFile) {
  auto store = open();
  const std::string big(128 * 1024, 'x');
  for (int i = 1; i <= 320; ++i) {  // 40 MB of bodies
    InboundRecord r = record(i);
    r.raw += big;
    store->insertInbound(std::move(r));
  }
  const auto file = dir_.path() / partitionFileName(utcDay(kNow));
  EXPECT_TRUE(test::waitFor([&] { return std::filesystem::file_size(file) > (30u << 20); },
                            std::chrono::seconds(20)))
      << std::filesystem::file_size(file);
}

TEST_F(SqliteStoreTest, PartitionWrittenBeforeTheBodiesTableKeepsItsMessages) {
  // A day file of partition schema 1 (raw bytes in the messages row), known to main.db.
  const int day = utcDay(kNow);
  const auto file = dir_.path() / partitionFileName(day);
  open()->close();
  {
    sqlite::Db part(file, sqlite::Db::Mode::kCreate);
    sqlite::migrate(part, sqlite::SchemaTarget::kPartition, 1);
    part.exec(fmt::format(
        "INSERT INTO messages (id, channel, peer, received_at, message_type, trigger_event, "
        "control_id, patient_id, sending_application, sending_facility, status, error, "
        "size_bytes, generation, raw) VALUES (1, 'adt-in', 'p', {}, 'ADT', 'A01', 'C1', 'P1', "
        "'APP', 'FAC', 'received', '', 9, 0, 'MSH|^~\\&|')",
        kNow));
    sqlite::Db main(dir_.path() / "main.db", sqlite::Db::Mode::kReadWrite);
    main.exec(
        fmt::format("INSERT INTO partitions (day, file, min_id, max_id) VALUES ({}, '{}', "
                    "1, 1)",
                    day, partitionFileName(day)));
    main.exec("INSERT INTO to_route (message_id, generation) VALUES (1, 0)");
  }
  {
    // The CLI reads it before an engine migrated it (readers cannot migrate).
    auto cli = open([](Options& o) { o.readOnly = true; });
    auto d = cli->get(1);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->message.raw, "MSH|^~\\&|");
  }
  auto store = open();
  auto taken = store->takeForRouting(10);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].raw, "MSH|^~\\&|");
  EXPECT_EQ(store->insertInbound(record(2)), 2);
  EXPECT_EQ(store->get(2)->message.raw, record(2).raw);
  store->close();
  sqlite::Db part(file, sqlite::Db::Mode::kReadOnly);
  EXPECT_EQ(sqlite::schemaVersion(part), 2);
  sqlite::Stmt columns(part,
                       "SELECT count(*) FROM pragma_table_info('messages') WHERE name = 'raw'");
  ASSERT_TRUE(columns.step());
  EXPECT_EQ(columns.int64(0), 0);
  sqlite::Stmt bodies(part, "SELECT count(*) FROM bodies");
  ASSERT_TRUE(bodies.step());
  EXPECT_EQ(bodies.int64(0), 2);
}

// Search must walk an index, never the table: checks the plans SQLite picks for the queries
// search() runs.
TEST_F(SqliteStoreTest, SearchKeysUseIndexes) {
  open()->insertInbound(record(1));
  sqlite::Db part(dir_.path() / partitionFileName(utcDay(kNow)), sqlite::Db::Mode::kReadOnly);
  auto plan = [&](const SearchQuery& q) {
    sqlite::Stmt s(part, "EXPLAIN QUERY PLAN " + sqlite::searchSql(q));
    std::string out;
    while (s.step()) out += s.text(3) + ";";
    return out;
  };
  auto keyed = [](auto member, const char* value) {
    SearchQuery q;
    q.*member = value;
    return q;
  };
  EXPECT_EQ(plan(keyed(&SearchQuery::channel, "a")),
            "SEARCH messages USING INDEX messages_channel (channel=? AND rowid<?);");
  EXPECT_EQ(plan(keyed(&SearchQuery::messageType, "a")),
            "SEARCH messages USING INDEX messages_type (message_type=? AND rowid<?);");
  EXPECT_EQ(plan(keyed(&SearchQuery::triggerEvent, "a")),
            "SEARCH messages USING INDEX messages_trigger (trigger_event=? AND rowid<?);");
  EXPECT_EQ(plan(keyed(&SearchQuery::controlId, "a")),
            "SEARCH messages USING INDEX messages_control (control_id=? AND rowid<?);");
  EXPECT_EQ(plan(keyed(&SearchQuery::patientId, "a")),
            "SEARCH messages USING INDEX messages_patient (patient_id=? AND rowid<?);");
  SearchQuery status;
  status.status = MessageStatus::kError;
  EXPECT_EQ(plan(status), "SEARCH messages USING INDEX messages_status (status=? AND rowid<?);");
  // The selective key drives a combined query, not the status index.
  SearchQuery patientAndStatus = status;
  patientAndStatus.patientId = "P1";
  patientAndStatus.from = kNow;
  EXPECT_EQ(plan(patientAndStatus),
            "SEARCH messages USING INDEX messages_patient (patient_id=? AND rowid<?);");
  SearchQuery range;
  range.from = kNow;
  range.to = kNow + 1;
  EXPECT_EQ(plan(range),
            "SEARCH messages USING INDEX messages_received (received_at>? AND received_at<?);"
            "USE TEMP B-TREE FOR ORDER BY;");
  SearchQuery since;
  since.from = kNow;
  EXPECT_EQ(plan(since), "SEARCH messages USING INTEGER PRIMARY KEY (rowid<?);");
  EXPECT_EQ(plan(SearchQuery{}), "SEARCH messages USING INTEGER PRIMARY KEY (rowid<?);");

  sqlite::Db main(dir_.path() / "main.db", sqlite::Db::Mode::kReadOnly);
  sqlite::Stmt s(main,
                 "EXPLAIN QUERY PLAN SELECT queue_id, message_id, attempts, next_attempt_at, "
                 "payload FROM queue WHERE destination = ? AND status = 'pending' "
                 "ORDER BY queue_id LIMIT ?");
  std::string out;
  while (s.step()) out += s.text(3) + ";";
  EXPECT_EQ(out, "SEARCH queue USING INDEX queue_destination (destination=? AND status=?);");
}

// Process CPU time (all threads), so the report means something on a loaded machine.
double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Phase {
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  double cpu = cpuSeconds();
  void report(const char* name, std::size_t n) const {
    const double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
    const double c = cpuSeconds() - cpu;
    std::printf("%-10s %7zu msgs  %8.0f msg/s wall  %6.1f us CPU/msg\n", name, n,
                static_cast<double>(n) / w, c * 1e6 / static_cast<double>(n));
  }
};

void ingest(MessageStore& store, int messages, int threads) {
  std::string raw(1024, 'x');
  std::atomic<int> remaining{messages};
  std::promise<void> all;
  std::vector<std::thread> submitters;
  for (int t = 0; t < threads; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = t; i < messages; i += threads) {
        auto r = record(i);
        r.raw = raw;
        store.submitInbound(std::move(r), [&](std::optional<MessageId> id, const std::string&) {
          if (id && --remaining == 0) all.set_value();
        });
      }
    });
  }
  for (auto& t : submitters) t.join();
  all.get_future().wait();
}

std::size_t routeAll(MessageStore& store, std::size_t expected) {
  std::size_t routed = 0;
  while (routed < expected) {
    auto batch = store.takeForRouting(500);
    if (batch.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    std::vector<RoutingOutcome> outcomes;
    for (const auto& m : batch) outcomes.push_back(routeTo(m.summary.id, {"ehr"}));
    store.recordRouting(outcomes);
    routed += batch.size();
  }
  return routed;
}

std::size_t deliverAll(MessageStore& store, std::size_t expected) {
  std::size_t delivered = 0;
  while (delivered < expected) {
    auto items = store.pendingDeliveries("ehr", 500);
    if (items.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    std::vector<DeliveryOutcome> outcomes;
    for (const auto& i : items) outcomes.push_back(outcome(i, DeliveryResult::kDelivered, kNow));
    store.recordDeliveries(outcomes);
    delivered += items.size();
  }
  return delivered;
}

// Prints rough rates for 1 KB messages at kProcess, stage by stage and with the stages running
// concurrently as in the engine. Asserts only that everything committed (no timing assertions).
TEST_F(SqliteStoreTest, ThroughputReport) {
  constexpr int kMessages = 20000;
  {
    auto store = open();
    Phase p;
    ingest(*store, kMessages, 2);
    p.report("ingest", kMessages);
    Phase r;
    EXPECT_EQ(routeAll(*store, kMessages), static_cast<std::size_t>(kMessages));
    r.report("routing", kMessages);
    Phase d;
    EXPECT_EQ(deliverAll(*store, kMessages), static_cast<std::size_t>(kMessages));
    d.report("delivery", kMessages);
  }
  test::TempDir dir;
  Options o = optionsFor(dir.path());
  auto store = openSqliteStore(o);
  Phase p;
  std::thread router([&] { EXPECT_EQ(routeAll(*store, kMessages), std::size_t{kMessages}); });
  std::thread sender([&] { EXPECT_EQ(deliverAll(*store, kMessages), std::size_t{kMessages}); });
  ingest(*store, kMessages, 2);
  router.join();
  sender.join();
  p.report("pipeline", kMessages);
  EXPECT_EQ(store->queueStats("ehr").delivered, kMessages);
}

}  // namespace
}  // namespace sb::store
