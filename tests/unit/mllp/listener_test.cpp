#include <gtest/gtest.h>

#include "tests/support/test_support.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "mllp_test_util.h"

namespace sb::mllp {
namespace {

using testing::clientFor;
using testing::IoThreads;
using testing::kWait;
using testing::listenerOptions;
using testing::RawPeer;
using testing::RecordingHandler;

void pause(std::chrono::milliseconds ms) {
  std::this_thread::sleep_for(ms);
}

TEST(MllpListener, PortZeroPicksAFreePort) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), listenerOptions(), handler);
  EXPECT_NE(listener.port(), 0);
}

TEST(MllpListener, BindFailureThrows) {
  IoThreads io;
  RecordingHandler handler;
  Listener first(io.io(), listenerOptions(), handler);
  auto options = listenerOptions();
  options.port = first.port();
  EXPECT_THROW(Listener(io.io(), options, handler), std::runtime_error);
}

TEST(MllpListener, ConcurrentConnectionsGetTheirOwnRepliesInOrder) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), listenerOptions(), handler);
  listener.start();
  constexpr int kClients = 8;
  constexpr int kMessages = 100;
  std::atomic<int> matched{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      Client client(clientFor(listener.port()));
      for (int m = 0; m < kMessages; ++m) {
        const std::string payload = fmt::format("MSH|client{}|{}", c, m);
        if (client.exchange(payload) == "ACK|" + payload) ++matched;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(matched.load(), kClients * kMessages);
  EXPECT_EQ(handler.messageCount(), static_cast<std::size_t>(kClients * kMessages));
}

TEST(MllpListener, PipelinedFramesInOneWriteAreAllAnswered) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), listenerOptions(), handler);
  listener.start();
  RawPeer peer(listener.port());
  std::string wire;
  for (int i = 0; i < 20; ++i) wire += frame(fmt::format("m{}", i));
  peer.write(wire);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(peer.readFrame(), fmt::format("ACK|m{}", i));
}

TEST(MllpListener, FrameSplitOverManyWrites) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), listenerOptions(), handler);
  listener.start();
  RawPeer peer(listener.port());
  const std::string wire = frame("MSH|^~\\&|SPLIT|over|many|writes");
  for (std::size_t pos = 0; pos < wire.size(); pos += 3) {
    peer.write(std::string_view(wire).substr(pos, 3));
    pause(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(peer.readFrame(), "ACK|MSH|^~\\&|SPLIT|over|many|writes");
}

TEST(MllpListener, JunkBetweenFramesIsSkipped) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), listenerOptions(), handler);
  listener.start();
  RawPeer peer(listener.port());
  peer.write("garbage" + frame("one") + "\r\n\r\nmore junk");
  EXPECT_EQ(peer.readFrame(), "ACK|one");
  peer.write("x" + frame("two"));
  EXPECT_EQ(peer.readFrame(), "ACK|two");
  EXPECT_EQ(handler.messageCount(), 2u);
}

TEST(MllpListener, OversizedFrameReportedAndConnectionKeepsWorking) {
  IoThreads io;
  RecordingHandler handler;
  auto options = listenerOptions();
  options.maxMessageBytes = 100;
  Listener listener(io.io(), options, handler);
  listener.start();
  RawPeer peer(listener.port());
  const std::string big = std::string(100, 'a') + std::string(400, 'b');
  peer.write(frame(big));
  EXPECT_EQ(peer.readFrame(), "NAK|too large");
  peer.write(frame("small"));
  EXPECT_EQ(peer.readFrame(), "ACK|small");
  std::lock_guard lock(handler.mutex_);
  ASSERT_EQ(handler.oversized.size(), 1u);
  EXPECT_EQ(handler.oversized[0].first, std::string(100, 'a'));
  EXPECT_EQ(handler.oversized[0].second, 500u);
  EXPECT_EQ(handler.messages, std::vector<std::string>{"small"});
}

TEST(MllpListener, PeerClosingMidFrameReportsTruncated) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), listenerOptions(), handler);
  listener.start();
  {
    RawPeer peer(listener.port());
    peer.write(frame("complete"));
    EXPECT_EQ(peer.readFrame(), "ACK|complete");
    peer.write("\x0bMSH|partial");
    peer.close();
  }
  ASSERT_TRUE(handler.waitUntil([&] { return !handler.truncated.empty(); }));
  EXPECT_EQ(handler.truncated[0], "MSH|partial");
  EXPECT_TRUE(sb::test::waitFor([&] { return listener.connectionCount() == 0; }, kWait));
}

TEST(MllpListener, ReadTimeoutClosesConnectionStalledMidFrame) {
  IoThreads io;
  RecordingHandler handler;
  auto options = listenerOptions();
  options.readTimeout = std::chrono::milliseconds(200);
  Listener listener(io.io(), options, handler);
  listener.start();
  RawPeer peer(listener.port());
  peer.write("\x0bMSH|stalled");
  EXPECT_TRUE(peer.waitClosedByPeer());
  ASSERT_TRUE(handler.waitUntil([&] { return !handler.truncated.empty(); }));
  EXPECT_EQ(handler.truncated[0], "MSH|stalled");
  EXPECT_EQ(handler.messageCount(), 0u);
}

TEST(MllpListener, IdleTimeoutClosesSilentConnection) {
  IoThreads io;
  RecordingHandler handler;
  auto options = listenerOptions();
  options.idleTimeout = std::chrono::milliseconds(200);
  Listener listener(io.io(), options, handler);
  listener.start();
  RawPeer peer(listener.port());
  EXPECT_TRUE(peer.waitClosedByPeer());
  EXPECT_TRUE(sb::test::waitFor([&] { return listener.connectionCount() == 0; }, kWait));
  std::lock_guard lock(handler.mutex_);
  EXPECT_TRUE(handler.truncated.empty());
}

TEST(MllpListener, OutOfOrderRepliesAreWrittenInArrivalOrder) {
  IoThreads io;
  RecordingHandler handler;
  std::mutex repliesMutex;
  std::vector<std::pair<std::string, Reply>> replies;
  handler.onMessageHook = [&](const ConnectionInfo&, std::string payload, Reply reply) {
    std::lock_guard lock(repliesMutex);
    replies.emplace_back(std::move(payload), std::move(reply));
  };
  Listener listener(io.io(), listenerOptions(), handler);
  listener.start();
  Client client(clientFor(listener.port()));
  for (int i = 0; i < 5; ++i) client.sendOnly(fmt::format("m{}", i));
  // Wait for the hook to have stored all five replies (not only for the messages to be seen).
  ASSERT_TRUE(sb::test::waitFor(
      [&] {
        std::lock_guard lock(repliesMutex);
        return replies.size() == 5;
      },
      std::chrono::seconds(10)));
  // Answer newest first, from a thread that is not an io_context thread.
  std::thread answerer([&] {
    std::lock_guard lock(repliesMutex);
    for (auto it = replies.rbegin(); it != replies.rend(); ++it) it->second("ACK|" + it->first);
  });
  answerer.join();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client.receive(), fmt::format("ACK|m{}", i));
}

TEST(MllpListener, EmptyReplySendsNothingButKeepsOrder) {
  IoThreads io;
  RecordingHandler handler;
  handler.onMessageHook = [&](const ConnectionInfo&, std::string payload, Reply reply) {
    reply(payload == "skip" ? std::string() : "ACK|" + payload);
  };
  Listener listener(io.io(), listenerOptions(), handler);
  listener.start();
  Client client(clientFor(listener.port()));
  client.sendOnly("a");
  client.sendOnly("skip");
  client.sendOnly("c");
  EXPECT_EQ(client.receive(), "ACK|a");
  EXPECT_EQ(client.receive(), "ACK|c");
}

TEST(MllpListener, InFlightCapPausesReading) {
  IoThreads io;
  RecordingHandler handler;
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::pair<std::string, Reply>> waiting;
  std::size_t outstanding = 0;
  std::size_t maxOutstanding = 0;
  bool done = false;
  handler.onMessageHook = [&](const ConnectionInfo&, std::string payload, Reply reply) {
    std::lock_guard lock(m);
    ++outstanding;
    maxOutstanding = std::max(maxOutstanding, outstanding);
    waiting.emplace_back(std::move(payload), std::move(reply));
    cv.notify_all();
  };
  auto options = listenerOptions();
  options.maxInFlightPerConnection = 2;
  Listener listener(io.io(), options, handler);
  listener.start();
  // Answers slowly so that the sender's pipeline fills up behind the cap.
  std::thread answerer([&] {
    std::unique_lock lock(m);
    while (true) {
      cv.wait(lock, [&] { return done || !waiting.empty(); });
      if (waiting.empty()) return;
      auto [payload, reply] = std::move(waiting.front());
      waiting.pop_front();
      lock.unlock();
      pause(std::chrono::milliseconds(20));
      lock.lock();
      --outstanding;  // counted before the reply so the next delivery cannot race ahead of it
      lock.unlock();
      reply("ACK|" + payload);
      lock.lock();
    }
  });
  RawPeer peer(listener.port());
  std::string wire;
  for (int i = 0; i < 10; ++i) wire += frame(fmt::format("m{}", i));
  peer.write(wire);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(peer.readFrame(), fmt::format("ACK|m{}", i));
  {
    std::lock_guard lock(m);
    done = true;
  }
  cv.notify_all();
  answerer.join();
  EXPECT_LE(maxOutstanding, 2u);
}

TEST(MllpListener, ReplyAfterClientDisconnectedIsHarmless) {
  IoThreads io;
  RecordingHandler handler;
  std::mutex m;
  std::vector<Reply> kept;
  handler.onMessageHook = [&](const ConnectionInfo&, std::string, Reply reply) {
    std::lock_guard lock(m);
    kept.push_back(std::move(reply));
  };
  auto listener = std::make_unique<Listener>(io.io(), listenerOptions(), handler);
  listener->start();
  for (int i = 0; i < 2; ++i) {
    Client client(clientFor(listener->port()));
    client.sendOnly("m");
  }
  ASSERT_TRUE(sb::test::waitFor(
      [&] {
        std::lock_guard lock(m);
        return kept.size() == 2;
      },
      kWait));
  std::vector<Reply> replies;
  {
    std::lock_guard lock(m);
    replies = kept;
  }
  // The connection waits for its pending reply (the peer may only have half-closed), then
  // fails or finishes writing it to the departed client and goes away.
  replies[0]("ACK|late");
  EXPECT_TRUE(sb::test::waitFor([&] { return listener->connectionCount() <= 1; }, kWait));
  // A reply after the listener itself is gone, from a thread that is not an io thread.
  listener.reset();
  std::thread([&] { replies[1]("ACK|later"); }).join();
  replies[1]("ACK|twice");  // a second call is ignored
}

TEST(MllpListener, WriteTimeoutClosesConnectionToPeerThatDoesNotRead) {
  IoThreads io;
  RecordingHandler handler;
  // Far more than the socket buffers hold, so the write cannot finish while the peer is silent.
  handler.onMessageHook = [&](const ConnectionInfo&, std::string, Reply reply) {
    reply(std::string(32 * 1024 * 1024, 'r'));
  };
  auto options = listenerOptions();
  options.writeTimeout = std::chrono::milliseconds(200);
  Listener listener(io.io(), options, handler);
  listener.start();
  RawPeer peer(listener.port());
  peer.write(frame("m"));
  EXPECT_TRUE(sb::test::waitFor([&] { return listener.connectionCount() == 0; }, kWait));
}

TEST(MllpListener, MaxConnectionsRefusesExtraConnections) {
  IoThreads io;
  RecordingHandler handler;
  auto options = listenerOptions();
  options.maxConnections = 1;
  Listener listener(io.io(), options, handler);
  listener.start();
  Client first(clientFor(listener.port()));
  EXPECT_EQ(first.exchange("one"), "ACK|one");
  Client second(clientFor(listener.port()));
  EXPECT_THROW(second.exchange("two"), TransportError);
  EXPECT_EQ(first.exchange("three"), "ACK|three");
  EXPECT_EQ(listener.connectionCount(), 1u);
}

TEST(MllpListener, StopClosesConnectionsAndAcceptor) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), listenerOptions(), handler);
  listener.start();
  Client client(clientFor(listener.port()));
  EXPECT_EQ(client.exchange("one"), "ACK|one");
  listener.stop();
  EXPECT_EQ(listener.connectionCount(), 0u);
  EXPECT_THROW(client.exchange("two"), TransportError);
  EXPECT_THROW(client.exchange("three"), TransportError);  // reconnect refused: acceptor closed
  EXPECT_EQ(handler.messageCount(), 1u);
}

TEST(MllpListener, StopFromInsideHandlerDoesNotDeadlock) {
  IoThreads io;
  RecordingHandler handler;
  Listener listener(io.io(), listenerOptions(), handler);
  handler.onMessageHook = [&](const ConnectionInfo&, std::string, Reply reply) {
    listener.stop();
    reply("ACK|dropped");
  };
  listener.start();
  RawPeer peer(listener.port());
  peer.write(frame("m"));
  EXPECT_TRUE(peer.waitClosedByPeer());
  EXPECT_EQ(listener.connectionCount(), 0u);
}

TEST(MllpListener, DestroyedWhileIoThreadsRun) {
  IoThreads io;
  RecordingHandler handler;
  std::vector<std::unique_ptr<RawPeer>> peers;
  {
    Listener listener(io.io(), listenerOptions(), handler);
    listener.start();
    for (int i = 0; i < 4; ++i) {
      peers.push_back(std::make_unique<RawPeer>(listener.port()));
      peers.back()->write("\x0bMSH|in progress");
    }
  }
  for (auto& peer : peers) EXPECT_TRUE(peer->waitClosedByPeer());
}

TEST(MllpClient, ConnectFailure) {
  const auto port = sb::test::freePort();
  Client client(clientFor(port));
  try {
    client.exchange("x");
    FAIL() << "expected TransportError";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code, ErrorCode::kTransportConnect);
  }
  EXPECT_FALSE(client.connected());
}

TEST(MllpClient, ResponseTimeoutThenReconnects) {
  IoThreads io;
  RecordingHandler handler;
  handler.onMessageHook = [&](const ConnectionInfo&, std::string payload, Reply reply) {
    if (payload != "ignored") reply("ACK|" + payload);
  };
  Listener listener(io.io(), listenerOptions(), handler);
  listener.start();
  auto options = clientFor(listener.port());
  options.responseTimeout = std::chrono::milliseconds(200);
  Client client(options);
  try {
    client.exchange("ignored");
    FAIL() << "expected TransportError";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code, ErrorCode::kTransportTimeout);
  }
  EXPECT_FALSE(client.connected());
  EXPECT_EQ(client.exchange("again"), "ACK|again");
  EXPECT_TRUE(client.connected());
}

TEST(MllpClient, ReconnectsWhenListenerClosedIdleConnection) {
  IoThreads io;
  RecordingHandler handler;
  auto options = listenerOptions();
  options.idleTimeout = std::chrono::milliseconds(100);
  Listener listener(io.io(), options, handler);
  listener.start();
  Client client(clientFor(listener.port()));
  EXPECT_EQ(client.exchange("one"), "ACK|one");
  ASSERT_TRUE(sb::test::waitFor([&] { return listener.connectionCount() == 0; }, kWait));
  pause(std::chrono::milliseconds(50));  // lets the FIN reach the client's socket
  EXPECT_EQ(client.exchange("two"), "ACK|two");
}

TEST(MllpClient, OversizedReplyIsAnError) {
  IoThreads io;
  RecordingHandler handler;
  handler.onMessageHook = [&](const ConnectionInfo&, std::string, Reply reply) {
    reply(std::string(1000, 'r'));
  };
  Listener listener(io.io(), listenerOptions(), handler);
  listener.start();
  auto options = clientFor(listener.port());
  options.maxMessageBytes = 100;
  Client client(options);
  try {
    client.exchange("x");
    FAIL() << "expected TransportError";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code, ErrorCode::kMllpFrameTooLarge);
  }
}

}  // namespace
}  // namespace sb::mllp
