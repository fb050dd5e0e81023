#include "store/message_store.h"

#include <gtest/gtest.h>

namespace sb::store {
namespace {

TEST(MessageStatusNames, RoundTripEveryStatus) {
  const MessageStatus all[] = {MessageStatus::kReceived,  MessageStatus::kRejected,
                               MessageStatus::kFiltered,  MessageStatus::kRouted,
                               MessageStatus::kDelivered, MessageStatus::kError};
  const char* names[] = {"received", "rejected", "filtered", "routed", "delivered", "error"};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(toString(all[i]), names[i]);
    EXPECT_EQ(parseMessageStatus(names[i]), all[i]);
  }
}

TEST(MessageStatusNames, UnknownNameIsRejected) {
  EXPECT_EQ(parseMessageStatus("Received"), std::nullopt);
  EXPECT_EQ(parseMessageStatus(""), std::nullopt);
}

TEST(QueueStatusNames, AllNames) {
  EXPECT_EQ(toString(QueueStatus::kPending), "pending");
  EXPECT_EQ(toString(QueueStatus::kDelivered), "delivered");
  EXPECT_EQ(toString(QueueStatus::kDead), "dead");
}

TEST(NowMillis, IsAfter2020) {
  EXPECT_GT(nowMillis(), 1577836800000);
}

}  // namespace
}  // namespace sb::store
