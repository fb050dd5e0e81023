// The blocking MLLP client. It owns a private io_context and drives it only from the calling
// thread: each call starts async operations and runs the context for at most the remaining
// timeout, so every wait is bounded without extra threads.
#include <poll.h>

#include <deque>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include "channels/mllp/mllp.h"
#include "channels/mllp/tls.h"
#include "common/log.h"

namespace sb::mllp {
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::string_view kLog = "mllp";
constexpr std::size_t kReadChunk = 64 * 1024;
}  // namespace

struct Client::Impl {
  explicit Impl(ClientOptions opts)
      : options(std::move(opts)),
        sslContext(ssl::context::tls_client),
        decoder(options.maxMessageBytes) {
    if (options.tls.enabled) {
      try {
        detail::configureClientContext(sslContext, options.tls);
      } catch (const std::exception& e) {
        throw TransportError(ErrorCode::kTransportTls, e.what());
      }
    }
  }

  ClientOptions options;
  asio::io_context io;
  ssl::context sslContext;
  std::unique_ptr<ssl::stream<tcp::socket>> stream;
  bool isConnected = false;
  FrameDecoder decoder;
  std::deque<std::string> frames;  // decoded but not yet returned by receive()
  std::array<char, kReadChunk> readBuffer{};

  std::string endpoint() const { return fmt::format("{}:{}", options.host, options.port); }

  // Drops the connection so that the next call reconnects, then throws.
  [[noreturn]] void fail(ErrorCode code, const std::string& what) {
    reset();
    throw TransportError(code, fmt::format("MLLP {}: {}", endpoint(), what));
  }

  void reset() {
    if (stream) {
      boost::system::error_code ignored;
      stream->lowest_layer().close(ignored);
      // Aborted handlers still hold references into this object; let them finish now.
      io.restart();
      io.run();
    }
    stream.reset();
    isConnected = false;
    decoder = FrameDecoder(options.maxMessageBytes);
    frames.clear();
  }

  // Runs the io_context until `done` or the deadline. On timeout the socket is closed (which
  // aborts the pending operation) and false is returned.
  bool runUntil(const bool& done, Clock::time_point deadline) {
    io.restart();
    while (!done) {
      const auto now = Clock::now();
      if (now >= deadline || io.stopped()) return false;
      io.run_one_for(deadline - now);
    }
    return true;
  }

  void connect() {
    if (isConnected) return;
    reset();
    const auto deadline = Clock::now() + options.connectTimeout;
    stream = std::make_unique<ssl::stream<tcp::socket>>(io, sslContext);

    bool done = false;
    boost::system::error_code ec;
    tcp::resolver resolver(io);
    tcp::resolver::results_type endpoints;
    resolver.async_resolve(options.host, std::to_string(options.port),
                           [&](const boost::system::error_code& e, tcp::resolver::results_type r) {
                             ec = e;
                             endpoints = std::move(r);
                             done = true;
                           });
    if (!runUntil(done, deadline)) {
      resolver.cancel();
      fail(ErrorCode::kTransportTimeout, "timed out resolving the host");
    }
    if (ec) fail(ErrorCode::kTransportConnect, "cannot resolve host: " + ec.message());

    done = false;
    asio::async_connect(stream->lowest_layer(), endpoints,
                        [&](const boost::system::error_code& e, const tcp::endpoint&) {
                          ec = e;
                          done = true;
                        });
    if (!runUntil(done, deadline)) {
      fail(ErrorCode::kTransportTimeout,
           fmt::format("connect timed out after {} ms", options.connectTimeout.count()));
    }
    if (ec) fail(ErrorCode::kTransportConnect, "connect failed: " + ec.message());
    boost::system::error_code ignored;
    stream->lowest_layer().set_option(tcp::no_delay(true), ignored);

    if (options.tls.enabled) {
      const std::string name =
          options.tls.serverName.empty() ? options.host : options.tls.serverName;
      boost::system::error_code addressEc;
      asio::ip::make_address(name, addressEc);
      // SNI carries host names only (RFC 6066); an IP literal is checked against the SAN alone.
      if (addressEc && SSL_set_tlsext_host_name(stream->native_handle(), name.c_str()) != 1) {
        fail(ErrorCode::kTransportTls, "cannot set the TLS server name");
      }
      if (options.tls.verifyPeer) stream->set_verify_callback(ssl::host_name_verification(name));
      done = false;
      stream->async_handshake(ssl::stream_base::client, [&](const boost::system::error_code& e) {
        ec = e;
        done = true;
      });
      if (!runUntil(done, deadline)) {
        fail(ErrorCode::kTransportTimeout,
             fmt::format("TLS handshake timed out after {} ms", options.connectTimeout.count()));
      }
      if (ec) fail(ErrorCode::kTransportTls, "TLS handshake failed: " + detail::describe(ec));
    }
    isConnected = true;
    log::at(log::Level::kDebug, kLog, "connected to {}{}", endpoint(),
            options.tls.enabled ? " (TLS)" : "");
  }

  [[noreturn]] void failIo(const boost::system::error_code& ec, std::string_view during) {
    if (detail::isTlsError(ec) && ec != ssl::error::stream_truncated) {
      fail(ErrorCode::kTransportTls,
           fmt::format("TLS error while {}: {}", during, detail::describe(ec)));
    }
    if (ec == asio::error::eof || ec == ssl::error::stream_truncated) {
      fail(ErrorCode::kTransportConnect,
           fmt::format("connection closed by the peer while {}", during));
    }
    fail(ErrorCode::kTransportConnect, fmt::format("error while {}: {}", during, ec.message()));
  }

  // True when the peer has closed an idle connection since our last call (listeners commonly
  // close idle MLLP connections). Readable with nothing to read means end of stream. Sending on
  // such a connection would only fail after the write, so we reconnect first instead.
  bool peerClosedWhileIdle() {
    pollfd pfd{stream->lowest_layer().native_handle(), POLLIN, 0};
    if (::poll(&pfd, 1, 0) <= 0) return false;
    if ((pfd.revents & (POLLERR | POLLHUP)) != 0) return true;
    boost::system::error_code ec;
    return (pfd.revents & POLLIN) != 0 && stream->lowest_layer().available(ec) == 0;
  }

  void write(std::string_view payload) {
    if (isConnected && frames.empty() && peerClosedWhileIdle()) {
      log::at(log::Level::kDebug, kLog, "{}: peer closed the idle connection; reconnecting",
              endpoint());
      reset();
    }
    connect();
    const std::string framed = frame(payload);
    bool done = false;
    boost::system::error_code ec;
    auto onDone = [&](const boost::system::error_code& e, std::size_t) {
      ec = e;
      done = true;
    };
    if (options.tls.enabled) {
      asio::async_write(*stream, asio::buffer(framed), onDone);
    } else {
      asio::async_write(stream->next_layer(), asio::buffer(framed), onDone);
    }
    if (!runUntil(done, Clock::now() + options.responseTimeout)) {
      fail(ErrorCode::kTransportTimeout,
           fmt::format("write timed out after {} ms", options.responseTimeout.count()));
    }
    if (ec) failIo(ec, "sending");
  }

  std::string read() {
    connect();
    const auto deadline = Clock::now() + options.responseTimeout;
    std::vector<FrameDecoder::Event> events;
    while (frames.empty()) {
      bool done = false;
      boost::system::error_code ec;
      std::size_t n = 0;
      auto onDone = [&](const boost::system::error_code& e, std::size_t bytes) {
        ec = e;
        n = bytes;
        done = true;
      };
      if (options.tls.enabled) {
        stream->async_read_some(asio::buffer(readBuffer), onDone);
      } else {
        stream->next_layer().async_read_some(asio::buffer(readBuffer), onDone);
      }
      if (!runUntil(done, deadline)) {
        // A late reply would be taken for the answer to the next message: drop the connection.
        fail(ErrorCode::kTransportTimeout,
             fmt::format("no reply within {} ms", options.responseTimeout.count()));
      }
      if (ec) {
        if (decoder.inFrame() && (ec == asio::error::eof || ec == ssl::error::stream_truncated)) {
          fail(ErrorCode::kMllpTruncatedFrame,
               fmt::format("connection closed in the middle of a reply ({} bytes received)",
                           decoder.bufferedBytes()));
        }
        failIo(ec, "waiting for a reply");
      }
      events.clear();
      decoder.feed(std::string_view(readBuffer.data(), n), events);
      for (auto& event : events) {
        switch (event.kind) {
          case FrameDecoder::Event::Kind::kFrame:
            frames.push_back(std::move(event.bytes));
            break;
          case FrameDecoder::Event::Kind::kJunk:
            log::at(log::Level::kWarn, kLog, "{}: skipped {} bytes outside a frame", endpoint(),
                    event.bytes.size());
            break;
          case FrameDecoder::Event::Kind::kOversized:
            fail(ErrorCode::kMllpFrameTooLarge,
                 fmt::format("reply of {} bytes exceeds the maximum of {}", event.totalBytes,
                             options.maxMessageBytes));
        }
      }
    }
    std::string reply = std::move(frames.front());
    frames.pop_front();
    return reply;
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Client::~Client() {
  try {
    impl_->reset();
  } catch (...) {
    // Closing cannot usefully fail here; the socket is released either way.
  }
}

std::string Client::exchange(std::string_view payload) {
  // Anything the peer sent before this request cannot be its answer.
  impl_->frames.clear();
  impl_->write(payload);
  return impl_->read();
}

void Client::sendOnly(std::string_view payload) {
  impl_->write(payload);
}

std::string Client::receive() {
  return impl_->read();
}

void Client::close() {
  impl_->reset();
}

bool Client::connected() const {
  return impl_->isConnected;
}

}  // namespace sb::mllp
