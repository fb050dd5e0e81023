// kill -9 the engine again and again while a client sends: every message that got AA must be
// delivered. Lost messages (must be 0) and re-delivered duplicates (allowed: at-least-once) are
// counted separately and printed.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "parsers/hl7v2/hl7v2.h"
#include "tests/e2e/e2e_support.h"

namespace sb::e2e {
namespace {

using namespace std::chrono_literals;

TEST(Crash, KillNineMidStreamLosesNoAcknowledgedMessage) {
  const auto port = test::freePort();
  Receiver downstream;
  Engine engine(fmt::format(R"(
channel "in" {{ type = "mllp", listen = "127.0.0.1:{}" }}
destination "lab" {{
  type = "mllp", connect = "127.0.0.1:{}",
  retry = {{ max_attempts = 1000, initial_backoff = 0.05, max_backoff = 0.2 }},
}}
route "all" {{ from = "in", to = "lab" }}
)",
                            port, downstream.port()));
  engine.waitPort(port);
  engine.start();

  std::atomic<bool> done{false};
  std::mutex ackedMutex;
  std::set<std::string> acked;
  std::atomic<int> sentCount{0};
  // Two senders; each resends a message until it is acknowledged (like a real interface engine),
  // which is what creates duplicates when the engine died after the commit but before the ACK.
  std::vector<std::thread> senders;
  for (int c = 0; c < 2; ++c) {
    senders.emplace_back([&, c] {
      mllp::ClientOptions o;
      o.port = port;
      o.connectTimeout = 2s;
      o.responseTimeout = 2s;
      mllp::Client client(o);
      int i = 0;
      while (!done) {
        const std::string id = fmt::format("K{}-{:05d}", c, i);
        try {
          const auto ack = client.exchange(adtMessage(id));
          ++sentCount;
          const auto s = hl7::readAck(ack);
          if (s && s->code == "AA") {
            std::lock_guard lock(ackedMutex);
            acked.insert(id);
            ++i;
          }
        } catch (const std::exception&) {
          client.close();
          std::this_thread::sleep_for(20ms);
        }
      }
    });
  }

  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> pause(300, 900);
  constexpr int kKills = 6;
  for (int k = 0; k < kKills; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause(rng)));
    engine.kill9();
    std::this_thread::sleep_for(100ms);
    engine.start();
  }
  std::this_thread::sleep_for(500ms);
  done = true;
  for (auto& t : senders) t.join();

  std::set<std::string> ackedIds;
  {
    std::lock_guard lock(ackedMutex);
    ackedIds = acked;
  }
  ASSERT_GT(ackedIds.size(), 50u) << "the test sent too little to mean anything";
  // Wait until every acknowledged message arrived downstream.
  const auto missing = [&] {
    std::set<std::string> got;
    for (const auto& m : downstream.received()) got.insert(controlIdOf(m));
    std::size_t lost = 0;
    for (const auto& id : ackedIds) lost += got.count(id) ? 0 : 1;
    return lost;
  };
  test::waitFor([&] { return missing() == 0; }, 60s);
  std::map<std::string, int> copies;
  for (const auto& m : downstream.received()) ++copies[controlIdOf(m)];
  std::size_t duplicates = 0;
  for (const auto& [id, n] : copies) duplicates += static_cast<std::size_t>(n - 1);
  const std::size_t lost = missing();
  std::cout << fmt::format(
      "[crash] kills={} acknowledged={} delivered_unique={} lost={} duplicates={}\n", kKills,
      ackedIds.size(), copies.size(), lost, duplicates);
  EXPECT_EQ(lost, 0u);
}

}  // namespace
}  // namespace sb::e2e
