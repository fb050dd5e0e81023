// The MLLP listener. Threading: the caller runs the io_context on any number of threads; each
// connection lives on its own strand, so its state is touched by one thread at a time without
// locks. The acceptor is guarded by a mutex because stop() may close it from any thread. Reply
// callbacks hold only a weak_ptr to their connection and post to its strand, so they are safe
// from any thread and after the connection (or the listener) is gone.
#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include <boost/asio/defer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include "channels/mllp/mllp.h"
#include "channels/mllp/tls.h"
#include "common/log.h"

namespace sb::mllp {
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using log::Level;

namespace {
constexpr std::string_view kLog = "mllp";
constexpr std::size_t kReadChunk = 64 * 1024;
// Accept failures such as EMFILE repeat immediately; pause before retrying instead of spinning.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

std::string endpointText(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return fmt::format("[{}]:{}", ep.address().to_string(), ep.port());
  return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

// The catalog id ("SB-201") in log lines lets operators search for the documented meaning.
std::string_view idOf(ErrorCode code) {
  return errorInfo(code).id;
}

bool isPeerClose(const boost::system::error_code& ec) {
  // stream_truncated: the peer closed TCP without a TLS close_notify, which senders commonly do.
  return ec == asio::error::eof || ec == ssl::error::stream_truncated;
}
}  // namespace

namespace detail {
class Connection;
}  // namespace detail
using detail::Connection;

namespace detail {
struct ListenerCore : std::enable_shared_from_this<ListenerCore> {
  ListenerCore(asio::io_context& ioContext, ListenerOptions opts, MessageHandler& h)
      : io(ioContext),
        options(std::move(opts)),
        handler(h),
        sslContext(ssl::context::tls_server),
        acceptor(asio::make_strand(ioContext)),
        retryTimer(acceptor.get_executor()) {}

  asio::io_context& io;
  const ListenerOptions options;
  MessageHandler& handler;
  ssl::context sslContext;

  std::mutex acceptorMutex;  // the acceptor and retryTimer: stop() closes them from any thread
  tcp::acceptor acceptor;
  asio::steady_timer retryTimer;
  std::uint16_t boundPort = 0;

  // Guards stopped, activeCalls and connections.
  mutable std::mutex mutex;
  std::condition_variable idle;
  bool stopped = false;
  bool started = false;
  std::size_t activeCalls = 0;
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections;
  std::atomic<std::uint64_t> nextConnectionId{1};

  // Replies answered on other threads (the store's commit thread answers a whole batch at once;
  // an idle store answers on the I/O thread itself) are collected here and handed to the I/O
  // threads by one posted drain, rather than one post, and so one thread wake-up, per reply.
  struct QueuedReply {
    std::weak_ptr<Connection> connection;
    std::uint64_t seq = 0;
    std::string text;
  };
  std::mutex replyMutex;
  std::vector<QueuedReply> replies;  // guarded by replyMutex
  bool drainPosted = false;          // guarded by replyMutex
  void queueReply(std::weak_ptr<Connection> connection, std::uint64_t seq, std::string text);
  void drainReplies();

  void bind();
  void accept();
  void onAccept(const boost::system::error_code& ec, tcp::socket socket);
  void stop();
  void remove(std::uint64_t id) {
    std::lock_guard lock(mutex);
    connections.erase(id);
  }

  // Runs one MessageHandler callback unless the listener is stopped. stop() waits for running
  // callbacks so that the handler may be destroyed once stop() returns. Returns false when the
  // callback did not run or threw.
  template <typename F>
  bool callHandler(F&& f);
};
}  // namespace detail

struct Listener::Impl : detail::ListenerCore {
  using ListenerCore::ListenerCore;
};

namespace {
// The listeners whose handler this thread is inside, so that stop() called from a callback does
// not wait for itself.
thread_local std::vector<const detail::ListenerCore*> tInsideHandler;
}  // namespace

template <typename F>
bool detail::ListenerCore::callHandler(F&& f) {
  {
    std::lock_guard lock(mutex);
    if (stopped) return false;
    ++activeCalls;
  }
  tInsideHandler.push_back(this);
  bool ok = true;
  try {
    f();
  } catch (const std::exception& e) {
    log::at(Level::kError, kLog, "[{}] message handler threw: {}", options.name, e.what());
    ok = false;
  } catch (...) {
    log::at(Level::kError, kLog, "[{}] message handler threw a non-standard exception",
            options.name);
    ok = false;
  }
  tInsideHandler.pop_back();
  {
    std::lock_guard lock(mutex);
    --activeCalls;
  }
  idle.notify_all();
  return ok;
}

namespace detail {
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<detail::ListenerCore> owner, tcp::socket socket, std::uint64_t id,
             std::string peer)
      : owner_(std::move(owner)),
        opt_(owner_->options),
        tls_(opt_.tls.enabled),
        stream_(std::move(socket), owner_->sslContext),
        readTimer_(stream_.get_executor()),
        writeTimer_(stream_.get_executor()),
        decoder_(opt_.maxMessageBytes) {
    info_.id = id;
    info_.peer = std::move(peer);
  }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->begin(); });
  }

  // From any thread.
  void requestClose(std::string reason) {
    asio::post(stream_.get_executor(), [self = shared_from_this(), reason = std::move(reason)] {
      self->close(reason, Level::kInfo);
    });
  }

 private:
  void begin() {
    startedAt_ = lastActivity_ = Clock::now();
    established_ = !tls_;
    updateReadTimer();
    if (!tls_) {
      log::at(Level::kInfo, kLog, "[{}] connection {} from {} accepted", opt_.name, info_.id,
              info_.peer);
      readMore();
      return;
    }
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](const boost::system::error_code& ec) {
                              self->onHandshake(ec);
                            });
  }

  void onHandshake(const boost::system::error_code& ec) {
    if (closed_) return;
    if (ec) {
      close(fmt::format("{} TLS handshake failed: {}", idOf(ErrorCode::kTransportTls),
                        detail::describe(ec)),
            Level::kWarn);
      return;
    }
    established_ = true;
    lastActivity_ = Clock::now();
    info_.clientCertSubject = detail::peerCertificateSubject(stream_.native_handle());
    if (info_.clientCertSubject.empty()) {
      log::at(Level::kInfo, kLog, "[{}] connection {} from {} accepted (TLS)", opt_.name, info_.id,
              info_.peer);
    } else {
      log::at(Level::kInfo, kLog, "[{}] connection {} from {} accepted (TLS, client '{}')",
              opt_.name, info_.id, info_.peer, info_.clientCertSubject);
    }
    readMore();
    updateReadTimer();
  }

  template <typename Buffers, typename Handler>
  void asyncReadSome(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      stream_.async_read_some(buffers, std::forward<Handler>(handler));
    } else {
      stream_.next_layer().async_read_some(buffers, std::forward<Handler>(handler));
    }
  }

  template <typename Buffers, typename Handler>
  void asyncWrite(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      asio::async_write(stream_, buffers, std::forward<Handler>(handler));
    } else {
      asio::async_write(stream_.next_layer(), buffers, std::forward<Handler>(handler));
    }
  }

  // Reading pauses while the backlog is not empty or maxInFlightPerConnection messages await
  // their replies: TCP flow control then pushes back on the sender.
  // Replies that are answered but not yet written count too, so that a peer which stops reading
  // cannot make us queue replies without bound until the write timeout.
  std::size_t inFlight() const { return pending_.size() + queuedReplies_ + writingReplies_; }
  bool belowCap() const {
    return inFlight() < std::max<std::size_t>(opt_.maxInFlightPerConnection, 1);
  }
  bool atCapacity() const { return !backlog_.empty() || !belowCap(); }

  void readMore() {
    if (closed_ || peerClosed_ || reading_ || !established_) return;
    if (atCapacity()) {
      paused_ = true;
      return;
    }
    paused_ = false;
    reading_ = true;
    asyncReadSome(asio::buffer(readBuffer_),
                  [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                    self->onRead(ec, n);
                  });
  }

  void onRead(const boost::system::error_code& ec, std::size_t n) {
    reading_ = false;
    if (closed_) return;
    if (ec) {
      if (isPeerClose(ec)) {
        peerClosed_ = true;
        reportTruncated("peer closed the connection");
        finishIfDone();
      } else {
        close(fmt::format("read failed: {}", detail::describe(ec)), Level::kInfo);
      }
      return;
    }
    const auto now = Clock::now();
    lastActivity_ = now;
    const bool wasInFrame = decoder_.inFrame();
    events_.clear();
    decoder_.feed(std::string_view(readBuffer_.data(), n), events_);
    bool frameEnded = false;
    for (auto& event : events_) {
      if (event.kind != FrameDecoder::Event::Kind::kJunk) frameEnded = true;
      backlog_.push_back(std::move(event));
    }
    if (decoder_.inFrame() && (!wasInFrame || frameEnded)) frameStartedAt_ = now;
    dispatchBacklog();
    readMore();
    updateReadTimer();
  }

  void dispatchBacklog() {
    while (!closed_ && !backlog_.empty() && belowCap()) {
      FrameDecoder::Event event = std::move(backlog_.front());
      backlog_.pop_front();
      switch (event.kind) {
        case FrameDecoder::Event::Kind::kJunk:
          log::at(Level::kWarn, kLog,
                  "[{}] connection {} from {}: {} skipped {} bytes outside a frame", opt_.name,
                  info_.id, info_.peer, idOf(ErrorCode::kMllpJunkBetweenFrames),
                  event.bytes.size());
          break;
        case FrameDecoder::Event::Kind::kFrame: {
          const std::uint64_t seq = nextSeq_++;
          pending_.emplace(seq, std::nullopt);
          log::at(Level::kDebug, kLog, "[{}] connection {}: frame of {} bytes", opt_.name, info_.id,
                  event.bytes.size());
          if (!owner_->callHandler([&] {
                owner_->handler.onMessage(info_, std::move(event.bytes), makeReply(seq));
              })) {
            close("the message handler failed or the listener stopped", Level::kWarn);
            return;
          }
          break;
        }
        case FrameDecoder::Event::Kind::kOversized: {
          const std::uint64_t seq = nextSeq_++;
          pending_.emplace(seq, std::nullopt);
          log::at(Level::kWarn, kLog,
                  "[{}] connection {} from {}: {} frame of {} bytes exceeds the maximum of {}",
                  opt_.name, info_.id, info_.peer, idOf(ErrorCode::kMllpFrameTooLarge),
                  event.totalBytes, opt_.maxMessageBytes);
          if (!owner_->callHandler([&] {
                owner_->handler.onOversized(info_, std::move(event.bytes), event.totalBytes,
                                            makeReply(seq));
              })) {
            close("the message handler failed or the listener stopped", Level::kWarn);
            return;
          }
          break;
        }
      }
    }
  }

  Reply makeReply(std::uint64_t seq) {
    return [weak = weak_from_this(), core = std::weak_ptr<ListenerCore>(owner_),
            seq](std::string reply) {
      auto owner = core.lock();
      if (!owner || weak.expired()) return;  // the connection is gone: nobody to answer
      owner->queueReply(weak, seq, std::move(reply));
    };
  }

 public:
  // From an I/O thread (the reply drain): runs onReply on this connection's strand. defer, not
  // post: the drain's thread picks it up itself after the drain, without waking another thread.
  void deferReply(std::uint64_t seq, std::string reply) {
    asio::defer(stream_.get_executor(),
                [self = shared_from_this(), seq, reply = std::move(reply)]() mutable {
                  self->onReply(seq, std::move(reply));
                });
  }

 private:
  void onReply(std::uint64_t seq, std::string reply) {
    if (closed_) return;
    auto it = pending_.find(seq);
    if (it == pending_.end() || it->second.has_value()) return;  // a second call is ignored
    it->second = std::move(reply);
    // Replies leave strictly in arrival order: only the answered prefix of the sequence goes out.
    while (!pending_.empty() && pending_.begin()->second.has_value()) {
      const std::string& text = *pending_.begin()->second;
      if (!text.empty()) {
        queued_ += frame(text);
        ++queuedReplies_;
      }
      pending_.erase(pending_.begin());
    }
    lastActivity_ = Clock::now();
    startWrite();
    dispatchBacklog();
    readMore();
    finishIfDone();
    updateReadTimer();
  }

  void startWrite() {
    if (closed_ || writing_ || queued_.empty()) return;
    outgoing_.swap(queued_);
    queued_.clear();
    writingReplies_ = queuedReplies_;
    queuedReplies_ = 0;
    writing_ = true;
    writeDeadline_ = Clock::now() + opt_.writeTimeout;
    writeTimer_.expires_at(writeDeadline_);
    writeTimer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      self->onWriteTimer(ec);
    });
    asyncWrite(asio::buffer(outgoing_),
               [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                 self->onWrite(ec);
               });
  }

  void onWrite(const boost::system::error_code& ec) {
    writing_ = false;
    if (closed_) return;
    if (ec) {
      close(fmt::format("write failed: {}", detail::describe(ec)), Level::kInfo);
      return;
    }
    outgoing_.clear();
    writingReplies_ = 0;
    lastActivity_ = Clock::now();
    writeTimer_.cancel();
    startWrite();
    dispatchBacklog();
    readMore();
    finishIfDone();
    updateReadTimer();
  }

  void onWriteTimer(const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted || closed_ || !writing_) return;
    if (Clock::now() >= writeDeadline_) {
      close(fmt::format("{} write timed out after {} ms", idOf(ErrorCode::kTransportTimeout),
                        opt_.writeTimeout.count()),
            Level::kWarn);
    }
  }

  // When the read timer should fire, or nullopt when nothing is timed right now.
  std::optional<Clock::time_point> readDeadline() const {
    if (!established_) return startedAt_ + opt_.readTimeout;  // the TLS handshake
    // Paused for backpressure or after the peer's end of stream: we are the slow side.
    if (paused_ || peerClosed_) return std::nullopt;
    if (decoder_.inFrame()) {
      return std::min(frameStartedAt_ + opt_.readTimeout, lastActivity_ + opt_.idleTimeout);
    }
    if (!pending_.empty()) return std::nullopt;  // the peer is waiting for our reply
    return lastActivity_ + opt_.idleTimeout;
  }

  // One timer serves the idle, read and handshake timeouts. It is moved only when the deadline
  // gets earlier (a frame started); a later deadline is picked up when the timer fires, so a
  // busy connection does not reschedule the timer on every read.
  void updateReadTimer() {
    if (closed_) return;
    const auto now = Clock::now();
    // With no deadline right now, look again after the shortest timeout: state may change.
    const auto deadline =
        readDeadline().value_or(now + std::min(opt_.idleTimeout, opt_.readTimeout));
    if (readTimerArmed_ && deadline >= readTimer_.expiry()) return;
    readTimerArmed_ = true;
    readTimer_.expires_at(deadline);  // cancels an earlier wait, which then sees operation_aborted
    readTimer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      self->onReadTimer(ec);
    });
  }

  void onReadTimer(const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;  // superseded by a newer wait
    readTimerArmed_ = false;
    if (closed_) return;
    const auto deadline = readDeadline();
    if (deadline && Clock::now() >= *deadline) {
      if (!established_) {
        close(fmt::format("{} TLS handshake timed out after {} ms",
                          idOf(ErrorCode::kTransportTimeout), opt_.readTimeout.count()),
              Level::kWarn);
      } else if (decoder_.inFrame() && Clock::now() >= frameStartedAt_ + opt_.readTimeout) {
        close(fmt::format("{} read timeout: frame not finished within {} ms",
                          idOf(ErrorCode::kTransportTimeout), opt_.readTimeout.count()),
              Level::kWarn);
      } else {
        close(fmt::format("{} idle timeout: no data for {} ms", idOf(ErrorCode::kTransportTimeout),
                          opt_.idleTimeout.count()),
              Level::kInfo);
      }
      return;
    }
    updateReadTimer();
  }

  void reportTruncated(std::string_view why) {
    if (!decoder_.inFrame()) return;
    const std::size_t size = decoder_.bufferedBytes();
    std::string partial = decoder_.takePartial();
    log::at(Level::kWarn, kLog,
            "[{}] connection {} from {}: {} {} in the middle of a frame ({} bytes)", opt_.name,
            info_.id, info_.peer, idOf(ErrorCode::kMllpTruncatedFrame), why, size);
    owner_->callHandler([&] { owner_->handler.onTruncated(info_, std::move(partial)); });
  }

  // After the peer's end of stream: close once every received message is answered and written.
  void finishIfDone() {
    if (!peerClosed_ || closed_) return;
    if (!backlog_.empty() || !pending_.empty() || writing_ || !queued_.empty()) return;
    close("peer closed the connection", Level::kInfo);
  }

  void close(std::string_view reason, Level level) {
    if (closed_) return;
    reportTruncated("connection closed");  // the reason follows in the close line
    closed_ = true;
    log::at(level, kLog, "[{}] connection {} from {} closed: {} ({} replies unsent)", opt_.name,
            info_.id, info_.peer, reason, pending_.size());
    boost::system::error_code ignored;
    readTimer_.cancel();
    writeTimer_.cancel();
    // No TLS close_notify: it can block on a peer that stopped reading, and MLLP needs none.
    stream_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.next_layer().close(ignored);
    pending_.clear();
    backlog_.clear();
    owner_->remove(info_.id);
  }

  std::shared_ptr<detail::ListenerCore> owner_;  // first: the SSL context outlives the stream
  const ListenerOptions& opt_;
  const bool tls_;
  ssl::stream<tcp::socket> stream_;
  asio::steady_timer readTimer_;
  asio::steady_timer writeTimer_;
  FrameDecoder decoder_;
  ConnectionInfo info_;
  std::array<char, kReadChunk> readBuffer_{};
  std::vector<FrameDecoder::Event> events_;
  std::deque<FrameDecoder::Event> backlog_;  // decoded, not yet given to the handler
  // Sequence number -> reply (nullopt until the handler answers). Ordered: the front is the
  // oldest unanswered message, and nothing behind it may be written before it.
  std::map<std::uint64_t, std::optional<std::string>> pending_;
  std::uint64_t nextSeq_ = 0;
  std::string outgoing_;            // being written
  std::string queued_;              // framed replies waiting for the current write
  std::size_t writingReplies_ = 0;  // replies in outgoing_
  std::size_t queuedReplies_ = 0;   // replies in queued_
  Clock::time_point startedAt_{};
  Clock::time_point lastActivity_{};
  Clock::time_point frameStartedAt_{};
  Clock::time_point writeDeadline_{};
  bool established_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool paused_ = false;
  bool peerClosed_ = false;
  bool closed_ = false;
  bool readTimerArmed_ = false;
};
}  // namespace detail

void detail::ListenerCore::queueReply(std::weak_ptr<Connection> connection, std::uint64_t seq,
                                      std::string text) {
  bool post = false;
  {
    std::lock_guard lock(replyMutex);
    replies.push_back(QueuedReply{std::move(connection), seq, std::move(text)});
    post = !drainPosted;
    drainPosted = true;
  }
  if (post) asio::post(io, [self = shared_from_this()] { self->drainReplies(); });
}

void detail::ListenerCore::drainReplies() {
  std::vector<QueuedReply> batch;
  {
    std::lock_guard lock(replyMutex);
    batch.swap(replies);
    drainPosted = false;
  }
  for (auto& r : batch) {
    if (auto connection = r.connection.lock()) connection->deferReply(r.seq, std::move(r.text));
  }
}

void detail::ListenerCore::bind() {
  if (options.tls.enabled) {
    try {
      detail::configureServerContext(sslContext, options.tls);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("MLLP listener '{}': {}", options.name, e.what()));
    }
  }
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  auto results =
      resolver.resolve(options.host, std::to_string(options.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    throw std::runtime_error(fmt::format("MLLP listener '{}': cannot resolve '{}': {}",
                                         options.name, options.host,
                                         ec ? ec.message() : "no address"));
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  const auto fail = [&](std::string_view step) {
    throw std::runtime_error(fmt::format("MLLP listener '{}': cannot {} {}: {}", options.name, step,
                                         endpointText(endpoint), ec.message()));
  };
  if (acceptor.open(endpoint.protocol(), ec); ec) fail("open");
  if (acceptor.set_option(tcp::acceptor::reuse_address(true), ec); ec) fail("configure");
  if (acceptor.bind(endpoint, ec); ec) fail("bind");
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) fail("listen on");
  boundPort = acceptor.local_endpoint(ec).port();
  log::at(Level::kInfo, kLog, "[{}] listening on {}:{}{}", options.name, options.host, boundPort,
          options.tls.enabled ? (options.tls.requireClientCert ? " (mutual TLS)" : " (TLS)") : "");
}

void detail::ListenerCore::accept() {
  std::lock_guard lock(acceptorMutex);
  if (!acceptor.is_open()) return;
  acceptor.async_accept(
      asio::make_strand(io),
      [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
        self->onAccept(ec, std::move(socket));
      });
}

void detail::ListenerCore::onAccept(const boost::system::error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted) return;
  {
    std::lock_guard lock(mutex);
    if (stopped) return;
  }
  if (ec) {
    log::at(Level::kError, kLog, "[{}] accept failed: {}", options.name, ec.message());
    std::lock_guard lock(acceptorMutex);
    retryTimer.expires_after(kAcceptRetryDelay);
    retryTimer.async_wait([self = shared_from_this()](const boost::system::error_code& waitEc) {
      if (!waitEc) self->accept();
    });
    return;
  }
  boost::system::error_code peerEc;
  const auto remote = socket.remote_endpoint(peerEc);
  const std::string peer = peerEc ? std::string("unknown") : endpointText(remote);
  std::shared_ptr<Connection> connection;
  {
    std::lock_guard lock(mutex);
    if (connections.size() >= options.maxConnections) {
      log::at(Level::kWarn, kLog, "[{}] refused connection from {}: maxConnections ({}) reached",
              options.name, peer, options.maxConnections);
    } else {
      const std::uint64_t id = nextConnectionId++;
      connection = std::make_shared<Connection>(shared_from_this(), std::move(socket), id, peer);
      connections.emplace(id, connection);
    }
  }
  if (connection) {
    connection->start();
  } else {
    boost::system::error_code ignored;
    socket.close(ignored);
  }
  accept();
}

void detail::ListenerCore::stop() {
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> toClose;
  {
    std::unique_lock lock(mutex);
    const bool wasStopped = stopped;
    stopped = true;
    const auto own =
        static_cast<std::size_t>(std::count(tInsideHandler.begin(), tInsideHandler.end(), this));
    idle.wait(lock, [&] { return activeCalls <= own; });
    toClose.swap(connections);
    if (!wasStopped) log::at(Level::kInfo, kLog, "[{}] stopping", options.name);
  }
  {
    std::lock_guard lock(acceptorMutex);
    boost::system::error_code ignored;
    acceptor.close(ignored);
    retryTimer.cancel();
  }
  for (auto& [id, weak] : toClose) {
    if (auto connection = weak.lock()) connection->requestClose("listener stopped");
  }
}

Listener::Listener(asio::io_context& io, ListenerOptions options, MessageHandler& handler)
    : impl_(std::make_shared<Impl>(io, std::move(options), handler)) {
  impl_->bind();
}

Listener::~Listener() {
  stop();
}

void Listener::start() {
  {
    std::lock_guard lock(impl_->mutex);
    // One accept at a time: a second start() must not put another accept in flight.
    if (impl_->stopped || impl_->started) return;
    impl_->started = true;
  }
  impl_->accept();
}

void Listener::stop() {
  impl_->stop();
}

std::uint16_t Listener::port() const {
  return impl_->boundPort;
}

std::size_t Listener::connectionCount() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->connections.size();
}

}  // namespace sb::mllp
