#include "store/sqlite/hot_messages.h"

#include <gtest/gtest.h>

#include <string>

namespace sb::store::sqlite {
namespace {

StoredMessage message(MessageId id, std::size_t rawBytes, int generation = 0) {
  StoredMessage m;
  m.summary.id = id;
  m.summary.channel = "in";
  m.summary.generation = generation;
  m.raw = std::string(rawBytes, 'x');
  return m;
}

// What one message of `rawBytes` weighs against the budget (raw, the channel, the fixed share).
constexpr std::size_t weightOf(std::size_t rawBytes) {
  return rawBytes + 2 + 512;
}

TEST(HotMessages, FindsWhatWasAddedAtItsGenerationOnly) {
  HotMessages hot(1 << 20);
  hot.add(message(7, 100));
  auto found = hot.find(7, 0);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->summary.id, 7);
  EXPECT_EQ(found->raw, std::string(100, 'x'));
  EXPECT_FALSE(hot.find(7, 1).has_value());  // reprocessed since: read from the store
  EXPECT_FALSE(hot.find(8, 0).has_value());
  hot.erase(7);
  EXPECT_FALSE(hot.find(7, 0).has_value());
  EXPECT_EQ(hot.size(), 0u);
  EXPECT_EQ(hot.bytes(), 0u);
}

TEST(HotMessages, RoutedMessagesAreStillFound) {
  HotMessages hot(1 << 20);
  hot.add(message(1, 10));
  hot.routed(1);
  hot.routed(2);  // not held: nothing happens
  ASSERT_TRUE(hot.find(1, 0).has_value());
  EXPECT_EQ(hot.bytes(), weightOf(10));
  hot.erase(1);
  EXPECT_EQ(hot.bytes(), 0u);
}

// Under a routing backlog the router reads the oldest waiting message next: a full cache makes
// room by dropping routed messages (lowest ids first), never waiting ones; when only waiting
// ones are left, the new message is not taken in.
TEST(HotMessages, AFullBudgetDropsRoutedMessagesFirstThenRefusesNewOnes) {
  HotMessages hot(3 * weightOf(100));
  hot.add(message(1, 100));
  hot.add(message(2, 100));
  hot.add(message(3, 100));
  hot.routed(1);
  hot.routed(2);
  hot.add(message(4, 100));  // drops routed 1
  EXPECT_FALSE(hot.find(1, 0).has_value());
  EXPECT_TRUE(hot.find(2, 0).has_value());
  hot.add(message(5, 100));  // drops routed 2
  EXPECT_FALSE(hot.find(2, 0).has_value());
  hot.add(message(6, 100));  // 3, 4, 5 wait for routing: 6 is left to the store
  EXPECT_FALSE(hot.find(6, 0).has_value());
  EXPECT_TRUE(hot.find(3, 0).has_value());
  EXPECT_TRUE(hot.find(4, 0).has_value());
  EXPECT_TRUE(hot.find(5, 0).has_value());
  EXPECT_EQ(hot.size(), 3u);
  EXPECT_EQ(hot.bytes(), 3 * weightOf(100));
}

TEST(HotMessages, AMessageLargerThanTheBudgetIsNotKept) {
  HotMessages hot(1000);
  hot.add(message(1, 2000));
  EXPECT_FALSE(hot.find(1, 0).has_value());
  EXPECT_EQ(hot.bytes(), 0u);
}

}  // namespace
}  // namespace sb::store::sqlite
