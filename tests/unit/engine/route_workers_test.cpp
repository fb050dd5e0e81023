// Routing on several route workers (one Lua state each), in-process with the real SQLite store:
// messages whose scripts take very different times still reach every destination queue in the
// order they were received, each exactly once; a runaway script fails only its message; routes
// reloaded under load switch over between batches, never back.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "engine/engine.h"
#include "tests/support/test_support.h"

namespace sb::engine {
namespace {

using namespace std::chrono_literals;

std::string hl7(const std::string& controlId) {
  return fmt::format(
      "MSH|^~\\&|APP|FAC|RAPP|RFAC|20260101120000||ADT^A01^ADT_A01|{}|P|2.5\r"
      "PID|1||123^^^HOSP^MR||DOE^JANE||19800102|F\r",
      controlId);
}

[[gnu::noinline]] store::InboundRecord inbound(const std::string& controlId) {
  store::InboundRecord r;
  r.channel = "in";
  r.peer = "127.0.0.1:1";
  r.receivedAt = store::nowMillis();
  r.raw = hl7(controlId);
  r.messageType = "ADT";
  r.triggerEvent = "A01";
  r.controlId = controlId;
  return r;
}

// The files of a file destination in queue order ({seq} leads the name), and their contents.
std::vector<std::string> contentsInQueueOrder(const std::filesystem::path& folder) {
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(folder)) {
    for (const auto& e : std::filesystem::directory_iterator(folder)) {
      if (e.path().extension() == ".txt") files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(test::readFile(f));
  return out;
}

std::size_t fileCount(const std::filesystem::path& folder) {
  if (!std::filesystem::is_directory(folder)) return 0;
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(folder)) {
    if (e.path().extension() == ".txt") ++n;
  }
  return n;
}

// Names of this process's threads starting with `prefix` (as top -H and perf show them).
std::vector<std::string> threadsNamed(const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::string name = test::readFile(task.path() / "comm");
    while (!name.empty() && name.back() == '\n') name.pop_back();
    if (name.rfind(prefix, 0) == 0) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

class RouteWorkersTest : public ::testing::Test {
 protected:
  std::filesystem::path path(const std::string& name) const { return dir_.path() / name; }

  void script(const std::string& name, const std::string& code) {
    test::writeFile(path(name), code);
  }

  // Route "work" runs `transform` to destination "a"; route "raw" sends the message as it came
  // to destination "b". Files are named by queue position.
  std::string config(int workers, const std::string& transform) const {
    return fmt::format(R"(
engine {{ route_workers = {}, log_level = "error", script_folders = {{ "{}" }} }}
channel "in" {{ type = "mllp", listen = "127.0.0.1:{}" }}
destination "a" {{ type = "file", directory = "{}", filename = "{{seq}}.txt" }}
destination "b" {{ type = "file", directory = "{}", filename = "{{seq}}.txt" }}
route "work" {{ from = "in", transform = "{}", to = "a" }}
route "raw" {{ from = "in", to = "b" }}
)",
                       workers, dir_.path().string(), port_, path("out-a").string(),
                       path("out-b").string(), transform);
  }

  void startEngine(int workers, const std::string& transform) {
    test::writeFile(path("config.lua"), config(workers, transform));
    Overrides overrides;
    overrides.dataDir = path("data");
    engine_ = std::make_unique<Engine>(path("config.lua"), overrides);
  }

  std::size_t countWithStatus(store::MessageStatus status) {
    store::SearchQuery q;
    q.status = status;
    q.limit = 100000;
    return engine_->store().search(q).size();
  }

  test::TempDir dir_;
  unsigned short port_ = test::freePort();
  std::unique_ptr<Engine> engine_;
};

// Uneven work: a message's loop length varies a hundredfold with its number, and every 64th
// runs far longer, so the workers finish out of order. One or two outputs per message (a split).
constexpr const char* kUnevenScript = R"(
return function(msg)
  local id = msg:get("MSH-10")
  local n = tonumber(id:sub(2))
  local rounds = ((n * 7919) % 101) * 200
  if n % 64 == 0 then rounds = rounds + 150000 end
  local x = 0
  for i = 1, rounds do x = x + i % 7 end
  if n % 2 == 1 then
    return { { body = id .. "#1" }, { body = id .. "#2" } }
  end
  return { { body = id .. "#1" } }
end
)";

TEST_F(RouteWorkersTest, FourWorkersKeepTheOrderOfReceiptInEveryQueueAndRouteEachMessageOnce) {
  script("uneven.lua", kUnevenScript);
  startEngine(4, "uneven.lua");
  constexpr int kMessages = 2000;
  std::vector<std::string> expectedA, expectedB;
  for (int n = 1; n <= kMessages; ++n) {
    const std::string id = fmt::format("M{:05d}", n);
    engine_->store().insertInbound(inbound(id));
    expectedA.push_back(id + "#1");
    if (n % 2 == 1) expectedA.push_back(id + "#2");
    expectedB.push_back(hl7(id));
  }
  engine_->start();
  // The router thread is worker 0; three more, named for top -H and perf.
  const std::vector<std::string> helpers{"sb-route-1", "sb-route-2", "sb-route-3"};
  EXPECT_TRUE(test::waitFor([&] { return threadsNamed("sb-route-") == helpers; }, 10s))
      << testing::PrintToString(threadsNamed("sb-route-"));
  ASSERT_TRUE(test::waitFor(
      [&] {
        return fileCount(path("out-a")) >= expectedA.size() &&
               fileCount(path("out-b")) >= expectedB.size();
      },
      180s))
      << fileCount(path("out-a")) << " and " << fileCount(path("out-b")) << " delivered";
  ASSERT_TRUE(test::waitFor(
      [&] { return countWithStatus(store::MessageStatus::kDelivered) == kMessages; }, 30s));
  engine_->stop();
  // Exactly the expected outputs, in the order of receipt: a message routed twice, lost, or
  // recorded in the order the workers finished would show here.
  const auto a = contentsInQueueOrder(path("out-a"));
  const auto b = contentsInQueueOrder(path("out-b"));
  ASSERT_EQ(a.size(), expectedA.size());
  ASSERT_EQ(b.size(), expectedB.size());
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], expectedA[i]) << "queue a at " << i;
  for (std::size_t i = 0; i < b.size(); ++i) ASSERT_EQ(b[i], expectedB[i]) << "queue b at " << i;
  EXPECT_EQ(countWithStatus(store::MessageStatus::kError), 0u);
  EXPECT_EQ(countWithStatus(store::MessageStatus::kReceived), 0u);
  // Each message has exactly its own queue entries: one for "b", one or two parts for "a".
  for (store::MessageId id : {1, 2, 64, 1999, 2000}) {
    const auto detail = engine_->store().get(id);
    ASSERT_TRUE(detail);
    EXPECT_EQ(detail->queue.size(), id % 2 == 1 ? 3u : 2u) << "message " << id;
  }
}

TEST_F(RouteWorkersTest, ARunawayScriptOnOneWorkerFailsOnlyItsMessage) {
  script("runaway.lua", R"(
return function(msg)
  local id = msg:get("MSH-10")
  if id:sub(1, 1) == "L" then
    while true do end
  end
  local x = 0
  for i = 1, (tonumber(id:sub(2)) % 13) * 3000 do x = x + i end
  return id
end
)");
  startEngine(4, "runaway.lua");
  constexpr int kMessages = 300;
  std::vector<std::string> expectedA, expectedB, loops;
  for (int n = 1; n <= kMessages; ++n) {
    const bool loop = n % 25 == 0;
    const std::string id = fmt::format("{}{:05d}", loop ? "L" : "M", n);
    engine_->store().insertInbound(inbound(id));
    if (loop) {
      loops.push_back(id);
    } else {
      expectedA.push_back(id);
      expectedB.push_back(hl7(id));
    }
  }
  engine_->start();
  ASSERT_TRUE(test::waitFor(
      [&] {
        return countWithStatus(store::MessageStatus::kError) == loops.size() &&
               countWithStatus(store::MessageStatus::kDelivered) == expectedA.size();
      },
      180s))
      << countWithStatus(store::MessageStatus::kError) << " errors, "
      << countWithStatus(store::MessageStatus::kDelivered) << " delivered";
  engine_->stop();
  // The failed message goes nowhere (not even to the raw route); the others keep their order.
  EXPECT_EQ(contentsInQueueOrder(path("out-a")), expectedA);
  EXPECT_EQ(contentsInQueueOrder(path("out-b")), expectedB);
  store::SearchQuery q;
  q.status = store::MessageStatus::kError;
  q.limit = 1000;
  const auto failed = engine_->store().search(q);
  ASSERT_EQ(failed.size(), loops.size());
  for (const auto& m : failed) {
    EXPECT_EQ(m.controlId.substr(0, 1), "L") << m.controlId;
    EXPECT_NE(m.error.find("route 'work' transform runaway.lua: "), std::string::npos) << m.error;
    EXPECT_NE(m.error.find("instruction limit exceeded"), std::string::npos) << m.error;
  }
}

TEST_F(RouteWorkersTest, RoutesReloadedUnderLoadSwitchOverBetweenBatchesAndNeverBack) {
  script("v1.lua", "return function(msg) return 'v1 ' .. msg:get('MSH-10') end\n");
  script("v2.lua", "return function(msg) return 'v2 ' .. msg:get('MSH-10') end\n");
  script("broken.lua", "return function(msg)\n  return = 1\nend\n");
  startEngine(4, "v1.lua");
  engine_->start();
  constexpr int kMessages = 1500;
  std::atomic<int> inserted{0};
  std::thread sender([&] {
    for (int n = 1; n <= kMessages; ++n) {
      engine_->store().insertInbound(inbound(fmt::format("M{:05d}", n)));
      engine_->committed();
      ++inserted;
      if (n % 20 == 0) std::this_thread::sleep_for(2ms);
    }
  });
  ASSERT_TRUE(test::waitFor([&] { return inserted.load() >= 300; }, 60s));
  test::writeFile(path("config.lua"), config(4, "v2.lua"));
  EXPECT_TRUE(engine_->reloadRoutes());
  ASSERT_TRUE(test::waitFor([&] { return inserted.load() >= 900; }, 60s));
  // A script that does not load is refused; the running routes (v2) stay.
  test::writeFile(path("config.lua"), config(4, "broken.lua"));
  EXPECT_FALSE(engine_->reloadRoutes());
  sender.join();
  ASSERT_TRUE(test::waitFor(
      [&] { return countWithStatus(store::MessageStatus::kDelivered) == kMessages; }, 120s))
      << countWithStatus(store::MessageStatus::kDelivered) << " delivered";
  engine_->stop();
  const auto a = contentsInQueueOrder(path("out-a"));
  ASSERT_EQ(a.size(), static_cast<std::size_t>(kMessages));
  int v1 = 0, v2 = 0;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_EQ(a[i].substr(3), fmt::format("M{:05d}", i + 1)) << "order or loss at " << i;
    (a[i].rfind("v1 ", 0) == 0 ? v1 : v2)++;
    if (i > 0 && a[i - 1].rfind("v2 ", 0) == 0) {
      ASSERT_EQ(a[i].rfind("v2 ", 0), 0u) << "went back to the old routes at " << i;
    }
  }
  EXPECT_GT(v1, 0);
  EXPECT_GT(v2, 0);
  EXPECT_EQ(contentsInQueueOrder(path("out-b")).size(), static_cast<std::size_t>(kMessages));
}

TEST_F(RouteWorkersTest, OneWorkerRoutesOnTheRouterThreadAlone) {
  script("uneven.lua", kUnevenScript);
  startEngine(1, "uneven.lua");
  std::vector<std::string> expectedA;
  for (int n = 1; n <= 100; ++n) {
    const std::string id = fmt::format("M{:05d}", n);
    engine_->store().insertInbound(inbound(id));
    expectedA.push_back(id + "#1");
    if (n % 2 == 1) expectedA.push_back(id + "#2");
  }
  engine_->start();
  EXPECT_TRUE(test::waitFor([&] { return threadsNamed("sb-router").size() == 1; }, 10s));
  EXPECT_TRUE(threadsNamed("sb-route-").empty());
  ASSERT_TRUE(
      test::waitFor([&] { return countWithStatus(store::MessageStatus::kDelivered) == 100; }, 60s));
  engine_->stop();
  EXPECT_EQ(contentsInQueueOrder(path("out-a")), expectedA);
}

// The parallel map itself: every item exactly once, each worker's calls on its own thread, the
// first exception rethrown to the caller, and the pool reusable after it.
TEST(RouteWorkers, EveryItemOnceOnEveryRoundAndTheFirstErrorIsRethrown) {
  RouteWorkers workers(3);
  const auto caller = std::this_thread::get_id();
  EXPECT_EQ(workers.workers(), 4u);
  for (std::size_t count : {0u, 1u, 2u, 3u, 17u, 1000u}) {
    std::vector<std::atomic<int>> seen(count);
    std::vector<std::thread::id> threadOf(workers.workers());
    std::mutex mutex;
    workers.run(count, [&](std::size_t worker, std::size_t item) {
      ++seen[item];
      std::lock_guard lock(mutex);
      if (threadOf[worker] == std::thread::id{}) threadOf[worker] = std::this_thread::get_id();
      EXPECT_EQ(threadOf[worker], std::this_thread::get_id()) << "worker " << worker;
      // Worker 0 is the caller; the others are the pool's threads.
      EXPECT_EQ(worker == 0, std::this_thread::get_id() == caller) << "worker " << worker;
    });
    for (std::size_t i = 0; i < count; ++i) EXPECT_EQ(seen[i].load(), 1) << count << "/" << i;
  }
  EXPECT_THROW(workers.run(100,
                           [](std::size_t, std::size_t item) {
                             if (item == 42) throw std::runtime_error("boom");
                           }),
               std::runtime_error);
  std::atomic<int> calls{0};
  workers.run(50, [&](std::size_t, std::size_t) { ++calls; });
  EXPECT_EQ(calls.load(), 50);
}

TEST(InFlight, ABatchCountsUntilItsCallbackRunsAndAFailedCommitIsReported) {
  InFlight inFlight;
  store::MessageStore::DoneCallback first, second;
  std::vector<std::string> then;
  inFlight.submit(
      2, [&](store::MessageStore::DoneCallback done) { first = std::move(done); }, "test",
      "first failed", [&] { then.push_back("first"); });
  inFlight.submit(
      2, [&](store::MessageStore::DoneCallback done) { second = std::move(done); }, "test",
      "second failed", [&] { then.push_back("second"); });
  EXPECT_FALSE(inFlight.none());
  // A third batch waits until one of the two in flight is committed.
  std::atomic<bool> thirdSubmitted{false};
  std::thread third([&] {
    inFlight.submit(
        2,
        [&](store::MessageStore::DoneCallback done) {
          thirdSubmitted = true;
          done(nullptr);
        },
        "test", "third failed");
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(thirdSubmitted.load());
  second(std::make_exception_ptr(std::runtime_error("disk full")));
  third.join();
  EXPECT_TRUE(thirdSubmitted.load());
  EXPECT_EQ(then, (std::vector<std::string>{"second"}));  // runs whether committed or not
  EXPECT_TRUE(inFlight.takeFailure());
  EXPECT_FALSE(inFlight.takeFailure());  // taken once
  EXPECT_FALSE(inFlight.none());
  first(nullptr);
  EXPECT_TRUE(inFlight.none());
  EXPECT_FALSE(inFlight.takeFailure());
  EXPECT_EQ(then, (std::vector<std::string>{"second", "first"}));
}

TEST(InFlight, ASubmitThatThrowsCountsAsFinishedAndTheExceptionGoesOn) {
  InFlight inFlight;
  EXPECT_THROW(inFlight.submit(
                   1, [](store::MessageStore::DoneCallback) { throw std::runtime_error("closed"); },
                   "test", "never"),
               std::runtime_error);
  EXPECT_TRUE(inFlight.none());  // otherwise the next submit with limit 1 would wait forever
  EXPECT_TRUE(inFlight.takeFailure());
  bool submitted = false;
  inFlight.submit(
      1,
      [&](store::MessageStore::DoneCallback done) {
        submitted = true;
        done(nullptr);
      },
      "test", "never");
  EXPECT_TRUE(submitted);
  EXPECT_TRUE(inFlight.none());
  // One that calls back and then throws counts once: the count does not go below zero, so a
  // later batch still shows as in flight.
  EXPECT_THROW(inFlight.submit(
                   2,
                   [](store::MessageStore::DoneCallback done) {
                     done(nullptr);
                     throw std::runtime_error("after the callback");
                   },
                   "test", "never"),
               std::runtime_error);
  store::MessageStore::DoneCallback pending;
  inFlight.submit(
      2, [&](store::MessageStore::DoneCallback done) { pending = std::move(done); }, "test",
      "never");
  EXPECT_FALSE(inFlight.none());
  pending(nullptr);
  EXPECT_TRUE(inFlight.none());
}

}  // namespace
}  // namespace sb::engine
