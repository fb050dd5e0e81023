// Shared pieces of the MLLP unit tests: io_context threads, a recording MessageHandler and a
// raw TCP peer for byte-level framing tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "channels/mllp/mllp.h"
#include "tests/support/test_support.h"

namespace sb::mllp::testing {

inline constexpr auto kWait = std::chrono::seconds(20);  // upper bound for anything to happen

// Runs an io_context on two threads, as the engine does.
class IoThreads {
 public:
  IoThreads() : guard_(io_.get_executor()) {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~IoThreads() { shutdown(); }
  void shutdown() {
    guard_.reset();
    io_.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  boost::asio::io_context& io() { return io_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

// Records every callback. By default answers "ACK|" + payload at once; `onMessage` overrides.
class RecordingHandler : public MessageHandler {
 public:
  std::function<void(const ConnectionInfo&, std::string, Reply)> onMessageHook;

  void onMessage(const ConnectionInfo& conn, std::string payload, Reply reply) override {
    {
      std::lock_guard lock(mutex_);
      messages.push_back(payload);
      lastConn = conn;
    }
    cv_.notify_all();
    if (onMessageHook) {
      onMessageHook(conn, std::move(payload), std::move(reply));
    } else {
      reply("ACK|" + payload);
    }
  }
  void onOversized(const ConnectionInfo&, std::string prefix, std::size_t totalBytes,
                   Reply reply) override {
    {
      std::lock_guard lock(mutex_);
      oversized.emplace_back(prefix, totalBytes);
    }
    cv_.notify_all();
    reply("NAK|too large");
  }
  void onTruncated(const ConnectionInfo&, std::string partial) override {
    {
      std::lock_guard lock(mutex_);
      truncated.push_back(std::move(partial));
    }
    cv_.notify_all();
  }

  template <typename F>
  bool waitUntil(F predicate) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kWait, [&] { return predicate(); });
  }
  std::size_t messageCount() {
    std::lock_guard lock(mutex_);
    return messages.size();
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> messages;
  std::vector<std::pair<std::string, std::size_t>> oversized;
  std::vector<std::string> truncated;
  ConnectionInfo lastConn;
};

// A plain TCP peer that writes raw bytes, for framing edge cases the Client never produces.
class RawPeer {
 public:
  explicit RawPeer(std::uint16_t port) : socket_(io_), decoder_(1 << 20) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    // Bounds every blocking read so that a broken listener fails the test instead of hanging it.
    timeval tv{static_cast<time_t>(kWait.count()), 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void write(std::string_view bytes) { boost::asio::write(socket_, boost::asio::buffer(bytes)); }
  std::string readFrame() {
    while (frames_.empty()) {
      char buf[4096];
      boost::system::error_code ec;
      const std::size_t n = socket_.read_some(boost::asio::buffer(buf), ec);
      if (ec) throw std::runtime_error("read failed: " + ec.message());
      std::vector<FrameDecoder::Event> events;
      decoder_.feed(std::string_view(buf, n), events);
      for (auto& e : events) {
        if (e.kind == FrameDecoder::Event::Kind::kFrame) frames_.push_back(std::move(e.bytes));
      }
    }
    std::string f = std::move(frames_.front());
    frames_.pop_front();
    return f;
  }
  // True when the listener closed the connection (end of stream or reset) before the bound.
  bool waitClosedByPeer() {
    char buf[4096];
    while (true) {
      boost::system::error_code ec;
      socket_.read_some(boost::asio::buffer(buf), ec);
      if (ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset) return true;
      if (ec) return false;
    }
  }
  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  FrameDecoder decoder_;
  std::deque<std::string> frames_;
};

inline ClientOptions clientFor(std::uint16_t port) {
  ClientOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  options.connectTimeout = std::chrono::seconds(10);
  options.responseTimeout = std::chrono::seconds(20);
  return options;
}

inline ListenerOptions listenerOptions() {
  ListenerOptions options;
  options.name = "test";
  options.host = "127.0.0.1";
  options.port = 0;
  return options;
}

}  // namespace sb::mllp::testing
