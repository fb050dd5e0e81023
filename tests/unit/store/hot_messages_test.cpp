#include "store/sqlite/hot_messages.h"

#include <gtest/gtest.h>

#include <memory>
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

std::shared_ptr<const std::string> output(std::size_t bytes, char fill = 'o') {
  return std::make_shared<const std::string>(bytes, fill);
}
// What one output of `bytes` weighs (its bytes and a fixed share).
constexpr std::size_t outputWeightOf(std::size_t bytes) {
  return bytes + 128;
}

TEST(HotMessages, OutputsAreFoundByMessageAndEventAndLeaveWithTheirMessage) {
  HotMessages hot(1 << 20);
  hot.add(message(7, 100));
  hot.routed(7);
  hot.addOutput(7, 41, output(10, 'a'));
  hot.addOutput(7, 42, output(20, 'b'));
  hot.addOutput(8, 41, output(30, 'c'));  // another message's event 41 (another day file)
  ASSERT_NE(hot.findOutput(7, 41), nullptr);
  EXPECT_EQ(*hot.findOutput(7, 41), std::string(10, 'a'));
  EXPECT_EQ(*hot.findOutput(7, 42), std::string(20, 'b'));
  EXPECT_EQ(*hot.findOutput(8, 41), std::string(30, 'c'));
  EXPECT_EQ(hot.findOutput(7, 43), nullptr);
  EXPECT_EQ(hot.outputCount(), 3u);
  EXPECT_EQ(hot.bytes(),
            weightOf(100) + outputWeightOf(10) + outputWeightOf(20) + outputWeightOf(30));
  // The summary alone when the sender sends an output, not the raw message.
  auto summaryOnly = hot.find(7, 0, false);
  ASSERT_TRUE(summaryOnly.has_value());
  EXPECT_EQ(summaryOnly->summary.channel, "in");
  EXPECT_EQ(summaryOnly->raw, "");
  hot.erase(7);
  EXPECT_EQ(hot.findOutput(7, 41), nullptr);
  EXPECT_EQ(hot.findOutput(7, 42), nullptr);
  EXPECT_EQ(*hot.findOutput(8, 41), std::string(30, 'c'));
  EXPECT_EQ(hot.bytes(), outputWeightOf(30));
  // The same event again is held once.
  hot.addOutput(8, 41, output(30, 'd'));
  EXPECT_EQ(*hot.findOutput(8, 41), std::string(30, 'c'));
  EXPECT_EQ(hot.bytes(), outputWeightOf(30));
  hot.erase(8);
  EXPECT_EQ(hot.outputCount(), 0u);
  EXPECT_EQ(hot.bytes(), 0u);
}

TEST(HotMessages, AFullBudgetDropsOutputsAndRoutedMessagesLowestIdsFirst) {
  HotMessages hot(weightOf(100) * 2 + outputWeightOf(100));
  hot.add(message(1, 100));
  hot.routed(1);
  hot.addOutput(2, 5, output(100));
  hot.add(message(3, 100));
  hot.routed(3);
  hot.add(message(4, 100));  // drops message 1 (id 1 before output of message 2)
  EXPECT_FALSE(hot.find(1, 0).has_value());
  EXPECT_NE(hot.findOutput(2, 5), nullptr);
  hot.addOutput(4, 9, output(100));  // drops the output of message 2 (id 2 before routed 3)
  EXPECT_EQ(hot.findOutput(2, 5), nullptr);
  EXPECT_TRUE(hot.find(3, 0).has_value());
  EXPECT_NE(hot.findOutput(4, 9), nullptr);
  hot.add(message(5, 100));  // drops routed message 3 (id 3 before the output of message 4)
  EXPECT_FALSE(hot.find(3, 0).has_value());
  EXPECT_NE(hot.findOutput(4, 9), nullptr);
  EXPECT_EQ(hot.bytes(), 2 * weightOf(100) + outputWeightOf(100));
  // 4 and 5 wait for routing and cannot be dropped: an output that cannot fit beside them is
  // not held, and nothing is dropped for it.
  hot.addOutput(5, 1, output(1000));
  EXPECT_EQ(hot.findOutput(5, 1), nullptr);
  EXPECT_NE(hot.findOutput(4, 9), nullptr);
  EXPECT_TRUE(hot.find(4, 0).has_value());
  EXPECT_TRUE(hot.find(5, 0).has_value());
  EXPECT_EQ(hot.bytes(), 2 * weightOf(100) + outputWeightOf(100));
}

// Something that cannot fit beside the messages waiting for routing drops nothing.
TEST(HotMessages, WhatCannotFitDropsNothing) {
  HotMessages hot(2 * weightOf(100));
  hot.add(message(1, 100));
  hot.routed(1);
  hot.add(message(2, 100));
  hot.add(message(3, 2 * weightOf(100)));  // larger than the budget less message 2
  hot.addOutput(2, 1, output(2 * weightOf(100)));
  EXPECT_TRUE(hot.find(1, 0).has_value());
  EXPECT_TRUE(hot.find(2, 0).has_value());
  EXPECT_FALSE(hot.find(3, 0).has_value());
  EXPECT_EQ(hot.findOutput(2, 1), nullptr);
  EXPECT_EQ(hot.bytes(), 2 * weightOf(100));
}

}  // namespace
}  // namespace sb::store::sqlite
