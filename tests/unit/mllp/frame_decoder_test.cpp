#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "channels/mllp/mllp.h"

namespace sb::mllp {
namespace {

using Kind = FrameDecoder::Event::Kind;

std::vector<FrameDecoder::Event> feedAll(FrameDecoder& decoder, std::string_view data) {
  std::vector<FrameDecoder::Event> events;
  decoder.feed(data, events);
  return events;
}

TEST(FrameDecoder, FrameWrapsPayload) {
  EXPECT_EQ(frame("MSH|x"), std::string("\x0bMSH|x\x1c\x0d"));
}

TEST(FrameDecoder, SingleFrame) {
  FrameDecoder decoder(1024);
  auto events = feedAll(decoder, frame("MSH|^~\\&|A\rPID|1"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kFrame);
  EXPECT_EQ(events[0].bytes, "MSH|^~\\&|A\rPID|1");
  EXPECT_FALSE(decoder.inFrame());
  EXPECT_EQ(decoder.bufferedBytes(), 0u);
}

TEST(FrameDecoder, EmptyFrame) {
  FrameDecoder decoder(16);
  auto events = feedAll(decoder, frame(""));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kFrame);
  EXPECT_EQ(events[0].bytes, "");
}

TEST(FrameDecoder, SplitByteByByte) {
  FrameDecoder decoder(1024);
  const std::string wire = frame("MSH|first") + frame("MSH|second");
  std::vector<FrameDecoder::Event> events;
  for (char c : wire) decoder.feed(std::string_view(&c, 1), events);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kFrame);
  EXPECT_EQ(events[0].bytes, "MSH|first");
  EXPECT_EQ(events[1].bytes, "MSH|second");
  EXPECT_FALSE(decoder.inFrame());
}

TEST(FrameDecoder, InFrameAndBufferedWhilePartial) {
  FrameDecoder decoder(1024);
  auto events = feedAll(decoder, "\x0bMSH|abc");
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(decoder.inFrame());
  EXPECT_EQ(decoder.bufferedBytes(), 7u);
  EXPECT_EQ(decoder.takePartial(), "MSH|abc");
  EXPECT_FALSE(decoder.inFrame());
  EXPECT_EQ(decoder.bufferedBytes(), 0u);
  // The decoder is usable again after takePartial().
  events = feedAll(decoder, frame("next"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].bytes, "next");
}

TEST(FrameDecoder, MultipleFramesInOneFeed) {
  FrameDecoder decoder(1024);
  auto events = feedAll(decoder, frame("a") + frame("bb") + frame("ccc"));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].bytes, "a");
  EXPECT_EQ(events[1].bytes, "bb");
  EXPECT_EQ(events[2].bytes, "ccc");
}

TEST(FrameDecoder, JunkBeforeAndBetweenFrames) {
  FrameDecoder decoder(1024);
  auto events = feedAll(decoder, "xyz" + frame("a") + "\n\n" + frame("b") + "tail");
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].kind, Kind::kJunk);
  EXPECT_EQ(events[0].bytes, "xyz");
  EXPECT_EQ(events[1].kind, Kind::kFrame);
  EXPECT_EQ(events[1].bytes, "a");
  EXPECT_EQ(events[2].kind, Kind::kJunk);
  EXPECT_EQ(events[2].bytes, "\n\n");
  EXPECT_EQ(events[3].bytes, "b");
  EXPECT_EQ(events[4].kind, Kind::kJunk);  // reported at the end of the feed
  EXPECT_EQ(events[4].bytes, "tail");
}

TEST(FrameDecoder, OversizedKeepsPrefixAndCountsTotal) {
  FrameDecoder decoder(10);
  const std::string big(25, 'x');
  std::vector<FrameDecoder::Event> events;
  const std::string wire = frame("0123456789" + big) + frame("ok");
  // Split in odd places so that the size check crosses feed boundaries.
  decoder.feed(std::string_view(wire).substr(0, 7), events);
  decoder.feed(std::string_view(wire).substr(7, 13), events);
  EXPECT_TRUE(decoder.inFrame());
  decoder.feed(std::string_view(wire).substr(20), events);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kOversized);
  EXPECT_EQ(events[0].bytes, "0123456789");
  EXPECT_EQ(events[0].totalBytes, 35u);
  EXPECT_EQ(events[1].kind, Kind::kFrame);
  EXPECT_EQ(events[1].bytes, "ok");
}

TEST(FrameDecoder, FrameOfExactlyMaxIsNotOversized) {
  FrameDecoder decoder(5);
  auto events = feedAll(decoder, frame("12345") + frame("123456"));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kFrame);
  EXPECT_EQ(events[1].kind, Kind::kOversized);
  EXPECT_EQ(events[1].bytes, "12345");
  EXPECT_EQ(events[1].totalBytes, 6u);
}

TEST(FrameDecoder, TruncatedOversizedGivesKeptPrefix) {
  FrameDecoder decoder(4);
  auto events = feedAll(decoder,
                        "\x0b"
                        "abcdefgh");
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(decoder.inFrame());
  EXPECT_EQ(decoder.takePartial(), "abcd");
}

// Decision: the frame ends at 0x1C. A missing 0x0D is tolerated (some senders omit it): the
// frame is delivered and the next byte is read as outside a frame.
TEST(FrameDecoder, MissingCarriageReturnAfterEndBlock) {
  FrameDecoder decoder(1024);
  auto events = feedAll(decoder, std::string("\x0b"
                                             "a\x1c") +
                                     std::string("\x0b"
                                                 "b\x1c\x0d"));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].bytes, "a");
  EXPECT_EQ(events[1].bytes, "b");
}

TEST(FrameDecoder, FrameDeliveredBeforeItsCarriageReturnArrives) {
  FrameDecoder decoder(1024);
  auto events = feedAll(decoder,
                        "\x0b"
                        "a\x1c");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].bytes, "a");
  EXPECT_FALSE(decoder.inFrame());
  // The 0x0D arriving later is the trailer, not junk.
  events = feedAll(decoder, "\x0d");
  EXPECT_TRUE(events.empty());
}

TEST(FrameDecoder, OtherByteAfterEndBlockIsJunk) {
  FrameDecoder decoder(1024);
  auto events = feedAll(decoder,
                        "\x0b"
                        "a\x1cZZ");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kFrame);
  EXPECT_EQ(events[1].kind, Kind::kJunk);
  EXPECT_EQ(events[1].bytes, "ZZ");
}

TEST(FrameDecoder, StartBlockInsideFrameIsPayload) {
  FrameDecoder decoder(1024);
  auto events = feedAll(decoder,
                        "\x0b"
                        "a\x0b"
                        "b\x1c\x0d");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].bytes,
            "a\x0b"
            "b");
}

TEST(FrameDecoder, LargeFrameInChunks) {
  FrameDecoder decoder(4 * 1024 * 1024);
  std::string payload(3 * 1024 * 1024, 'p');
  const std::string wire = frame(payload);
  std::vector<FrameDecoder::Event> events;
  for (std::size_t pos = 0; pos < wire.size(); pos += 65536) {
    decoder.feed(std::string_view(wire).substr(pos, 65536), events);
  }
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].bytes.size(), payload.size());
}

}  // namespace
}  // namespace sb::mllp
