// End to end with the real binary: MLLP in, store, route, deliver; order kept; outages survived;
// dead letters reprocessed.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "parsers/hl7v2/hl7v2.h"
#include "tests/e2e/e2e_support.h"

namespace sb::e2e {
namespace {

using namespace std::chrono_literals;

std::string fileConfig(unsigned short port) {
  return fmt::format(R"(
channel "in" {{ type = "mllp", listen = "127.0.0.1:{}" }}
destination "folder" {{ type = "file", directory = "out", filename = "{{seq}}_{{control_id}}.hl7" }}
route "all" {{ from = "in", to = "folder" }}
)",
                     port);
}

std::string mllpConfig(unsigned short port, unsigned short downstream, int maxAttempts) {
  return fmt::format(R"(
channel "in" {{ type = "mllp", listen = "127.0.0.1:{}" }}
destination "lab" {{
  type = "mllp", connect = "127.0.0.1:{}", connect_timeout = 1, response_timeout = 2,
  retry = {{ max_attempts = {}, initial_backoff = 0.05, max_backoff = 0.3, jitter = 0.1 }},
}}
route "all" {{ from = "in", to = "lab" }}
)",
                     port, downstream, maxAttempts);
}

// Sends `perConnection` ADT messages on each of `connections` MLLP connections at once, control
// ids "<prefix><connection>-<nnnn>", each waiting for its ACK; returns how many got AA.
int sendConcurrently(unsigned short port, char prefix, int connections, int perConnection) {
  std::vector<std::thread> senders;
  std::atomic<int> accepted{0};
  for (int c = 0; c < connections; ++c) {
    senders.emplace_back([&, c] {
      mllp::ClientOptions o;
      o.port = port;
      mllp::Client client(o);
      for (int i = 0; i < perConnection; ++i) {
        const auto ack =
            hl7::readAck(client.exchange(adtMessage(fmt::format("{}{}-{:04d}", prefix, c, i))));
        if (ack && ack->code == "AA") ++accepted;
      }
    });
  }
  for (auto& t : senders) t.join();
  return accepted.load();
}

TEST(EndToEnd, ThousandMessagesOverFourConnectionsAllDeliveredInOrderPerConnection) {
  const auto port = test::freePort();
  Engine engine(fileConfig(port));
  engine.waitPort(port);
  engine.start();

  constexpr int kConnections = 4;
  constexpr int kPerConnection = 250;
  EXPECT_EQ(sendConcurrently(port, 'C', kConnections, kPerConnection),
            kConnections * kPerConnection);

  const auto out = engine.dataDir() / "out";
  ASSERT_TRUE(test::waitFor([&] { return listFiles(out).size() == 1000; }, 60s))
      << "delivered " << listFiles(out).size();
  // Files are named by queue position: within each connection the control ids must ascend.
  std::map<int, int> lastPerConnection;
  for (const auto& f : listFiles(out)) {
    const std::string control = controlIdOf(test::readFile(f));
    ASSERT_EQ(control.size(), 7u) << f;
    const int conn = control[1] - '0';
    const int seq = std::stoi(control.substr(3));
    auto [it, inserted] = lastPerConnection.emplace(conn, seq);
    if (!inserted) {
      EXPECT_GT(seq, it->second) << "out of order on connection " << conn;
      it->second = seq;
    }
  }
  EXPECT_EQ(lastPerConnection.size(), 4u);
  const auto delivered =
      engine.cli({"messages", "--status", "delivered", "--limit", "2000", "--json"});
  EXPECT_EQ(delivered.exitCode, 0);
  std::size_t count = 0;
  for (std::size_t p = delivered.out.find("\"id\":"); p != std::string::npos;
       p = delivered.out.find("\"id\":", p + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1000u);
}

TEST(EndToEnd, DestinationDownThenBackReceivesEverythingInOrder) {
  const auto port = test::freePort();
  const auto downstreamPort = test::freePort();
  Engine engine(mllpConfig(port, downstreamPort, 1000));
  engine.waitPort(port);
  engine.start();

  mllp::ClientOptions o;
  o.port = port;
  mllp::Client client(o);
  std::vector<std::string> sent;
  for (int i = 0; i < 40; ++i) {
    sent.push_back(fmt::format("DOWN-{:03d}", i));
    ASSERT_EQ(hl7::readAck(client.exchange(adtMessage(sent.back())))->code, "AA");
  }
  // The destination is down: attempts fail and are recorded.
  ASSERT_TRUE(test::waitFor(
      [&] {
        auto r = engine.cli({"messages", "show", "1", "--json"});
        return r.out.find("\"outcome\":\"retry\"") != std::string::npos;
      },
      30s));
  Receiver receiver(downstreamPort);
  // More traffic while it recovers.
  for (int i = 40; i < 60; ++i) {
    sent.push_back(fmt::format("DOWN-{:03d}", i));
    ASSERT_EQ(hl7::readAck(client.exchange(adtMessage(sent.back())))->code, "AA");
  }
  ASSERT_TRUE(test::waitFor([&] { return receiver.count() >= sent.size(); }, 60s))
      << receiver.count();
  std::vector<std::string> got;
  for (const auto& m : receiver.received()) got.push_back(controlIdOf(m));
  EXPECT_EQ(got, sent);
}

TEST(EndToEnd, FailingDestinationDeadLettersAndReprocessBringsMessagesBack) {
  const auto port = test::freePort();
  Receiver receiver;
  receiver.setAnswer("AR");  // on_ar defaults to "dead"
  Engine engine(mllpConfig(port, receiver.port(), 3));
  engine.waitPort(port);
  engine.start();
  mllp::ClientOptions o;
  o.port = port;
  mllp::Client client(o);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(hl7::readAck(client.exchange(adtMessage(fmt::format("DL-{}", i))))->code, "AA");
  }
  ASSERT_TRUE(test::waitFor(
      [&] {
        auto r = engine.cli({"messages", "--status", "error", "--json"});
        return std::count(r.out.begin(), r.out.end(), '{') == 5;
      },
      30s));
  auto shown = engine.cli({"messages", "show", "1", "--json"});
  EXPECT_NE(shown.out.find("\"status\":\"dead\""), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("peer answered AR"), std::string::npos) << shown.out;
  EXPECT_EQ(receiver.count(), 0u);

  receiver.setAnswer("AA");
  auto r = engine.cli({"reprocess", "--dead-letter", "lab"});
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.out, "5 dead-lettered message(s) of lab requeued\n");
  ASSERT_TRUE(test::waitFor([&] { return receiver.count() == 5; }, 30s)) << receiver.count();
  std::vector<std::string> got;
  for (const auto& m : receiver.received()) got.push_back(controlIdOf(m));
  EXPECT_EQ(got, (std::vector<std::string>{"DL-0", "DL-1", "DL-2", "DL-3", "DL-4"}));
  ASSERT_TRUE(test::waitFor(
      [&] {
        auto d = engine.cli({"messages", "--status", "delivered", "--json"});
        return std::count(d.out.begin(), d.out.end(), '{') == 5;
      },
      30s));
}

TEST(EndToEnd, ReprocessByIdDeliversAgain) {
  const auto port = test::freePort();
  Engine engine(fileConfig(port));
  engine.waitPort(port);
  engine.start();
  mllp::ClientOptions o;
  o.port = port;
  mllp::Client client(o);
  ASSERT_EQ(hl7::readAck(client.exchange(adtMessage("REPRO-1")))->code, "AA");
  const auto out = engine.dataDir() / "out";
  ASSERT_TRUE(test::waitFor([&] { return listFiles(out).size() == 1; }, 30s));
  auto r = engine.cli({"reprocess", "1"});
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.out, "1 of 1 message(s) queued for routing again\n");
  // A new queue entry (new position) means a second file with the same control id.
  ASSERT_TRUE(test::waitFor([&] { return listFiles(out).size() == 2; }, 30s));
  for (const auto& f : listFiles(out)) EXPECT_EQ(controlIdOf(test::readFile(f)), "REPRO-1");
  auto missing = engine.cli({"reprocess", "999999"});
  EXPECT_EQ(missing.exitCode, 1);
  EXPECT_EQ(missing.out, "0 of 1 message(s) queued for routing again\n");
}

// `switchboard reprocess` is another process writing the same store while the engine takes
// traffic (its journal, folds, routing and deliveries all running): the reprocessed messages are
// delivered a second time, everything received meanwhile once, nothing is lost or doubled.
TEST(EndToEnd, ReprocessWhileFourConnectionsSendDeliversEachOnceMoreAndLosesNothing) {
  const auto port = test::freePort();
  Engine engine(fileConfig(port));
  engine.waitPort(port);
  engine.start();
  constexpr int kFirst = 40;
  EXPECT_EQ(sendConcurrently(port, 'R', 1, kFirst), kFirst);
  const auto out = engine.dataDir() / "out";
  ASSERT_TRUE(test::waitFor([&] { return listFiles(out).size() == kFirst; }, 60s));

  constexpr int kConnections = 4;
  constexpr int kPerConnection = 150;
  std::atomic<int> accepted{0};
  std::thread load([&] { accepted = sendConcurrently(port, 'L', kConnections, kPerConnection); });
  std::vector<std::string> reprocess{"reprocess"};
  for (int id = 1; id <= kFirst; ++id) reprocess.push_back(std::to_string(id));
  // Once the load is under way (some of it stored), not before.
  ASSERT_TRUE(test::waitFor([&] { return listFiles(out).size() >= kFirst + 20; }, 60s));
  const auto r = engine.cli(reprocess);
  load.join();
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_EQ(r.out, fmt::format("{0} of {0} message(s) queued for routing again\n", kFirst));
  EXPECT_EQ(accepted.load(), kConnections * kPerConnection);

  const std::size_t expected = 2 * kFirst + kConnections * kPerConnection;
  ASSERT_TRUE(test::waitFor([&] { return listFiles(out).size() >= expected; }, 60s))
      << "delivered " << listFiles(out).size() << " of " << expected;
  std::map<std::string, int> copies;
  for (const auto& f : listFiles(out)) ++copies[controlIdOf(test::readFile(f))];
  EXPECT_EQ(copies.size(), static_cast<std::size_t>(kFirst + kConnections * kPerConnection));
  for (const auto& [control, n] : copies) {
    EXPECT_EQ(n, control[0] == 'R' ? 2 : 1) << control;
  }
  EXPECT_EQ(listFiles(out).size(), expected);
  const auto delivered =
      engine.cli({"messages", "--status", "delivered", "--limit", "2000", "--json"});
  EXPECT_EQ(std::count(delivered.out.begin(), delivered.out.end(), '{'),
            kFirst + kConnections * kPerConnection);
}

TEST(EndToEnd, FilteredMessagesKeepTheReason) {
  const auto port = test::freePort();
  Engine engine(fmt::format(R"(
channel "in" {{ type = "mllp", listen = "127.0.0.1:{}" }}
destination "folder" {{ type = "file", directory = "out" }}
route "labs_only" {{ from = "in", filter = {{ message_type = "ORU" }}, to = "folder" }}
)",
                            port));
  engine.waitPort(port);
  engine.start();
  mllp::ClientOptions o;
  o.port = port;
  mllp::Client client(o);
  ASSERT_EQ(hl7::readAck(client.exchange(adtMessage("FILT-1")))->code, "AA");
  ASSERT_TRUE(test::waitFor(
      [&] {
        auto r = engine.cli({"messages", "--status", "filtered", "--json"});
        return r.out.find("FILT-1") != std::string::npos;
      },
      30s));
  auto shown = engine.cli({"messages", "show", "1", "--json"});
  EXPECT_NE(shown.out.find("message type 'ADT' not in [ORU]"), std::string::npos) << shown.out;
}

// Lua on four route workers through the real binary: message scripts of very uneven cost finish
// out of order, yet the downstream peer receives each connection's messages in the order sent,
// each once.
TEST(EndToEnd, FourRouteWorkersWithUnevenLuaKeepTheOrderOfEachConnection) {
  const auto port = test::freePort();
  Receiver receiver;
  Engine engine(fmt::format(R"(
engine {{ route_workers = 4, script_folders = {{ "scripts" }} }}
channel "in" {{ type = "mllp", listen = "127.0.0.1:{}" }}
destination "lab" {{ type = "mllp", connect = "127.0.0.1:{}" }}
route "uneven" {{ from = "in", transform = "uneven.lua", to = "lab" }}
)",
                            port, receiver.port()));
  test::writeFile(engine.dir() / "scripts/uneven.lua", R"(
return function(msg)
  local id = msg:get("MSH-10")
  local n = tonumber(id:sub(4))
  local x = 0
  for i = 1, ((n * 7919) % 101) * 500 do x = x + i % 7 end
  return msg
end
)");
  engine.waitPort(port);
  engine.start();
  constexpr int kConnections = 4;
  constexpr int kPerConnection = 200;
  ASSERT_EQ(sendConcurrently(port, 'W', kConnections, kPerConnection),
            kConnections * kPerConnection);
  ASSERT_TRUE(test::waitFor(
      [&] { return receiver.count() >= static_cast<std::size_t>(kConnections * kPerConnection); },
      120s))
      << receiver.count();
  std::map<int, std::vector<int>> perConnection;
  for (const auto& m : receiver.received()) {
    const std::string control = controlIdOf(m);
    ASSERT_EQ(control.size(), 7u) << control;
    perConnection[control[1] - '0'].push_back(std::stoi(control.substr(3)));
  }
  std::vector<int> expected(kPerConnection);
  for (int i = 0; i < kPerConnection; ++i) expected[i] = i;
  ASSERT_EQ(perConnection.size(), static_cast<std::size_t>(kConnections));
  for (const auto& [c, got] : perConnection) EXPECT_EQ(got, expected) << "connection " << c;
}

}  // namespace
}  // namespace sb::e2e
