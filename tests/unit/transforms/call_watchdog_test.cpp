// The watchdog on its own: arming runs on the calling thread once a call passes its delay, is
// repeated until confirmed, stops with the call, and treats a nested call as part of the outer.
#include "transforms/lua/call_watchdog.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace sb::transforms {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Armings {
  std::atomic<int> count{0};
  std::atomic<pthread_t> thread{};
};

void recordArming(void* context) {  // runs in the signal handler
  auto* a = static_cast<Armings*>(context);
  a->thread.store(pthread_self());
  a->count.fetch_add(1);
}

// Busy-waits on this thread (signals interrupt it) until `done` or a generous deadline.
template <typename Done>
bool spinUntil(Done done, std::chrono::seconds limit = 10s) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline) return false;
  }
  return true;
}

TEST(CallWatch, ArmsTheCallingThreadAndRepeatsUntilConfirmed) {
  Armings armings;
  CallWatch watch(recordArming, &armings);
  watch.begin(1ms);
  // Not confirmed: armed again at the following ticks.
  ASSERT_TRUE(spinUntil([&] { return armings.count.load() >= 3; })) << armings.count.load();
  EXPECT_TRUE(pthread_equal(armings.thread.load(), pthread_self()));
  watch.confirmCounting();
  const int confirmedAt = armings.count.load();
  const auto quiet = Clock::now() + 100ms;
  spinUntil([&] { return Clock::now() > quiet; });
  // At most a signal already on its way when the confirmation came.
  EXPECT_LE(armings.count.load(), confirmedAt + 1);
  watch.end();
}

TEST(CallWatch, EndedCallsAreNotArmed) {
  Armings armings;
  CallWatch watch(recordArming, &armings);
  watch.begin(30s);
  watch.end();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(armings.count.load(), 0);
  // A call that ends before its delay is never armed; the next one is, once it runs long.
  watch.begin(1ms);
  ASSERT_TRUE(spinUntil([&] { return armings.count.load() >= 1; }));
  watch.end();
  const int after = armings.count.load();
  std::this_thread::sleep_for(50ms);
  EXPECT_LE(armings.count.load(), after + 1);
}

TEST(CallWatch, ANestedCallIsPartOfTheOuterOne) {
  Armings armings;
  CallWatch watch(recordArming, &armings);
  watch.begin(1ms);
  watch.begin(1ms);
  watch.end();  // the inner call ends; the outer still runs and is still watched
  ASSERT_TRUE(spinUntil([&] { return armings.count.load() >= 1; }));
  watch.end();
}

}  // namespace
}  // namespace sb::transforms
