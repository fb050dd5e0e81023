// A destination's delivery worker against a real SQLite store and a real file destination: a
// transform output kept once, as the step's event in the day file, is what gets delivered, and
// an entry whose event is gone is dead-lettered with the reason instead of sent empty.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "channels/file/file_sender.h"
#include "engine/engine.h"
#include "engine/plan.h"
#include "store/sqlite/db.h"
#include "store/sqlite/sqlite_store.h"
#include "tests/support/test_support.h"

namespace sb {
namespace {

constexpr const char* kPatient = R"({"resourceType":"Patient","id":"p1"})";

class DeliveryWorkerTest : public ::testing::Test {
 protected:
  std::unique_ptr<store::MessageStore> open() {
    store::Options o;
    o.dataDir = dir_.path() / "data";
    return store::openSqliteStore(o);
  }
  // Stores one message routed through a transform whose output goes to "pms"; the store is
  // closed again, so what the worker sends later comes from the files.
  store::MessageId routeOneThroughATransform() {
    auto s = open();
    store::InboundRecord r;
    r.channel = "adt-in";
    r.receivedAt = store::nowMillis();
    r.raw = "MSH|^~\\&|APP|FAC|||20261208||ADT^A01|C1|P|2.5\r";
    r.controlId = "C1";
    const store::MessageId id = s->insertInbound(r);
    store::RoutingOutcome o;
    o.messageId = id;
    o.decisions = {{"adt", true, "filter passed"}};
    o.steps = {{"adt", "mappings/adt.lua:patient", kPatient}};
    o.enqueue = {{"pms", std::string(kPatient)}};
    s->recordRouting({o});
    s->close();
    return id;
  }
  // Runs the worker until the entry is no longer pending (or 20 s pass).
  void deliver(store::MessageStore& s) {
    engine::DestinationPlan plan;
    plan.name = "pms";
    plan.type = "file";
    plan.sender = std::make_unique<channels::file::FileSender>(
        channels::file::FileSenderOptions{out_, "{id}.json", false});
    engine::DeliveryWorker worker(plan, s);
    worker.start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (s.queueStats("pms").pending > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    worker.stop();
  }
  test::TempDir dir_;
  std::filesystem::path out_ = dir_.path() / "out";
};

TEST_F(DeliveryWorkerTest, TheOutputKeptAsItsEventIsWhatIsDelivered) {
  const store::MessageId id = routeOneThroughATransform();
  auto s = open();
  deliver(*s);
  EXPECT_EQ(test::readFile(out_ / "000000000001.json"), kPatient);
  const auto d = s->get(id);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->queue.size(), 1u);
  EXPECT_EQ(d->queue[0].status, store::QueueStatus::kDelivered);
  EXPECT_EQ(d->message.summary.status, store::MessageStatus::kDelivered);
}

TEST_F(DeliveryWorkerTest, AnEntryWhoseOutputEventIsGoneIsDeadLetteredWithTheReason) {
  const store::MessageId id = routeOneThroughATransform();
  {
    std::filesystem::path day;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path() / "data")) {
      if (e.path().filename().string().rfind("messages-", 0) == 0 &&
          e.path().extension() == ".db") {
        day = e.path();
      }
    }
    ASSERT_FALSE(day.empty());
    store::sqlite::Db db(day, store::sqlite::Db::Mode::kReadWrite);
    db.exec("DELETE FROM events WHERE step = 'transform'");
  }
  auto s = open();
  deliver(*s);
  EXPECT_FALSE(std::filesystem::exists(out_ / "000000000001.json"));
  const auto d = s->get(id);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->queue.size(), 1u);
  EXPECT_EQ(d->queue[0].status, store::QueueStatus::kDead);
  EXPECT_EQ(d->queue[0].attempts, 1);
  EXPECT_EQ(d->queue[0].lastError,
            "the transform output this entry sends (event 2 of message 1) is not in the "
            "message's day file");
  EXPECT_EQ(d->message.summary.status, store::MessageStatus::kError);
}

}  // namespace
}  // namespace sb
